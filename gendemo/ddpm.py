"""DDPM of Ho, Jain & Abbeel (2020): forward process, posterior, ε-parametrised reverse process.

Everything works on x^(0) in the model's space (standardized data, float32 tensors (n, 2)).
A step ``k`` is an int or an int64 tensor of shape (n,) with values in 1..N.
Schedule coefficients are float64 and cast to x's dtype at use (cached tables, gathered by index).
Ref: lecture Part 2, Eq. (6)–(10).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
from torch import nn

from gendemo.nets import EpsNet
from gendemo.schedules import Schedule

Step = int | torch.Tensor
SIGMA2 = ("beta", "beta_tilde")
WEIGHTINGS = ("simple", "bound")


def _check_k(k: Step, sched: Schedule, low: int = 1) -> None:
    """ValueError unless every k lies in low..N."""
    if isinstance(k, torch.Tensor):
        if k.dtype.is_floating_point or k.dtype == torch.bool:
            raise ValueError(f"k must be an integer tensor with values in {low}..{sched.N}, got {k.dtype}")
        if k.numel() and (int(k.min()) < low or int(k.max()) > sched.N):
            raise ValueError(f"k must lie in {low}..{sched.N}, got values in {int(k.min())}..{int(k.max())}")
    elif isinstance(k, bool) or not isinstance(k, numbers.Integral) or not low <= k <= sched.N:
        raise ValueError(f"k must be an int in {low}..{sched.N}, got {k!r}")


def _at(sched: Schedule, name: str, k: Step, x: torch.Tensor) -> torch.Tensor:
    """Coefficient table[name][k] in x's dtype, broadcastable to x: shape () or (n, 1)."""
    table = sched.table(x.dtype)[name]
    if isinstance(k, torch.Tensor):
        return table[k].unsqueeze(-1)
    return table[k]


def q_step(x_prev: torch.Tensor, k: Step, sched: Schedule, generator: torch.Generator) -> torch.Tensor:
    """x^(k) = √(1 − β_k) x^(k−1) + √β_k ε, ε ~ N(0, I).

    Ref: forward process q(x^(k) | x^(k−1)) (Part 2)
    """
    _check_k(k, sched)
    eps = torch.randn(x_prev.shape, generator=generator, dtype=x_prev.dtype)
    return _at(sched, "sqrt_alpha", k, x_prev) * x_prev + _at(sched, "sqrt_beta", k, x_prev) * eps


def q_sample(x0: torch.Tensor, k: Step, sched: Schedule, generator: torch.Generator | None = None,
             eps: torch.Tensor | None = None) -> torch.Tensor:
    """x^(k) = √ᾱ_k x^(0) + √(1 − ᾱ_k) ε (eps given, or drawn from the generator). k = 0 gives x^(0).

    Ref: Eq. (7)
    """
    _check_k(k, sched, low=0)
    if eps is None:
        if generator is None:
            raise ValueError("q_sample needs a torch.Generator (generator=...) when eps is None")
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    elif eps.shape != x0.shape:
        raise ValueError(f"eps must have the shape of x0 {tuple(x0.shape)}, got {tuple(eps.shape)}")
    return _q_sample(x0, k, sched, eps)


def _q_sample(x0: torch.Tensor, k: Step, sched: Schedule, eps: torch.Tensor) -> torch.Tensor:
    return _at(sched, "sqrt_alpha_bar", k, x0) * x0 + _at(sched, "sqrt_one_minus_alpha_bar", k, x0) * eps


def forward_trajectory(x0: torch.Tensor, sched: Schedule, generator: torch.Generator,
                       method: str = "chain", ks: list[int] | None = None) -> torch.Tensor:
    """x^(k) for k in ks (default 0..N) by the step-by-step chain or by independent closed-form draws.

    Returns shape (len(ks), n, d), in the order of ks. Ref: Eq. (7)
    """
    if method not in ("chain", "closed"):
        raise ValueError(f"method must be 'chain' or 'closed', got {method!r}")
    ks = list(range(sched.N + 1)) if ks is None else [int(k) for k in ks]
    if not ks or min(ks) < 0 or max(ks) > sched.N:
        raise ValueError(f"ks must be a non-empty list of steps in 0..{sched.N}")
    if method == "closed":
        return torch.stack([x0 if k == 0 else q_sample(x0, k, sched, generator) for k in ks])
    wanted = set(ks)
    kept = {0: x0} if 0 in wanted else {}
    x = x0
    for k in range(1, max(ks) + 1):
        x = q_step(x, k, sched, generator)
        if k in wanted:
            kept[k] = x
    return torch.stack([kept[k] for k in ks])


