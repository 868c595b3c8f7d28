"""Sample-quality metrics: energy distance, RBF MMD, their sampling floor, and NLL in nats.

Two-sample statistics compare the model's samples with data samples. Both are V-statistics
(the i = j pairs are included): they are the exact squared distance between the two empirical
distributions, hence >= 0 and exactly 0 for identical samples, but biased upwards by O(1/n) for
two different samples of the same law. `with_floor` measures that bias: the value a perfect
model would get with the same sample size.
All arithmetic is float64; pairwise terms are summed in row chunks (~0.25 MB each), so memory
stays small for any n and m; time is O(n m), the within-sample sums use symmetry (half the pairs).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from gendemo.datasets import MAX_POINTS

__all__ = ["energy_distance", "energy_floor", "energy_null", "mmd_rbf", "with_floor", "nll"]

_CHUNK = 1 << 15  # pairs per chunk: rows * len(b) <= 32768 float64 values, ~0.25 MB a buffer
_MEDIAN_SUBSAMPLE = 1000


def _points(x: object, name: str) -> np.ndarray:
    """Array-like or torch tensor (n, d) -> float64 array, or ValueError naming `name`."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array of shape (n, d): {exc}") from None
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have shape (n, d), got shape {arr.shape}")
    if not 2 <= len(arr) <= MAX_POINTS:
        raise ValueError(f"{name} must have between 2 and {MAX_POINTS:_} points, got {len(arr):_}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _pair(x: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    x, y = _points(x, "x"), _points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension d, got {x.shape[1]} and {y.shape[1]}")
    return x, y


