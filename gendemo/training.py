"""One training mechanism for both families: a state advanced in place, chunk by chunk.

`make_state(config, data)` builds the model, the optimizer and the state's own generator;
`train_steps(state, n)` runs n steps of Adam with gradient clipping and returns the chunk's
metrics, so a UI can call it in small chunks between redraws and a CLI in one go.

DDPM: "Algorithm Training" with L_simple (Eq. (10)) or the bound's weights.
Flows: the forward-KL loss −mean[log p_z(f⁻¹(x)) + log|det J_{f⁻¹}(x)|] (Eq. (11)).

Determinism: everything random in training draws from `state.generator`, seeded from the
config; no global RNG is touched. The same config and data give the same loss curve bit for
bit, also when several states train at once in different threads.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from gendemo import ddpm, flow_matching
from gendemo.config import DDPMConfig, FlowConfig, FMConfig, ModelConfig
from gendemo.datasets import validate_points
from gendemo.fast.ddpm_loss_grad import DDPMLossGrad
from gendemo.fast.flow_loss_grad import FlowLossGrad
from gendemo.flows import make_flow
from gendemo.nets import init_parameters_
from gendemo.schedules import make_schedule


class TrainingDiverged(RuntimeError):
    """The loss became non-finite or exploded; the state keeps the last finite weights."""

    def __init__(self, step: int, loss: float, reason: str):
        self.step, self.loss, self.reason = step, loss, reason
        super().__init__(f"training diverged at step {step}: {reason} (loss = {loss:.4g})")


@dataclass(eq=False)
class TrainState:
    """Everything a training run needs to continue: model, optimizer, generator, step, history."""

    config: ModelConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    train_x: torch.Tensor  # what the loss consumes: standardized data (DDPM, flow matching) or data (flows)
    step: int = 0
    seconds: float = 0.0  # time spent inside train_steps
    history_step: list[int] = field(default_factory=list)
    history_loss: list[float] = field(default_factory=list)
    first_loss: float | None = None
    # With config.ema_decay > 0: the weights Adam updates; `model` is then their moving average (what every
    # page samples, plots and saves). None: `model` is trained directly.
    trained: nn.Module | None = None
    # Every parameter of `fit_model` (and of the average `model`) is a view of one flat tensor (`flat_parameters_`):
    # the average is one op on them.
    flat: torch.Tensor | None = field(default=None, repr=False)
    flat_average: torch.Tensor | None = field(default=None, repr=False)
    # The hand-written loss/gradient for `fit_model` (gendemo/fast/), built on the first train_steps(fast=True).
    fast_loss_grad: DDPMLossGrad | FlowLossGrad | None = field(default=None, repr=False)

    @property
    def family(self) -> str:
        return self.config.family

    @property
    def fit_model(self) -> nn.Module:
        """The network the optimizer updates (the same object as `model` without an EMA)."""
        return self.model if self.trained is None else self.trained


def make_model(config: ModelConfig, shift: np.ndarray, scale: np.ndarray) -> nn.Module:
    """The untrained model a config describes, standardizing data by (x − shift)/scale."""
    shift_t = torch.as_tensor(np.asarray(shift, dtype=np.float32))
    scale_t = torch.as_tensor(np.asarray(scale, dtype=np.float32))
    if isinstance(config, DDPMConfig):
        sched = make_schedule(config.schedule, config.N, config.beta_1, config.beta_N)
        model = ddpm.DDPM(sched, width=config.width, depth=config.depth, emb_dim=config.emb_dim,
                          activation=config.activation)
        model.shift.copy_(shift_t)
        model.scale.copy_(scale_t)
        return model
    if isinstance(config, FlowConfig):
        return make_flow(config.kind, K=config.K, width=config.width, depth=config.depth,
                         scaling=config.scaling, shift=shift_t, scale=scale_t)
    if isinstance(config, FMConfig):
        model = flow_matching.FlowMatching(width=config.width, depth=config.depth, emb_dim=config.emb_dim,
                                           activation=config.activation)
        model.shift.copy_(shift_t)
        model.scale.copy_(scale_t)
        return model
    raise ValueError(f"unknown config type {type(config).__name__}")


def flat_parameters_(model: nn.Module) -> torch.Tensor:
    """Make every parameter of `model` a view of one flat tensor (in `model.parameters()` order) and return it.

    The same weights; the weight average is then one `lerp_` instead of one per tensor (72 for a default flow).
    Loading a state dict copies into the views, so the flat tensor follows. (Adam stays per tensor: over the flat
    tensor its kernel rounds differently, benchmarks/tuning.md.)
    """
    params = list(model.parameters())
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    offset = 0
    for p in params:
        p.data = flat[offset:offset + p.numel()].view_as(p)
        offset += p.numel()
    return flat


def _optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    # One fused kernel for every parameter; foreach=True is a per-tensor loop on CPU (benchmarks/tuning.md).
    return torch.optim.Adam(model.parameters(), lr=lr, fused=True)


def make_state(config: ModelConfig, data: np.ndarray) -> TrainState:
    """A fresh training state for `config` on `data` (an (n, 2) array in the data's own coordinates)."""
    x = torch.from_numpy(validate_points(data))
    shift = x.mean(0).numpy()
    scale = x.std(0).numpy()
    model = init_parameters_(make_model(config, shift, scale), torch.Generator().manual_seed(config.seed))
    train_x = model.standardize(x) if isinstance(config, (DDPMConfig, FMConfig)) else x
    generator = torch.Generator().manual_seed(config.seed + 1)
    flat = flat_parameters_(model)
    if config.ema_decay > 0:
        average = copy.deepcopy(model)
        for p in average.parameters():
            p.requires_grad_(False)
        return TrainState(config, average, _optimizer(model, config.lr), generator, train_x.contiguous(),
                          trained=model, flat=flat, flat_average=flat_parameters_(average))
    return TrainState(config, model, _optimizer(model, config.lr), generator, train_x.contiguous(), flat=flat)


def load_weights(state: TrainState, state_dict: dict) -> None:
    """Start a state from saved weights (a checkpoint's): both the trained network and its average."""
    state.model.load_state_dict(state_dict)
    if state.trained is not None:
        state.trained.load_state_dict(state_dict)


def _update_average(state: TrainState) -> None:
    """θ̄ ← d θ̄ + (1 − d) θ with d = min(ema_decay, (1 + step)/(10 + step)): one op on the flat parameters."""
    d = min(state.config.ema_decay, (1.0 + state.step) / (10.0 + state.step))
    state.flat_average.lerp_(state.flat, 1.0 - d)


def learning_rate(config: ModelConfig, step: int) -> float:
    """Cosine decay from lr to lr·lr_min_factor over `steps`, constant after (or no decay).

    A config with a `warmup` field (flows) scales it by min(1, (step + 1)/warmup) first: a linear warm-up.
    """
    warm = min(1.0, (step + 1) / config.warmup) if getattr(config, "warmup", 0) else 1.0
    if not config.lr_decay or config.steps == 0:
        return config.lr * warm
    t = min(step / config.steps, 1.0)
    floor = config.lr * config.lr_min_factor
    return warm * (floor + 0.5 * (config.lr - floor) * (1.0 + math.cos(math.pi * t)))


def _loss(state: TrainState, batch: torch.Tensor) -> torch.Tensor:
    if isinstance(state.config, DDPMConfig):
        return ddpm.loss(state.fit_model, batch, state.generator, weighting=state.config.weighting)
    if isinstance(state.config, FMConfig):
        return flow_matching.loss(state.fit_model, batch, state.generator)
    return state.fit_model.nll_loss(batch)


def _check(state: TrainState, loss: float) -> None:
    if not math.isfinite(loss):
        raise TrainingDiverged(state.step + 1, loss, "the loss is not finite")
    if state.first_loss is None:
        state.first_loss = loss
    limit = 20.0 + 10.0 * abs(state.first_loss)
    if loss > limit:
        raise TrainingDiverged(state.step + 1, loss, f"the loss exploded past {limit:.3g}")


def _fast_loss_grad(state: TrainState) -> DDPMLossGrad | FlowLossGrad | None:
    """The state's hand-written loss and gradient (None for flow matching: it has none), built once: its set-up
    costs as much as several steps, and the app calls train_steps in chunks of a few steps."""
    if state.fast_loss_grad is None:
        if isinstance(state.config, DDPMConfig):
            state.fast_loss_grad = DDPMLossGrad(state.fit_model, state.config.weighting)
        elif isinstance(state.config, FlowConfig):
            state.fast_loss_grad = FlowLossGrad(state.fit_model)
    return state.fast_loss_grad


def train_steps(state: TrainState, n: int, fast: bool = False) -> dict:
    """Advance `state` by n optimisation steps in place; return the chunk's metrics.

    Per step: loss on a batch (`_loss`), its gradient by autograd, clipping, Adam. ``fast``: the loss and
    its gradient by hand (gendemo/fast/: the same function up to float rounding, about half the step time)
    for a DDPM or a coupling flow; flow matching trains the plain way either way. A given state and `fast`
    give the same numbers bit for bit, whatever the chunks.

    On divergence, raises `TrainingDiverged` naming the step; the model then holds the weights
    of the last step whose loss and gradient were finite (the failing update is never applied).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n (number of steps) must be an integer >= 0, got {n!r}")
    cfg, model, opt, g = state.config, state.fit_model, state.optimizer, state.generator
    params = [p for p in model.parameters() if p.requires_grad]
    averaged = state.trained is not None
    by_hand = _fast_loss_grad(state) if fast else None
    model.train()
    losses: list[float] = []
    t0 = time.perf_counter()
    try:
        for _ in range(n):
            for group in opt.param_groups:
                group["lr"] = learning_rate(cfg, state.step)
            idx = torch.randint(0, state.train_x.shape[0], (cfg.batch,), generator=g)
            if by_hand is not None:
                batch = torch.index_select(state.train_x, 0, idx)
                value = by_hand.loss(batch, g).item()
                _check(state, value)
                by_hand.backward()
                grad_norm = by_hand.grad.clip_(cfg.grad_clip)
            else:
                loss = _loss(state, state.train_x[idx])
                value = loss.item()
                _check(state, value)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = float(nn.utils.clip_grad_norm_(params, cfg.grad_clip))
            if not math.isfinite(grad_norm):
                opt.zero_grad(set_to_none=True)
                raise TrainingDiverged(state.step + 1, value, "the gradient is not finite")
            opt.step()
            if averaged:
                _update_average(state)
            state.step += 1
            losses.append(value)
    finally:
        dt = time.perf_counter() - t0
        state.seconds += dt
        state.history_step.extend(range(state.step - len(losses) + 1, state.step + 1))
        state.history_loss.extend(losses)
    return {
        "step": state.step,
        "steps": len(losses),
        "loss": float(np.mean(losses)) if losses else float("nan"),
        "last_loss": losses[-1] if losses else float("nan"),
        "seconds": dt,
        "steps_per_s": len(losses) / dt if dt > 0 and losses else float("nan"),
        "lr": learning_rate(cfg, state.step),
    }


def snapshot(model: nn.Module) -> nn.Module:
    """A frozen copy of the model for sampling or plotting while training goes on."""
    frozen = copy.deepcopy(model).eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    return frozen