def q_posterior(x0: torch.Tensor, x_k: torch.Tensor, k: Step,
                sched: Schedule) -> tuple[torch.Tensor, torch.Tensor]:
    """μ̃_k = √ᾱ_{k−1} β_k/(1 − ᾱ_k) x^(0) + √α_k (1 − ᾱ_{k−1})/(1 − ᾱ_k) x^(k), β̃_k = (1 − ᾱ_{k−1})/(1 − ᾱ_k) β_k.

    beta_tilde_k is returned in x's dtype, broadcastable to x_k: shape () for an int k, (n, 1) for a
    tensor k. Ref: Eq. (8)
    """
    _check_k(k, sched)
    mu_tilde = _at(sched, "post_c0", k, x0) * x0 + _at(sched, "post_ck", k, x_k) * x_k
    return mu_tilde, _at(sched, "beta_tilde", k, x_k)


def mu_theta_from_eps(x_k: torch.Tensor, k: Step, eps_hat: torch.Tensor, sched: Schedule) -> torch.Tensor:
    """μ_θ(x^(k), k) = 1/√α_k (x^(k) − β_k/√(1 − ᾱ_k) ε̂).

    Ref: Eq. (9) (reparametrization, Part 2)
    """
    _check_k(k, sched)
    return _at(sched, "inv_sqrt_alpha", k, x_k) * (x_k - _at(sched, "eps_coef", k, x_k) * eps_hat)


def x0_from_eps(x_k: torch.Tensor, k: Step, eps_hat: torch.Tensor, sched: Schedule) -> torch.Tensor:
    """x̂^(0) = (x^(k) − √(1 − ᾱ_k) ε̂)/√ᾱ_k (Eq. (7) solved for x^(0)).

    Ref: Eq. (7)
    """
    _check_k(k, sched, low=0)
    return _at(sched, "inv_sqrt_alpha_bar", k, x_k) * (
        x_k - _at(sched, "sqrt_one_minus_alpha_bar", k, x_k) * eps_hat)


def p_step(x_k: torch.Tensor, k: int, eps_hat: torch.Tensor, sched: Schedule, z: torch.Tensor | None,
           sigma2: str = "beta") -> torch.Tensor:
    """x^(k−1) = μ_θ(x^(k), k) + σ_k z: one step of the reverse chain (z = None: no noise, as at k = 1).

    μ_θ = 1/√α_k (x^(k) − β_k/√(1 − ᾱ_k) ε̂) (`mu_theta_from_eps`); σ_k² = β_k ("beta") or β̃_k ("beta_tilde").
    Ref: Eq. (9), Algorithm Sampling
    """
    if sigma2 not in SIGMA2:
        raise ValueError(f"sigma2 must be one of {SIGMA2}, got {sigma2!r}")
    mu = mu_theta_from_eps(x_k, k, eps_hat, sched)
    if z is None:
        return mu
    return mu + _at(sched, "sqrt_beta" if sigma2 == "beta" else "sqrt_beta_tilde", k, x_k) * z


class DDPM(nn.Module):
    """The ε-parametrised reverse process p_θ(x^(k−1) | x^(k)) = N(μ_θ(x^(k), k), σ_k² I).

    ``shift``/``scale`` standardize the data: x0 = (data − shift)/scale. Ref: Eq. (9)
    """

    def __init__(self, sched: Schedule, width: int = 128, depth: int = 3, emb_dim: int = 32,
                 activation: str = "silu"):
        super().__init__()
        self.sched = sched
        self.eps_theta = EpsNet(width=width, depth=depth, emb_dim=emb_dim, activation=activation)
        self.register_buffer("shift", torch.zeros(2))
        self.register_buffer("scale", torch.ones(2))

    def forward(self, x_k: torch.Tensor, k: Step) -> torch.Tensor:
        """ε̂ = ε_θ(x^(k), k); an int k is broadcast over the points. Ref: Eq. (10)"""
        if not isinstance(k, torch.Tensor):
            k = torch.full((x_k.shape[0],), int(k), dtype=torch.int64)
        return self.eps_theta(x_k, k)

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        """x0 = (data − shift)/scale."""
        return (x - self.shift) / self.scale

    def unstandardize(self, x: torch.Tensor) -> torch.Tensor:
        """data = shift + scale · x0."""
        return self.shift + self.scale * x


