"""Family-agnostic use of a trained model: samples and log-densities in the data's own coordinates."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gendemo import bound, ddpm
from gendemo.flows import Flow


@torch.inference_mode()
def draw_samples(model: nn.Module, n: int, generator: torch.Generator, sigma2: str = "beta") -> np.ndarray:
    """n samples, (n, 2) float32, in the data's coordinates (DDPM: Algorithm Sampling, Eq. (9))."""
    if isinstance(model, ddpm.DDPM):
        traj = ddpm.sample(model, n, generator, sigma2=sigma2)
        return model.unstandardize(traj.xs[-1]).numpy().astype(np.float32)
    if isinstance(model, Flow):
        return model.sample(n, generator).numpy().astype(np.float32)
    raise ValueError(f"unknown model type {type(model).__name__}")


@torch.inference_mode()
def log_prob_points(model: nn.Module, x: np.ndarray, generator: torch.Generator,
                    sigma2: str = "beta_tilde") -> np.ndarray:
    """Per-point log-density in nats, data coordinates: exact for flows (Eq. (11)); for a DDPM,
    −L per point (Eq. (6)), a lower bound on log p_θ(x), including the standardization's log-det."""
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if isinstance(model, Flow):
        return torch.cat([model.log_prob(chunk) for chunk in xt.split(4096)]).double().numpy()
    if isinstance(model, ddpm.DDPM):
        x0 = model.standardize(xt)
        per_point = bound.bound_per_point(model, x0, generator, sigma2=sigma2)
        log_det = -torch.log(model.scale.double()).sum().item()  # density of x = density of x0 / Π scale
        return (-per_point + log_det).astype(np.float64)
    raise ValueError(f"unknown model type {type(model).__name__}")
