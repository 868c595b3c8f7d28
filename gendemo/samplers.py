"""Samplers for a trained DDPM (and flow matching's ODE), racing from one given noise x^(N), and their quality.

All DDPM samplers run the lecture's reverse chain in the model's standardized space on a decreasing
sub-sequence N = τ_S > … > τ_1 > τ_0 = 0 of the steps (`timesteps`), S = the number of steps (network calls):

- ``ancestral``: Algorithm Sampling, x^(k−1) = 1/√α_k (x^(k) − β_k/√(1 − ᾱ_k) ε_θ(x^(k), k)) + σ_k z (Eq. (9)),
  through `gendemo.ddpm.sample`. With S < N it is the same algorithm on the respaced chain of the sub-sequence:
  the chain whose ᾱ'_i = ᾱ_{τ_i}, i.e. β'_i = 1 − ᾱ_{τ_i}/ᾱ_{τ_{i−1}} (Eq. (7) holds for it exactly).
- ``ddim``: x^(j) = √ᾱ_j x̂^(0) + √(1 − ᾱ_j − σ²) ε̂ + σ z from step k to the next step j < k, with
  x̂^(0) = (x^(k) − √(1 − ᾱ_k) ε̂)/√ᾱ_k (Eq. (7) solved for x^(0)) and σ² = η² (1 − ᾱ_j)/(1 − ᾱ_k) (1 − ᾱ_k/ᾱ_j).
  η = 0: deterministic. η = 1 and j = k − 1: σ² = β̃_k and the mean is μ̃_k(x^(k), x̂^(0)) = μ_θ (Eq. (8)-(9)), the
  ancestral sampler with σ_k² = β̃_k.
- ``pf_ode``: the probability-flow ODE of the variance-preserving process of which the chain is the exact
  sampling at the times t_k = k/N (`ProbabilityFlow`), solved with `gendemo.ode.solve`; ``log_likelihood``:
  the DDPM's exact log-density through it (instantaneous change of variables), in the data's units.
- ``fm_ode``: flow matching's ODE (Eq. (2)) from the same noise, taken as its X_0 (`gendemo.flow_matching`).

Every sampler has the signature ``f(model, x_N, steps, generator, **options) -> Path`` (`run` dispatches by
name), so a page can start all of them from one x_N; `race` does, and `quality_curve` measures the energy
distance to held-out data against its floor (`gendemo.metrics.with_floor`) for a list of step counts.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gendemo import ddpm, metrics, ode
from gendemo.schedules import Schedule

SAMPLERS = ("ancestral", "ddim", "pf-ode", "ode")
DDPM_SAMPLERS = ("ancestral", "ddim", "pf-ode")
DEFAULT_STEP_COUNTS = (5, 10, 20, 50, 100, 200, 500, 1000)
PF_METHOD = "heun"  # the PF-ODE's default fixed-step method (2 network calls a step)
# dopri5's tolerances for the PF-ODE likelihood. With ε_θ in float32, 1e-5 (gendemo.ode's default) spends ~4× the
# evaluations on rounding noise: on moons (default DDPM, 1,000 points) 1e-4 gave NLL 0.3765 in 356 evaluations,
# 1e-5 0.3763 in 1,544, RK4 with 200 steps 0.3768.
PF_RTOL = PF_ATOL = 1e-4


@dataclass
class Path:
    """A sampler's trajectory from x^(N) to the samples, in the model's standardized space.

    times: each frame's time on the sampler's own clock: the step k (N → 0) for ancestral and DDIM, the
    continuous k = N·t (N → 0) for the PF-ODE, flow matching's t (0 → 1) for "ode". progress: the same frames on
    one axis for all samplers, 0 at the noise and 1 at the data (1 − k/N, or t). xs: (frames, n, 2).
    nfe: network evaluations; seconds: wall time.
    """

    sampler: str
    times: list[float]
    progress: list[float]
    xs: torch.Tensor
    nfe: int
    seconds: float = 0.0

    @property
    def final(self) -> torch.Tensor:
        return self.xs[-1]


def _check_steps(steps: object, most: int | None = None) -> int:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if most is not None and steps > most:
        raise ValueError(f"steps must be at most N = {most} for this sampler (a sub-sequence of 1..N), got {steps}")
    return int(steps)


def timesteps(N: int, steps: int) -> list[int]:
    """N = τ_S > … > τ_1 > τ_0 = 0: S = steps evenly spaced steps of 1..N (rounded), then 0; S + 1 integers.

    Rounding keeps them distinct: consecutive values of linspace(N, 0, S + 1) are N/S ≥ 1 apart.
    """
    steps = _check_steps(steps, N)
    return [int(v) for v in np.rint(np.linspace(N, 0, steps + 1))]


def _x_N(x_N: torch.Tensor) -> torch.Tensor:
    if not isinstance(x_N, torch.Tensor) or x_N.ndim != 2 or x_N.shape[1] != 2 or x_N.shape[0] < 1:
        raise ValueError(f"x_N must be a tensor of shape (n, 2), got {getattr(x_N, 'shape', type(x_N).__name__)}")
    if not x_N.dtype.is_floating_point:
        raise ValueError(f"x_N must be a floating-point tensor, got {x_N.dtype}")
    return x_N


def _generator(generator: object) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    return generator


def _net_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of ε_θ's first parameter; None for a field without parameters (it then gets x's dtype)."""
    eps = getattr(model, "eps_theta", model)
    params = getattr(eps, "parameters", None)
    p = next(iter(params()), None) if params is not None else None
    return p.dtype if p is not None else None


