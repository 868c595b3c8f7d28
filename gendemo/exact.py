"""The exact fields of a finite point set Y = {y_1, …, y_m}: what a perfect network would learn from Y.

Both the DDPM and flow matching noise a data point y with a Gaussian of known location and scale,
q(x | y) = N(x; a y, s² I): the DDPM's Eq. (7) with a = √ᾱ_k, s = √(1 − ᾱ_k); flow matching's path
X_t = (1 − t) X_0 + t X_1 of Eq. (1) with X_1 = y, X_0 ~ N(0, I), a = t, s = 1 − t. With the data law the
uniform distribution on Y, Bayes gives the posterior over the points as a softmax,

    w_i(x) = q(x | y_i) / Σ_j q(x | y_j) = softmax_i(−|x − a y_i|² / (2 s²)),

and every exact field is a posterior mean E[y | x] = Σ_i w_i(x) y_i:
- the ideal denoiser ε*(x, k) = E[ε | x^(k) = x] = (x − √ᾱ_k E[x^(0) | x]) / √(1 − ᾱ_k), the minimiser of
  L_simple (Eq. (10)) over all functions;
- the exact score ∇ log q_k(x) = −ε*(x, k) / √(1 − ᾱ_k) of the marginal q_k = (1/m) Σ_i N(√ᾱ_k y_i, (1 − ᾱ_k) I);
- the exact marginal velocity u*(x, t) = E[X_1 − X_0 | X_t = x] = (E[X_1 | X_t = x] − x)/(1 − t), the minimiser
  of the flow-matching loss E|u(X_t, t) − (X_1 − X_0)|² (Eq. (1)-(2)).

From them the least values the two losses can reach on Y (`ddpm_loss_floor`, `fm_loss_floor`): the losses of
the exact fields, which are not zero because ε (or X_1 − X_0) is not a function of the noisy point. Sampling
with an exact field memorises: its samples land on the points of Y (`memorised_fraction`).

Memory: the softmax runs over chunks of points and of Y with a running log-sum-exp (online softmax), so a
(2,000 × 2,000) field holds at most CHUNK_PAIRS pair terms at a time. Arithmetic in float64 by default.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from gendemo.schedules import Schedule

CHUNK_PAIRS = 1 << 18  # pair terms (points × set members) held at a time: 2 MB in float64


def _as_points(x: object, name: str, dtype: torch.dtype | None = None) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if dtype is not None:
        t = t.to(dtype)
    if t.ndim != 2 or t.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n, d) with n >= 1, got {tuple(t.shape)}")
    if not t.dtype.is_floating_point:
        t = t.to(torch.float64)
    return t


def posterior_mean(x: torch.Tensor, Y: torch.Tensor, a: float | torch.Tensor, s: float | torch.Tensor,
                   chunk_pairs: int = CHUNK_PAIRS) -> torch.Tensor:
    """E[y | x] = Σ_i w_i(x) y_i with w_i ∝ N(x; a y_i, s² I) and y uniform on Y (Bayes), shape (n, d).

    a, s: scalars, or tensors of shape (n,) (one noise level per point). The softmax of
    −|x − a y_i|²/(2 s²) is accumulated over chunks of Y with a running maximum (log-sum-exp stable: a point
    far from every a·y_i still gets finite weights). Computed in x's dtype.
    """
    n, d = x.shape
    if Y.shape[1] != d:
        raise ValueError(f"x and Y must have the same dimension, got {d} and {Y.shape[1]}")
    Y = Y.to(x.dtype)
    a = torch.as_tensor(a, dtype=x.dtype)
    s = torch.as_tensor(s, dtype=x.dtype)
    if (s <= 0).any():
        raise ValueError("the noise scale s must be > 0 (the posterior is a point mass at s = 0)")
    a = a.reshape(-1, 1) if a.ndim else a
    inv2s2 = (0.5 / s**2).reshape(-1, 1) if s.ndim else 0.5 / s**2
    rows = max(1, min(n, chunk_pairs // max(1, min(len(Y), chunk_pairs))))
    cols = max(1, chunk_pairs // rows)
    out = torch.empty_like(x)
    for lo in range(0, n, rows):
        xc = x[lo:lo + rows]
        ac = a[lo:lo + rows] if a.ndim else a
        ic = inv2s2[lo:lo + rows] if inv2s2.ndim else inv2s2
        run_max = torch.full((len(xc), 1), -math.inf, dtype=x.dtype)
        run_sum = torch.zeros(len(xc), 1, dtype=x.dtype)
        run_mean = torch.zeros(len(xc), d, dtype=x.dtype)
        for j in range(0, len(Y), cols):
            Yc = Y[j:j + cols]
            # −|x − a y|²/(2 s²) from coordinate differences (no cancellation for close points)
            diff = xc[:, None, :] - (ac[:, :, None] if torch.is_tensor(ac) and ac.ndim else ac) * Yc[None, :, :]
            logits = -(diff * diff).sum(dim=2) * ic
            new_max = torch.maximum(run_max, logits.max(dim=1, keepdim=True).values)
            rescale = torch.exp(run_max - new_max)
            w = torch.exp(logits - new_max)
            run_sum = run_sum * rescale + w.sum(dim=1, keepdim=True)
            run_mean = run_mean * rescale + w @ Yc
            run_max = new_max
        out[lo:lo + rows] = run_mean / run_sum
    return out


def log_marginal(x: torch.Tensor, Y: torch.Tensor, a: float, s: float, chunk_pairs: int = CHUNK_PAIRS) -> torch.Tensor:
    """log q(x) = log (1/m) Σ_i N(x; a y_i, s² I), the Gaussian-mixture marginal, shape (n,) (log-sum-exp, chunked).

    Ref: Eq. (3), Eq. (7)
    """
    n, d = x.shape
    Y = Y.to(x.dtype)
    m = len(Y)
    rows = max(1, min(n, chunk_pairs // max(1, min(m, chunk_pairs))))
    cols = max(1, chunk_pairs // rows)
    out = torch.empty(n, dtype=x.dtype)
    for lo in range(0, n, rows):
        xc = x[lo:lo + rows]
        parts = []
        for j in range(0, m, cols):
            diff = xc[:, None, :] - a * Y[None, j:j + cols, :]
            parts.append(torch.logsumexp(-(diff * diff).sum(dim=2) / (2 * s * s), dim=1))
        out[lo:lo + rows] = torch.logsumexp(torch.stack(parts, dim=1), dim=1)
    return out - math.log(m) - 0.5 * d * math.log(2 * math.pi * s * s)


def _check_k(k: int, sched: Schedule) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= sched.N:
        raise ValueError(f"k must be an int in 1..{sched.N}, got {k!r}")
    return int(k)


def ideal_eps(x: torch.Tensor, k: int | torch.Tensor, Y: torch.Tensor, sched: Schedule,
              chunk_pairs: int = CHUNK_PAIRS) -> torch.Tensor:
    """ε*(x, k) = E[ε | x^(k) = x] = (x − √ᾱ_k E[x^(0) | x^(k) = x]) / √(1 − ᾱ_k), x^(0) uniform on Y.

    The posterior over the points is the softmax of −|x − √ᾱ_k y_i|²/(2(1 − ᾱ_k)) (q(x^(k) | y) of Eq. (7));
    ε* minimises L_simple (Eq. (10)) over all functions of (x^(k), k). k: an int in 1..N or an int tensor (n,).
    Computed in x's dtype.
    """
    if isinstance(k, torch.Tensor) and k.ndim:
        if k.shape != (x.shape[0],) or k.dtype.is_floating_point or int(k.min()) < 1 or int(k.max()) > sched.N:
            raise ValueError(f"k must be ints in 1..{sched.N} of shape ({x.shape[0]},)")
        ab = sched.alpha_bar.to(x.dtype)[k]
        sa, so = ab.sqrt(), (1 - ab).sqrt()
        x0_mean = posterior_mean(x, Y, sa, so, chunk_pairs)
        return (x - sa[:, None] * x0_mean) / so[:, None]
    k = _check_k(int(k) if isinstance(k, torch.Tensor) else k, sched)
    ab = float(sched.alpha_bar[k])
    sa, so = math.sqrt(ab), math.sqrt(1.0 - ab)
    return (x - sa * posterior_mean(x, Y, sa, so, chunk_pairs)) / so


def exact_score(x: torch.Tensor, k: int, Y: torch.Tensor, sched: Schedule, chunk_pairs: int = CHUNK_PAIRS) -> torch.Tensor:
    """∇_x log q_k(x) = −ε*(x, k)/√(1 − ᾱ_k), q_k = (1/m) Σ_i N(√ᾱ_k y_i, (1 − ᾱ_k) I). Ref: Eq. (7)"""
    k = _check_k(k, sched)
    return -ideal_eps(x, k, Y, sched, chunk_pairs) / math.sqrt(1.0 - float(sched.alpha_bar[k]))


def exact_velocity(x: torch.Tensor, t: float | torch.Tensor, Y: torch.Tensor,
                   chunk_pairs: int = CHUNK_PAIRS) -> torch.Tensor:
    """u*(x, t) = (E[X_1 | X_t = x] − x)/(1 − t) for X_t = (1 − t) X_0 + t X_1, X_0 ~ N(0, I), X_1 uniform on Y.

    q(x_t | X_1 = y) = N(t y, (1 − t)² I), so the posterior over the points is the softmax of
    −|x − t y_i|²/(2(1 − t)²). t in [0, 1) (a float, or a tensor (n,)): at t = 1 the field is not defined.
    Ref: Eq. (1), Eq. (2)
    """
    t_ = torch.as_tensor(t, dtype=x.dtype)
    if ((t_ < 0) | (t_ >= 1)).any():
        raise ValueError(f"t must lie in [0, 1), got {t!r}")
    mean = posterior_mean(x, Y, t_, 1 - t_, chunk_pairs)
    return (mean - x) / ((1 - t_)[:, None] if t_.ndim else (1 - t_))


class ExactDenoiser(nn.Module):
    """A DDPM-shaped model whose ε is the ideal denoiser ε* of the set Y (in the model's standardized space).

    It has `sched`, `shift`, `scale`, `standardize`/`unstandardize` and `eps_theta(x, k)` like `gendemo.ddpm.DDPM`,
    so every DDPM sampler runs on it unchanged: with it, samples land on the points of Y (memorisation).
    Build it for a trained model with `ExactDenoiser.like(model, data)` (the model's schedule and standardization).
    """

    def __init__(self, Y: torch.Tensor, sched: Schedule, shift: torch.Tensor | None = None,
                 scale: torch.Tensor | None = None, dtype: torch.dtype = torch.float64):
        super().__init__()
        self.sched = sched
        self.Y = _as_points(Y, "Y", dtype)
        self.dtype = dtype
        self.register_buffer("shift", torch.zeros(2) if shift is None else shift.detach().clone().float())
        self.register_buffer("scale", torch.ones(2) if scale is None else scale.detach().clone().float())
        self.eps_theta = self._eps_theta

    @classmethod
    def like(cls, model: nn.Module, data: object, dtype: torch.dtype = torch.float64) -> ExactDenoiser:
        """The exact denoiser of `data` (points in the data's units) in `model`'s schedule and standardized space."""
        x = _as_points(data, "data", torch.float32)
        return cls(model.standardize(x).to(dtype), model.sched, model.shift, model.scale, dtype)

    def _eps_theta(self, x: torch.Tensor, k: torch.Tensor | int) -> torch.Tensor:
        if isinstance(k, torch.Tensor) and k.ndim and len(k) and bool((k == k[0]).all()):
            k = int(k[0])  # one step for all points (the samplers' case): scalar coefficients
        out = ideal_eps(x.to(self.dtype), k, self.Y, self.sched)
        return out.to(x.dtype)

    def forward(self, x: torch.Tensor, k: torch.Tensor | int) -> torch.Tensor:
        return self._eps_theta(x, k)

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale

    def unstandardize(self, x: torch.Tensor) -> torch.Tensor:
        return self.shift + self.scale * x


class ExactVelocity(nn.Module):
    """A flow-matching-shaped model whose velocity is u* of the set Y (standardized space): `u_theta(x, t)`,
    `shift`/`scale`, `standardize`/`unstandardize` like `gendemo.flow_matching.FlowMatching`, so its ODE sampler
    runs on it; the samples land on the points of Y (memorisation).

    u*(x, t) ~ 1/(1 − t) is not defined at t = 1, where Heun and RK4 evaluate their last stage (a predictor
    between two points then meets a field of size |y − x|/(1 − t)): sample it with Euler, whose last step
    x + h u*(x, 1 − h) = E[X_1 | X_{1−h} = x] is the posterior mean over the points. t ≥ 1 raises ValueError.
    Ref: Eq. (2)
    """

    def __init__(self, Y: torch.Tensor, shift: torch.Tensor | None = None, scale: torch.Tensor | None = None,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        self.Y = _as_points(Y, "Y", dtype)
        self.dtype = dtype
        self.register_buffer("shift", torch.zeros(2) if shift is None else shift.detach().clone().float())
        self.register_buffer("scale", torch.ones(2) if scale is None else scale.detach().clone().float())

    @classmethod
    def like(cls, model: nn.Module, data: object, dtype: torch.dtype = torch.float64) -> ExactVelocity:
        """The exact velocity of `data` (points in the data's units) in `model`'s standardized space."""
        x = _as_points(data, "data", torch.float32)
        return cls(model.standardize(x).to(dtype), model.shift, model.scale, dtype)

    def u_theta(self, x: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=self.dtype)
        if (t >= 1).any():
            raise ValueError("the exact velocity u*(x, t) = (E[X_1 | x] − x)/(1 − t) is not defined at t = 1: "
                             "sample it with method='euler' (no evaluation at t = 1)")
        return exact_velocity(x.to(self.dtype), t, self.Y).to(x.dtype)

    def forward(self, x: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        return self.u_theta(x, t)

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale

    def unstandardize(self, x: torch.Tensor) -> torch.Tensor:
        return self.shift + self.scale * x


def _mean_se(values: torch.Tensor) -> tuple[float, float]:
    v = values.to(torch.float64)
    se = float(v.std(unbiased=True) / math.sqrt(len(v))) if len(v) > 1 else math.nan
    return float(v.mean()), se


def ddpm_loss_floor(Y: object, sched: Schedule, generator: torch.Generator, n_mc: int = 4096,
                    chunk_pairs: int = CHUNK_PAIRS) -> tuple[float, float]:
    """min over ε of L_simple on Y: E_{k, y, ε} |ε − ε*(√ᾱ_k y + √(1 − ᾱ_k) ε, k)|², with its standard error.

    Monte Carlo with n_mc draws from ``generator``: the points y = Y[randint(m, (n_mc,))], then the draws of
    `gendemo.ddpm.loss` on that batch (k ~ U{1..N}, then ε ~ N(0, I)): the same value as that loss of ε*. Since ε* = E[ε | x^(k)], this is
    E Var[ε | x^(k)], the least value any ε_θ can reach (and > 0). Returns (mean, standard error), float64.
    Ref: Eq. (7), Eq. (10)
    """
    Y = _as_points(Y, "Y", torch.float64)
    idx = torch.randint(0, len(Y), (n_mc,), generator=generator)
    k = torch.randint(1, sched.N + 1, (n_mc,), generator=generator)
    eps = torch.randn(n_mc, Y.shape[1], generator=generator, dtype=torch.float64)
    ab = sched.alpha_bar[k][:, None]
    x_k = ab.sqrt() * Y[idx] + (1 - ab).sqrt() * eps
    err = (eps - ideal_eps(x_k, k, Y, sched, chunk_pairs)).pow(2).sum(dim=1)
    return _mean_se(err)


def fm_loss_floor(Y: object, generator: torch.Generator, n_mc: int = 4096,
                  chunk_pairs: int = CHUNK_PAIRS) -> tuple[float, float]:
    """min over u of the flow-matching loss on Y: E_{t, y, X_0} |(y − X_0) − u*(X_t, t)|², with its standard error.

    y = Y[randint(m, (n_mc,))], then t ~ U[0, 1), then X_0 ~ N(0, I), all from ``generator`` (the draws of
    `gendemo.flow_matching.loss` on that batch); X_t = (1 − t) X_0 + t y (Eq. (1)).
    Since u* = E[X_1 − X_0 | X_t], this is E Var[X_1 − X_0 | X_t], the least value of E|u(X_t, t) − (X_1 − X_0)|².
    Returns (mean, standard error), float64. Ref: Eq. (1), Eq. (2)
    """
    Y = _as_points(Y, "Y", torch.float64)
    idx = torch.randint(0, len(Y), (n_mc,), generator=generator)
    t = torch.rand(n_mc, generator=generator, dtype=torch.float64)
    x0 = torch.randn(n_mc, Y.shape[1], generator=generator, dtype=torch.float64)
    x1 = Y[idx]
    x_t = (1 - t)[:, None] * x0 + t[:, None] * x1
    err = ((x1 - x0) - exact_velocity(x_t, t, Y, chunk_pairs)).pow(2).sum(dim=1)
    return _mean_se(err)


def memorised_fraction(samples: object, Y: object, radius: float) -> float:
    """The fraction of samples within `radius` of some point of Y (chunked nearest-neighbour distances)."""
    x = _as_points(samples, "samples", torch.float64)
    Yt = _as_points(Y, "Y", torch.float64)
    rows = max(1, CHUNK_PAIRS // len(Yt))
    hits = 0
    for lo in range(0, len(x), rows):
        hits += int((torch.cdist(x[lo:lo + rows], Yt).min(dim=1).values <= radius).sum())
    return hits / len(x)
