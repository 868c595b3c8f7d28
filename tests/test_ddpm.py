"""DDPM forward process, posterior, reverse step, sampler and loss, checked against the lecture (Part 2)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from gendemo.ddpm import (
    DDPM,
    Trajectory,
    eps_field,
    forward_trajectory,
    loss,
    mu_theta_from_eps,
    p_step,
    q_posterior,
    q_sample,
    q_step,
    sample,
    x0_from_eps,
)
from gendemo.nets import EpsNet
from gendemo.schedules import make_schedule

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def lecture_coefs(sched) -> dict[str, np.ndarray]:
    """β_k, α_k, ᾱ_k from β alone (Eq. (7)), independent of the Schedule's other arrays."""
    beta = sched.beta.numpy().copy()
    alpha = 1.0 - beta
    alpha_bar = np.cumprod(alpha)
    return dict(beta=beta, alpha=alpha, alpha_bar=alpha_bar)


# ---------------------------------------------------------------- forward process, Eq. (7)

@pytest.mark.parametrize("method", ["chain", "closed"])
def test_chain_and_closed_form_moments(method: str) -> None:
    """x^(k) | x^(0) ~ N(√ᾱ_k x^(0), (1 − ᾱ_k) I), ᾱ_k = Π α_i: MC mean and covariance, 5 standard errors."""
    sched = make_schedule("linear", 40, beta_1=1e-3, beta_N=0.1)
    c = lecture_coefs(sched)
    n = 20_000
    x0 = torch.tensor([[1.5, -2.0]], dtype=F64).expand(n, 2).contiguous()
    ks = [0, 1, 7, 20, 40]
    traj = forward_trajectory(x0, sched, gen(1), method=method, ks=ks)
    assert traj.shape == (len(ks), n, 2)
    for i, k in enumerate(ks):
        x = traj[i]
        mean, var = math.sqrt(c["alpha_bar"][k]) * x0[0], 1.0 - c["alpha_bar"][k]
        if k == 0:
            assert torch.equal(x, x0)
            continue
        se_mean = math.sqrt(var / n)
        assert torch.all((x.mean(0) - mean).abs() < 5 * se_mean), (k, x.mean(0), mean)
        cov = torch.cov(x.T)
        se_var = var * math.sqrt(2.0 / n)
        assert torch.all((torch.diagonal(cov) - var).abs() < 5 * se_var), (k, cov, var)
        assert abs(float(cov[0, 1])) < 5 * var / math.sqrt(n)


def test_chain_vs_closed_same_distribution_from_data() -> None:
    """From a spread-out x^(0), the chain and the closed form agree in mean and covariance at k = N."""
    sched = make_schedule("cosine", 30)
    n = 20_000
    x0 = torch.randn(n, 2, generator=gen(2), dtype=F64) * torch.tensor([2.0, 0.5]) + 1.0
    a = forward_trajectory(x0, sched, gen(3), "chain", ks=[15])[0]
    b = forward_trajectory(x0, sched, gen(4), "closed", ks=[15])[0]
    se = math.sqrt(4.0 / n)
    assert torch.all((a.mean(0) - b.mean(0)).abs() < 5 * se)
    assert torch.all((torch.cov(a.T) - torch.cov(b.T)).abs() < 5 * 4.0 * math.sqrt(2.0 / n))


def test_q_step_and_q_sample_formulas() -> None:
    sched = make_schedule("quadratic", 20)
    c = lecture_coefs(sched)
    x = torch.randn(7, 2, generator=gen(5), dtype=F64)
    eps = torch.randn(7, 2, generator=gen(6), dtype=F64)
    for k in (0, 1, 13, 20):
        expected = math.sqrt(c["alpha_bar"][k]) * x + math.sqrt(1 - c["alpha_bar"][k]) * eps
        torch.testing.assert_close(q_sample(x, k, sched, eps=eps), expected)
    k = torch.tensor([1, 2, 3, 20, 5, 6, 7])
    ab = torch.as_tensor(c["alpha_bar"])[k][:, None]
    torch.testing.assert_close(q_sample(x, k, sched, eps=eps), ab.sqrt() * x + (1 - ab).sqrt() * eps)
    # q_step draws its ε from the generator in the order randn(shape)
    g = gen(7)
    z = torch.randn(7, 2, generator=gen(7), dtype=F64)
    got = q_step(x, 4, sched, g)
    torch.testing.assert_close(got, math.sqrt(1 - c["beta"][4]) * x + math.sqrt(c["beta"][4]) * z)
    with pytest.raises(ValueError, match="generator"):
        q_sample(x, 3, sched)
    for bad in (-1, 21, 2.0):
        with pytest.raises(ValueError, match=r"k must be"):
            q_sample(x, bad, sched, eps=eps)
    with pytest.raises(ValueError, match=r"k must be"):
        q_step(x, 0, sched, g)
    with pytest.raises(ValueError, match=r"k must"):
        q_sample(x, torch.full((7,), 21), sched, eps=eps)
    with pytest.raises(ValueError, match="method"):
        forward_trajectory(x, sched, g, method="euler")