def _eps(model: nn.Module, x: torch.Tensor, k: float, dtype: torch.dtype | None) -> torch.Tensor:
    """ε_θ(x, k) in x's dtype; k an int step, or a float (the PF-ODE's continuous k = N·t). Ref: Eq. (10)"""
    kk = torch.full((x.shape[0],), k, dtype=torch.int64 if isinstance(k, int) else torch.float64)
    return model.eps_theta(x if dtype is None else x.to(dtype), kk).to(x.dtype)


# ---------------------------------------------------------------------------------------------------------
# Algorithm Sampling (Eq. (9)) on the whole chain or on a respaced sub-chain


def respaced_schedule(sched: Schedule, taus: Sequence[int]) -> Schedule:
    """The chain on the steps 0 = τ_0 < τ_1 < … < τ_S: ᾱ'_i = ᾱ_{τ_i}, α'_i = ᾱ'_i/ᾱ'_{i−1}, β'_i = 1 − α'_i,
    β̃'_i = (1 − ᾱ'_{i−1})/(1 − ᾱ'_i) β'_i. Its q(x'^(i) | x^(0)) is q(x^(τ_i) | x^(0)) of Eq. (7). Ref: Eq. (7), (8)"""
    t = torch.as_tensor(list(taus), dtype=torch.int64)
    if t[0] != 0 or not bool((t[1:] > t[:-1]).all()) or int(t[-1]) > sched.N:
        raise ValueError(f"taus must increase from 0 to at most N = {sched.N}, got {list(taus)}")
    ab = sched.alpha_bar[t].clone()
    alpha = torch.ones_like(ab)
    alpha[1:] = ab[1:] / ab[:-1]
    beta = 1.0 - alpha
    beta_tilde = torch.zeros_like(beta)
    beta_tilde[1:] = (1.0 - ab[:-1]) / (1.0 - ab[1:]) * beta[1:]
    return Schedule(kind=f"{sched.kind}-respaced", N=len(t) - 1, beta=beta, alpha=alpha, alpha_bar=ab,
                    beta_tilde=beta_tilde)


