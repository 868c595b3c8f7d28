"""The variational bound L = L_N + Σ_{k=2..N} L_{k−1} + L_0 of a DDPM, term by term, in nats per point.

Everything is computed in the model's (standardized) space: to express the bound in the data's own
coordinates add Σ_d log scale_d (the log-Jacobian of the standardization).
Per point, `bound_per_point` averages n_mc Monte-Carlo draws of L and reports the standard error: an
estimate of the bound L(x0) ≥ −log p_θ(x0), not itself a bound (one draw can land nats below L).
Ref: Eq. (6), Eq. (8), Proposition (decomposition)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from gendemo import ddpm
from gendemo.ddpm import SIGMA2, mu_theta_from_eps, q_posterior
from gendemo.schedules import Schedule

ROWS_PER_CHUNK = 1 << 14  # points × steps per ε_θ call (bigger chunks fall out of cache: slower)
POINTS_PER_CHUNK = ROWS_PER_CHUNK  # points per pass: memory stays bounded for any number of points
DEFAULT_N_MC = 16  # draws per point: se ≈ 0.4 nats, ∫exp(−L̂) ≤ 1.15 on a tight model (tests/test_logprob.py)


@dataclass
class BoundTerms:
    """L_N, L_{k−1} for k = 2..N (array of length N−1), L_0 and their sum, nats per point.

    Ref: Eq. (6)
    """

    L_N: float
    L_terms: np.ndarray
    L_0: float
    total: float
    dim: int = 2

    def bits_per_dim(self) -> float:
        """total / (d · ln 2)."""
        return self.total / (self.dim * math.log(2.0))


def _gaussian_kl(mu_q: torch.Tensor, var_q: torch.Tensor, mu_p: torch.Tensor, var_p: torch.Tensor) -> torch.Tensor:
    """KL(N(μ_q, var_q I) || N(μ_p, var_p I)) = ½ Σ_d [var_q/var_p − 1 + log(var_p/var_q) + (μ_q − μ_p)²/var_p].

    Summed over the last axis (the coordinates); var_q, var_p broadcast. Ref: Eq. (3), Eq. (5)
    """
    var_q, var_p = torch.broadcast_tensors(var_q, var_p)
    per = var_q / var_p - 1.0 + torch.log(var_p / var_q) + (mu_q - mu_p) ** 2 / var_p
    return 0.5 * per.expand(torch.broadcast_shapes(per.shape, mu_q.shape)).sum(dim=-1)


def _reverse_variances(sched: Schedule, sigma2: str = "beta") -> torch.Tensor:
    """σ_k², k = 0..N (σ_0² = 0) of p_θ(x^(k−1)|x^(k)) = N(μ_θ, σ_k² I); σ_1² is the decoder's variance in L_0.

    "beta": σ_k² = β_k for every k, σ_1² = β_1 included (the lecture's choice). Ho et al.'s reference code
    ("fixedlarge" in diffusion_tf/diffusion_utils_2.py) takes β_k for k ≥ 2 but σ_1² = β̃_2
    (`np.append(posterior_variance[1], betas[1:])`, 0-indexed) "to get a better decoder log likelihood" for
    its discretized image decoder; diffusers' DDPMScheduler "fixed_large" uses β_t at every step, and only
    samples (no noise at the last step), so its σ_1 never enters a likelihood. We keep β_1: for continuous
    data the best decoder variance is ≈ Var[x0 | x^(1)] ≈ β_1/α_1, and on moons (default DDPM) β̃_2 ≈ 0.78 β_1
    made L 0.036 nats per point looser (0.464 against 0.499 in the data's coordinates, H(q_0) = 0.290).
    "beta_tilde": σ_k² = β̃_k with σ_1² = β̃_2, since β̃_1 = 0 (Ho et al.'s "fixedsmall":
    `posterior_log_variance_clipped`). It is the looser bound: 3.25 nats per point on the same model.
    With N = 1 there is no β̃_2 and σ_1² = β_1 under both choices. Ref: Part 2, reverse variance choices
    """
    if sigma2 not in SIGMA2:
        raise ValueError(f"sigma2 must be one of {SIGMA2}, got {sigma2!r}")
    if sigma2 == "beta":
        return sched.beta.clone()
    s2 = sched.beta_tilde.clone()
    s2[1] = sched.beta_tilde[2] if sched.N >= 2 else sched.beta[1]
    return s2


def _draw(model, x0r: torch.Tensor, k: torch.Tensor, generator: torch.Generator,
          net_dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """x^(k) ~ q(·|x0) (Eq. (7), float64) and μ_θ(x^(k), k) from the model's ε̂ (Eq. (9))."""
    sched: Schedule = model.sched
    eps = torch.randn(x0r.shape, generator=generator, dtype=torch.float64)
    ab = sched.alpha_bar[k][:, None]
    x_k = ab.sqrt() * x0r + (1.0 - ab).sqrt() * eps
    eps_hat = model.eps_theta(x_k.to(net_dtype), k).to(torch.float64)
    return x_k, mu_theta_from_eps(x_k, k, eps_hat, sched)


def _l0(model, x0: torch.Tensor, s2_1: float, generator: torch.Generator, net_dtype: torch.dtype) -> torch.Tensor:
    """One MC draw of −log N(x0; μ_θ(x^(1), 1), σ_1² I) per point, (n,). Ref: Eq. (3), Eq. (6)"""
    n, d = x0.shape
    _, mu_theta = _draw(model, x0, torch.ones(n, dtype=torch.int64), generator, net_dtype)
    r2 = ((x0 - mu_theta) ** 2).sum(dim=1)
    return 0.5 * d * math.log(2 * math.pi * s2_1) + r2 / (2 * s2_1)


def _lk(model, x0: torch.Tensor, ks: torch.Tensor, s2: torch.Tensor, generator: torch.Generator,
        net_dtype: torch.dtype) -> torch.Tensor:
    """One MC draw of KL(q(x^(k−1)|x^(k), x0) || N(μ_θ, σ_k² I)) for the steps ks (all ≥ 2): (c, n)."""
    n = x0.shape[0]
    k = ks.repeat_interleave(n)                                        # (c·n,)
    x0r = x0.repeat(ks.shape[0], 1)                                    # (c·n, d)
    x_k, mu_theta = _draw(model, x0r, k, generator, net_dtype)
    mu_tilde, beta_tilde = q_posterior(x0r, x_k, k, model.sched)      # Eq. (8)
    return _gaussian_kl(mu_tilde, beta_tilde, mu_theta, s2[k][:, None]).view(ks.shape[0], n)


def _check_n_mc(n_mc: object) -> int:
    if isinstance(n_mc, bool) or not isinstance(n_mc, int) or n_mc < 1:
        raise ValueError(f"n_mc must be an int >= 1, got {n_mc!r}")
    return n_mc


def _terms(model, x0, generator: torch.Generator, sigma2: str, n_mc: int,
           progress: Callable[[float], None] | None = None):
    """Per-point L_N (n,); the means over points and draws of L_{k−1} (N−1,) and of L_0 (float); per point the
    mean over the n_mc draws of L_0 + Σ_k L_{k−1} (n,) and its sum of squared deviations (n,) (Welford).

    Points go in chunks of POINTS_PER_CHUNK, so the working memory does not grow with n or n_mc. Draw order
    (float64 ε from ``generator``): per chunk of points, per draw: k = 1, then the steps k ≥ 2 in ascending
    chunks. ``progress(points)``, if given, is called after each ε_θ call with the points done (fractional).
    """
    n_mc = _check_n_mc(n_mc)
    x0 = torch.as_tensor(x0)
    net_dtype = ddpm.net_dtype(model, x0.dtype if x0.dtype.is_floating_point else torch.float32)
    x0 = x0.to(torch.float64)
    if x0.ndim != 2 or x0.shape[0] < 1:
        raise ValueError(f"x0 must have shape (n, d) with n >= 1, got {tuple(x0.shape)}")
    sched: Schedule = model.sched
    s2 = _reverse_variances(sched, sigma2)
    n, N = x0.shape[0], sched.N
    steps_mean = torch.zeros(max(N - 1, 0), dtype=torch.float64)  # [k−2] = L_{k−1}
    l0_mean = 0.0
    mean = torch.zeros(n, dtype=torch.float64)
    m2 = torch.zeros(n, dtype=torch.float64)
    with torch.no_grad():
        for lo in range(0, n, POINTS_PER_CHUNK):
            xc = x0[lo:lo + POINTS_PER_CHUNK]
            c = xc.shape[0]
            step = max(1, ROWS_PER_CHUNK // c)
            done = 0  # ε_θ evaluations per point in this chunk, out of n_mc · N
            for j in range(n_mc):
                l0 = _l0(model, xc, float(s2[1]), generator, net_dtype)
                l0_mean += float(l0.sum()) / (n * n_mc)
                draw = l0
                done += 1
                if progress is not None:
                    progress(lo + c * done / (n_mc * N))
                for k_lo in range(2, N + 1, step):
                    ks = torch.arange(k_lo, min(k_lo + step, N + 1))
                    kl = _lk(model, xc, ks, s2, generator, net_dtype)
                    steps_mean[k_lo - 2:k_lo - 2 + ks.shape[0]] += kl.sum(dim=1) / (n * n_mc)
                    draw = draw + kl.sum(dim=0)
                    done += ks.shape[0]
                    if progress is not None:
                        progress(lo + c * done / (n_mc * N))
                delta = draw - mean[lo:lo + c]
                mean[lo:lo + c] += delta / (j + 1)
                m2[lo:lo + c] += delta * (draw - mean[lo:lo + c])
    return sched.prior_kl(x0), steps_mean, l0_mean, mean, m2


def variational_bound(model, x0: torch.Tensor, generator: torch.Generator, sigma2: str = "beta",
                      n_mc: int = 1) -> BoundTerms:
    """L = L_N + Σ_{k=2..N} L_{k−1} + L_0, averaged over the points x0 and n_mc draws x^(k) ~ q(·|x0) per k.

    L_N is the closed-form prior KL; L_{k−1} the closed-form KL between Gaussians (Eq. (8) posterior vs
    N(μ_θ, σ_k² I)); L_0 = −log N(x0; μ_θ(x^(1), 1), σ_1² I), σ_1² = β_1 or the clipped β̃_2.
    An unbiased estimate of the data-average bound E_q0[L]; the draws are those of `bound_per_point`.
    Ref: Eq. (6), Proposition (decomposition)
    """
    l_n, steps_mean, l0_mean, _, _ = _terms(model, x0, generator, sigma2, n_mc)
    L_N = float(l_n.mean())
    L_terms = steps_mean.numpy()
    return BoundTerms(L_N=L_N, L_terms=L_terms, L_0=l0_mean, total=L_N + float(L_terms.sum()) + l0_mean,
                      dim=int(torch.as_tensor(x0).shape[1]))


class PointBound(NamedTuple):
    """Per point: L̂ = the mean of n_mc Monte-Carlo draws of L (nats, float64 (n,)), and its standard error.

    se = (sample standard deviation of the n_mc draws)/√n_mc, NaN when n_mc = 1 (one draw has no spread).
    """

    L: np.ndarray
    se: np.ndarray
    n_mc: int


def bound_per_point(model, x0: torch.Tensor, generator: torch.Generator, sigma2: str = "beta",
                    n_mc: int = DEFAULT_N_MC, progress: Callable[[float], None] | None = None) -> PointBound:
    """L̂(x0_i): the mean over n_mc draws x^(k) ~ q(·|x0_i) of L_N + Σ_{k=2..N} L_{k−1} + L_0, with its
    standard error, for each point (model space, nats).

    E[L̂(x0_i)] = L(x0_i) ≥ −log p_θ(x0_i), but L̂ itself is an estimate, not a bound: one draw spreads by
    nats around L, and since E exp(−L̂) ≥ exp(−L) (Jensen) a density built from few draws can integrate
    above 1. The spread shrinks as 1/√n_mc (``se``). Same draws as `variational_bound` with the same
    generator and n_mc. ``progress(points_done)`` is called as the work advances. Ref: Eq. (6)
    """
    n_mc = _check_n_mc(n_mc)
    l_n, _, _, mean, m2 = _terms(model, x0, generator, sigma2, n_mc, progress)
    se = (m2 / (n_mc - 1) / n_mc).sqrt() if n_mc > 1 else torch.full_like(mean, math.nan)
    return PointBound(L=(l_n + mean).numpy(), se=se.numpy(), n_mc=n_mc)
