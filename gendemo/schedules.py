"""Noise schedules β_1..β_N of the DDPM forward process and the quantities derived from them.

Arrays have length N+1 with a sentinel at index 0 (β_0 = 0, α_0 = 1, ᾱ_0 = 1, β̃_0 = 0), so
that ``beta[k]`` *is* β_k of the lecture. They are float64 torch tensors; the DDPM code casts
them to the data's dtype at use (see ``Schedule.table`` for cached per-step coefficient tables).

Kinds (``make_schedule``):

- ``"linear"``: β_k linear in k from β_1 to β_N (Ho et al. 2020: 1e-4 … 0.02).
- ``"quadratic"``: √β_k linear in k from √β_1 to √β_N.
- ``"sigmoid"``: β_k = β_1 + (β_N − β_1)·sigmoid(u_k), u = linspace(−6, 6, N).
- ``"cosine"`` (Nichol & Dhariwal 2021): ᾱ(t) = cos²((t/N + s)/(1 + s)·π/2) / cos²(s/(1 + s)·π/2),
  s = 0.008, β_k = min(1 − ᾱ(k)/ᾱ(k−1), 0.999). ``beta_1``/``beta_N`` are *ignored* (derived from
  the curve); they are still validated so that a bad config fails the same way for every kind.

N = 1: a single step has one β. We use β_1 := ``beta_N`` for linear, quadratic and sigmoid (the
noise level the chain ends at is the one the user chose for the last step); cosine gives its own
(clipped) value 0.999. ``beta_1 <= beta_N`` is still required.

In every kind ᾱ_k is recomputed as the product Π_{i≤k} α_i so that Eq. (7) holds exactly.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch

KINDS: tuple[str, ...] = ("linear", "quadratic", "cosine", "sigmoid")
N_MAX = 10_000
BETA_MAX = 0.999
COSINE_S = 0.008


@dataclass(frozen=True, eq=False)
class Schedule:
    """β_k, α_k = 1 − β_k, ᾱ_k = Π_{i≤k} α_i, β̃_k = (1 − ᾱ_{k−1})/(1 − ᾱ_k)·β_k (float64, length N+1).

    Ref: Eq. (7), Eq. (8)
    """

    kind: str
    N: int
    beta: torch.Tensor
    alpha: torch.Tensor
    alpha_bar: torch.Tensor
    beta_tilde: torch.Tensor

    def __post_init__(self) -> None:
        for name in ("beta", "alpha", "alpha_bar", "beta_tilde"):
            t = getattr(self, name)
            if not isinstance(t, torch.Tensor) or t.shape != (self.N + 1,):
                raise ValueError(f"Schedule.{name} must be a tensor of shape (N+1,) = ({self.N + 1},)")
        object.__setattr__(self, "_cache", {})

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio SNR_k = ᾱ_k/(1 − ᾱ_k), length N+1 (inf at k = 0).

        Ref: Eq. (7)
        """
        return self.alpha_bar / (1.0 - self.alpha_bar)

    def prior_mismatch(self, x0: torch.Tensor | np.ndarray) -> float:
        """L_N = mean over points of KL(N(√ᾱ_N x0, (1 − ᾱ_N) I) || N(0, I)) in nats per point.

        KL = ½ Σ_d [(1 − ᾱ_N) + ᾱ_N x0_d² − 1 − log(1 − ᾱ_N)]. Ref: Eq. (6), Eq. (7)
        """
        return float(self.prior_kl(x0).mean())

    def prior_kl(self, x0: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Per-point KL(N(√ᾱ_N x0, (1 − ᾱ_N) I) || N(0, I)), float64 (n,): L_N of each point. Ref: Eq. (6), Eq. (7)"""
        x0 = torch.as_tensor(x0).to(torch.float64)
        if x0.ndim != 2:
            raise ValueError(f"x0 must have shape (n, d), got {tuple(x0.shape)}")
        ab = self.alpha_bar[self.N]
        var = 1.0 - ab
        return 0.5 * (var + ab * x0.pow(2) - 1.0 - torch.log(var)).sum(dim=1)

    def table(self, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """Per-step coefficient tables (length N+1, computed in float64, cast to dtype once, cached; read-only).

        Keys: sqrt_alpha, sqrt_beta, sqrt_alpha_bar, sqrt_one_minus_alpha_bar, inv_sqrt_alpha,
        inv_sqrt_alpha_bar, eps_coef (β_k/√(1 − ᾱ_k)), post_c0, post_ck (Eq. (8)), sqrt_beta_tilde, beta, beta_tilde.
        """
        cache: dict = self.__dict__["_cache"]
        if dtype not in cache:
            with torch.inference_mode(False):  # first use under inference mode: still normal tensors autograd may save
                cache[dtype] = {key: val.to(dtype) for key, val in _coefficients(self).items()}
        return cache[dtype]


def _coefficients(s: Schedule) -> dict[str, torch.Tensor]:
    """Scalar coefficients per k used by the forward process, the posterior and the sampler."""
    one_m_ab = 1.0 - s.alpha_bar
    safe = torch.where(one_m_ab > 0, one_m_ab, torch.ones_like(one_m_ab))
    ab_prev = torch.cat([s.alpha_bar[:1], s.alpha_bar[:-1]])  # ᾱ_{k−1} (ᾱ_{−1} := 1 unused)
    inv_sqrt_alpha = 1.0 / torch.sqrt(s.alpha)
    eps_coef = torch.where(one_m_ab > 0, s.beta / torch.sqrt(safe), torch.zeros_like(s.beta))
    return {
        "sqrt_alpha": torch.sqrt(s.alpha),
        "sqrt_beta": torch.sqrt(s.beta),
        "sqrt_alpha_bar": torch.sqrt(s.alpha_bar),
        "sqrt_one_minus_alpha_bar": torch.sqrt(one_m_ab),
        "inv_sqrt_alpha": inv_sqrt_alpha,
        "inv_sqrt_alpha_bar": 1.0 / torch.sqrt(s.alpha_bar),
        "eps_coef": eps_coef,  # β_k/√(1 − ᾱ_k), 0 at k = 0
        "post_c0": torch.where(one_m_ab > 0, torch.sqrt(ab_prev) * s.beta / safe, torch.ones_like(safe)),
        "post_ck": torch.where(one_m_ab > 0, torch.sqrt(s.alpha) * (1.0 - ab_prev) / safe,
                               torch.zeros_like(safe)),
        "sqrt_beta_tilde": torch.sqrt(s.beta_tilde),
        "beta": s.beta,
        "beta_tilde": s.beta_tilde,
    }


def _check_n(N: object) -> int:
    if isinstance(N, bool) or not isinstance(N, numbers.Integral):
        raise ValueError(f"N must be an integer in [1, {N_MAX}], got {N!r}")
    N = int(N)
    if not 1 <= N <= N_MAX:
        raise ValueError(f"N must be an integer in [1, {N_MAX}], got {N}")
    return N


def _check_beta(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite number in (0, {BETA_MAX}], got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not 0.0 < value <= BETA_MAX:
        raise ValueError(f"{name} must be a finite number in (0, {BETA_MAX}], got {value}")
    return value


def _betas(kind: str, N: int, beta_1: float, beta_N: float) -> torch.Tensor:
    """β_1..β_N (float64, length N) for one kind."""
    f64 = torch.float64
    if kind == "cosine":
        t = torch.arange(N + 1, dtype=f64)
        f = torch.cos((t / N + COSINE_S) / (1 + COSINE_S) * math.pi / 2) ** 2
        ab = f / f[0]
        return torch.clamp(1.0 - ab[1:] / ab[:-1], max=BETA_MAX)
    if N == 1:
        return torch.tensor([beta_N], dtype=f64)
    if kind == "linear":
        return torch.linspace(beta_1, beta_N, N, dtype=f64)
    if kind == "quadratic":
        return torch.linspace(math.sqrt(beta_1), math.sqrt(beta_N), N, dtype=f64) ** 2
    u = torch.linspace(-6.0, 6.0, N, dtype=f64)
    return beta_1 + (beta_N - beta_1) * torch.sigmoid(u)


def validate_schedule(kind: object, N: object, beta_1: object, beta_N: object) -> tuple[str, int, float, float]:
    """The one set of rules for a schedule (make_schedule and config.DDPMConfig both use it): kind in KINDS,
    N an integer in [1, N_MAX], β_1 and β_N finite numbers in (0, BETA_MAX] with β_1 ≤ β_N (also for cosine,
    which ignores them). Returns (kind, int N, float β_1, float β_N); ValueError naming the field otherwise."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"schedule kind must be one of {', '.join(KINDS)}; got {kind!r}")
    N = _check_n(N)
    beta_1 = _check_beta("beta_1", beta_1)
    beta_N = _check_beta("beta_N", beta_N)
    if beta_1 > beta_N:
        raise ValueError(f"beta_1 must be <= beta_N (both in (0, {BETA_MAX}]), got {beta_1} > {beta_N}")
    return kind, N, beta_1, beta_N


def make_schedule(kind: str, N: int, beta_1: float = 1e-4, beta_N: float = 0.02) -> Schedule:
    """β_k per kind; α_k = 1 − β_k; ᾱ_k = Π_{i≤k} α_i; β̃_k = (1 − ᾱ_{k−1})/(1 − ᾱ_k)·β_k.

    Arguments checked by `validate_schedule`. Ref: Eq. (7), Eq. (8)
    """
    kind, N, beta_1, beta_N = validate_schedule(kind, N, beta_1, beta_N)
    b = _betas(kind, N, beta_1, beta_N)
    beta = torch.cat([torch.zeros(1, dtype=torch.float64), b])
    alpha = 1.0 - beta
    alpha_bar = torch.cumprod(alpha, dim=0)
    ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
    beta_tilde = torch.zeros_like(beta)
    beta_tilde[1:] = (1.0 - ab_prev[1:]) / (1.0 - alpha_bar[1:]) * beta[1:]
    return Schedule(kind=kind, N=N, beta=beta, alpha=alpha, alpha_bar=alpha_bar, beta_tilde=beta_tilde)
