"""Family-agnostic use of a trained model: samples and log-densities in the data's own coordinates."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from gendemo import bound, ddpm, flow_matching
from gendemo.flows import Flow

FLOW_CHUNK = 4096  # points per Flow.log_prob call


@torch.inference_mode()
def draw_samples(model: nn.Module, n: int, generator: torch.Generator, sigma2: str = "beta") -> np.ndarray:
    """n samples, (n, 2) float32, in the data's coordinates (DDPM: Algorithm Sampling, Eq. (9))."""
    if isinstance(model, ddpm.DDPM):
        traj = ddpm.sample(model, n, generator, sigma2=sigma2, fast=True)
        return model.unstandardize(traj.xs[-1]).numpy().astype(np.float32)
    if isinstance(model, Flow):
        return model.sample(n, generator).numpy().astype(np.float32)
    if isinstance(model, flow_matching.FlowMatching):  # the ODE of Eq. (2), its default steps and method
        traj = flow_matching.sample(model, n, generator)
        return model.unstandardize(traj.xs[-1]).numpy().astype(np.float32)
    raise ValueError(f"unknown model type {type(model).__name__}")


class LogDensity(NamedTuple):
    """Per-point log-density in nats (data coordinates), float64 (n,), and its standard error (n,).

    exact: a flow's or a flow-matching model's log p(x) (se = 0). Otherwise a DDPM's −L̂, the mean of n_mc Monte-Carlo draws of −L
    (Eq. (6)): an estimate of a lower bound on log p_θ(x), with se = NaN when n_mc = 1.
    """

    value: np.ndarray
    se: np.ndarray
    exact: bool
    n_mc: int | None


@torch.inference_mode()
def log_prob_points(model: nn.Module, x: np.ndarray, generator: torch.Generator, sigma2: str = "beta",
                    n_mc: int = bound.DEFAULT_N_MC,
                    progress: Callable[[float], None] | None = None) -> LogDensity:
    """Per-point log-density in nats, data coordinates: exact for flows (Eq. (11)) and flow matching (the ODE of
    Eq. (2), instantaneous change of variables); for a DDPM, −L̂ with
    L̂ the mean of n_mc draws of the bound L per point (Eq. (6)), including the standardization's log-det.

    E[−L̂] = −L ≤ log p_θ(x), so −L̂ estimates a lower bound; with few draws it is no bound itself (its
    standard error is returned). Working memory is bounded for any number of points (they go in chunks);
    ``progress(points_done)`` is called as the work advances.
    """
    xt = torch.from_numpy(np.array(x, dtype=np.float32))  # a copy: x may be a read-only memory map
    if isinstance(model, Flow):
        parts = []
        for lo in range(0, xt.shape[0], FLOW_CHUNK):
            parts.append(model.log_prob(xt[lo:lo + FLOW_CHUNK]).double())
            if progress is not None:
                progress(lo + parts[-1].shape[0])
        value = torch.cat(parts).numpy() if parts else np.zeros(0)
        return LogDensity(value=value, se=np.zeros_like(value), exact=True, n_mc=None)
    if isinstance(model, flow_matching.FlowMatching):  # exact by the ODE (dopri5), in the data's units
        parts = []
        for lo in range(0, xt.shape[0], FLOW_CHUNK):
            parts.append(flow_matching.log_prob(model, xt[lo:lo + FLOW_CHUNK]).double())
            if progress is not None:
                progress(lo + parts[-1].shape[0])
        value = torch.cat(parts).numpy() if parts else np.zeros(0)
        return LogDensity(value=value, se=np.zeros_like(value), exact=True, n_mc=None)
    if isinstance(model, ddpm.DDPM):
        x0 = model.standardize(xt)
        est = bound.bound_per_point(model, x0, generator, sigma2=sigma2, n_mc=n_mc, progress=progress)
        log_det = -torch.log(model.scale.double()).sum().item()  # density of x = density of x0 / Π scale
        return LogDensity(value=(-est.L + log_det).astype(np.float64), se=est.se, exact=False, n_mc=est.n_mc)
    raise ValueError(f"unknown model type {type(model).__name__}")
