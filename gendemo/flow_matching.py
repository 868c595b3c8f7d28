"""Flow matching in the lecture's convention: t = 0 is the Gaussian prior p_0, t = 1 the data p_1.

Careful: this is the reverse of the DDPM's step k (k = 0 the data, k = N the noise).

- The path X_t = (1 − t) X_0 + t X_1, X_0 ~ p_0 = N(0, I), X_1 ~ p_1 (Eq. (1)), whose conditional velocity
  given (X_0, X_1) is d X_t/dt = X_1 − X_0.
- The loss E_{t ~ U[0,1], X_0, X_1} |u_θ(X_t, t) − (X_1 − X_0)|². Its minimiser over all fields is the
  marginal velocity u*(x, t) = E[X_1 − X_0 | X_t = x] = (E[X_1 | X_t = x] − x)/(1 − t).
- Sampling: Y_0 ~ p_0, then the ODE dY_t/dt = u_θ(Y_t, t) from t = 0 to t = 1 (Eq. (2)), by Euler, Heun or
  RK4 (`gendemo.ode.solve`), keeping the trajectories.
- The exact log-likelihood by the instantaneous change of variables (`gendemo.ode.log_likelihood`).

Like the DDPM, the model works on standardized data, x = (data − shift)/scale: X_1 is a standardized data
point, the samples are unstandardized by `unstandardize`, and `log_prob` adds the standardization's
log-det −Σ_j log scale_j, so densities are in the data's units.
Ref: lecture Part 1, Eq. (1)-(2).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
from torch import nn

from gendemo import ode
from gendemo.nets import mlp, sinusoidal_embedding

# The time t ∈ [0, 1] enters u_θ through sinusoidal_embedding(TIME_SCALE·t, emb_dim, max_period=TIME_SCALE):
# angular frequencies from about 1 to TIME_SCALE per unit of t, so u_θ can vary in t on scales down to ~1/20
# (a 20-step sampler's step) but not faster: a smooth field in t, as an ODE solver needs.
TIME_SCALE = 20.0
SAMPLE_STEPS = 20  # default steps of the ODE sampler (Heun: 40 evaluations of u_θ)
SAMPLE_METHOD = "heun"


def path(x0: torch.Tensor, x1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """X_t = (1 − t) X_0 + t X_1 (Eq. (1)); t a float or a tensor (n,) of times in [0, 1]."""
    if isinstance(t, torch.Tensor) and t.ndim == 1:
        t = t[:, None]
    return (1.0 - t) * x0 + t * x1


def conditional_velocity(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """d/dt X_t = X_1 − X_0 along the straight path of Eq. (1), for given endpoints X_0 and X_1."""
    return x1 - x0


class VelocityNet(nn.Module):
    """u_θ(x, t): the velocity field of Eq. (2), an MLP of the point and a sinusoidal embedding of t.

    The same building blocks as ε_θ (`gendemo.nets.mlp`, `sinusoidal_embedding`), with the continuous time
    t ∈ [0, 1] embedded at angular frequencies 1…TIME_SCALE.
    """

    def __init__(self, width: int = 64, depth: int = 3, emb_dim: int = 32, dim: int = 2, activation: str = "silu"):
        super().__init__()
        if emb_dim % 2:
            raise ValueError(f"emb_dim must be even, got {emb_dim}")
        self.emb_dim = emb_dim
        self.net = mlp(dim + emb_dim, dim, width, depth, activation)

    def embed(self, t: torch.Tensor) -> torch.Tensor:
        """sinusoidal_embedding(TIME_SCALE·t, emb_dim, max_period=TIME_SCALE), shape (n, emb_dim)."""
        return sinusoidal_embedding(t * TIME_SCALE, self.emb_dim, max_period=TIME_SCALE)

    def forward(self, x: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        """x: (n, d); t: a float or a tensor (n,) of times in [0, 1]. Returns u_θ(x, t), shape (n, d)."""
        if not isinstance(t, torch.Tensor):
            t = torch.full((x.shape[0],), float(t), dtype=torch.float64)
        elif t.ndim == 0:
            t = t.expand(x.shape[0])
        return self.net(torch.cat([x, self.embed(t).to(x.dtype)], dim=1))


class FlowMatching(nn.Module):
    """A flow-matching model: the velocity network u_θ and the data's standardization (buffers).

    ``shift``/``scale`` standardize the data: x = (data − shift)/scale, the space u_θ works in. Ref: Eq. (2)
    """

    def __init__(self, width: int = 64, depth: int = 3, emb_dim: int = 32, activation: str = "silu"):
        super().__init__()
        self.u_theta = VelocityNet(width=width, depth=depth, emb_dim=emb_dim, activation=activation)
        self.register_buffer("shift", torch.zeros(2))
        self.register_buffer("scale", torch.ones(2))

    def forward(self, x: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        """u_θ(x, t) in the standardized space. Ref: Eq. (2)"""
        return self.u_theta(x, t)

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        """x = (data − shift)/scale."""
        return (x - self.shift) / self.scale

    def unstandardize(self, x: torch.Tensor) -> torch.Tensor:
        """data = shift + scale · x."""
        return self.shift + self.scale * x


def _dtype(model: nn.Module) -> torch.dtype:
    """The dtype the model computes in: its first parameter's, else its standardization's (the buffers)."""
    p = next(iter(model.parameters()), None)
    return p.dtype if p is not None else model.shift.dtype


def loss(model: FlowMatching, x1: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """mean over the batch of |u_θ(X_t, t) − (X_1 − X_0)|², t ~ U[0, 1), X_0 ~ N(0, I), X_t of Eq. (1).

    x1: a batch of (standardized) data points X_1 ~ p_1. Draw order: t = rand(n) then X_0 = randn(n, d),
    both from ``generator``. Minimised over all fields by u*(x, t) = (E[X_1 | X_t = x] − x)/(1 − t).
    Ref: Eq. (1)-(2)
    """
    n = x1.shape[0]
    t = torch.rand(n, generator=generator, dtype=x1.dtype)
    x0 = torch.randn(x1.shape, generator=generator, dtype=x1.dtype)
    x_t = path(x0, x1, t)
    return (model.u_theta(x_t, t) - conditional_velocity(x0, x1)).pow(2).sum(dim=1).mean()


@dataclass
class Trajectory:
    """The ODE's solution on the grid ts (ascending 0 … 1): xs[i] is Y at ts[i], shape (len(ts), n, 2).

    xs[0] ~ p_0 (the prior), xs[-1] the samples (≈ p_1), in the model's standardized space. Ref: Eq. (2)
    """

    ts: list[float]
    xs: torch.Tensor


def _check_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= 10_000_000:
        raise ValueError(f"n (number of samples) must be an integer in [1, 10_000_000], got {n!r}")
    return int(n)


def time_grid(steps: int) -> list[float]:
    """The uniform grid 0, 1/S, …, 1 of S = steps steps (t = 0 the prior, t = 1 the data)."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or not 1 <= steps <= 100_000:
        raise ValueError(f"steps must be an integer in [1, 100000], got {steps!r}")
    return torch.linspace(0.0, 1.0, int(steps) + 1, dtype=torch.float64).tolist()


