"""The variational bound L = L_N + Σ_{k=2..N} L_{k−1} + L_0 of a DDPM, term by term, in nats per point.

Everything is computed in the model's (standardized) space: to express the bound in the data's own
coordinates add Σ_d log scale_d (the log-Jacobian of the standardization).
Ref: Eq. (6), Eq. (8), Proposition (decomposition)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from gendemo.ddpm import SIGMA2, _net_dtype, mu_theta_from_eps, q_posterior
from gendemo.schedules import Schedule

ROWS_PER_CHUNK = 1 << 14  # points × steps per ε_θ call (bigger chunks fall out of cache: slower)


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


def _terms(model, x0, generator: torch.Generator, sigma2: str, n_mc: int):
    """Per-point L_N (n,), per-step means of L_{k−1} (N−1,), per-point Σ_k L_{k−1} (n,), per-point L_0 (n,)."""
    if isinstance(n_mc, bool) or not isinstance(n_mc, int) or n_mc < 1:
        raise ValueError(f"n_mc must be an int >= 1, got {n_mc!r}")
    x0 = torch.as_tensor(x0)
    net_dtype = _net_dtype(model, x0.dtype if x0.dtype.is_floating_point else torch.float32)
    x0 = x0.to(torch.float64)
    if x0.ndim != 2 or x0.shape[0] < 1:
        raise ValueError(f"x0 must have shape (n, d) with n >= 1, got {tuple(x0.shape)}")
    sched: Schedule = model.sched
    s2 = _reverse_variances(sched, sigma2)
    n = x0.shape[0]
    step = max(1, ROWS_PER_CHUNK // n)
    steps_mean = torch.zeros(max(sched.N - 1, 0), dtype=torch.float64)  # [k−2] = L_{k−1}
    steps_pp = torch.zeros(n, dtype=torch.float64)
    l0_pp = torch.zeros(n, dtype=torch.float64)
    with torch.no_grad():
        for _ in range(n_mc):
            l0_pp += _l0(model, x0, float(s2[1]), generator, net_dtype) / n_mc
        for lo in range(2, sched.N + 1, step):
            ks = torch.arange(lo, min(lo + step, sched.N + 1))
            for _ in range(n_mc):
                kl = _lk(model, x0, ks, s2, generator, net_dtype) / n_mc
                steps_mean[lo - 2:lo - 2 + ks.shape[0]] += kl.mean(dim=1)
                steps_pp += kl.sum(dim=0)
    return sched._prior_kl(x0), steps_mean, steps_pp, l0_pp


def variational_bound(model, x0: torch.Tensor, generator: torch.Generator, sigma2: str = "beta",
                      n_mc: int = 1) -> BoundTerms:
    """L = L_N + Σ_{k=2..N} L_{k−1} + L_0, averaged over the points x0 and n_mc draws x^(k) ~ q(·|x0) per k.

    L_N is the closed-form prior KL; L_{k−1} the closed-form KL between Gaussians (Eq. (8) posterior vs
    N(μ_θ, σ_k² I)); L_0 = −log N(x0; μ_θ(x^(1), 1), σ_1² I), σ_1² = β_1 or the clipped β̃_2.
    Draw order (float64 ε from ``generator``): n_mc draws for k = 1, then per chunk of steps (ascending),
    n_mc draws. Ref: Eq. (6), Proposition (decomposition)
    """
    l_n, steps_mean, _, l0_pp = _terms(model, x0, generator, sigma2, n_mc)
    L_N, L_0 = float(l_n.mean()), float(l0_pp.mean())
    L_terms = steps_mean.numpy()
    return BoundTerms(L_N=L_N, L_terms=L_terms, L_0=L_0, total=L_N + float(L_terms.sum()) + L_0,
                      dim=int(torch.as_tensor(x0).shape[1]))


def bound_per_point(model, x0: torch.Tensor, generator: torch.Generator, sigma2: str = "beta",
                    n_mc: int = 1) -> np.ndarray:
    """L(x0_i) = L_N + Σ_{k=2..N} L_{k−1} + L_0 for each point (MC over x^(k)), nats, float64 (n,).

    An upper bound on −log p_θ(x0_i) in the model's space (same draws as variational_bound).
    Ref: Eq. (6)
    """
    l_n, _, steps_pp, l0_pp = _terms(model, x0, generator, sigma2, n_mc)
    return (l_n + steps_pp + l0_pp).numpy()
