"""The URL's query parameters: one Spec a parameter (its choices or range, its default, what it means), and the
check of a link's raw values against them. No streamlit here: ui/settings.py draws the widgets from these specs.

A bound widget's URL value is what the widget shows: an option's label (`d_act=SiLU`, `b1=1e-05`), a number
(`N=100`), `true`/`false`. Streamlit drops an invalid value silently and uses the default; `problems` says so in
words, for the values Streamlit would drop (and only those: it accepts `N=100.5` as 100, so that is no problem).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gendemo import datasets
from gendemo.config import (
    ACTIVATIONS,
    FLOW_KINDS,
    SCHEDULE_KINDS,
    SIGMA2_CHOICES,
    WEIGHTINGS,
    DDPMConfig,
    FlowConfig,
    FMConfig,
)

MAX_SEED = 2**31 - 1  # the seed inputs' range (a JavaScript-safe integer)
SHOWN_CHARS = 40  # a bad value is quoted in a message up to this length
PTS = "pts"  # the unbound parameter that names an uploaded dataset by its content hash
PTS_RE = re.compile(r"[0-9a-f]{16}")


def _g(v: float) -> str:
    return f"{v:g}"


@dataclass(frozen=True)
class Spec:
    """One URL parameter. kind: "choice" (one of the options' labels), "number" (a slider: a finite number in
    [lo, hi]), "int" (a number input: an integer in [lo, hi]; a fraction is truncated), "bool" (true/false)."""

    key: str
    what: str  # the message's name for it: "is not a valid <what>"
    kind: str
    default: Any
    options: tuple = ()
    label: Callable[[Any], str] = str  # an option's label: what the widget shows and the URL carries
    lo: float = 0
    hi: float = 0
    array: bool = False  # a slider or select-slider: its URL value is a list, so a repeated key is invalid
    labels: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", {self.label(o): o for o in self.options})

    def show(self, value: Any) -> str:
        if self.kind == "choice":
            return self.label(value)
        if self.kind == "bool":
            return "on" if value else "off"
        return _g(value) if self.kind == "number" else str(value)

    def expects(self) -> str:
        if self.kind == "choice":
            names = [self.label(o) for o in self.options]
            return "choose one of " + (", ".join(names) if len(names) <= 5 else f"{names[0]} … {names[-1]}")
        if self.kind == "number":
            return f"a number from {_g(self.lo)} to {_g(self.hi)}"
        if self.kind == "int":
            return f"a whole number from {int(self.lo)} to {int(self.hi)}"
        return "true or false"

    def parse(self, raw: Sequence[str]) -> Any:
        """The value Streamlit seeds the widget with, or ValueError where it would drop the parameter."""
        if not raw or all(r == "" for r in raw):
            raise ValueError("empty")
        if self.array and len(raw) != 1:
            raise ValueError("given more than once")
        v = raw[-1]
        if self.kind == "choice":
            if v not in self.labels:
                raise ValueError(v)
            return self.labels[v]
        if self.kind == "bool":
            if v.lower() not in ("true", "false"):
                raise ValueError(v)
            return v.lower() == "true"
        x = float(v)  # ValueError for text
        if not math.isfinite(x):
            raise ValueError(v)
        if self.kind == "int":
            x = int(x)
        if not self.lo <= x <= self.hi:
            raise ValueError(v)
        return x


def _choice(key, what, options, default, label=str, array=False) -> Spec:
    return Spec(key, what, "choice", default, tuple(options), label, array=array)


def _slider(key, what, lo, hi, default) -> Spec:
    return Spec(key, what, "number", default, lo=lo, hi=hi, array=True)


def _seed(key, what="seed") -> Spec:
    return Spec(key, what, "int", 0, lo=0, hi=MAX_SEED)


_DD, _DF, _DM = DDPMConfig(), FlowConfig(), FMConfig()
# Log-spaced choices: β spans decades, and a select-slider can only offer valid values.
BETA_1_CHOICES = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1]
BETA_N_CHOICES = [1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 0.9, 0.999]
N_MAX_UI = 1000
DDPM_LR_CHOICES = [1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 3e-2, 0.1, 1.0, 10.0, 100.0]
FLOW_LR_CHOICES = [1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 3e-2, 0.1, 1.0]
FM_LR_CHOICES = [1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 3e-2, 0.1]
ACTIVATION_LABELS = {"hardswish": "Hardswish", "silu": "SiLU", "relu": "ReLU"}
WEIGHTING_LABELS = {"simple": "L_simple (Eq. 10)", "bound": "the bound's β²/(2σ²α(1−ᾱ))"}
KIND_LABEL = {"nice": "NICE (additive)", "realnvp": "RealNVP (affine)"}
SIGMA2_LABEL = {"beta": "σ_k² = β_k", "beta_tilde": "σ_k² = β̃_k"}
ODE_SOLVERS = ("euler", "heun", "rk4")
ODE_SOLVER_LABEL = {"euler": "Euler", "heun": "Heun", "rk4": "RK4"}
DIRECTIONS = {"down": "data → latent: zₖ₋₁ = fₖ⁻¹(zₖ)", "up": "latent → data (sampling): zₖ = fₖ(zₖ₋₁)"}
DEFAULT_DATASET = "moons"  # ui/data.DataChoice().name

SIDEBAR: dict[str, Spec] = {s.key: s for s in [
    Spec("presenter", "presenter switch", "bool", False),
    # Data (ui/data.DataChoice's defaults)
    _choice("ds", "dataset", datasets.NAMES, DEFAULT_DATASET),
    Spec("n", "number of points", "number", datasets.DEFAULT_N, lo=200, hi=20_000, array=True),
    _slider("noise", "noise", 0.0, 0.5, None),  # default: the dataset's own (datasets.DEFAULT_NOISE)
    _seed("dseed", "data seed"),
    # β-schedule (DDPMConfig's defaults)
    _choice("sched", "schedule kind", SCHEDULE_KINDS, _DD.schedule),
    _slider("N", "number of steps N", 1, N_MAX_UI, _DD.N),
    _choice("b1", "β₁", BETA_1_CHOICES, _DD.beta_1, _g, array=True),
    _choice("bN", "β_N", BETA_N_CHOICES, _DD.beta_N, _g, array=True),
    # DDPM network and optimiser
    _choice("d_width", "DDPM width", [16, 32, 64, 128, 256], _DD.width, array=True),
    _slider("d_depth", "DDPM depth", 1, 5, _DD.depth),
    _choice("d_lr", "learning rate", DDPM_LR_CHOICES, _DD.lr, _g, array=True),
    _choice("d_batch", "DDPM batch", [32, 64, 128, 256, 512, 1024], _DD.batch, array=True),
    _choice("d_steps", "number of planned DDPM steps", [500, 1000, 2000, 3000, 5000, 8000, 10_000, 20_000, 50_000],
            _DD.steps, array=True),
    _choice("d_wt", "loss weighting", WEIGHTINGS, _DD.weighting, WEIGHTING_LABELS.get),
    _choice("d_act", "activation", ACTIVATIONS, _DD.activation, ACTIVATION_LABELS.get),
    _seed("d_seed", "DDPM seed"),
    Spec("d_more", "number of thousands of DDPM steps past the plan", "int", 0, lo=0, hi=49),
    # Flow
    _choice("f_kind", "coupling", FLOW_KINDS, _DF.kind, KIND_LABEL.get),
    _slider("f_K", "number of coupling layers K", 1, 16, _DF.K),
    _choice("f_width", "flow width", [16, 32, 64, 128, 256], _DF.width, array=True),
    _slider("f_depth", "flow depth", 1, 4, _DF.depth),
    _choice("f_lr", "flow learning rate", FLOW_LR_CHOICES, _DF.lr, _g, array=True),
    _choice("f_batch", "flow batch", [64, 128, 256, 512, 1024], _DF.batch, array=True),
    _choice("f_steps", "number of planned flow steps", [300, 500, 1000, 2000, 3000, 5000, 10_000, 20_000], _DF.steps,
            array=True),
    Spec("f_scale", "diagonal-scaling switch", "bool", _DF.scaling),
    _seed("f_seed", "flow seed"),
    Spec("f_more", "number of thousands of flow steps past the plan", "int", 0, lo=0, hi=49),
    # Flow matching (FMConfig's defaults)
    _choice("fm_width", "flow-matching width", [16, 32, 64, 128, 256], _DM.width, array=True),
    _slider("fm_depth", "flow-matching depth", 1, 5, _DM.depth),
    _choice("fm_lr", "flow-matching learning rate", FM_LR_CHOICES, _DM.lr, _g, array=True),
    _choice("fm_batch", "flow-matching batch", [32, 64, 128, 256, 512, 1024], _DM.batch, array=True),
    _choice("fm_steps", "number of planned flow-matching steps", [300, 500, 1000, 2000, 3000, 5000, 10_000, 20_000],
            _DM.steps, array=True),
    _seed("fm_seed", "flow-matching seed"),
    Spec("fm_more", "number of thousands of flow-matching steps past the plan", "int", 0, lo=0, hi=49),
]}

# Page-local view settings (bound on their own pages). The slider bounds of rev_k and coupling_layer depend on the
# model (N, K): checked here against the widest model the sidebar can ask for.
VIEW: dict[str, Spec] = {s.key: s for s in [
    _choice("rev_sigma2", "reverse variance", SIGMA2_CHOICES, "beta", SIGMA2_LABEL.get),
    _choice("rev_n", "number of samples", [100, 250, 500, 1000, 2000], 1000, array=True),
    _seed("rev_seed"),
    _slider("rev_k", "step k", 1, N_MAX_UI, None),  # default: N // 4
    _choice("bound_sigma2", "reverse variance", SIGMA2_CHOICES, "beta", SIGMA2_LABEL.get),
    _choice("bound_n", "number of held-out points", [250, 500, 1000, 2000], 1000, array=True),
    _slider("coupling_layer", "coupling layer", 1, 16, 1),
    _choice("coupling_anim_dir", "animation direction", list(DIRECTIONS), "down", DIRECTIONS.get),
    # Flow matching, Samplers, Likelihood (issue 15)
    _slider("fm_t", "time t", 0.0, 0.95, 0.5),
    _choice("fm_solver", "ODE solver", ODE_SOLVERS, "heun", ODE_SOLVER_LABEL.get),
    _choice("fm_S", "number of ODE steps", [1, 2, 3, 5, 10, 20, 50, 100], 20, array=True),
    Spec("fm_exact", "exact-field switch", "bool", False),
    _seed("race_seed", "starting-noise seed"),
    _choice("race_S", "number of sampler steps", [2, 3, 5, 10, 20, 50, 100, 200], 20, array=True),
    _slider("race_eta", "DDIM η", 0.0, 1.0, 0.0),
    _choice("lik_n", "number of held-out points", [100, 250, 500, 1000, 2000], 500, array=True),
]}
SPECS: dict[str, Spec] = {**SIDEBAR, **VIEW}


def default_noise(params: Mapping[str, Sequence[str]]) -> float:
    """The noise default of the dataset the link asks for (or of the default dataset)."""
    try:
        name = SPECS["ds"].parse(params.get("ds", []))
    except ValueError:
        name = DEFAULT_DATASET
    return datasets.DEFAULT_NOISE[name]


def quote(raw: Sequence[str]) -> str:
    v = "&".join(raw)
    v = "".join(c if c.isprintable() and c != "`" else "?" for c in v)
    return v if len(v) <= SHOWN_CHARS else v[:SHOWN_CHARS] + "…"


def problems(params: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """(key, sentence) for every known parameter whose value its widget would drop, e.g. ("d_lr", "`d_lr=abc` is
    not a valid learning rate (choose one of 0.0001 … 100): using the default 0.01.")."""
    out = []
    for key, spec in SPECS.items():
        raw = params.get(key)
        if raw is None:
            continue
        try:
            spec.parse(raw)
        except (ValueError, OverflowError):
            if key == "noise":
                default = _g(default_noise(params)) + " of this dataset"
            elif key == "rev_k":
                default = "N / 4"
            else:
                default = spec.show(spec.default)
            out.append((key, f"`{key}={quote(raw)}` is not a valid {spec.what} ({spec.expects()}): "
                             f"using the default {default}."))
    return out


def conflicts(params: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """(key, sentence) for valid values that contradict each other: β₁ above β_N (the sliders keep β₁ ≤ β_N, a
    hand-edited link need not). The fallback drops `b1`: its default is below every β_N choice."""
    try:
        b1 = SPECS["b1"].parse(params["b1"]) if "b1" in params else SPECS["b1"].default
        bN = SPECS["bN"].parse(params["bN"]) if "bN" in params else SPECS["bN"].default
    except (ValueError, OverflowError):  # an invalid value: `problems` says so
        return []
    if "b1" not in params or b1 <= bN:
        return []
    return [("b1", (f"`b1={quote(params['b1'])}` is larger than β_N = {_g(bN)} (β₁ ≤ β_N is needed): using the "
                    f"default β₁ = {_g(SPECS['b1'].default)}."))]


def crashes_streamlit(spec: Spec, raw: Sequence[str]) -> bool:
    """An infinite value for a number input: Streamlit 1.67's int deserializer raises OverflowError on it
    (`int(float("inf"))`) instead of dropping it, so it must leave the URL before the widget is drawn."""
    if spec.kind != "int" or not raw:
        return False
    try:
        return math.isinf(float(raw[-1]))
    except ValueError:
        return False
