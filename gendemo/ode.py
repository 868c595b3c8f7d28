"""ODEs dY/dt = u(Y, t) on points in the plane: fixed-step solvers, the exact divergence, the likelihood.

Generic over the velocity field: flow matching's u_θ (Eq. (2)) and the DDPM's probability-flow ODE use the
same functions. A field is a callable ``u(x, t)`` of points x, a tensor (n, 2), and a float t, returning a
tensor (n, 2). Time runs along any 1-D grid, forward or backward.

- `solve`: Euler, Heun or RK4 on a given grid, keeping every grid point (the trajectories).
- `divergence`: div u = ∂u_1/∂x_1 + ∂u_2/∂x_2, the exact trace of the 2×2 Jacobian by autograd (two
  vector-Jacobian products, one per coordinate; no stochastic trace estimator).
- `log_likelihood`: the instantaneous change of variables. Along a solution, d/dt log p(Y_t, t) =
  −div u(Y_t, t), so log p_1(x) = log p_0(z) − ∫_0^1 div u(Y_t, t) dt with Y_1 = x and z = Y_0, found by
  integrating (Y, ℓ) with dℓ/dt = div u from the data time to the prior time, ℓ = 0 at the data time.
  Adaptive Dormand-Prince (dopri5, `torchdiffeq`) or the fixed-step methods here.

Ref: Eq. (2) (the ODE of flow matching).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

Field = Callable[[torch.Tensor, float], torch.Tensor]
METHODS = ("euler", "heun", "rk4")  # fixed-step methods of `solve` (and of `log_likelihood`)
LIKELIHOOD_METHODS = ("dopri5", *METHODS)
CHUNK = 4096  # points per likelihood integration (the memory of autograd's graph stays bounded)
RTOL, ATOL = 1e-5, 1e-5  # dopri5's default tolerances for `log_likelihood`


def _grid(t: Sequence[float] | torch.Tensor) -> list[float]:
    """The time grid as floats: 1-D, at least one point, finite, strictly monotone (either direction)."""
    ts = torch.as_tensor(t, dtype=torch.float64)
    if ts.ndim != 1 or ts.numel() < 1:
        raise ValueError(f"t must be a 1-D grid of at least one time, got shape {tuple(ts.shape)}")
    if not torch.isfinite(ts).all():
        raise ValueError("t must hold finite times")
    if ts.numel() > 1:
        d = ts[1:] - ts[:-1]
        if not ((d > 0).all() or (d < 0).all()):
            raise ValueError("t must be strictly increasing or strictly decreasing")
    return ts.tolist()


def _check_method(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise ValueError(f"method must be one of {', '.join(allowed)}; got {method!r}")


States = tuple[torch.Tensor, ...]
System = Callable[[States, float], States]


def _axpy(y: States, h: float, k: States) -> States:
    """y + h·k, component by component."""
    return tuple(a + h * b for a, b in zip(y, k, strict=True))


def _step(f: System, y: States, t: float, h: float, method: str) -> States:
    """One step of size h (negative: backward in time) of dy/dt = f(y, t) from (y, t).

    euler: y + h f(y, t).
    heun (explicit trapezoid, order 2): k1 = f(y, t), k2 = f(y + h k1, t + h), y + h (k1 + k2)/2.
    rk4 (classical Runge-Kutta, order 4): k1 = f(y, t), k2 = f(y + h/2 k1, t + h/2), k3 = f(y + h/2 k2, t + h/2),
    k4 = f(y + h k3, t + h), y + h (k1 + 2 k2 + 2 k3 + k4)/6.
    """
    k1 = f(y, t)
    if method == "euler":
        return _axpy(y, h, k1)
    if method == "heun":
        k2 = f(_axpy(y, h, k1), t + h)
        return tuple(a + (0.5 * h) * (b + c) for a, b, c in zip(y, k1, k2, strict=True))
    k2 = f(_axpy(y, 0.5 * h, k1), t + 0.5 * h)
    k3 = f(_axpy(y, 0.5 * h, k2), t + 0.5 * h)
    k4 = f(_axpy(y, h, k3), t + h)
    return tuple(a + (h / 6.0) * (b1 + 2.0 * b2 + 2.0 * b3 + b4)
                 for a, b1, b2, b3, b4 in zip(y, k1, k2, k3, k4, strict=True))


def solve(u: Field, x0: torch.Tensor, t: Sequence[float] | torch.Tensor, method: str = "heun") -> torch.Tensor:
    """Integrate dY/dt = u(Y, t) from Y(t[0]) = x0 along the grid t; every grid point is kept.

    Returns Y at t[0], t[1], …, shape (len(t), n, 2), in x0's dtype (row 0 is x0 itself). The grid may run in
    either direction (a decreasing t integrates backward in time) and need not be uniform; one step of
    `method` ("euler", "heun", "rk4") is taken between consecutive grid points, so a grid of S + 1 points
    costs S, 2S or 4S evaluations of u. Ref: Eq. (2)
    """
    _check_method(method, METHODS)
    ts = _grid(t)
    if x0.ndim != 2:
        raise ValueError(f"x0 must have shape (n, d), got {tuple(x0.shape)}")
    out = torch.empty((len(ts), *x0.shape), dtype=x0.dtype)
    out[0] = x0

    def f(y: States, s: float) -> States:
        return (u(y[0], s),)

    y: States = (x0,)
    for i in range(len(ts) - 1):
        y = _step(f, y, ts[i], ts[i + 1] - ts[i], method)
        out[i + 1] = y[0]
    return out


def velocity_and_divergence(u: Field, x: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(u(x, t), div u(x, t)), both detached: one evaluation of u and one vector-Jacobian product per coordinate.

    div u(x) = Σ_j ∂u_j/∂x_j, the exact trace of the Jacobian: for coordinate j, the gradient of Σ_i u_j(x_i)
    with respect to x is row j of each point's Jacobian (points do not interact), and its j-th entry is the
    diagonal term. Works under torch.no_grad / inference_mode too (the graph is built locally).
    """
    with torch.inference_mode(False), torch.enable_grad():
        xg = x.detach().clone().requires_grad_(True)
        v = u(xg, t)
        if v.shape != x.shape:
            raise ValueError(f"u(x, t) must have the shape of x {tuple(x.shape)}, got {tuple(v.shape)}")
        d = x.shape[1]
        div = torch.zeros(x.shape[0], dtype=v.dtype)
        for j in range(d):
            (g,) = torch.autograd.grad(v[:, j].sum(), xg, retain_graph=j < d - 1)
            div = div + g[:, j]
    return v.detach(), div.detach()


