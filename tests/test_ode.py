"""gendemo.ode: the solvers' orders of convergence, the exact divergence, the instantaneous change of variables."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from gendemo import ode

# dY/dt = A(t) Y with A(t) = [[−t, 1], [−1, −t]]: Y(t) = exp(−t²/2) R(t) Y(0), R(t) the rotation by −t.
# Time-dependent, so a solver that evaluated u at the wrong times would lose its order.


def _u_linear(x: torch.Tensor, t: float) -> torch.Tensor:
    return torch.stack([-t * x[:, 0] + x[:, 1], -x[:, 0] - t * x[:, 1]], dim=1)


def _exact_linear(y0: torch.Tensor, t: float) -> torch.Tensor:
    c, s = math.cos(t), math.sin(t)
    r = torch.tensor([[c, s], [-s, c]], dtype=y0.dtype)
    return math.exp(-t * t / 2.0) * y0 @ r.T


Y0 = torch.tensor([[1.0, 0.5], [-0.3, 2.0], [0.0, -1.0]], dtype=torch.float64)


def _error(method: str, steps: int, t0: float = 0.0, t1: float = 1.5) -> float:
    ts = torch.linspace(t0, t1, steps + 1, dtype=torch.float64)
    y0 = _exact_linear(Y0, t0)
    ys = ode.solve(_u_linear, y0, ts, method=method)
    return float((ys[-1] - _exact_linear(Y0, t1)).abs().max())


@pytest.mark.parametrize("method, order", [("euler", 1), ("heun", 2), ("rk4", 4)])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_convergence_order_on_a_linear_ode(method, order, direction):
    """Halving the step divides the global error by about 2^order (forward and backward in time)."""
    t0, t1 = (0.0, 1.5) if direction == "forward" else (1.5, 0.0)
    errs = [_error(method, s, t0, t1) for s in (20, 40, 80, 160)]
    rates = [math.log2(a / b) for a, b in itertools.pairwise(errs)]
    assert all(abs(r - order) < 0.15 for r in rates[1:]), (errs, rates)
    assert errs[-1] < 2.0 ** (-order * 4) * 5.0, errs


def test_solve_keeps_every_grid_point_and_the_start():
    ts = torch.linspace(0.0, 1.0, 11, dtype=torch.float64)
    ys = ode.solve(_u_linear, Y0, ts, method="rk4")
    assert ys.shape == (11, 3, 2) and ys.dtype == torch.float64
    assert torch.equal(ys[0], Y0)
    for i in (3, 7, 10):  # every kept point is accurate, not only the last
        torch.testing.assert_close(ys[i], _exact_linear(Y0, float(ts[i])), atol=1e-5, rtol=0)
    # A non-uniform grid: the same trajectory.
    tn = torch.linspace(0.0, 1.0, 41, dtype=torch.float64) ** 2
    torch.testing.assert_close(ode.solve(_u_linear, Y0, tn, "rk4")[-1], _exact_linear(Y0, 1.0), atol=1e-7, rtol=0)


def test_solve_validates():
    with pytest.raises(ValueError, match="method"):
        ode.solve(_u_linear, Y0, [0.0, 1.0], method="midpoint")
    with pytest.raises(ValueError, match="strictly"):
        ode.solve(_u_linear, Y0, [0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="1-D"):
        ode.solve(_u_linear, Y0, [[0.0, 1.0]])


def _u_nonlinear(x: torch.Tensor, t: float) -> torch.Tensor:
    a, b = x[:, 0], x[:, 1]
    return torch.stack([t * torch.sin(a * b) + a ** 3, torch.exp(-b) * a + torch.cos(b) * t], dim=1)


def _trace_nonlinear(x: torch.Tensor, t: float) -> torch.Tensor:
    a, b = x[:, 0], x[:, 1]
    return t * b * torch.cos(a * b) + 3 * a ** 2 - torch.exp(-b) * a - torch.sin(b) * t


def test_divergence_is_the_analytic_trace():
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(ode.divergence(_u_nonlinear, x, 0.7), _trace_nonlinear(x, 0.7), rtol=1e-12, atol=1e-12)
    # The off-diagonal entries do not leak in: a field with a large cross term only has divergence 0.
    rot = lambda y, t: torch.stack([100.0 * y[:, 1] ** 2, -100.0 * y[:, 0] ** 3], dim=1)
    assert ode.divergence(rot, x, 0.0).abs().max() == 0.0


def test_divergence_of_a_network_equals_the_trace_of_its_jacobian_and_works_in_inference_mode():
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.SiLU(), torch.nn.Linear(16, 2)).double()
    u = lambda y, t: net(torch.cat([y, torch.full((y.shape[0], 1), t, dtype=y.dtype)], dim=1))
    x = torch.randn(20, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    jac = torch.func.vmap(torch.func.jacrev(lambda p: u(p[None], 0.3)[0]))(x)  # (20, 2, 2)
    expected = jac.diagonal(dim1=1, dim2=2).sum(1)
    torch.testing.assert_close(ode.divergence(u, x, 0.3), expected, rtol=1e-12, atol=1e-12)
    with torch.inference_mode():
        xi = x.clone()
        torch.testing.assert_close(ode.divergence(u, xi, 0.3), expected, rtol=1e-12, atol=1e-12)


# A linear field carrying N(0, I) at t = 0 to N(m, diag(s²)) at t = 1 along the flow-matching path of Eq. (1):
# X_t ~ N(t m, diag(σ_t²)), σ_t² = (1 − t)² + t² s², whose velocity is u(x, t) = m + (σ_t'/σ_t)(x − t m).
M = torch.tensor([1.5, -0.5], dtype=torch.float64)
S = torch.tensor([0.4, 2.0], dtype=torch.float64)


def gaussian_velocity(x: torch.Tensor, t: float) -> torch.Tensor:
    var = (1.0 - t) ** 2 + t * t * S ** 2
    rate = (t * S ** 2 - (1.0 - t)) / var  # σ_t'/σ_t
    return M + rate * (x - t * M)


def _log_normal(x: torch.Tensor) -> torch.Tensor:
    return (-0.5 * ((x - M) / S) ** 2 - torch.log(S) - 0.5 * math.log(2 * math.pi)).sum(1)


def test_the_linear_field_carries_the_prior_to_the_gaussian():
    """Y_1 = m + s ⊙ Y_0 exactly: the field is the right one (a check of the test's own field)."""
    z = torch.randn(100, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ys = ode.solve(gaussian_velocity, z, torch.linspace(0, 1, 201, dtype=torch.float64), method="rk4")
    torch.testing.assert_close(ys[-1], M + S * z, atol=1e-9, rtol=0)


@pytest.mark.parametrize("method, steps, tol", [("dopri5", None, 1e-6), ("rk4", 100, 1e-7), ("heun", 400, 1e-4)])
def test_ode_likelihood_equals_the_analytic_log_density(method, steps, tol):
    x = M + S * torch.randn(300, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 1.5
    lp = ode.log_likelihood(gaussian_velocity, x, method=method, steps=steps, rtol=1e-9, atol=1e-9, chunk=128)
    torch.testing.assert_close(lp, _log_normal(x), atol=tol, rtol=0)


def test_likelihood_chunks_are_independent_for_fixed_steps_and_validate():
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    a = ode.log_likelihood(gaussian_velocity, x, method="rk4", steps=10, chunk=7)
    b = ode.log_likelihood(gaussian_velocity, x, method="rk4", steps=10, chunk=4096)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="steps"):
        ode.log_likelihood(gaussian_velocity, x, method="rk4")
    with pytest.raises(ValueError, match="dopri5 chooses"):
        ode.log_likelihood(gaussian_velocity, x, steps=10)
    with pytest.raises(ValueError, match="different"):
        ode.log_likelihood(gaussian_velocity, x, t_data=0.0, t_prior=0.0)
