"""β-schedules checked against the lecture's definitions (Eq. (7), (8)), computed independently in numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gendemo.config import DDPMConfig
from gendemo.schedules import KINDS, Schedule, make_schedule


def np_alpha_bar(beta: np.ndarray) -> np.ndarray:
    """ᾱ_k = Π_{i≤k} (1 − β_i) for k = 0..N (β has the sentinel β_0 = 0), by an explicit loop."""
    out = np.ones_like(beta)
    for k in range(1, len(beta)):
        out[k] = out[k - 1] * (1.0 - beta[k])
    return out


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("N", [1, 2, 10, 1000])
def test_layout_and_eq7_eq8(kind: str, N: int) -> None:
    s = make_schedule(kind, N)
    assert isinstance(s, Schedule) and s.kind == kind and s.N == N
    for name in ("beta", "alpha", "alpha_bar", "beta_tilde"):
        t = getattr(s, name)
        assert t.dtype == torch.float64 and t.shape == (N + 1,), name
    beta = s.beta.numpy()
    # sentinels: β_0 = 0, α_0 = 1, ᾱ_0 = 1, β̃_0 = 0, and β̃_1 = 0 (Eq. (8) with ᾱ_0 = 1)
    assert beta[0] == 0 and s.alpha[0] == 1 and s.alpha_bar[0] == 1 and s.beta_tilde[0] == 0
    assert s.beta_tilde[1] == 0
    assert np.all(beta[1:] > 0) and np.all(beta[1:] <= 0.999)
    # Eq. (7): α_k = 1 − β_k, ᾱ_k = Π α_i
    np.testing.assert_allclose(s.alpha.numpy(), 1 - beta, rtol=0, atol=1e-15)
    ab = np_alpha_bar(beta)
    np.testing.assert_allclose(s.alpha_bar.numpy(), ab, rtol=1e-12, atol=1e-300)
    # Eq. (8): β̃_k = (1 − ᾱ_{k−1})/(1 − ᾱ_k) β_k, and 0 < β̃_k ≤ β_k for k ≥ 2
    bt = np.array([0.0] + [(1 - ab[k - 1]) / (1 - ab[k]) * beta[k] for k in range(1, N + 1)])
    np.testing.assert_allclose(s.beta_tilde.numpy(), bt, rtol=1e-12, atol=0)
    assert np.all(s.beta_tilde.numpy()[2:] > 0)
    assert np.all(s.beta_tilde.numpy()[2:] <= beta[2:] * (1 + 1e-12))
    # snr = ᾱ/(1 − ᾱ), inf at 0, decreasing
    snr = s.snr().numpy()
    assert snr[0] == np.inf
    np.testing.assert_allclose(snr[1:], ab[1:] / (1 - ab[1:]), rtol=1e-10)
    assert np.all(np.diff(snr[1:]) < 0)


def test_linear_quadratic_sigmoid_formulas() -> None:
    N, b1, bN = 50, 1e-3, 0.05
    k = np.arange(1, N + 1)
    lin = b1 + (bN - b1) * (k - 1) / (N - 1)
    np.testing.assert_allclose(make_schedule("linear", N, b1, bN).beta.numpy()[1:], lin, rtol=1e-12)
    quad = (math.sqrt(b1) + (math.sqrt(bN) - math.sqrt(b1)) * (k - 1) / (N - 1)) ** 2
    np.testing.assert_allclose(make_schedule("quadratic", N, b1, bN).beta.numpy()[1:], quad, rtol=1e-12)
    u = -6 + 12 * (k - 1) / (N - 1)
    sig = b1 + (bN - b1) / (1 + np.exp(-u))
    np.testing.assert_allclose(make_schedule("sigmoid", N, b1, bN).beta.numpy()[1:], sig, rtol=1e-12)


def test_cosine_nichol_dhariwal() -> None:
    N, s_ = 1000, 0.008
    t = np.arange(N + 1)
    f = np.cos((t / N + s_) / (1 + s_) * np.pi / 2) ** 2
    ab_curve = f / f[0]
    beta = np.minimum(1 - ab_curve[1:] / ab_curve[:-1], 0.999)
    sched = make_schedule("cosine", N)
    np.testing.assert_allclose(sched.beta.numpy()[1:], beta, rtol=1e-12)
    assert sched.beta[N] == 0.999  # the cap is active at the last step
    clipped = np.flatnonzero(1 - ab_curve[1:] / ab_curve[:-1] > 0.999) + 1
    free = np.arange(1, clipped.min())
    np.testing.assert_allclose(sched.alpha_bar.numpy()[free], ab_curve[free], rtol=1e-10)
    # beta_1 / beta_N are ignored for cosine
    other = make_schedule("cosine", N, beta_1=0.001, beta_N=0.5)
    assert torch.equal(other.beta, sched.beta)


def test_reference_figures() -> None:
    # GUIDE §5b: N = 100 with β from 1e-4 to 0.02 leaves ᾱ_N = 0.36
    assert abs(float(make_schedule("linear", 100).alpha_bar[-1]) - 0.36) < 0.01
    # Ho et al.'s schedule (N = 1000, 1e-4 … 0.02) ends at ᾱ_N ≈ 4.0e-5
    assert 3.5e-5 < float(make_schedule("linear", 1000).alpha_bar[-1]) < 4.5e-5


def test_n_equals_one() -> None:
    for kind in ("linear", "quadratic", "sigmoid"):
        s = make_schedule(kind, 1, beta_1=0.01, beta_N=0.3)
        assert float(s.beta[1]) == 0.3 and float(s.alpha_bar[1]) == pytest.approx(0.7)
        assert float(s.beta_tilde[1]) == 0.0
    assert float(make_schedule("cosine", 1).beta[1]) == 0.999
    assert make_schedule("linear", 10_000).N == 10_000


def test_prior_mismatch_is_gaussian_kl() -> None:
    sched = make_schedule("linear", 100)
    x0 = torch.randn(500, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    ab = sched.alpha_bar[-1]
    q = torch.distributions.Normal(ab.sqrt() * x0, (1 - ab).sqrt())
    p = torch.distributions.Normal(torch.zeros_like(x0), torch.ones_like(x0))
    expected = torch.distributions.kl_divergence(q, p).sum(dim=1).mean()
    assert sched.prior_mismatch(x0) == pytest.approx(float(expected), rel=1e-10)
    assert sched.prior_mismatch(x0.float().numpy()) == pytest.approx(float(expected), rel=1e-6)
    assert make_schedule("cosine", 1000).prior_mismatch(x0) < 1e-6


def _err(pattern: str, **kw) -> None:
    """make_schedule and a DDPMConfig refuse the same schedules with the same message (one validator)."""
    args = dict(kind="linear", N=100, beta_1=1e-4, beta_N=0.02) | kw
    with pytest.raises(ValueError, match=pattern):
        make_schedule(**args)
    with pytest.raises(ValueError, match=pattern):
        DDPMConfig(schedule=args.pop("kind"), **args)


def test_a_valid_config_builds_its_schedule() -> None:
    c = DDPMConfig(schedule="cosine", N=np.int64(50), beta_1=0.02, beta_N=0.02)
    assert type(c.N) is int and c.N == 50  # stored as a plain int: configs travel in JSON
    assert make_schedule(c.schedule, c.N, c.beta_1, c.beta_N).N == 50


@pytest.mark.parametrize("N", [0, -1, 10_001, 2.5, True, "10", float("nan"), float("inf")])
def test_invalid_N(N) -> None:
    _err(r"N must be an integer in \[1, 10000\]", N=N)


@pytest.mark.parametrize("name", ["beta_1", "beta_N"])
@pytest.mark.parametrize("value", [0.0, -1e-3, 0.9991, 1.0, 2.0, float("nan"), float("inf"), -float("inf"), "x"])
def test_invalid_beta(name: str, value) -> None:
    kw = {name: value}
    if name == "beta_1" and isinstance(value, float) and 0 < value <= 1:
        kw["beta_N"] = 0.999  # keep β_1 ≤ β_N out of the way
    _err(rf"{name} must be a finite number in \(0, 0\.999\]", **kw)


@pytest.mark.parametrize("kind", KINDS)
def test_invalid_order_and_kind(kind: str) -> None:
    _err(r"beta_1 must be <= beta_N", kind=kind, beta_1=0.02, beta_N=0.01)
    _err(r"kind must be one of", kind="exponential")
    make_schedule(kind, 10, beta_1=0.999, beta_N=0.999)  # the closed end of the range is valid