# ---------------------------------------------------------------- posterior, Eq. (8)

def test_posterior_is_bayes() -> None:
    """μ̃_k, β̃_k from completing the square in q(x^(k)|x^(k−1)) q(x^(k−1)|x^(0)) (precisions add)."""
    sched = make_schedule("sigmoid", 25, beta_1=1e-3, beta_N=0.2)
    c = lecture_coefs(sched)
    x0 = torch.randn(9, 2, generator=gen(8), dtype=F64)
    x_k = torch.randn(9, 2, generator=gen(9), dtype=F64)
    for k in range(2, 26):
        a, b, ab_prev = c["alpha"][k], c["beta"][k], c["alpha_bar"][k - 1]
        # as a function of x^(k−1): N(x_k; √α x_prev, β) ∝ N(x_prev; x_k/√α, β/α);
        # q(x_prev | x0) = N(√ᾱ_{k−1} x0, 1 − ᾱ_{k−1}); precisions add, means are precision-weighted
        prec = a / b + 1 / (1 - ab_prev)
        mean = (a / b * (x_k / math.sqrt(a)) + math.sqrt(ab_prev) * x0 / (1 - ab_prev)) / prec
        mu_tilde, beta_tilde = q_posterior(x0, x_k, k, sched)
        torch.testing.assert_close(mu_tilde, mean, rtol=1e-10, atol=1e-12)
        assert float(beta_tilde) == pytest.approx(1 / prec, rel=1e-10)
        assert 0 < float(beta_tilde) <= b
    mu1, bt1 = q_posterior(x0, x_k, 1, sched)  # β̃_1 = 0: x^(0) is known exactly given x^(0)
    torch.testing.assert_close(mu1, x0)
    assert float(bt1) == 0.0
    k = torch.arange(1, 10)
    mu, bt = q_posterior(x0, x_k, k, sched)
    assert bt.shape == (9, 1)
    for i in range(9):
        torch.testing.assert_close(mu[i], q_posterior(x0, x_k, int(k[i]), sched)[0][i])