def divergence(u: Field, x: torch.Tensor, t: float) -> torch.Tensor:
    """div u(x, t) = ∂u_1/∂x_1 + ∂u_2/∂x_2 per point, shape (n,): the exact trace of the 2×2 Jacobian (autograd)."""
    return velocity_and_divergence(u, x, t)[1]


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) per point: −|z|²/2 − (d/2) log 2π, shape (n,). The flow-matching prior p_0."""
    return -0.5 * z.pow(2).sum(dim=1) - 0.5 * z.shape[1] * math.log(2.0 * math.pi)


def log_likelihood(u: Field, x: torch.Tensor, log_p0: Callable[[torch.Tensor], torch.Tensor] = standard_normal_log_prob,
                   t_data: float = 1.0, t_prior: float = 0.0, method: str = "dopri5", steps: int | None = None,
                   rtol: float = RTOL, atol: float = ATOL, chunk: int = CHUNK) -> torch.Tensor:
    """log p_{t_data}(x) for the density carried by dY/dt = u(Y, t) from p_{t_prior} = exp(log_p0), shape (n,).

    Instantaneous change of variables: integrate (Y, ℓ) with dY/dt = u(Y, t), dℓ/dt = div u(Y, t) from
    (x, 0) at t_data to (z, ℓ) at t_prior; then log p(x) = log p0(z) + ℓ = log p0(z) − ∫_{t_prior}^{t_data}
    div u dt. The divergence is exact (`divergence`). Flow matching: t_data = 1, t_prior = 0 (Eq. (1)-(2)).

    method: "dopri5" (adaptive, `torchdiffeq.odeint` with rtol/atol, on a chunk at a time: its step sizes are
    chosen for the chunk as a whole) or a fixed-step "euler" / "heun" / "rk4" with `steps` uniform steps
    (required for those). Points go in chunks of `chunk`. Computed in x's dtype.
    """
    _check_method(method, LIKELIHOOD_METHODS)
    if method != "dopri5" and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"method {method!r} needs steps, a positive integer; got {steps!r}")
    if method == "dopri5" and steps is not None:
        raise ValueError("steps applies to the fixed-step methods; dopri5 chooses its own (rtol, atol)")
    if not (math.isfinite(t_data) and math.isfinite(t_prior)) or t_data == t_prior:
        raise ValueError(f"t_data and t_prior must be two different finite times, got {t_data!r}, {t_prior!r}")
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n, d), got {tuple(x.shape)}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")

    def f(y: States, s: float) -> States:
        return velocity_and_divergence(u, y[0], s)

    parts = []
    for lo in range(0, x.shape[0], chunk):
        xc = x[lo:lo + chunk].detach()
        ell0 = torch.zeros(xc.shape[0], dtype=xc.dtype)
        if method == "dopri5":
            z, ell = _dopri5(f, (xc, ell0), t_data, t_prior, rtol, atol)
        else:
            ts = torch.linspace(t_data, t_prior, steps + 1, dtype=torch.float64).tolist()
            y: States = (xc, ell0)
            for i in range(steps):
                y = _step(f, y, ts[i], ts[i + 1] - ts[i], method)
            z, ell = y
        parts.append(log_p0(z) + ell)
    return torch.cat(parts) if parts else x.new_zeros(0)


def _dopri5(f: System, y0: States, t0: float, t1: float, rtol: float, atol: float) -> States:
    """y(t1) for dy/dt = f(y, t), y(t0) = y0, by torchdiffeq's adaptive Dormand-Prince 5(4)."""
    from torchdiffeq import odeint  # imported here: only the likelihood needs it

    dtype = y0[0].dtype
    times = torch.tensor([t0, t1], dtype=dtype)
    with torch.no_grad():
        ys = odeint(lambda s, y: f(y, float(s)), y0, times, method="dopri5", rtol=rtol, atol=atol)
    return tuple(a[-1] for a in ys)
