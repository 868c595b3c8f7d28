"""The variational bound (Eq. (6)) and its decomposition, checked by Monte Carlo and on Gaussian data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Normal

from gendemo.bound import BoundTerms, _gaussian_kl, bound_per_point, variational_bound
from gendemo.ddpm import DDPM
from gendemo.schedules import make_schedule

F64 = torch.float64
D = 2


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def log_normal(x: torch.Tensor, mean: torch.Tensor, var) -> torch.Tensor:
    """log N(x; mean, var I) summed over coordinates, via torch.distributions (Eq. (3))."""
    var = torch.as_tensor(var, dtype=F64)
    return Normal(mean, var.sqrt().expand_as(mean)).log_prob(x).sum(dim=-1)


def coefs(sched, sigma2: str) -> dict[str, np.ndarray]:
    """β, α, ᾱ (Eq. (7)), β̃ (Eq. (8)) and σ_k² from β alone; σ_1² = β̃_2 for "beta_tilde" (clipped)."""
    beta = sched.beta.numpy().copy()
    alpha, N = 1 - beta, len(beta) - 1
    ab = np.cumprod(alpha)
    bt = np.zeros_like(beta)
    bt[1:] = (1 - ab[:-1]) / (1 - ab[1:]) * beta[1:]
    var = beta.copy() if sigma2 == "beta" else bt.copy()
    if sigma2 == "beta_tilde":
        var[1] = bt[2] if N >= 2 else beta[1]
    return dict(beta=beta, alpha=alpha, ab=ab, bt=bt, var=var, N=N)


def test_gaussian_kl_closed_form_vs_monte_carlo() -> None:
    g = gen(0)
    mu_q, mu_p = torch.tensor([0.3, -1.0], dtype=F64), torch.tensor([0.1, -0.4], dtype=F64)
    for var_q, var_p in [(0.5, 0.8), (0.02, 0.05), (1.0, 1.0)]:
        x = mu_q + math.sqrt(var_q) * torch.randn(200_000, 2, generator=g, dtype=F64)
        ratio = log_normal(x, mu_q, var_q) - log_normal(x, mu_p, var_p)  # E_q log q/p, Eq. (5)
        kl = _gaussian_kl(mu_q, torch.tensor(var_q, dtype=F64), mu_p, torch.tensor(var_p, dtype=F64))
        assert abs(float(kl) - float(ratio.mean())) < 5 * float(ratio.std()) / math.sqrt(len(ratio)) + 1e-12


def tiny_model(sched, seed: int) -> DDPM:
    model = DDPM(sched, width=16, depth=2, emb_dim=8).double()
    g = gen(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=F64) * 0.3)
    return model


@pytest.mark.parametrize("sigma2", ["beta", "beta_tilde"])
def test_decomposition_equals_eq6_monte_carlo(sigma2: str) -> None:
    """Each term and the total agree with MC estimates built from the lecture's densities only:
    the forward chain q(x^(k)|x^(k−1)), Bayes for the posterior, and the Eq. (6) integrand."""
    sched = make_schedule("linear", 4, beta_1=0.05, beta_N=0.3)
    model = tiny_model(sched, 1)
    c = coefs(sched, sigma2)
    n = 20_000
    x0 = torch.randn(n, 2, generator=gen(2), dtype=F64) * 0.7 + 0.3
    code = variational_bound(model, x0, gen(3), sigma2=sigma2)
    code_pp = bound_per_point(model, x0, gen(3), sigma2=sigma2, n_mc=1).L
    assert code.total == pytest.approx(float(code_pp.mean()), rel=1e-10)

    g = gen(4)
    xs = [x0]
    for k in range(1, 5):  # the step-by-step forward chain
        z = torch.randn(n, 2, generator=g, dtype=F64)
        xs.append(math.sqrt(c["alpha"][k]) * xs[-1] + math.sqrt(c["beta"][k]) * z)

    def mu_theta(x_k, k):  # μ_θ = 1/√α_k (x_k − β_k/√(1 − ᾱ_k) ε_θ)
        eps = model.eps_theta(x_k, torch.full((n,), k)).detach()
        return (x_k - c["beta"][k] / math.sqrt(1 - c["ab"][k]) * eps) / math.sqrt(c["alpha"][k])

    def q_fwd(k):  # log q(x^(k) | x^(k−1))
        return log_normal(xs[k], math.sqrt(c["alpha"][k]) * xs[k - 1], c["beta"][k])

    def q_marg(k):  # log q(x^(k) | x^(0)), Eq. (7)
        return log_normal(xs[k], math.sqrt(c["ab"][k]) * x0, 1 - c["ab"][k])

    def p_rev(k):  # log p_θ(x^(k−1) | x^(k))
        return log_normal(xs[k - 1], mu_theta(xs[k], k), c["var"][k])

    def close(value: float, samples: torch.Tensor, se_code: float = 0.0) -> None:
        se = math.sqrt(float(samples.var()) / n + se_code ** 2)
        assert abs(value - float(samples.mean())) < 5 * se, (value, float(samples.mean()), se)

    close(code.L_N, q_marg(4) - log_normal(xs[4], torch.zeros_like(x0), 1.0))
    close(code.L_0, -p_rev(1), se_code=float(np.std(code_pp)) / math.sqrt(n))
    for k in range(2, 5):  # log q(x^(k−1)|x^(k),x^(0)) by Bayes: q(x^(k)|x^(k−1)) q(x^(k−1)|x^(0)) / q(x^(k)|x^(0))
        log_post = q_fwd(k) + q_marg(k - 1) - q_marg(k)
        close(float(code.L_terms[k - 2]), log_post - p_rev(k), se_code=float(np.std(code_pp)) / math.sqrt(n))
    integrand = -log_normal(xs[4], torch.zeros_like(x0), 1.0) - sum(p_rev(k) - q_fwd(k) for k in range(1, 5))
    close(code.total, integrand, se_code=float(np.std(code_pp)) / math.sqrt(n))


class GaussianOptimalEps(nn.Module):
    """ε*(x_k, k) = √(1 − ᾱ_k)(x_k − √ᾱ_k m)/(ᾱ_k s² + 1 − ᾱ_k) = E[ε | x^(k)] for data N(m, s² I)."""

    def __init__(self, sched, m, s: float):
        super().__init__()
        self.ab = torch.as_tensor(np.cumprod(1 - sched.beta.numpy()))
        self.m, self.s = torch.as_tensor(m, dtype=F64), s

    def forward(self, x_k: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        ab = self.ab[k][:, None]
        return (1 - ab).sqrt() * (x_k.double() - ab.sqrt() * self.m) / (ab * self.s ** 2 + 1 - ab)


class GaussianModel(nn.Module):
    def __init__(self, sched, m, s: float):
        super().__init__()
        self.sched, self.eps_theta = sched, GaussianOptimalEps(sched, m, s)


@pytest.mark.parametrize("kind,N,n", [("cosine", 1, 50), ("cosine", 2, 50), ("cosine", 30, 50),
                                      ("linear", 1000, 200)])
def test_true_eps_makes_the_kl_terms_vanish(kind: str, N: int, n: int) -> None:
    """Point-mass data x0 = m: ε* is the true ε, so μ_θ = μ̃_k; with σ_k² = β̃_k every L_{k−1} is 0, with β_k
    it is the pure variance mismatch ½ d (β̃/β − 1 + log(β/β̃)); L_0 = ½ d log(2π σ_1²).
    A predictor for the wrong point m' errs by a known constant: ε̂ − ε = √ᾱ_k (m − m')/√(1 − ᾱ_k), so
    μ̃_k − μ_θ = δ_k = β_k √ᾱ_k (m − m')/(√α_k (1 − ᾱ_k)) adds |δ_k|²/(2σ_k²) to each term (no MC noise)."""
    m, m_wrong = np.array([0.7, -1.2]), np.array([0.5, -1.0])
    x0 = torch.tensor(m, dtype=F64).expand(n, 2).contiguous()
    sched = make_schedule(kind, N)
    for sigma2 in ("beta", "beta_tilde"):
        c = coefs(sched, sigma2)
        for guess in (m, m_wrong):
            b = variational_bound(GaussianModel(sched, guess, 0.0), x0, gen(5), sigma2=sigma2)
            assert isinstance(b, BoundTerms) and b.L_terms.shape == (N - 1,)
            ks = np.arange(1, N + 1)
            delta2 = ((c["beta"][ks] * np.sqrt(c["ab"][ks]) / (np.sqrt(c["alpha"][ks]) * (1 - c["ab"][ks])))[:, None]
                      * (m - guess)[None]) ** 2
            delta2 = delta2.sum(axis=1)                       # |δ_k|², k = 1..N
            r = c["bt"][2:] / c["var"][2:]
            expected = 0.5 * D * (r - 1 - np.log(r)) + delta2[1:] / (2 * c["var"][2:])
            np.testing.assert_allclose(b.L_terms, expected, rtol=1e-9, atol=1e-12)
            L_0 = 0.5 * D * math.log(2 * math.pi * c["var"][1]) + delta2[0] / (2 * c["var"][1])
            assert b.L_0 == pytest.approx(L_0, rel=1e-9, abs=1e-12)
            assert b.total == pytest.approx(b.L_N + b.L_terms.sum() + b.L_0)
            assert b.bits_per_dim() == pytest.approx(b.total / (D * math.log(2)))
    five = make_schedule("linear", 5)
    assert coefs(five, "beta_tilde")["var"][1] == coefs(five, "beta")["bt"][2]


def analytic(sched, m, s: float, sigma2: str, x0: torch.Tensor | None = None):
    """E_{x^(k)}[L] for the Gaussian-optimal predictor (μ_θ = A_k x + B_k is linear, so every expectation is
    a second moment), per point x0 or, with x0 None, averaged over x0 ~ N(m, s² I).
    Also returns −log p_θ(x0): the reverse chain of linear-Gaussian steps has a Gaussian marginal."""
    c = coefs(sched, sigma2)
    m = np.asarray(m, dtype=np.float64)
    mean = m[None] if x0 is None else x0.numpy()
    second = mean ** 2 + (s ** 2 if x0 is None else 0.0)   # E[x0_d], E[x0_d²]
    ab, N = c["ab"], c["N"]

    def sq(u, B):  # E|u x0 − B|² summed over coordinates
        return (u ** 2 * second - 2 * u * B * mean + B ** 2).sum(axis=1)

    A, B = np.zeros(N + 1), np.zeros((N + 1, 2))
    for k in range(1, N + 1):
        gk = math.sqrt(1 - ab[k]) / (ab[k] * s ** 2 + 1 - ab[k])
        ek = c["beta"][k] / math.sqrt(1 - ab[k])
        A[k] = (1 - ek * gk) / math.sqrt(c["alpha"][k])
        B[k] = ek * gk * math.sqrt(ab[k]) * m / math.sqrt(c["alpha"][k])
    total = 0.5 * ((1 - ab[N]) + ab[N] * second - 1 - math.log(1 - ab[N])).sum(axis=1)     # L_N
    v1 = c["var"][1]
    total += 0.5 * D * math.log(2 * math.pi * v1) + (
        sq(1 - A[1] * math.sqrt(ab[1]), B[1]) + D * A[1] ** 2 * (1 - ab[1])) / (2 * v1)       # L_0
    for k in range(2, N + 1):                                                                # L_{k−1}
        c0 = math.sqrt(ab[k - 1]) * c["beta"][k] / (1 - ab[k])
        ck = math.sqrt(c["alpha"][k]) * (1 - ab[k - 1]) / (1 - ab[k])
        u = c0 + (ck - A[k]) * math.sqrt(ab[k])
        e2 = sq(u, B[k]) + D * (ck - A[k]) ** 2 * (1 - ab[k])
        r = c["bt"][k] / c["var"][k]
        total += 0.5 * (D * (r - 1 - math.log(r)) + e2 / c["var"][k])
    M, V = np.zeros(2), 1.0
    for k in range(N, 0, -1):
        M, V = A[k] * M + B[k], A[k] ** 2 * V + c["var"][k]
    nll_theta = 0.5 * D * math.log(2 * math.pi * V) + ((second - 2 * mean * M + M ** 2) / (2 * V)).sum(axis=1)
    return total, nll_theta


def test_gaussian_data_bound_above_nll_and_tightening() -> None:
    """On N(m, s² I) data with the optimal predictor: bound ≥ −log p_θ ≥ true NLL = entropy, and
    bound − NLL shrinks as N grows (noise-free, in expectation over the data)."""
    m, s = [1.0, -0.5], 0.5
    entropy = 0.5 * D * math.log(2 * math.pi * math.e * s ** 2)
    for kind in ("linear", "cosine"):
        gaps = {"beta": [], "beta_tilde": []}
        for N in (10, 100, 1000):
            for sigma2, gap in gaps.items():
                bound, nll_theta = analytic(make_schedule(kind, N), m, s, sigma2)
                assert bound[0] >= nll_theta[0] - 1e-9 and nll_theta[0] >= entropy - 1e-9
                gap.append(float(bound[0]) - entropy)
        # σ_k² = β_k: linear 1.02 → 0.28 → 0.002 nats, cosine 0.11 → 0.012 → 0.001 nats
        g = gaps["beta"]
        assert g[0] > 3 * g[1] and g[1] > 3 * g[2] and 0 < g[2] < 0.005, (kind, g)
        # σ_k² = β̃_k stays ~1 nat loose: it underestimates the true reverse variance at small k
        assert all(gap > 0.5 for gap in gaps["beta_tilde"]), (kind, gaps["beta_tilde"])


@pytest.mark.parametrize("kind,N,sigma2", [("linear", 10, "beta"), ("linear", 100, "beta"),
                                           ("linear", 1000, "beta"), ("cosine", 100, "beta_tilde")])
def test_gaussian_data_bound_matches_analytic(kind: str, N: int, sigma2: str) -> None:
    """The engine's MC bound agrees with the analytic expectation on the same points (4 standard errors),
    lies above the exact −log p_θ(x0) per point in expectation, and above the sample's true NLL."""
    m, s, n = [1.0, -0.5], 0.5, 2000
    sched = make_schedule(kind, N)
    x0 = torch.tensor(m, dtype=F64) + s * torch.randn(n, 2, generator=gen(N), dtype=F64)
    pp = bound_per_point(GaussianModel(sched, m, s), x0, gen(7), sigma2=sigma2, n_mc=1).L
    expected, nll_theta = analytic(sched, m, s, sigma2, x0)
    assert np.all(expected >= nll_theta - 1e-9)          # Jensen, point by point
    diff = pp - expected
    se = diff.std() / math.sqrt(n)
    assert abs(diff.mean()) < 4 * se, (diff.mean(), se)
    true_nll = -Normal(torch.tensor(m, dtype=F64), s).log_prob(x0).sum(dim=1).mean()
    assert pp.mean() > float(true_nll) - 4 * se
    if (kind, N) == ("linear", 10):
        assert pp.mean() - float(true_nll) > 0.5  # the prior mismatch L_N alone is large here


def test_real_model_and_validation() -> None:
    sched = make_schedule("linear", 50)
    model = DDPM(sched, width=16, depth=2, emb_dim=8)
    x0 = torch.randn(300, 2, generator=gen(8))
    b = variational_bound(model, x0, gen(9), n_mc=2)
    assert b.L_terms.shape == (49,) and np.all(b.L_terms >= 0) and math.isfinite(b.total)
    b2 = variational_bound(model, x0, gen(9), n_mc=2)
    assert b2.total == b.total  # determinism from the generator
    for kw in (dict(sigma2="beta_hat"), dict(n_mc=0), dict(n_mc=1.5)):
        with pytest.raises(ValueError):
            variational_bound(model, x0, gen(0), **kw)
    with pytest.raises(ValueError, match="x0"):
        variational_bound(model, x0[0], gen(0))


def test_standard_error_shrinks_as_one_over_sqrt_n_mc_and_is_the_spread_between_seeds() -> None:
    """se² estimates Var(L̂) = Var(one draw)/n_mc: 16× the draws give 4× smaller errors, and the spread of L̂
    between seeds (what a user sees re-running) matches the reported se. One draw has no se (NaN)."""
    sched = make_schedule("linear", 100)
    m, s, n = [1.0, -0.5], 0.5, 400
    model = GaussianModel(sched, m, s)
    x0 = torch.tensor(m, dtype=F64) + s * torch.randn(n, 2, generator=gen(11), dtype=F64)
    few, many = (bound_per_point(model, x0, gen(12 + k), n_mc=k) for k in (4, 64))
    assert few.n_mc == 4 and few.se.shape == many.se.shape == (n,) and np.all(few.se > 0)
    ratio = math.sqrt(np.mean(few.se ** 2) / np.mean(many.se ** 2))
    assert 3.4 < ratio < 4.6, ratio                                          # √(64/4) = 4
    assert abs(np.mean(few.L - many.L)) < 4 * math.sqrt(np.mean(few.se ** 2 + many.se ** 2) / n)
    reps = np.stack([bound_per_point(model, x0, gen(100 + i), n_mc=4).L for i in range(8)])
    spread = reps.var(axis=0, ddof=1).mean()
    assert 0.75 < spread / np.mean(few.se ** 2) < 1.33, (spread, np.mean(few.se ** 2))
    one = bound_per_point(model, x0[:5], gen(0), n_mc=1)
    assert np.isnan(one.se).all() and np.isfinite(one.L).all()


def test_points_go_in_chunks_with_progress() -> None:
    """More than POINTS_PER_CHUNK points: the first chunk gets the same draws as a call on it alone (a pass per
    chunk, so memory stays bounded), and progress reaches n, never going back."""
    from gendemo.bound import POINTS_PER_CHUNK

    sched = make_schedule("linear", 3)
    model = GaussianModel(sched, [0.0, 0.0], 1.0)
    n = POINTS_PER_CHUNK + 7
    x0 = torch.randn(n, 2, generator=gen(13), dtype=F64)
    seen: list[float] = []
    whole = bound_per_point(model, x0, gen(14), n_mc=2, progress=seen.append)
    first = bound_per_point(model, x0[:POINTS_PER_CHUNK], gen(14), n_mc=2)
    np.testing.assert_array_equal(whole.L[:POINTS_PER_CHUNK], first.L)
    np.testing.assert_array_equal(whole.se[:POINTS_PER_CHUNK], first.se)
    assert seen[-1] == n and all(b >= a for a, b in itertools.pairwise(seen))
    b = variational_bound(model, x0, gen(14), n_mc=2)                       # the same draws, averaged
    assert b.total == pytest.approx(float(whole.L.mean()), rel=1e-10)
