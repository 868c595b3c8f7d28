"""gendemo.metrics: energy distance, MMD, the sampling floor and the NLL, against brute force and
closed forms for Gaussians."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import i0e, i1e, ndtri

from gendemo import metrics as M


def _normal(n: int, seed: int, shift: float = 0.0, d: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)) + shift


def _brute_energy(x, y):
    """V-statistic by plain loops: 2 mean|x_i - y_j| - mean|x_i - x_j| - mean|y_i - y_j|."""
    dist = lambda a, b: np.mean([[np.linalg.norm(ai - bj) for bj in b] for ai in a])  # noqa: E731
    return 2 * dist(x, y) - dist(x, x) - dist(y, y)


def _brute_mmd(x, y, h):
    k = lambda a, b: np.mean([[math.exp(-np.sum((ai - bj) ** 2) / (2 * h * h)) for bj in b] for ai in a])  # noqa: E731
    return k(x, x) + k(y, y) - 2 * k(x, y)


# ---------------------------------------------------------------- energy distance
def test_energy_distance_brute_force_and_basic_properties():
    x, y = _normal(7, 0), _normal(5, 1, shift=0.3)
    assert M.energy_distance(x, y) == pytest.approx(_brute_energy(x, y), rel=1e-12)
    assert M.energy_distance(x, y) == pytest.approx(M.energy_distance(y, x), rel=1e-12)
    x = _normal(300, 2)
    assert M.energy_distance(x, x) == pytest.approx(0.0, abs=1e-12)
    values = [M.energy_distance(x, _normal(300, 3, shift=s)) for s in (0.0, 0.5, 1.0, 2.0)]
    assert 0 < values[0] < values[1] < values[2] < values[3]
    assert isinstance(values[0], float)


def test_energy_distance_chunking_against_scipy_cdist():
    from scipy.spatial.distance import cdist

    x, y = _normal(700, 4), _normal(450, 5, shift=0.2)  # several row chunks, odd sizes
    ref = 2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean()
    assert M.energy_distance(x, y) == pytest.approx(ref, rel=1e-10)
    assert M.energy_distance(torch.tensor(x, dtype=torch.float32), y) == pytest.approx(ref, rel=1e-5)


def _normal_quantiles(n1: int, d: int) -> np.ndarray:
    """A deterministic 'sample' of N(0, I_d): the product grid of the 1D quantiles Φ⁻¹((i + ½)/n1).

    Its V-statistics are quadratures of the population integrals, with no sampling noise.
    """
    q = ndtri((np.arange(n1) + 0.5) / n1)
    return np.stack(np.meshgrid(*[q] * d), -1).reshape(-1, d)


def _mean_abs_normal(m: float, s: float, d: int) -> float:
    """E|Z| for Z ~ N(m e_1, s² I_d), d = 1 (folded normal) or d = 2 (Rice mean s √(π/2) L_{1/2}(-m²/(2s²)))."""
    if d == 1:
        return s * math.sqrt(2 / math.pi) * math.exp(-m * m / (2 * s * s)) + m * math.erf(m / (s * math.sqrt(2)))
    x = -m * m / (2 * s * s)  # L_{1/2}(x) = e^{x/2} [(1 - x) I_0(-x/2) - x I_1(-x/2)]
    return s * math.sqrt(math.pi / 2) * ((1 - x) * i0e(-x / 2) - x * i1e(-x / 2))


@pytest.mark.parametrize("d, n1, tol", [(1, 2000, 1e-4), (2, 60, 3e-3)])
@pytest.mark.parametrize("mu", [0.5, 1.0])
def test_energy_distance_population_value(d, n1, tol, mu):
    """X ~ N(0, I), Y ~ N(μ e_1, I): D² = 2 E|X - Y| - 2 E|X - X'|, with X - Y ~ N(-μ e_1, 2 I)."""
    x = _normal_quantiles(n1, d)
    y = x + mu * np.eye(d)[0]
    expected = 2 * _mean_abs_normal(mu, math.sqrt(2), d) - 2 * _mean_abs_normal(0.0, math.sqrt(2), d)
    assert M.energy_distance(x, y) == pytest.approx(expected, abs=tol)


# ---------------------------------------------------------------- MMD
def test_mmd_brute_force_median_heuristic_and_shift():
    x, y = _normal(6, 8), _normal(9, 9, shift=0.5)
    assert M.mmd_rbf(x, y, bandwidth=0.7) == pytest.approx(_brute_mmd(x, y, 0.7), rel=1e-12)
    z = np.concatenate([x, y])
    h = np.median([np.linalg.norm(z[i] - z[j]) for i in range(len(z)) for j in range(i + 1, len(z))])
    assert M.mmd_rbf(x, y) == pytest.approx(_brute_mmd(x, y, h), rel=1e-12)
    x = _normal(300, 10)
    assert M.mmd_rbf(x, x) == pytest.approx(0.0, abs=1e-12)
    values = [M.mmd_rbf(x, _normal(300, 11, shift=s), bandwidth=1.0) for s in (0.0, 0.5, 1.0, 2.0)]
    assert 0 < values[0] < values[1] < values[2] < values[3]