def _sum_block(rows: np.ndarray, b: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> float:
    """Σ_i Σ_j fn(|rows_i - b_j|²) from coordinate differences (no cancellation for close points)."""
    d2 = np.zeros((len(rows), len(b)))
    t = np.empty_like(d2)
    for k in range(rows.shape[1]):
        np.subtract(rows[:, k, None], b[None, :, k], out=t)
        np.multiply(t, t, out=t)
        d2 += t
    return float(fn(d2).sum())


def _mean_pairwise(a: np.ndarray, b: np.ndarray | None, fn: Callable[[np.ndarray], np.ndarray]) -> float:
    """(1/(n m)) Σ_i Σ_j fn(|a_i - b_j|²), chunked over rows; b=None means b = a, using symmetry."""
    other = a if b is None else b
    step = max(1, _CHUNK // len(other))
    total = 0.0
    for i in range(0, len(a), step):
        rows = a[i:i + step]
        if b is None:  # diagonal block in full, the block right of it twice (the pairs j > i)
            total += _sum_block(rows, a[i:i + step], fn) + 2.0 * _sum_block(rows, a[i + step:], fn)
        else:
            total += _sum_block(rows, b, fn)
    return total / (len(a) * len(other))


def _sqrt(d2: np.ndarray) -> np.ndarray:
    return np.sqrt(d2, out=d2)


def energy_distance(x: object, y: object) -> float:
    """D² = 2 E|X - Y| - E|X - X'| - E|Y - Y'| (squared energy distance, V-statistic, >= 0).

    Székely & Rizzo; 0 iff the two laws agree (in the limit of large samples).
    """
    x, y = _pair(x, y)
    value = 2.0 * _mean_pairwise(x, y, _sqrt) - _mean_pairwise(x, None, _sqrt) - _mean_pairwise(y, None, _sqrt)
    return max(value, 0.0)  # >= 0 exactly; clip rounding below zero


def energy_floor(data: object, n: int, m: int) -> float:
    """E[D²] = (1/n + 1/m)·E|X − X'| for two independent samples of sizes n and m of the same law (V-statistic).

    E|X − X'| is estimated on `data` (a large sample of that law) by the U-statistic, the mean over pairs i ≠ j:
    the expected score of a perfect model, stable where one draw of `energy_distance(heldout, reference)` is not.
    """
    z = _points(data, "data")
    for name, v in (("n", n), ("m", m)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    k = len(z)
    mean_distance = _mean_pairwise(z, None, _sqrt) * k / (k - 1)  # the V-statistic counts k zeros (i = j)
    return (1.0 / n + 1.0 / m) * mean_distance


def energy_null(data: object, n: int, m: int, draws: int, seed: int) -> np.ndarray:
    """D²(S, R) for `draws` pairs of disjoint random subsets of `data`, S of n points and R of m (numpy seed): the
    scores of a perfect model of sample size n against a reference of size m, whose spread a readout is read against.
    Their mean estimates `energy_floor(data, n, m)`."""
    z = _points(data, "data")
    for name, v in (("n", n), ("m", m)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {v!r}")
    if n + m > len(z):
        raise ValueError(f"n + m must be at most the {len(z)} points of data, got {n} + {m}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(int(draws)):
        idx = rng.choice(len(z), n + m, replace=False)
        out.append(energy_distance(z[idx[:n]], z[idx[n:]]))
    return np.array(out)


def _median_distance(z: np.ndarray) -> float:
    """Median of |z_i - z_j|, i < j, over at most 1000 points (a fixed-seed subsample)."""
    if len(z) > _MEDIAN_SUBSAMPLE:
        z = z[np.random.default_rng(0).choice(len(z), _MEDIAN_SUBSAMPLE, replace=False)]
    i, j = np.triu_indices(len(z), k=1)
    return float(np.median(np.sqrt(((z[i] - z[j]) ** 2).sum(axis=1))))


def mmd_rbf(x: object, y: object, bandwidth: float | None = None) -> float:
    """MMD² = E k(X, X') + E k(Y, Y') - 2 E k(X, Y), k(a, b) = exp(-|a - b|² / (2 h²)) (V-statistic, >= 0).

    bandwidth h: None -> the median heuristic, the median pairwise distance of the pooled sample
    (Gretton et al. 2012; on a fixed-seed subsample of 1000 points when larger).
    """
    x, y = _pair(x, y)
    if bandwidth is None:
        h = _median_distance(np.concatenate([x, y]))
        if h == 0.0:
            raise ValueError("median heuristic bandwidth is 0 (most points coincide); pass bandwidth > 0")
    elif isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float, np.number)) \
            or not math.isfinite(bandwidth) or bandwidth <= 0:
        raise ValueError(f"bandwidth must be a finite number > 0 or None, got {bandwidth!r}")
    else:
        h = float(bandwidth)
    c = -0.5 / h**2

    def kernel(d2: np.ndarray) -> np.ndarray:
        d2 *= c
        return np.exp(d2, out=d2)

    value = _mean_pairwise(x, None, kernel) + _mean_pairwise(y, None, kernel) - 2.0 * _mean_pairwise(x, y, kernel)
    return max(value, 0.0)  # >= 0 exactly (k is positive definite); clip rounding below zero


def with_floor(stat: Callable[[object, object], float], samples: object, heldout: object,
               reference: object, floor: float | None = None) -> dict[str, float]:
    """value = stat(samples, reference), floor = stat(heldout, reference), ratio = value / floor.

    `heldout` and `reference` are two independent data samples, `heldout` of the same size as
    `samples`: the floor is what a perfect model scores at that size, so ratio ≈ 1 is the best
    possible. ratio is inf if floor is 0 (nan if both are 0). `floor`: stat(heldout, reference) computed
    before (it depends on the data only), to reuse rather than recompute.
    """
    if not callable(stat):
        raise ValueError(f"stat must be a callable stat(x, y) -> float, got {type(stat).__name__}")
    n_s, n_h = len(_points(samples, "samples")), len(_points(heldout, "heldout"))
    if n_s != n_h:
        raise ValueError(f"samples and heldout must have the same size for a fair floor, got {n_s} and {n_h}")
    value = float(stat(samples, reference))
    floor = float(stat(heldout, reference)) if floor is None else float(floor)
    ratio = value / floor if floor > 0 else (math.nan if value == 0 else math.inf)
    return {"value": value, "floor": floor, "ratio": ratio}


def nll(log_prob_fn: Callable[[torch.Tensor], torch.Tensor], x: object, batch: int = 4096) -> float:
    """NLL = -(1/n) Σ_i log p(x_i) in nats per point (the forward-KL loss up to the constant H(q_0)).

    log_prob_fn maps a float32 (m, 2) tensor to (m,) log-densities; evaluated under no_grad.
    Ref: Eq. (11) and the forward-KL loss of Part 3.
    """
    if not callable(log_prob_fn):
        raise ValueError(f"log_prob_fn must be callable, got {type(log_prob_fn).__name__}")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    pts = torch.from_numpy(_points(x, "x").astype(np.float32))
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(pts), int(batch)):
            chunk = pts[i:i + int(batch)]
            lp = torch.as_tensor(log_prob_fn(chunk))
            if lp.shape != (len(chunk),):
                raise ValueError(f"log_prob_fn must return shape ({len(chunk)},), got {tuple(lp.shape)}")
            if torch.isnan(lp).any():
                raise ValueError("log_prob_fn returned NaN log-densities")
            total -= float(lp.double().sum())
    return total / len(pts)
