"""Frozen, validated configurations: one field per knob (and per widget in the app).

A config is hashable, printable, and made of plain types only, so it can key a cache, travel
in a URL or a checkpoint, and be rebuilt with `config_from_dict`. Every field is checked in
`__post_init__`: a bad value raises `ValueError` naming the field and its valid range.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from gendemo.schedules import KINDS, validate_schedule

SCHEDULE_KINDS = KINDS  # the β-schedule kinds (gendemo/schedules.py)
WEIGHTINGS = ("simple", "bound")
SIGMA2_CHOICES = ("beta", "beta_tilde")
FLOW_KINDS = ("nice", "realnvp")
ACTIVATIONS = ("silu", "relu", "hardswish")  # ε_θ's hidden nonlinearity (gendemo/nets.py)
MAX_SEED = 2**63 - 1


def _int_in(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")


def _float_in(name: str, value: Any, lo: float, hi: float, lo_open: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (lo < value if lo_open else lo <= value) and value <= hi
    if not ok:
        left = "(" if lo_open else "["
        raise ValueError(f"{name} must be a finite number in {left}{lo:g}, {hi:g}], got {value!r}")


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation knobs shared by both families: Adam, gradient clipping, cosine lr decay."""

    lr: float = 2e-3
    batch: int = 256
    steps: int = 3000  # the planned budget: the lr decays over it; training may go on after it
    lr_decay: bool = True  # cosine decay from lr to lr_min_factor·lr over `steps`
    lr_min_factor: float = 0.05
    grad_clip: float = 1.0
    seed: int = 0
    # The model shown, sampled and saved is an exponential moving average of the trained weights,
    # θ̄ ← d θ̄ + (1 − d) θ after every step with d = min(ema_decay, (1 + step)/(10 + step)); 0: the weights
    # themselves. Measured: the last steps' gradient noise otherwise decides the picture (benchmarks/tuning.md).
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        _float_in("lr", self.lr, 0.0, 1000.0)
        _int_in("batch", self.batch, 1, 65_536)
        _int_in("steps", self.steps, 0, 10_000_000)
        if not isinstance(self.lr_decay, bool):
            raise ValueError(f"lr_decay must be true or false, got {self.lr_decay!r}")
        _float_in("lr_min_factor", self.lr_min_factor, 0.0, 1.0, lo_open=False)
        _float_in("grad_clip", self.grad_clip, 0.0, 1e6)
        _int_in("seed", self.seed, 0, MAX_SEED)
        _float_in("ema_decay", self.ema_decay, 0.0, 0.9999, lo_open=False)


@dataclass(frozen=True)
class DDPMConfig(TrainingConfig):
    """A DDPM: β-schedule (Eq. (7)), ε_θ network, loss weighting (Eq. (10) or the bound's)."""

    # Defaults tuned by time to quality (benchmarks/tuning.md, "DDPM: energy distance ..."): β to 0.05 over
    # N = 200 leaves ᾱ_N ≈ 0.006, so x^(N) is N(0, I) to the eye; a 3×64 ε-network at lr 1e-2 reaches the picture
    # sooner than 3×128. Hardswish: as good per step as SiLU, without SiLU's exp (a third of each ε_θ call); 8,000
    # steps: the thin rings of `circles` need them (tuning.md, "DDPM: Hardswish and 8,000 steps on 10,000 points").
    schedule: str = "linear"
    N: int = 200
    beta_1: float = 1e-4
    beta_N: float = 0.05
    width: int = 64
    depth: int = 3
    emb_dim: int = 32
    weighting: str = "simple"
    activation: str = "hardswish"  # configs and checkpoints written before this field load as "silu"
    lr: float = 1e-2
    steps: int = 8000
    ema_decay: float = 0.999  # measured: median ED/floor 2.72 -> 1.70 over 5 datasets x 2 seeds (tuning.md)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, value in zip(("schedule", "N", "beta_1", "beta_N"),
                               validate_schedule(self.schedule, self.N, self.beta_1, self.beta_N), strict=True):
            object.__setattr__(self, name, value)  # N as an int, β as floats (a frozen dataclass)
        _int_in("width", self.width, 1, 1024)
        _int_in("depth", self.depth, 1, 8)
        _int_in("emb_dim", self.emb_dim, 2, 256)
        if self.emb_dim % 2:
            raise ValueError(f"emb_dim must be even, got {self.emb_dim}")
        _choice("weighting", self.weighting, WEIGHTINGS)
        _choice("activation", self.activation, ACTIVATIONS)

    @property
    def family(self) -> str:
        return "ddpm"