def sample(model: FlowMatching, n: int, generator: torch.Generator, steps: int = SAMPLE_STEPS,
           method: str = SAMPLE_METHOD, y0: torch.Tensor | None = None) -> Trajectory:
    """Y_0 ~ N(0, I) (or the given y0), then dY_t/dt = u_θ(Y_t, t) from t = 0 to 1 in `steps` uniform steps.

    method: "euler", "heun" or "rk4" (`gendemo.ode.solve`). Draw order: Y_0 = randn(n, 2) (float32, then the
    model's dtype) from ``generator``; nothing else is random. Returns every step (the trajectories), in the
    model's standardized space, under torch.inference_mode. Ref: Eq. (2)
    """
    n = _check_n(n)
    ts = time_grid(steps)
    dtype = _dtype(model)
    if y0 is None:
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        y0 = torch.randn(n, 2, generator=generator).to(dtype)
    elif tuple(y0.shape) != (n, 2):
        raise ValueError(f"y0 must have shape ({n}, 2), got {tuple(y0.shape)}")
    with torch.inference_mode():
        xs = ode.solve(model.u_theta, y0.to(dtype), ts, method=method)
    return Trajectory(ts=ts, xs=xs)


def velocity_field(model: FlowMatching, t: float, grid: torch.Tensor) -> torch.Tensor:
    """u_θ(grid, t) for arrow plots, standardized space (inference mode). Ref: Eq. (2)"""
    if not (isinstance(t, numbers.Real) and 0.0 <= float(t) <= 1.0):
        raise ValueError(f"t must be a time in [0, 1], got {t!r}")
    with torch.inference_mode():
        return model.u_theta(torch.as_tensor(grid, dtype=_dtype(model)), float(t))


def log_prob(model: FlowMatching, x: torch.Tensor, method: str = "dopri5", steps: int | None = None,
             rtol: float = ode.RTOL, atol: float = ode.ATOL) -> torch.Tensor:
    """log p_1(x) of the model in the DATA's units, shape (n,): exact up to the ODE solver's error.

    Instantaneous change of variables in the standardized space (`gendemo.ode.log_likelihood` with
    t_data = 1, t_prior = 0, p_0 = N(0, I)): log p(x_std) = log p_0(z) − ∫_0^1 div u_θ(Y_t, t) dt, with the
    exact 2×2 trace. Then the standardization x_std = (x − shift)/scale adds log|det| = −Σ_j log scale_j.
    Ref: Eq. (2), and the change of variables of Eq. (11) for the affine standardization.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must be a tensor of shape (n, 2), got {getattr(x, 'shape', type(x).__name__)}")
    dtype = _dtype(model)
    xs = model.standardize(x.to(dtype))
    lp = ode.log_likelihood(model.u_theta, xs, ode.standard_normal_log_prob, t_data=1.0, t_prior=0.0,
                            method=method, steps=steps, rtol=rtol, atol=atol)
    return lp - torch.log(model.scale.to(dtype)).sum()


__all__ = [
    "TIME_SCALE",
    "FlowMatching",
    "Trajectory",
    "VelocityNet",
    "conditional_velocity",
    "log_prob",
    "loss",
    "path",
    "sample",
    "time_grid",
    "velocity_field",
]
