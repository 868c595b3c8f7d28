"""The exact fields of a point set (gendemo/exact.py) against Bayes, autograd and the losses they minimise."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gendemo import ddpm, exact
from gendemo.schedules import make_schedule

F64 = torch.float64


def _set(m: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(m, 2, generator=torch.Generator().manual_seed(seed), dtype=F64) * 1.5


def _bayes_mean(x: np.ndarray, Y: np.ndarray, a: float, s: float) -> np.ndarray:
    """Σ_i p(y_i | x) y_i with p(y_i | x) ∝ N(x; a y_i, s² I) (uniform prior), from scipy's densities."""
    out = []
    for xi in x:
        like = np.array([multivariate_normal(a * y, s * s * np.eye(2)).pdf(xi) for y in Y])
        out.append((like / like.sum()) @ Y)
    return np.array(out)


@pytest.mark.parametrize("k", [1, 7, 40, 100])
def test_ideal_eps_is_bayes_posterior_mean_of_eps(k):
    """ε*(x, k) = Σ_i p(y_i | x) (x − √ᾱ_k y_i)/√(1 − ᾱ_k), p from scipy's Gaussian densities (Eq. (7))."""
    sched = make_schedule("linear", 100, 1e-4, 0.05)
    Y = _set()
    ab = float(sched.alpha_bar[k])
    a, s = math.sqrt(ab), math.sqrt(1 - ab)
    g = torch.Generator().manual_seed(1)  # points of q(x^(k)) (Eq. (7)): the densities do not underflow
    x = a * Y[torch.randint(0, len(Y), (7,), generator=g)] + s * torch.randn(7, 2, generator=g, dtype=F64)
    got = exact.ideal_eps(x, k, Y, sched).numpy()
    # E[ε | x] with ε = (x − a y)/s given y: Bayes over the points
    want = []
    for xi in x.numpy():
        like = np.array([multivariate_normal(a * y, s * s * np.eye(2)).pdf(xi) for y in Y.numpy()])
        w = like / like.sum()
        want.append(sum(wi * (xi - a * y) / s for wi, y in zip(w, Y.numpy())))
    np.testing.assert_allclose(got, np.array(want), rtol=1e-9, atol=1e-9)


def test_posterior_mean_chunked_equals_unchunked_and_per_point_levels():
    Y = _set(300, 3)
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(4), dtype=F64)
    full = exact.posterior_mean(x, Y, 0.7, 0.4)
    for pairs in (1, 7, 299, 1000):
        torch.testing.assert_close(exact.posterior_mean(x, Y, 0.7, 0.4, chunk_pairs=pairs), full, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(full[:5].numpy(), _bayes_mean(x[:5].numpy(), Y.numpy(), 0.7, 0.4), rtol=1e-9, atol=1e-9)
    # one (a, s) per point, given as tensors (n,)
    a = torch.linspace(0.1, 0.9, 50, dtype=F64)
    s = torch.linspace(0.2, 1.0, 50, dtype=F64)
    per = exact.posterior_mean(x, Y, a, s, chunk_pairs=64)
    for i in (0, 17, 49):
        torch.testing.assert_close(per[i], exact.posterior_mean(x[i:i + 1], Y, float(a[i]), float(s[i]))[0])


def test_far_points_stay_finite_log_sum_exp():
    """A point 10^4 away from every a·y_i: each raw weight underflows to 0, the softmax does not."""
    Y = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=F64)
    x = torch.tensor([[1e4, 0.0], [-1e4, 0.0]], dtype=F64)
    m = exact.posterior_mean(x, Y, 1.0, 0.01)
    torch.testing.assert_close(m, torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=F64))


def test_exact_score_is_gradient_of_log_mixture():
    """−ε*/√(1 − ᾱ_k) = ∇_x log (1/m) Σ_i N(x; √ᾱ_k y_i, (1 − ᾱ_k) I), by autograd; log q against scipy."""
    sched = make_schedule("linear", 50, 1e-4, 0.05)
    Y = _set(6, 5)
    x = torch.randn(9, 2, generator=torch.Generator().manual_seed(6), dtype=F64)
    for k in (1, 10, 50):
        ab = float(sched.alpha_bar[k])
        a, s = math.sqrt(ab), math.sqrt(1 - ab)
        xg = x.clone().requires_grad_(True)
        logq = exact.log_marginal(xg, Y, a, s, chunk_pairs=4)
        (grad,) = torch.autograd.grad(logq.sum(), xg)
        torch.testing.assert_close(exact.exact_score(x, k, Y, sched), grad, rtol=1e-8, atol=1e-8)
        logs = [multivariate_normal(a * y, s * s * np.eye(2)).logpdf(x.numpy()) for y in Y.numpy()]
        want = logsumexp(np.array(logs), axis=0) - math.log(len(Y))
        np.testing.assert_allclose(logq.detach().numpy(), want, rtol=1e-10, atol=1e-10)