@dataclass(frozen=True)
class FlowConfig(TrainingConfig):
    """A coupling flow: NICE (additive) or RealNVP (affine) with K layers (Eq. (11)-(12))."""

    # Tuned by time to quality on moons (benchmarks/tuning.md, "Flows"): with the log-scale bound c = 1 lr 5e-3 is
    # stable on all 9 datasets; 12 couplings of 2×32 learn as much per step as 8 of 2×64 for less compute; 3,000
    # steps on datasets.DEFAULT_N points give held-out NLL 0.30-0.33 (tuning.md, "Flows: more data, not more steps").
    kind: str = "realnvp"
    K: int = 12
    width: int = 32
    depth: int = 2
    scaling: bool = False  # the NICE paper's diagonal scaling layer (off: the slides' det J = 1)
    lr: float = 5e-3
    warmup: int = 100  # steps of linear lr warm-up from lr/warmup to lr (0: none); then the cosine decay
    batch: int = 512
    steps: int = 3000
    ema_decay: float = 0.999  # measured: moons held-out NLL 0.349 -> 0.334 (median of 3 seeds; tuning.md)

    def __post_init__(self) -> None:
        super().__post_init__()
        _choice("kind", self.kind, FLOW_KINDS)
        _int_in("K", self.K, 1, 64)
        _int_in("width", self.width, 1, 1024)
        _int_in("depth", self.depth, 1, 8)
        _int_in("warmup", self.warmup, 0, 10_000_000)
        if not isinstance(self.scaling, bool):
            raise ValueError(f"scaling must be true or false, got {self.scaling!r}")

    @property
    def family(self) -> str:
        return "flow"


@dataclass(frozen=True)
class FMConfig(TrainingConfig):
    """Flow matching: a velocity network u_θ(x, t) trained on the path of Eq. (1), sampled by the ODE of Eq. (2)."""

    # Defaults: see benchmarks/tuning.md, "Flow matching". SiLU, not Hardswish: u_θ is integrated by ODE
    # solvers and differentiated for the likelihood's divergence, which want a smooth field.
    width: int = 64
    depth: int = 3
    emb_dim: int = 32
    activation: str = "silu"
    lr: float = 1e-2
    steps: int = 3000
    ema_decay: float = 0.999

    def __post_init__(self) -> None:
        super().__post_init__()
        _int_in("width", self.width, 1, 1024)
        _int_in("depth", self.depth, 1, 8)
        _int_in("emb_dim", self.emb_dim, 2, 256)
        if self.emb_dim % 2:
            raise ValueError(f"emb_dim must be even, got {self.emb_dim}")
        _choice("activation", self.activation, ACTIVATIONS)

    @property
    def family(self) -> str:
        return "flow_matching"


ModelConfig = DDPMConfig | FlowConfig | FMConfig


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    """The config as plain types, with its family, for checkpoints and URLs."""
    return {"family": config.family, **dataclasses.asdict(config)}


def config_from_dict(d: dict[str, Any]) -> ModelConfig:
    """Rebuild (and re-validate) a config written by `config_to_dict`."""
    if not isinstance(d, dict):
        raise ValueError(f"config must be a mapping, got {type(d).__name__}")
    d = dict(d)
    family = d.pop("family", None)
    cls = {"ddpm": DDPMConfig, "flow": FlowConfig, "flow_matching": FMConfig}.get(family)  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"config family must be 'ddpm', 'flow' or 'flow_matching', got {family!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown {family} config field(s): {', '.join(unknown)}")
    if cls is DDPMConfig:
        d.setdefault("activation", "silu")  # written before the field existed, when every ε_θ used SiLU
    return cls(**d)