def bound_weights(sched: Schedule, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """w_k = β_k²/(2σ_k² α_k (1 − ᾱ_k)) with σ_k² = β_k, k = 0..N (w_0 = 0), divided by its mean over k = 1..N.

    Computed in float64, returned in `dtype`. Ref: Part 2, "Reparametrization" (L_{k−1} − C as a weighted ε-error)
    """
    b, a, ab = sched.beta[1:], sched.alpha[1:], sched.alpha_bar[1:]
    sigma2 = b
    w = torch.zeros_like(sched.beta)
    w[1:] = b ** 2 / (2.0 * sigma2 * a * (1.0 - ab))
    return (w / w[1:].mean()).to(dtype)


def loss(model: DDPM, x0: torch.Tensor, generator: torch.Generator, weighting: str = "simple") -> torch.Tensor:
    """mean over the batch of w_k |ε_θ(√ᾱ_k x^(0) + √(1 − ᾱ_k) ε, k) − ε|², k ~ U{1..N}, ε ~ N(0, I).

    Draw order: k = randint(1, N+1, (n,)) then ε = randn(n, d), both from ``generator``.
    "simple": w_k = 1 (Eq. (10)). "bound": w_k = β_k²/(2σ_k² α_k (1 − ᾱ_k)), σ_k² = β_k, divided by its
    mean over k = 1..N, so the loss has the scale of L_simple and the same learning rate works; only
    the relative weighting of the steps differs (N·mean(w)·loss = Σ_k (L_{k−1} − C) in expectation).
    Ref: Eq. (10), Algorithm Training
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    sched = model.sched
    n = x0.shape[0]
    k = torch.randint(1, sched.N + 1, (n,), generator=generator)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    x_k = _q_sample(x0, k, sched, eps)
    err = (model.eps_theta(x_k, k) - eps).pow(2).sum(dim=1)
    if weighting == "bound":
        err = err * bound_weights(sched, x0.dtype)[k]
    return err.mean()


@dataclass
class Trajectory:
    """The reverse chain: x^(k) for k in ks (descending N..0) and x̂^(0) predicted from each x^(k).

    At k = 0, x0_hats equals xs (there is no prediction left to make). Ref: Eq. (9)
    """

    ks: list[int]
    xs: torch.Tensor
    x0_hats: torch.Tensor


def _keep_steps(keep: None | str | list[int], N: int) -> list[int]:
    if keep is None:
        return [N, 0]
    if isinstance(keep, str):
        if keep != "all":
            raise ValueError(f"keep must be None, 'all' or a list of steps in 0..{N}, got {keep!r}")
        return list(range(N, -1, -1))
    ks = {int(k) for k in keep}
    if any(k < 0 or k > N for k in ks):
        raise ValueError(f"keep must list steps in 0..{N}, got {sorted(ks)}")
    return sorted(ks | {N, 0}, reverse=True)


def net_dtype(model: nn.Module, default: torch.dtype) -> torch.dtype:
    """The dtype ε_θ computes in: that of its first parameter, else `default`."""
    params = getattr(model.eps_theta, "parameters", None)
    p = next(iter(params()), None) if params is not None else None
    return p.dtype if p is not None else default


def sample(model: DDPM, n: int, generator: torch.Generator, sigma2: str = "beta",
           keep: None | str | list[int] = None, x_N: torch.Tensor | None = None, fast: bool = False) -> Trajectory:
    """x^(N) ~ N(0, I); x^(k−1) = 1/√α_k (x^(k) − β_k/√(1 − ᾱ_k) ε_θ(x^(k), k)) + σ_k z, z = 0 at k = 1.

    σ_k² = β_k ("beta") or β̃_k ("beta_tilde"). Draw order: x^(N) = randn(n, 2), then z = randn(n, 2)
    for k = N, …, 2. ``keep``: None → ks = [N, 0]; "all" → N..0; a list → those steps plus N and 0.
    Runs in the model's (standardized) space and dtype (float32 normally), under torch.inference_mode.
    ``x_N``: a given starting noise (n, 2) instead of the first draw (samplers racing from one noise).
    ``fast``: the same chain with hand-placed buffers (gendemo/fast/ddpm_sampler.py, equal up to float
    rounding; plain EpsNet only). Ref: Eq. (9), Algorithm Sampling
    """
    if sigma2 not in SIGMA2:
        raise ValueError(f"sigma2 must be one of {SIGMA2}, got {sigma2!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if x_N is not None and tuple(x_N.shape) != (n, 2):
        raise ValueError(f"x_N must have shape (n, 2) = ({n}, 2), got {tuple(x_N.shape)}")
    sched = model.sched
    ks = _keep_steps(keep, sched.N)
    if fast:
        from gendemo.fast.ddpm_sampler import sample as fast_sample  # the fast path imports this module

        return fast_sample(model, n, generator, sigma2, ks, x_N)
    dtype = net_dtype(model, torch.float32)
    kept_x, kept_x0, wanted = {}, {}, set(ks)
    with torch.inference_mode():
        x = (torch.randn(n, 2, generator=generator) if x_N is None else x_N).to(dtype)
        for k in range(sched.N, 0, -1):
            eps_hat = model.eps_theta(x, torch.full((n,), k, dtype=torch.int64))
            if k in wanted:
                kept_x[k], kept_x0[k] = x, x0_from_eps(x, k, eps_hat, sched)
            z = torch.randn(n, 2, generator=generator).to(dtype) if k > 1 else None
            x = p_step(x, k, eps_hat, sched, z, sigma2)
        kept_x[0] = kept_x0[0] = x
        return Trajectory(ks=ks, xs=torch.stack([kept_x[k] for k in ks]),
                          x0_hats=torch.stack([kept_x0[k] for k in ks]))


def eps_field(model: DDPM, k: int, grid: torch.Tensor) -> torch.Tensor:
    """ε̂ = ε_θ(grid, k) for arrow plots (inference mode). Ref: Eq. (10)"""
    _check_k(k, model.sched)
    grid = torch.as_tensor(grid, dtype=net_dtype(model, torch.float32))
    with torch.inference_mode():
        return model.eps_theta(grid, torch.full((grid.shape[0],), k, dtype=torch.int64))
