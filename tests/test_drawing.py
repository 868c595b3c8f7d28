"""gendemo.drawing: strokes in data coordinates -> points, checked against what the module doc promises: the
count, the jitter's law (|perpendicular offset| of N(0, σ²) has mean σ·√(2/π)), uniformity by arc length (a
Kolmogorov–Smirnov distance), spray density ∝ dabs, determinism by seed, and clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gendemo import drawing as D


def _ks_uniform(u: np.ndarray) -> float:
    """Kolmogorov–Smirnov distance between the sample u ⊂ [0, 1] and Uniform[0, 1]."""
    u = np.sort(u)
    n = len(u)
    i = np.arange(1, n + 1)
    return float(max((i / n - u).max(), (u - (i - 1) / n).max()))


def test_count_dtype_and_ink_shares():
    line = D.stroke("line", [[0, 0], [1, 0]])  # ink 1
    spray = D.stroke("spray", np.zeros((20, 2)) + [5, 5])  # 20 dabs × 0.05 = ink 1
    x = D.sample([line, spray], 1000, 0.01, rng=0, spray_radius=0.1, dab_ink=0.05)
    assert x.shape == (1000, 2) and x.dtype == np.float32
    near_line = np.abs(x[:, 1]) < 1.0
    assert near_line.sum() == 500  # equal ink, equal shares, exactly
    for n in (D.MIN_POINTS, 777, D.MAX_POINTS):
        assert len(D.sample([line, spray], n, 0.1, rng=1)) == n


def test_points_lie_within_spread_of_the_stroke():
    sigma = 0.1
    x = D.sample([D.stroke("line", [[0, 0], [10, 0]])], 5000, sigma, rng=3).astype(np.float64)
    # distance to the segment [0, 10] × {0}
    dx = np.clip(x[:, 0], 0, 10) - x[:, 0]
    dist = np.hypot(dx, x[:, 1])
    assert dist.max() < 5 * sigma  # P(|ε| > 5σ) for a 2D standard normal is e^{-12.5} ≈ 4e-6 a point
    # away from the ends the distance is |σ ε_y|, whose mean is σ √(2/π) (SE ≈ 0.6σ/√5000 ≈ 0.0085σ)
    inner = (x[:, 0] > 1) & (x[:, 0] < 9)
    assert abs(np.abs(x[inner, 1]).mean() / sigma - math.sqrt(2 / math.pi)) < 0.05
    assert abs(x[:, 1].std() / sigma - 1) < 0.05


def test_uniform_by_arc_length_not_by_vertex():
    # an L: 200 vertices on the first leg (length 4), 2 on the second (length 2): a sampler that picked vertices
    # would put ~99 % of the points on the first leg; by arc length, 1/3 belong to the second.
    leg1 = np.stack([np.linspace(0, 4, 200), np.zeros(200)], axis=1)
    xy = np.concatenate([leg1, [[4, 2]]])
    x = D.sample([D.stroke("line", xy)], 5000, 0.0, rng=7).astype(np.float64)
    on_leg2 = x[:, 1] > 0
    s = np.where(on_leg2, 4 + x[:, 1], x[:, 0])  # each point's arc length (spread 0: on the polyline)
    assert np.all(np.where(on_leg2, np.abs(x[:, 0] - 4), np.abs(x[:, 1])) < 1e-5)
    assert abs(on_leg2.mean() - 1 / 3) < 0.03
    assert _ks_uniform(s / 6) < 1.63 / math.sqrt(len(s))  # KS critical value at the 1 % level


def test_along_is_the_arc_length_parametrisation():
    xy = np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 0.0], [3.0, 4.0]])  # a repeated vertex adds no length
    np.testing.assert_allclose(D.arc_length(xy), [0, 3, 3, 7])
    np.testing.assert_allclose(D.along(xy, np.array([0.0, 1.5, 3.0, 5.0, 7.0])),
                               [[0, 0], [1.5, 0], [3, 0], [3, 2], [3, 4]])


def test_spray_density_follows_the_dabs():
    dabs = np.array([[0.0, 0.0]] * 30 + [[5.0, 5.0]] * 10)  # held 3× longer at the origin
    x = D.sample([D.stroke("spray", dabs)], 4000, 0.0, rng=2, spray_radius=0.2)
    at_origin = np.hypot(x[:, 0], x[:, 1]) < 1.5
    assert at_origin.sum() + (np.hypot(x[:, 0] - 5, x[:, 1] - 5) < 1.5).sum() == 4000
    assert abs(at_origin.mean() - 0.75) < 0.03  # binomial SE ≈ 0.007
    assert abs(x[at_origin].std(axis=0) / 0.2 - 1).max() < 0.08


def test_determinism_by_seed():
    strokes = [D.stroke("line", [[0, 0], [1, 1], [2, 0]]), D.stroke("spray", [[1, 2], [1.1, 2]])]
    a = D.sample(strokes, 500, 0.05, rng=11)
    np.testing.assert_array_equal(a, D.sample(strokes, 500, 0.05, rng=11))
    np.testing.assert_array_equal(a, D.sample(strokes, 500, 0.05, rng=np.random.default_rng(11)))
    assert not np.array_equal(a, D.sample(strokes, 500, 0.05, rng=12))


@pytest.mark.parametrize("call, message", [
    (lambda: D.stroke("brush", [[0, 0], [1, 1]]), "kind is one of"),
    (lambda: D.stroke("line", [0, 1, 2]), "(m, 2)"),
    (lambda: D.stroke("line", np.zeros((0, 2))), "(m, 2)"),
    (lambda: D.stroke("line", [[0, 0], [np.nan, 1]]), "NaN"),
    (lambda: D.stroke("line", [["a", "b"]]), "numbers"),
    (lambda: D.stroke("spray", [[0, 0], [1e9, 0]]), "within"),
    (lambda: D.stroke("line", np.zeros((D.MAX_VERTICES + 1, 2))), "at most"),
    (lambda: D.sample([], 100, 0.1, 0), "nothing drawn"),
    (lambda: D.sample([D.stroke("line", [[1, 1]])], 100, 0.1, 0), "nothing drawn"),
    (lambda: D.sample([D.stroke("line", [[0, 0], [1, 1]])], 10, 0.1, 0), "number of points"),
    (lambda: D.sample([D.stroke("line", [[0, 0], [1, 1]])], D.MAX_POINTS + 1, 0.1, 0), "number of points"),
    (lambda: D.sample([D.stroke("line", [[0, 0], [1, 1]])], 100, -0.1, 0), "spread"),
    (lambda: D.sample([D.stroke("line", [[0, 0], [1, 1]])], 100, float("nan"), 0), "spread"),
    (lambda: D.sample([D.stroke("line", [[0, 0], [1, 1]])], 100, 0.1, 0.5), "seed"),
    (lambda: D.sample([D.stroke("line", [[0, 0], [1, 1]])] * (D.MAX_STROKES + 1), 100, 0.1, 0), "at most"),
])
def test_bad_input_says_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()