def test_exact_velocity_is_bayes_and_minimises_fm_loss_on_a_discrete_set():
    """u*(x, t) = E[X_1 − X_0 | X_t = x] (Bayes over the points, X_0 = (x − t y)/(1 − t) given y), and on a
    discrete set the FM loss of u* + δ v exceeds that of u* by δ² E|v|² (no first-order term: u* is its minimiser)."""
    Y = _set(4, 7)
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(8), dtype=F64)
    t = 0.6
    got = exact.exact_velocity(x, t, Y).numpy()
    want = []
    for xi in x.numpy():
        like = np.array([multivariate_normal(t * y, (1 - t) ** 2 * np.eye(2)).pdf(xi) for y in Y.numpy()])
        w = like / like.sum()
        want.append(sum(wi * (y - (xi - t * y) / (1 - t)) for wi, y in zip(w, Y.numpy())))
    np.testing.assert_allclose(got, np.array(want), rtol=1e-9, atol=1e-9)

    # The loss at u* + δ v, with the same draws, is a parabola in δ with its vertex at 0 (up to MC error).
    g = torch.Generator().manual_seed(9)
    n = 200_000
    idx = torch.randint(0, len(Y), (n,), generator=g)
    tt = torch.rand(n, generator=g, dtype=F64)
    x0 = torch.randn(n, 2, generator=g, dtype=F64)
    x1 = Y[idx]
    xt = (1 - tt)[:, None] * x0 + tt[:, None] * x1
    u = exact.exact_velocity(xt, tt, Y)
    v = torch.stack([torch.sin(xt[:, 0] + tt), torch.cos(xt[:, 1])], dim=1)  # any bounded direction
    losses = [float(((x1 - x0) - (u + d * v)).pow(2).sum(1).mean()) for d in (-0.1, 0.0, 0.1)]
    slope = (losses[2] - losses[0]) / 0.2          # = 2 E[v·(u* − target)] → 0
    curvature = (losses[2] - 2 * losses[1] + losses[0]) / 0.01  # = 2 E|v|²
    target = (x1 - x0) - u
    se = float(2 * (v * target).sum(1).std() / math.sqrt(n))
    assert abs(slope) < 4 * se
    assert curvature == pytest.approx(2 * float(v.pow(2).sum(1).mean()), rel=1e-9)


def test_ddpm_loss_floor_is_the_loss_of_ideal_eps_and_positive():
    """ddpm_loss_floor = gendemo.ddpm.loss (Eq. (10)) of the model whose ε is ε*, same draws; > 0; below ε_θ = 0."""
    sched = make_schedule("linear", 100, 1e-4, 0.05)
    Y = _set(40, 10)
    mean, se = exact.ddpm_loss_floor(Y, sched, torch.Generator().manual_seed(11), n_mc=3000)
    g = torch.Generator().manual_seed(11)
    idx = torch.randint(0, len(Y), (3000,), generator=g)
    model = exact.ExactDenoiser(Y, sched)
    loss = float(ddpm.loss(model, Y[idx], g))
    assert mean == pytest.approx(loss, rel=1e-12)
    assert 0 < se < 0.05 * mean and mean > 10 * se
    assert mean < 2.0 - 10 * se  # E|ε|² = 2 is the loss of ε_θ = 0


def test_fm_loss_floor_is_the_loss_of_exact_velocity_and_positive():
    from gendemo import flow_matching

    class ExactFM(torch.nn.Module):
        def __init__(self, Y):
            super().__init__()
            self.Y = Y

        def u_theta(self, x, t):
            return exact.exact_velocity(x, t, self.Y)

    Y = _set(40, 12)
    mean, se = exact.fm_loss_floor(Y, torch.Generator().manual_seed(13), n_mc=3000)
    g = torch.Generator().manual_seed(13)
    idx = torch.randint(0, len(Y), (3000,), generator=g)
    loss = float(flow_matching.loss(ExactFM(Y), Y[idx], g))
    assert mean == pytest.approx(loss, rel=1e-12)
    assert 0 < se < 0.05 * mean


def test_loss_floor_chunks_bounded_on_2000_points():
    """2,000 × 2,000 pairs in chunks of CHUNK_PAIRS: the same ε* as one chunk of everything."""
    sched = make_schedule("linear", 200, 1e-4, 0.05)
    Y = _set(2000, 14)
    x = torch.randn(2000, 2, generator=torch.Generator().manual_seed(15), dtype=F64)
    small = exact.ideal_eps(x, 3, Y, sched, chunk_pairs=1 << 14)
    big = exact.ideal_eps(x, 3, Y, sched, chunk_pairs=1 << 23)
    torch.testing.assert_close(small, big, rtol=1e-10, atol=1e-10)


def test_sampling_with_the_exact_field_memorises():
    """DDIM (η = 0) and Algorithm Sampling with ε* of 30 points: the samples land on the points."""
    from gendemo import samplers

    sched = make_schedule("linear", 200, 1e-4, 0.05)
    Y = _set(30, 16)
    model = exact.ExactDenoiser(Y, sched)
    x_N = torch.randn(400, 2, generator=torch.Generator().manual_seed(17), dtype=F64)
    det = samplers.ddim(model, x_N, 200, eta=0.0).final
    anc = samplers.ancestral(model, x_N.float(), 200, torch.Generator().manual_seed(18)).final
    assert exact.memorised_fraction(det, Y, 0.05) > 0.95
    assert exact.memorised_fraction(anc.double(), Y, 0.05) > 0.95
    # while fresh noise is not on the points: the check can fail
    assert exact.memorised_fraction(x_N, Y, 0.05) < 0.2


def test_fm_ode_with_the_exact_velocity_memorises():
    """Flow matching's ODE by Euler (40 steps, never at t = 1) with u* of 30 points lands on them; Heun, which
    evaluates at t = 1, is refused."""
    from gendemo import samplers

    Y = _set(30, 19)
    model = exact.ExactVelocity(Y)
    x0 = torch.randn(300, 2, generator=torch.Generator().manual_seed(20), dtype=F64)
    out = samplers.fm_ode(model, x0, 40, method="euler").final
    assert exact.memorised_fraction(out.double(), Y, 0.05) > 0.95
    assert exact.memorised_fraction(x0, Y, 0.05) < 0.2
    with pytest.raises(ValueError, match="euler"):
        samplers.fm_ode(model, x0, 40, method="heun")