def test_true_eps_gives_mu_tilde_and_x0() -> None:
    """With the true ε, μ_θ = μ̃_k and x̂^(0) = x^(0) (reparametrization)."""
    sched = make_schedule("linear", 100)
    x0 = torch.randn(100, 2, generator=gen(10), dtype=F64)
    eps = torch.randn(100, 2, generator=gen(11), dtype=F64)
    k = torch.arange(1, 101)
    x_k = q_sample(x0, k, sched, eps=eps)
    mu_tilde, _ = q_posterior(x0, x_k, k, sched)
    torch.testing.assert_close(mu_theta_from_eps(x_k, k, eps, sched), mu_tilde, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(x0_from_eps(x_k, k, eps, sched), x0, rtol=1e-9, atol=1e-9)
    c = lecture_coefs(sched)
    expected = (x_k[4] - c["beta"][5] / math.sqrt(1 - c["alpha_bar"][5]) * eps[4]) / math.sqrt(c["alpha"][5])
    torch.testing.assert_close(mu_theta_from_eps(x_k[4:5], 5, eps[4:5], sched)[0], expected)


# ---------------------------------------------------------------- the model

def test_ddpm_module() -> None:
    sched = make_schedule("linear", 10)
    m = DDPM(sched, width=16, depth=2, emb_dim=8)
    assert isinstance(m.eps_theta, EpsNet) and m.sched is sched
    assert {"shift", "scale"} <= set(dict(m.named_buffers()))
    torch.testing.assert_close(m.shift, torch.zeros(2))
    torch.testing.assert_close(m.scale, torch.ones(2))
    m.shift.copy_(torch.tensor([1.0, -2.0]))
    m.scale.copy_(torch.tensor([2.0, 0.5]))
    x = torch.randn(5, 2, generator=gen(12))
    torch.testing.assert_close(m.standardize(x), (x - m.shift) / m.scale)
    torch.testing.assert_close(m.unstandardize(m.standardize(x)), x)
    grid = torch.randn(11, 2, generator=gen(13))
    e = eps_field(m, 3, grid)
    assert e.shape == (11, 2)
    torch.testing.assert_close(e, m.eps_theta(grid, torch.full((11,), 3)))
    with pytest.raises(ValueError, match="k must"):
        eps_field(m, 11, grid)


def _tiny(sched, seed: int = 0, activation: str = "silu") -> DDPM:
    m = DDPM(sched, width=16, depth=2, emb_dim=8, activation=activation)
    g = gen(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return m


def _hand_sampler(model: DDPM, n: int, seed: int, sigma2: str):
    """Algorithm Sampling written from the lecture in float64; same draw order as the engine."""
    c = lecture_coefs(model.sched)
    N = model.sched.N
    var = c["beta"] if sigma2 == "beta" else np.array(
        [0.0] + [(1 - c["alpha_bar"][k - 1]) / (1 - c["alpha_bar"][k]) * c["beta"][k] for k in range(1, N + 1)])
    g = gen(seed)
    x = torch.randn(n, 2, generator=g).double()
    xs, x0_hats = {N: x}, {}
    for k in range(N, 0, -1):
        eps_hat = model.eps_theta(x.float(), torch.full((n,), k)).double()
        x0_hats[k] = (x - math.sqrt(1 - c["alpha_bar"][k]) * eps_hat) / math.sqrt(c["alpha_bar"][k])
        z = torch.randn(n, 2, generator=g).double() if k > 1 else torch.zeros(n, 2, dtype=F64)
        x = (x - c["beta"][k] / math.sqrt(1 - c["alpha_bar"][k]) * eps_hat) / math.sqrt(c["alpha"][k]) \
            + math.sqrt(var[k]) * z
        xs[k - 1] = x
    return xs, x0_hats


ACTIVATIONS = ["silu", "relu", "hardswish"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_builds_its_layers(activation: str) -> None:
    sched = make_schedule("linear", 12)
    m = _tiny(sched, seed=2, activation=activation)
    cls = {"silu": nn.SiLU, "relu": nn.ReLU, "hardswish": nn.Hardswish}[activation]
    assert [type(a) for a in m.eps_theta.net[1::2]] == [cls, cls]
    assert m.eps_theta.plain_activation == activation
    with pytest.raises(ValueError, match="activation"):
        DDPM(sched, width=8, depth=1, emb_dim=4, activation="tanh")


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("sigma2", ["beta", "beta_tilde"])
def test_sampling_is_algorithm_sampling(sigma2: str, activation: str) -> None:
    sched = make_schedule("linear", 30, beta_1=1e-3, beta_N=0.2)
    model = _tiny(sched, activation=activation)
    traj = sample(model, 64, gen(21), sigma2=sigma2, keep="all")
    assert isinstance(traj, Trajectory) and traj.ks == list(range(30, -1, -1))
    assert traj.xs.shape == traj.x0_hats.shape == (31, 64, 2) and traj.xs.dtype == torch.float32
    xs, x0_hats = _hand_sampler(model, 64, 21, sigma2)
    for i, k in enumerate(traj.ks):
        torch.testing.assert_close(traj.xs[i].double(), xs[k], rtol=1e-4, atol=1e-4)
        if k > 0:
            torch.testing.assert_close(traj.x0_hats[i].double(), x0_hats[k], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(traj.x0_hats[-1], traj.xs[-1])
    # z = 0 at k = 1: x^(0) is exactly μ_θ(x^(1), 1), whatever the generator does
    x1 = traj.xs[-2]
    mu = mu_theta_from_eps(x1, 1, model.eps_theta(x1, torch.ones(64, dtype=torch.int64)), sched)
    torch.testing.assert_close(traj.xs[-1], mu.detach(), rtol=1e-5, atol=1e-5)


def test_sampling_determinism_and_keep() -> None:
    sched = make_schedule("cosine", 20)
    model = _tiny(sched, seed=3)
    a = sample(model, 50, gen(5), keep="all")
    b = sample(model, 50, gen(5), keep="all")
    assert torch.equal(a.xs, b.xs) and torch.equal(a.x0_hats, b.x0_hats)
    assert not torch.allclose(sample(model, 50, gen(6)).xs[-1], a.xs[-1])
    none = sample(model, 50, gen(5))
    assert none.ks == [20, 0] and none.xs.shape == (2, 50, 2)
    sub = sample(model, 50, gen(5), keep=[3, 10, 10])
    assert sub.ks == [20, 10, 3, 0]  # N and 0 are always kept
    for i, k in enumerate(sub.ks):
        torch.testing.assert_close(sub.xs[i], a.xs[a.ks.index(k)])
        torch.testing.assert_close(sub.x0_hats[i], a.x0_hats[a.ks.index(k)])
    wide = copy.deepcopy(model).double()  # a float64 model samples in float64, same draws up to rounding
    c64 = sample(wide, 50, gen(5), keep="all")
    assert c64.xs.dtype == torch.float64
    torch.testing.assert_close(c64.xs.float(), a.xs, rtol=1e-4, atol=1e-4)
    for bad in dict(keep=[21]), dict(keep="some"), dict(sigma2="sigma"), dict(n=0):
        with pytest.raises(ValueError):
            sample(model, **({"n": 5, "generator": gen(0)} | bad))



def test_sampler_frames_and_p_step() -> None:
    """Kept frames are the chain's own numbers (a subset of keep="all", bit for bit, whichever steps are
    kept); a step is p_step: μ_θ plus σ_k z, z = None giving μ_θ itself."""
    sched = make_schedule("linear", 25, beta_1=1e-3, beta_N=0.2)
    model = _tiny(sched, seed=5)
    a = sample(model, 40, gen(8), keep="all")
    for keep in ([24, 23, 5], list(range(0, 26, 2)), [1]):
        sub = sample(model, 40, gen(8), keep=keep)
        idx = [a.ks.index(k) for k in sub.ks]
        assert torch.equal(sub.xs, a.xs[idx]) and torch.equal(sub.x0_hats, a.x0_hats[idx])
    x, z = torch.randn(40, 2, generator=gen(9)), torch.randn(40, 2, generator=gen(10))
    eps_hat = model.eps_theta(x, torch.full((40,), 7)).detach()
    mu = mu_theta_from_eps(x, 7, eps_hat, sched)
    assert torch.equal(p_step(x, 7, eps_hat, sched, None), mu)
    for sigma2, var in (("beta", sched.beta[7]), ("beta_tilde", sched.beta_tilde[7])):
        torch.testing.assert_close(p_step(x, 7, eps_hat, sched, z, sigma2), mu + math.sqrt(var) * z)
    with pytest.raises(ValueError, match="sigma2"):
        p_step(x, 7, eps_hat, sched, z, "sigma")


class GaussianOptimalEps(nn.Module):
    """ε*(x_k, k) = √(1 − ᾱ_k)(x_k − √ᾱ_k m)/(ᾱ_k s² + 1 − ᾱ_k): E[ε | x^(k)] for data N(m, s² I)."""

    def __init__(self, sched, m: list[float], s: float):
        super().__init__()
        self.alpha_bar = torch.as_tensor(np.cumprod(1.0 - sched.beta.numpy()))
        self.m, self.s = torch.tensor(m, dtype=F64), s

    def forward(self, x_k: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        ab = self.alpha_bar[k][:, None]
        eps = (1 - ab).sqrt() * (x_k.double() - ab.sqrt() * self.m) / (ab * self.s ** 2 + 1 - ab)
        return eps.to(x_k.dtype)


class GaussianModel(nn.Module):
    def __init__(self, sched, m: list[float], s: float):
        super().__init__()
        self.sched = sched
        self.eps_theta = GaussianOptimalEps(sched, m, s)


@pytest.mark.parametrize("sigma2", ["beta", "beta_tilde"])
def test_samples_of_gaussian_data(sigma2: str) -> None:
    """With the optimal ε-predictor for N(m, s² I) data, samples have mean m and variance ≈ s²."""
    m, s, n = [1.0, -0.5], 0.5, 10_000
    sched = make_schedule("linear", 1000)
    x = sample(GaussianModel(sched, m, s), n, gen(7), sigma2=sigma2).xs[-1].double()
    se_mean, se_var = s / math.sqrt(n), s ** 2 * math.sqrt(2 / n)
    assert torch.all((x.mean(0) - torch.tensor(m, dtype=F64)).abs() < 5 * se_mean)
    assert torch.all((x.var(0) - s ** 2).abs() < 5 * se_var + 0.01)  # + discretisation (N = 1000)


# ---------------------------------------------------------------- training loss, Eq. (10)

@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("weighting", ["simple", "bound"])
def test_loss_by_hand(weighting: str, activation: str) -> None:
    sched = make_schedule("linear", 50, beta_1=1e-3, beta_N=0.1)
    model = _tiny(sched, seed=4, activation=activation)
    x0 = torch.randn(32, 2, generator=gen(30))
    got = loss(model, x0, gen(31), weighting=weighting)
    g = gen(31)
    k = torch.randint(1, 51, (32,), generator=g)
    eps = torch.randn(32, 2, generator=g)
    c = lecture_coefs(sched)
    ab = torch.as_tensor(c["alpha_bar"], dtype=torch.float32)[k][:, None]
    err = ((model.eps_theta(ab.sqrt() * x0 + (1 - ab).sqrt() * eps, k) - eps) ** 2).sum(dim=1)
    if weighting == "bound":
        b, a, abar = c["beta"][1:], c["alpha"][1:], c["alpha_bar"][1:]
        sigma2 = b
        w = b ** 2 / (2 * sigma2 * a * (1 - abar))  # β_k²/(2σ_k² α_k (1 − ᾱ_k)), k = 1..N
        w = np.concatenate([[0.0], w / w.mean()])  # normalised to mean 1 over k
        err = err * torch.as_tensor(w, dtype=torch.float32)[k]
    torch.testing.assert_close(got, err.mean(), rtol=1e-5, atol=1e-6)
    got.backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="weighting"):
        loss(model, x0, gen(0), weighting="vlb")