class _RespacedEps(nn.Module):
    """ε'(x, i) = ε_θ(x, τ_i): the network of the full chain, asked at the original step."""

    def __init__(self, eps_theta, taus: torch.Tensor):
        super().__init__()
        self.inner = eps_theta  # a Module (its parameters give the dtype) or a plain callable
        self.register_buffer("taus", taus)

    def forward(self, x: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return self.inner(x, self.taus[i])


class _Respaced(nn.Module):
    """A DDPM-shaped view of `model` on the respaced chain of the steps taus (ascending from 0)."""

    def __init__(self, model: nn.Module, taus: list[int]):
        super().__init__()
        self.sched = respaced_schedule(model.sched, taus)
        self.eps_theta = _RespacedEps(model.eps_theta, torch.tensor(taus, dtype=torch.int64))


def ancestral(model: nn.Module, x_N: torch.Tensor, steps: int, generator: torch.Generator,
              sigma2: str = "beta", fast: bool = False) -> Path:
    """Algorithm Sampling from the given x^(N): x^(k−1) = 1/√α_k (x^(k) − β_k/√(1 − ᾱ_k) ε_θ) + σ_k z (Eq. (9)).

    Runs `gendemo.ddpm.sample` (with its draws: z for every step but the last, from ``generator``). steps = N:
    the lecture's chain; steps = S < N: the same algorithm on the respaced chain of `timesteps(N, S)`, whose
    β'_i = 1 − ᾱ_{τ_i}/ᾱ_{τ_{i−1}} (`respaced_schedule`). σ_k² = β_k ("beta") or β̃_k ("beta_tilde").
    ``fast``: ddpm.sample's fast path (the same chain, on all N steps of a plain DDPM). Ref: Eq. (9), Algorithm Sampling
    """
    x_N = _x_N(x_N)
    N = model.sched.N
    taus = timesteps(N, steps)
    chain = model if len(taus) == N + 1 else _Respaced(model, taus[::-1])
    t0 = time.perf_counter()
    traj = ddpm.sample(chain, x_N.shape[0], _generator(generator), sigma2=sigma2, keep="all", x_N=x_N,
                       fast=fast and chain is model)
    ks = [float(taus[len(taus) - 1 - i]) for i in traj.ks]  # traj.ks = S..0 on the (respaced) chain
    return Path("ancestral", ks, [1.0 - k / N for k in ks], traj.xs, nfe=len(taus) - 1,
                seconds=time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------------------
# DDIM


def ddim(model: nn.Module, x_N: torch.Tensor, steps: int | Sequence[int], eta: float = 0.0,
         generator: torch.Generator | None = None) -> Path:
    """DDIM (Song, Meng & Ermon 2021) with η on a sub-sequence of steps, from the given x (at the first step).

    From step k to the next step j: x̂^(0) = (x^(k) − √(1 − ᾱ_k) ε̂)/√ᾱ_k (Eq. (7)), ε̂ = ε_θ(x^(k), k),
    σ² = η² (1 − ᾱ_j)/(1 − ᾱ_k) (1 − ᾱ_k/ᾱ_j), x^(j) = √ᾱ_j x̂^(0) + √(1 − ᾱ_j − σ²) ε̂ + σ z.
    Every step keeps q(x^(j) | x^(0)) of Eq. (7) for the predicted x^(0). η = 1 on all steps (j = k − 1) gives
    σ² = β̃_k and mean μ_θ(x^(k), k): Algorithm Sampling with σ_k² = β̃_k (Eq. (8)-(9)), draw for draw the same
    as `gendemo.ddpm.sample(..., sigma2="beta_tilde")` from the same generator state.

    steps: an int S (the sub-sequence `timesteps(N, S)`, ending at 0), or any strictly monotone list of steps
    in 0..N. Decreasing: sampling (x_N is x at the list's first step). Increasing (η = 0 only): DDIM inversion,
    the same deterministic update run towards the noise, data → latent, with ε̂ taken at the current step
    (which must then be ≥ 1). Draws: z = randn(n, 2) (float32, as ddpm.sample) at each step with σ > 0.
    Works in x_N's dtype (float64 for tests). Ref: Eq. (7)-(9)
    """
    x = _x_N(x_N)
    sched = model.sched
    N = sched.N
    ks = timesteps(N, steps) if isinstance(steps, numbers.Integral) and not isinstance(steps, bool) else \
        [int(k) for k in steps]
    if len(ks) < 2 or min(ks) < 0 or max(ks) > N:
        raise ValueError(f"steps must be an int in 1..{N} or a list of at least 2 steps in 0..{N}, got {steps!r}")
    d = np.diff(ks)
    if not ((d < 0).all() or (d > 0).all()):
        raise ValueError("a list of steps must be strictly decreasing (sampling) or increasing (inversion)")
    if not (isinstance(eta, numbers.Real) and not isinstance(eta, bool) and 0.0 <= eta <= 1.0):
        raise ValueError(f"eta must be a number in [0, 1], got {eta!r}")
    inverting = ks[1] > ks[0]
    if inverting and (eta != 0 or ks[0] < 1):
        raise ValueError("DDIM inversion (increasing steps) needs eta = 0 and steps >= 1")
    if eta > 0:
        _generator(generator)
    ab = sched.alpha_bar.tolist()
    dtype = _net_dtype(model)
    n = x.shape[0]
    xs = torch.empty(len(ks), n, 2, dtype=x.dtype)
    xs[0] = x
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(len(ks) - 1):
            k, j = ks[i], ks[i + 1]
            eps_hat = _eps(model, x, k, dtype)
            x0_hat = (x - math.sqrt(1.0 - ab[k]) * eps_hat) / math.sqrt(ab[k])
            s2 = 0.0 if inverting else eta**2 * (1.0 - ab[j]) / (1.0 - ab[k]) * (1.0 - ab[k] / ab[j])
            x = math.sqrt(ab[j]) * x0_hat + math.sqrt(max(1.0 - ab[j] - s2, 0.0)) * eps_hat
            if s2 > 0:
                x = x + math.sqrt(s2) * torch.randn(n, 2, generator=generator).to(x.dtype)
            xs[i + 1] = x
    times = [float(k) for k in ks]
    return Path("ddim", times, [1.0 - k / N for k in times], xs, nfe=len(ks) - 1, seconds=time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------------------
# The probability-flow ODE of the variance-preserving process


class ProbabilityFlow:
    """The PF-ODE of the VP process whose sampling at t_k = k/N is the lecture's chain, with ε_θ's score.

    Time: t = k/N ∈ [0, 1], t = 0 the data, t = 1 the noise (the DDPM's clock, the reverse of flow matching's t).
    The forward process is the VP SDE dX = −½β(t) X dt + √β(t) dW. Its transition from s to t is
    N(√(ᾱ(t)/ᾱ(s)) x, (1 − ᾱ(t)/ᾱ(s)) I) with ᾱ(t) = exp(−B(t)), B(t) = ∫_0^t β. Choosing B through the points
    B(k/N) = −log ᾱ_k (a monotone cubic, PCHIP, so β(t) = B'(t) ≥ 0 is continuous) makes the transition from
    t_{k−1} to t_k exactly q(x^(k) | x^(k−1)) = N(√α_k x, β_k I): the lecture's chain is this process observed at
    t_k, not only its discretisation, and β(t)/N ≈ β_k at t_k. Its marginals share Eq. (7) at every t_k.
    The probability-flow ODE with the same marginals (Song et al. 2021) is
        dx/dt = −½β(t) [x + ∇ log p_t(x)],   ∇ log p_t(x) ≈ −ε_θ(x, N t)/√(1 − ᾱ(t))
    (the ideal ε is E[ε | x_t = x], the score times −√(1 − ᾱ); exact `gendemo.exact.exact_score`). ε_θ is asked at
    the continuous step k = N t (its sinusoidal embedding is defined for any real k; between the integers it
    interpolates smoothly). Below t_1 = 1/N the network was never trained, and the score is held at its value at
    k = 1 (the data density is smooth on the scale √(1 − ᾱ_1)); the drift stays finite up to t = 0.
    """

    def __init__(self, model: nn.Module):
        from scipy.interpolate import PchipInterpolator

        self.model = model
        sched: Schedule = model.sched
        self.N = sched.N
        tk = np.arange(self.N + 1, dtype=np.float64) / self.N
        Bk = -np.log(sched.alpha_bar.numpy().astype(np.float64))
        self._B = PchipInterpolator(tk, Bk)
        self._beta = self._B.derivative()
        self.dtype = _net_dtype(model)
        self.one_m_ab1 = float(1.0 - sched.alpha_bar[1])

    def B(self, t: float) -> float:
        """B(t) = ∫_0^t β(s) ds = −log ᾱ(t); B(k/N) = −log ᾱ_k."""
        return float(self._B(t))

    def beta(self, t: float) -> float:
        """β(t) = B'(t) ≥ 0."""
        return float(self._beta(t))

    def alpha_bar(self, t: float) -> float:
        """ᾱ(t) = exp(−B(t)); ᾱ(k/N) = ᾱ_k (Eq. (7))."""
        return math.exp(-self.B(t))

    def score(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """−ε_θ(x, N t)/√(1 − ᾱ(t)) for t ≥ 1/N; below, the value at t = 1/N (see the class docstring)."""
        t = float(t)
        k = t * self.N
        if k < 1.0:
            return -_eps(self.model, x, 1, self.dtype) / math.sqrt(self.one_m_ab1)
        kr = round(k)
        k = int(kr) if abs(k - kr) < 1e-9 else k  # a grid time asks for the trained integer step
        return -_eps(self.model, x, k, self.dtype) / math.sqrt(-math.expm1(-self.B(t)))

    def velocity(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """dx/dt = −½β(t) (x + ∇ log p_t(x)), the probability-flow ODE (a `gendemo.ode` field)."""
        return -0.5 * self.beta(float(t)) * (x + self.score(x, t))


def pf_ode(model: nn.Module, x_N: torch.Tensor, steps: int, generator: torch.Generator | None = None,
           method: str = PF_METHOD) -> Path:
    """The probability-flow ODE from x at t = 1 (k = N) to t = 0 (the data), by `gendemo.ode.solve`.

    Grid: t = τ/N on `timesteps(N, S)` for S ≤ N (the steps DDIM uses), uniform in t for S > N. Deterministic:
    ``generator`` is accepted for the common signature and not used. method: "euler", "heun" or "rk4"
    (S, 2S or 4S network calls). Returns k = N t on the frames. Ref: Eq. (7), Eq. (9) (score −ε_θ/√(1 − ᾱ))
    """
    x = _x_N(x_N)
    N = model.sched.N
    steps = _check_steps(steps)
    ts = [k / N for k in timesteps(N, steps)] if steps <= N else np.linspace(1.0, 0.0, steps + 1).tolist()
    flow = ProbabilityFlow(model)
    t0 = time.perf_counter()
    with torch.inference_mode():
        xs = ode.solve(flow.velocity, x, ts, method=method)
    ks = [t * N for t in ts]
    per = {"euler": 1, "heun": 2, "rk4": 4}[method]
    return Path("pf-ode", ks, [1.0 - t for t in ts], xs, nfe=per * steps, seconds=time.perf_counter() - t0)


def log_likelihood(model: nn.Module, x: torch.Tensor, method: str = "dopri5", steps: int | None = None,
                   rtol: float = PF_RTOL, atol: float = PF_ATOL) -> torch.Tensor:
    """log p(x) of the DDPM's probability-flow model in the DATA's units, shape (n,): exact up to the solver.

    The model: x^(N) ~ N(0, I) at t = 1, carried to t = 0 by the PF-ODE (`ProbabilityFlow`). Instantaneous
    change of variables in the standardized space (`gendemo.ode.log_likelihood`, t_data = 0, t_prior = 1):
    log p(x0) = log N(z; 0, I) + ∫_0^1 div u(Y_t, t) dt with the exact 2×2 trace; then the standardization
    x0 = (x − shift)/scale adds −Σ_j log scale_j. Unlike the bound (Eq. (6)) this is the density of the
    deterministic sampler `pf_ode`, not of Algorithm Sampling's chain: the two models share the marginals at
    every t_k only when ε_θ is the exact ε*. Computed in x's dtype (the network in its own).
    Ref: Eq. (7); Eq. (11) for the affine standardization
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must be a tensor of shape (n, 2), got {getattr(x, 'shape', type(x).__name__)}")
    flow = ProbabilityFlow(model)
    x = x if x.dtype.is_floating_point else x.to(torch.float32)
    x0 = model.standardize(x.to(model.shift.dtype)).to(x.dtype)
    lp = ode.log_likelihood(flow.velocity, x0, ode.standard_normal_log_prob, t_data=0.0, t_prior=1.0,
                            method=method, steps=steps, rtol=rtol, atol=atol)
    return lp - torch.log(model.scale.to(lp.dtype)).sum()


# ---------------------------------------------------------------------------------------------------------
# Flow matching's ODE from the same noise


def fm_ode(model: nn.Module, x_N: torch.Tensor, steps: int, generator: torch.Generator | None = None,
           method: str = PF_METHOD) -> Path:
    """Flow matching's ODE dY/dt = u_θ(Y, t) (Eq. (2)) from Y_0 = x_N at t = 0 to t = 1 in S uniform steps.

    `gendemo.flow_matching.sample` with y0 = x_N; deterministic (``generator`` unused). Ref: Eq. (2)
    """
    from gendemo import flow_matching

    x = _x_N(x_N)
    steps = _check_steps(steps)
    t0 = time.perf_counter()
    traj = flow_matching.sample(model, x.shape[0], generator, steps=steps, method=method, y0=x)
    per = {"euler": 1, "heun": 2, "rk4": 4}[method]
    return Path("ode", list(traj.ts), list(traj.ts), traj.xs, nfe=per * steps, seconds=time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------------------
# One signature for all: the race and the quality curve


def _is_ddpm(model: object) -> bool:
    return hasattr(model, "sched") and hasattr(model, "eps_theta")


def run(sampler: str, model: nn.Module, x_N: torch.Tensor, steps: int, generator: torch.Generator | None = None,
        eta: float = 0.0, method: str = PF_METHOD, sigma2: str = "beta", fast: bool = False) -> Path:
    """Run one sampler by name from x_N with S = steps: the common signature of the race.

    "ancestral" (σ² = sigma2, generator required; ``fast``: ddpm.sample's fast path), "ddim" (eta; generator required when eta > 0) and "pf-ode"
    (method) need a DDPM; "ode" (method) a flow-matching model. A bad combination raises ValueError naming it.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}")
    if sampler in DDPM_SAMPLERS and not _is_ddpm(model):
        raise ValueError(f"sampler {sampler!r} needs a DDPM, got a {type(model).__name__}")
    if sampler == "ode" and _is_ddpm(model):
        raise ValueError("sampler 'ode' is flow matching's ODE: it needs a flow-matching model, not a DDPM "
                         "(the DDPM's own ODE is 'pf-ode')")
    if sampler != "ddim" and eta != 0.0:
        raise ValueError(f"eta applies to the ddim sampler only, not to {sampler!r}")
    if sampler in ("pf-ode", "ode") and method not in ode.METHODS:
        raise ValueError(f"method must be one of {', '.join(ode.METHODS)}; got {method!r}")
    if sampler == "ancestral":
        return ancestral(model, x_N, steps, generator, sigma2=sigma2, fast=fast)
    if sampler == "ddim":
        return ddim(model, x_N, _check_steps(steps, model.sched.N), eta=eta, generator=generator)
    if sampler == "pf-ode":
        return pf_ode(model, x_N, steps, generator, method=method)
    return fm_ode(model, x_N, steps, generator, method=method)


def race_noise(n: int, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The race's fixed starting noise x^(N) = randn(n, 2) from a generator seeded with `seed`."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return torch.randn(int(n), 2, generator=torch.Generator().manual_seed(int(seed))).to(dtype)


def race(ddpm_model: nn.Module | None, x_N: torch.Tensor, steps: int, seed: int = 0, eta: float = 0.0,
         fm_model: nn.Module | None = None, samplers: Sequence[str] = SAMPLERS,
         method: str = PF_METHOD) -> dict[str, Path]:
    """Every sampler of `samplers` from the same x_N with S = steps (DDPM samplers: at most N).

    Each stochastic sampler draws its z from its own generator seeded with `seed`. "ode" is skipped without a
    flow-matching model, the DDPM samplers without a DDPM.
    """
    out = {}
    for name in samplers:
        model = fm_model if name == "ode" else ddpm_model
        if model is None:
            continue
        s = steps if name in ("pf-ode", "ode") else min(steps, model.sched.N)
        out[name] = run(name, model, x_N, s, torch.Generator().manual_seed(int(seed)),
                        eta=eta if name == "ddim" else 0.0, method=method, fast=isinstance(model, ddpm.DDPM))
    return out


def quality_curve(ddpm_model: nn.Module | None, heldout: np.ndarray, reference: np.ndarray,
                  step_counts: Sequence[int] = DEFAULT_STEP_COUNTS, seed: int = 0, eta: float = 0.0,
                  fm_model: nn.Module | None = None, samplers: Sequence[str] = SAMPLERS,
                  method: str = PF_METHOD, floor: float | None = None) -> list[dict]:
    """Quality against the number of steps: energy distance of n samples to `reference`, over its floor.

    n = len(heldout); all samplers start from `race_noise(n, seed)`. The floor is the energy distance of
    `heldout` (n fresh data points) to `reference` (`gendemo.metrics.with_floor`): a perfect sampler scores
    ratio ≈ 1. Step counts above N are skipped for the DDPM's samplers: ancestral and DDIM walk sub-sequences of
    1..N, and the PF-ODE on the grid τ/N with Heun or Euler then asks ε_θ only at the trained integer steps (above
    N it would interpolate the network between them; `pf_ode` itself allows it).
    Returns one dict per (sampler, steps): sampler, steps, nfe, seconds, value, floor, ratio.
    """
    heldout = np.asarray(heldout, dtype=np.float64)
    x_N = race_noise(len(heldout), seed)
    if floor is None:
        floor = metrics.energy_distance(heldout, reference)
    rows = []
    for name in samplers:
        model = fm_model if name == "ode" else ddpm_model
        if model is None:
            continue
        for s in step_counts:
            if name in DDPM_SAMPLERS and s > model.sched.N:
                continue
            path = run(name, model, x_N, int(s), torch.Generator().manual_seed(int(seed)),
                       eta=eta if name == "ddim" else 0.0, method=method, fast=isinstance(model, ddpm.DDPM))
            with torch.inference_mode():
                samples = model.unstandardize(path.final.to(model.shift.dtype)).double().numpy()
            q = metrics.with_floor(metrics.energy_distance, samples, heldout, reference, floor=floor)
            rows.append({"sampler": name, "steps": int(s), "nfe": path.nfe, "seconds": path.seconds, **q})
    return rows


def steps_to_reach(rows: list[dict], ratio: float = 3.0) -> dict[str, int | None]:
    """Per sampler, the fewest steps in `rows` (from `quality_curve`) whose ratio to the floor is ≤ `ratio`."""
    out: dict[str, int | None] = {}
    for r in rows:
        out.setdefault(r["sampler"], None)
        if r["ratio"] <= ratio and (out[r["sampler"]] is None or r["steps"] < out[r["sampler"]]):
            out[r["sampler"]] = r["steps"]
    return out