@pytest.mark.parametrize("d, n1", [(1, 2000), (2, 60)])
@pytest.mark.parametrize("mu, h", [(0.5, 1.0), (1.0, 0.5)])
def test_mmd_population_value(d, n1, mu, h):
    """N(0, I) vs N(μ e_1, I): E k(X, X') = (h²/(h²+2))^(d/2), E k(X, Y) = that · exp(-μ²/(2(h²+2)))."""
    x = _normal_quantiles(n1, d)
    same = (h * h / (h * h + 2)) ** (d / 2)
    expected = 2 * same - 2 * same * math.exp(-mu * mu / (2 * (h * h + 2)))
    assert M.mmd_rbf(x, x + mu * np.eye(d)[0], bandwidth=h) == pytest.approx(expected, abs=2e-4)


@pytest.mark.parametrize("bandwidth", [0.0, -1.0, float("nan"), float("inf"), "1", True])
def test_mmd_rejects_bad_bandwidth(bandwidth):
    with pytest.raises(ValueError, match="bandwidth"):
        M.mmd_rbf(_normal(10, 0), _normal(10, 1), bandwidth=bandwidth)


def test_mmd_zero_median_bandwidth():
    x = np.zeros((50, 2))
    x[0] = 1.0
    with pytest.raises(ValueError, match="median heuristic bandwidth is 0"):
        M.mmd_rbf(x, x)


@pytest.mark.parametrize("fn", [M.energy_distance, M.mmd_rbf])
@pytest.mark.parametrize("x, y, match", [
    (np.zeros(10), _normal(10, 0), "x must have shape \\(n, d\\)"),
    (_normal(10, 0), _normal(10, 0, d=3), "same dimension"),
    (_normal(1, 0), _normal(10, 0), "x must have between 2"),
    (_normal(10, 0), np.full((10, 2), np.nan), "y contains NaN"),
    ([["a", "b"], ["c", "d"]], _normal(10, 0), "x must be a numeric array"),
])
def test_two_sample_input_errors(fn, x, y, match):
    with pytest.raises(ValueError, match=match):
        fn(x, y)


# ---------------------------------------------------------------- floor
def test_with_floor_separates_good_and_bad_models():
    n = 1000
    reference, heldout = _normal(n, 20), _normal(n, 21)
    good = M.with_floor(M.energy_distance, _normal(n, 22), heldout, reference)
    bad = M.with_floor(M.energy_distance, _normal(n, 23, shift=0.5), heldout, reference)
    assert set(good) == {"value", "floor", "ratio"}
    assert good["floor"] == bad["floor"] == pytest.approx(M.energy_distance(heldout, reference))
    assert good["floor"] < 0.02 < 0.1 < bad["value"]
    assert 0.2 < good["ratio"] < 5 < bad["ratio"]
    assert M.with_floor(lambda a, b: 1.0, heldout, heldout, reference)["ratio"] == 1.0
    floor_zero = M.with_floor(lambda a, b: 0.0 if a is heldout else 1.0, _normal(n, 24), heldout, reference)
    assert floor_zero == {"value": 1.0, "floor": 0.0, "ratio": math.inf}


def test_with_floor_errors():
    x = _normal(50, 0)
    with pytest.raises(ValueError, match="same size"):
        M.with_floor(M.energy_distance, x, _normal(40, 1), x)
    with pytest.raises(ValueError, match="stat must be a callable"):
        M.with_floor("energy", x, x, x)


# ---------------------------------------------------------------- NLL
def _std_normal_log_prob(x: torch.Tensor) -> torch.Tensor:
    assert x.dtype == torch.float32 and x.ndim == 2 and x.shape[1] == 2
    return -0.5 * (x**2).sum(1) - math.log(2 * math.pi)


def test_nll_standard_normal():
    x = _normal(20_000, 30)
    expected = np.mean(0.5 * (x.astype(np.float32).astype(np.float64) ** 2).sum(1) + math.log(2 * math.pi))
    for batch in (1_000, 4096, 7):
        assert M.nll(_std_normal_log_prob, x, batch=batch) == pytest.approx(expected, rel=1e-6)
    assert M.nll(_std_normal_log_prob, x) == pytest.approx(math.log(2 * math.pi * math.e), abs=0.03)  # = entropy
    seen = []
    M.nll(lambda t: (seen.append(len(t)), _std_normal_log_prob(t))[1], x[:10], batch=4)
    assert seen == [4, 4, 2]


@pytest.mark.parametrize("fn, batch, match", [
    (lambda t: t.sum(), 8, "must return shape \\(8,\\), got \\(\\)"),
    (lambda t: torch.full((len(t),), float("nan")), 8, "NaN"),
    (_std_normal_log_prob, 0, "batch must be an integer >= 1"),
    (_std_normal_log_prob, 2.5, "batch"),
    ("not callable", 8, "log_prob_fn must be callable"),
])
def test_nll_errors(fn, batch, match):
    with pytest.raises(ValueError, match=match):
        M.nll(fn, _normal(10, 0), batch=batch)


def test_nll_minus_infinity_gives_inf():
    assert M.nll(lambda t: torch.full((len(t),), -math.inf), _normal(10, 0)) == math.inf
