"""2D toy data distributions q_0: samplers, user-point validation, and their true densities.

Every dataset is a latent parameter drawn from a simple law pushed through a fixed map, plus
isotropic Gaussian noise of std `noise` (except the checkerboard, uniform on squares, whose
optional `noise` is a Gaussian blur, and the pinwheel, whose `noise` is its tangential std).
All live on a comparable scale: mostly inside [-4, 4]², per-coordinate std between 0.5 and 2.

The true density log q_0(x) is exact for the Gaussian mixtures, the checkerboard (uniform on
squares, blurred by erf products if noise > 0) and the circles / rings (uniform angle + noise
is a Rice law: closed form with the Bessel function I_0). For the open curves (moons, swiss
roll, two spirals) it is q_0(x) = ∫ w(t) N(x; c(t), σ² I) dt, by composite Gauss-Legendre
quadrature on panels of equal arc length 3σ (8 nodes each): error < 1e-5 nats wherever
log q_0 > -30 (larger only in the far tails beyond a curve's ends, where q_0 < 1e-13).
The entropy H(q_0) = -E log q_0 is the floor of any model's NLL: NLL - H = D_KL(q_0 || p_θ).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from scipy.special import i0e, log_ndtr, logsumexp, ndtr

# The user's own points share the path of the built-in datasets (re-exported here).
from gendemo.points_io import (MAX_FILE_BYTES, MAX_MAGNITUDE, MAX_POINTS, parse_csv_bytes,  # noqa: F401
                               parse_points_file, validate_points)

NAMES: tuple[str, ...] = ("moons", "circles", "swiss_roll", "8gaussians", "25gaussians",
                          "checkerboard", "two_spirals", "pinwheel", "rings")
DEFAULT_NOISE: dict[str, float] = {
    "moons": 0.05, "circles": 0.08, "swiss_roll": 0.1, "8gaussians": 0.2, "25gaussians": 0.1,
    "checkerboard": 0.0, "two_spirals": 0.1, "pinwheel": 0.1, "rings": 0.08,
}
NOISE_RANGE = (0.0, 1.0)
# Points a built-in dataset has unless chosen (Data page, CLI --n): fewer let the default RealNVP overfit
# (benchmarks/tuning.md, "Flows: more data, not more steps").
DEFAULT_N = 10_000
MIN_DENSITY_NOISE = 0.005  # below this the curve quadrature would need > 10^5 nodes

_CIRCLE_RADII = {"circles": (2.0, 1.0), "rings": (0.75, 1.5, 2.25, 3.0)}  # equal weights
_SQUARE = 1.5  # checkerboard: 8 black squares of a 4 x 4 board covering [-3, 3]²
_ANGLES8 = np.arange(8) * (np.pi / 4)
_CENTERS = {
    "8gaussians": 2.0 * np.stack([np.cos(_ANGLES8), np.sin(_ANGLES8)], axis=1),
    "25gaussians": np.stack(np.meshgrid(np.arange(-2.0, 3.0), np.arange(-2.0, 3.0)), -1).reshape(-1, 2),
}
_SWISS_T = (1.5 * np.pi, 4.5 * np.pi)  # sklearn make_swiss_roll's t range; coordinates / 5
_SPIRAL_T = 3.0 * np.pi  # two spirals: t = 3π √u, u ~ U[0, 1]; coordinates / 3


def _check_name(name: str) -> str:
    if not isinstance(name, str) or name not in NAMES:
        raise ValueError(f"unknown dataset name {name!r}; valid names: {', '.join(NAMES)}")
    return name


def _check_noise(name: str, noise: float | None) -> float:
    if noise is None:
        return DEFAULT_NOISE[name]
    lo, hi = NOISE_RANGE
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.number)) \
            or not math.isfinite(noise) or not lo <= noise <= hi:
        raise ValueError(f"noise must be a finite number in [{lo}, {hi}] (or None for the default "
                         f"{DEFAULT_NOISE[name]}), got {noise!r}")
    return float(noise)


def _check_int(value: int, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"{what} must be an integer in [{lo}, {hi:_}], got {value!r}")
    return int(value)


# ---------------------------------------------------------------- curves: c(t) and law of t
def _moon_outer(t: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(t), np.sin(t)], axis=-1)


def _moon_inner(t: np.ndarray) -> np.ndarray:
    return np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=-1)


def _swiss(t: np.ndarray) -> np.ndarray:
    return np.stack([t * np.cos(t), t * np.sin(t)], axis=-1) / 5.0


def _spiral(t: np.ndarray) -> np.ndarray:
    return np.stack([-t * np.cos(t), t * np.sin(t)], axis=-1) / 3.0


def _spiral_neg(t: np.ndarray) -> np.ndarray:
    return -_spiral(t)


def _uniform(a: float, b: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda t: np.full_like(t, 1.0 / (b - a))


def _spiral_law(t: np.ndarray) -> np.ndarray:
    return 2.0 * t / _SPIRAL_T**2  # density of t = 3π √u


# (curve c, weight of the component, t-interval, density of t on it)
_CURVES: dict[str, list[tuple[Callable, float, tuple[float, float], Callable]]] = {
    "moons": [(_moon_outer, 0.5, (0.0, np.pi), _uniform(0.0, np.pi)),
              (_moon_inner, 0.5, (0.0, np.pi), _uniform(0.0, np.pi))],
    "swiss_roll": [(_swiss, 1.0, _SWISS_T, _uniform(*_SWISS_T))],
    "two_spirals": [(_spiral, 0.5, (0.0, _SPIRAL_T), _spiral_law),
                    (_spiral_neg, 0.5, (0.0, _SPIRAL_T), _spiral_law)],
}


# ---------------------------------------------------------------- samplers
def _sample_curve(name: str, n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    comp = rng.integers(0, len(_CURVES[name]), size=n)  # equal component weights
    if name == "two_spirals":
        t = _SPIRAL_T * np.sqrt(rng.uniform(size=n))
    else:
        a, b = _CURVES[name][0][2]
        t = rng.uniform(a, b, size=n)
    x = np.empty((n, 2))
    for j, (curve, _, _, _) in enumerate(_CURVES[name]):
        x[comp == j] = curve(t[comp == j])
    return x + noise * rng.standard_normal((n, 2))


def _sample(name: str, n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    if name in _CURVES:
        return _sample_curve(name, n, noise, rng)
    if name in _CIRCLE_RADII:
        r = np.asarray(_CIRCLE_RADII[name])[rng.integers(0, len(_CIRCLE_RADII[name]), size=n)]
        theta = rng.uniform(0.0, 2.0 * np.pi, size=n)
        return r[:, None] * _moon_outer(theta) + noise * rng.standard_normal((n, 2))
    if name in _CENTERS:
        centers = _CENTERS[name]
        return centers[rng.integers(0, len(centers), size=n)] + noise * rng.standard_normal((n, 2))
    if name == "checkerboard":
        corners = _checker_corners()
        return (corners[rng.integers(0, len(corners), size=n)] + _SQUARE * rng.uniform(size=(n, 2))
                + noise * rng.standard_normal((n, 2)))
    # pinwheel (FFJORD's): 5 arms, radial std 0.3, tangential std `noise`, rate 0.25, scale 2
    feats = rng.standard_normal((n, 2)) * np.array([0.3, noise]) + np.array([1.0, 0.0])
    angles = 2.0 * np.pi / 5.0 * rng.integers(0, 5, size=n) + 0.25 * np.exp(feats[:, 0])
    cos, sin = np.cos(angles), np.sin(angles)
    return 2.0 * np.stack([feats[:, 0] * cos + feats[:, 1] * sin,
                           -feats[:, 0] * sin + feats[:, 1] * cos], axis=1)


def _checker_corners() -> np.ndarray:
    i, j = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    black = (i + j) % 2 == 0
    return np.stack([i[black], j[black]], axis=1) * _SQUARE - 2.0 * _SQUARE  # lower-left corners


def load(name: str, n: int, seed: int, noise: float | None = None) -> np.ndarray:
    """x^(0) ~ q_0 i.i.d.: n points of dataset `name` as float32 (n, 2), from np.random.default_rng(seed).

    Ref: lecture Part 2, "data distribution q_0(x) dx".
    """
    name = _check_name(name)
    n = _check_int(n, "n (number of points)", 1, MAX_POINTS)
    seed = _check_int(seed, "seed", 0, 2**63 - 1)
    noise = _check_noise(name, noise)
    return _sample(name, n, noise, np.random.default_rng(seed)).astype(np.float32)


# ---------------------------------------------------------------- densities
def has_density(name: str) -> bool:
    """True if log_density(name, ...) is available (every dataset but the pinwheel)."""
    return _check_name(name) != "pinwheel"


@functools.lru_cache(maxsize=32)
def _curve_nodes(name: str, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes c(t_j) and log-weights log(π_c w(t_j) Δ_j): panels of arc length ≈ 3σ."""
    gl_x, gl_w = np.polynomial.legendre.leggauss(8)
    nodes, logw = [], []
    for curve, weight, (a, b), law in _CURVES[name]:
        t_fine = np.linspace(a, b, 20_001)
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(curve(t_fine), axis=0), axis=1))])
        panels = max(4, math.ceil(arc[-1] / (3.0 * noise)))
        edges = np.interp(np.linspace(0.0, arc[-1], panels + 1), arc, t_fine)  # equal arc length
        half = np.diff(edges)[:, None] / 2.0
        t = (edges[:-1, None] + half + half * gl_x).ravel()
        nodes.append(curve(t))
        logw.append(np.log(weight * law(t) * (half * gl_w).ravel()))
    nodes_all, logw_all = np.concatenate(nodes), np.concatenate(logw)
    nodes_all.flags.writeable = logw_all.flags.writeable = False  # shared by the cache
    return nodes_all, logw_all


def _lse_gauss(x: np.ndarray, centers: np.ndarray, logw: np.ndarray, sigma: float) -> np.ndarray:
    """log Σ_j w_j exp(-|x - c_j|² / (2σ²)), float64, chunked over x (~0.5 MB a chunk)."""
    inv = 1.0 / sigma**2
    scaled, bias = (centers * inv).T.copy(), logw - 0.5 * inv * (centers**2).sum(1)
    out = np.empty(len(x))
    step = max(1, (1 << 16) // len(centers))
    for i in range(0, len(x), step):
        a = x[i:i + step] @ scaled
        a += bias
        top = a.max(axis=1, keepdims=True)
        a -= top
        np.exp(a, out=a)
        out[i:i + step] = np.log(a.sum(axis=1)) + top[:, 0]
    return out - 0.5 * inv * (x**2).sum(1)


def _log_mixture(x: np.ndarray, centers: np.ndarray, logw: np.ndarray, sigma: float) -> np.ndarray:
    """log Σ_j w_j N(x; c_j, σ² I).  Ref: Eq. (3).

    Many centers (curve quadrature): points are bucketed in square cells, and a cell skips the
    centers farther than √(U² + 100σ²) + r from its middle (r: half-diagonal, U: the nearest
    center + r). Each skipped term is < e^-50 times the nearest one: exact to rounding, 5-10x faster.
    """
    norm = -math.log(2.0 * math.pi * sigma**2)
    if len(centers) <= 64 or len(x) < 256:
        return _lse_gauss(x, centers, logw, sigma) + norm
    lo = x.min(axis=0)
    side = max(4.0 * sigma, float((x.max(axis=0) - lo).max()) / 40.0)
    cell = np.floor((x - lo) / side).astype(np.int64)
    key = cell[:, 0] * (cell[:, 1].max() + 1) + cell[:, 1]
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.diff(key[order], prepend=-1))
    out = np.empty(len(x))
    r = side / math.sqrt(2.0)
    for a, b in zip(starts, np.append(starts[1:], len(x))):
        idx = order[a:b]
        mid = lo + (cell[idx[0]] + 0.5) * side
        dq = np.sqrt(((centers - mid) ** 2).sum(axis=1))
        keep = dq <= r + math.sqrt((dq.min() + r) ** 2 + 100.0 * sigma**2)
        out[idx] = _lse_gauss(x[idx], centers[keep], logw[keep], sigma)
    return out + norm


def _log_rice(x: np.ndarray, radii: tuple[float, ...], sigma: float) -> np.ndarray:
    """Uniform angle on circles of radius R + N(0, σ² I): (1/(2πσ²)) exp(-(r²+R²)/(2σ²)) I_0(rR/σ²)."""
    r = np.linalg.norm(x, axis=1)[:, None]
    big_r = np.asarray(radii)[None, :]
    terms = -((r - big_r) ** 2) / (2.0 * sigma**2) + np.log(i0e(r * big_r / sigma**2))
    return logsumexp(terms, axis=1) - math.log(len(radii) * 2.0 * math.pi * sigma**2)


def _log_checker(x: np.ndarray, sigma: float) -> np.ndarray:
    """Uniform on 8 squares of area s² (blurred: Π_coord [Φ((x-a)/σ) - Φ((x-a-s)/σ)])."""
    lower = _checker_corners()
    rel = x[:, None, :] - lower[None, :, :]  # (n, 8, 2)
    if sigma == 0.0:
        inside = np.all((rel >= 0.0) & (rel <= _SQUARE), axis=2).any(axis=1)  # closed: edges count
        return np.where(inside, -math.log(8 * _SQUARE**2), -np.inf)
    hi, lo = rel / sigma, (rel - _SQUARE) / sigma
    # Φ(hi) - Φ(lo), written as Φ(-lo) - Φ(-hi) right of the square so that it does not cancel
    left = hi + lo < 0.0
    mass = np.where(left, ndtr(hi) - ndtr(lo), ndtr(-lo) - ndtr(-hi))
    with np.errstate(divide="ignore"):
        log_mass = np.log(mass)
    far = mass < 1e-300  # deep in the tails: log Φ(hi) + log(1 - Φ(lo)/Φ(hi)) ≈ log Φ(hi)
    log_mass = np.where(far, np.where(left, log_ndtr(hi), log_ndtr(-lo)), log_mass)
    return logsumexp(log_mass.sum(axis=2), axis=1) - math.log(8 * _SQUARE**2)


def _as_points64(x: object) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"x must be a numeric array of shape (n, 2): {exc}") from None
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
        raise ValueError(f"x must have shape (n, 2) with n >= 1, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("x contains NaN or infinite values")
    return arr


def log_density(name: str, x: np.ndarray, noise: float | None = None) -> np.ndarray:
    """log q_0(x), natural log of the true density of `load(name, ...)` in data coordinates, (n,) float64.

    Ref: lecture Part 2 ("data distribution q_0") and Eq. (3) for each Gaussian N(x; μ, σ² I).
    """
    if not has_density(name):
        raise ValueError(f"dataset {name!r} has no closed-form density; datasets with one: "
                         + ", ".join(n for n in NAMES if n != "pinwheel"))
    noise = _check_noise(name, noise)
    if name != "checkerboard" and noise < MIN_DENSITY_NOISE:
        raise ValueError(f"{name} with noise {noise} is concentrated on a curve or points and has no "
                         f"density; noise must be in [{MIN_DENSITY_NOISE}, {NOISE_RANGE[1]}]")
    x = _as_points64(x)
    if name in _CURVES:
        return _log_mixture(x, *_curve_nodes(name, noise), noise)
    if name in _CIRCLE_RADII:
        return _log_rice(x, _CIRCLE_RADII[name], noise)
    if name in _CENTERS:
        centers = _CENTERS[name]
        return _log_mixture(x, centers, np.full(len(centers), -math.log(len(centers))), noise)
    return _log_checker(x, noise)


def entropy(name: str, noise: float | None = None, n: int = 200_000, seed: int = 0) -> float:
    """H(q_0) = -E_{q_0} log q_0(x) in nats, Monte Carlo over n samples (std error ≈ std(log q_0)/√n).

    The best achievable NLL: NLL(p_θ) - H(q_0) = D_KL(q_0 || p_θ) >= 0.  Ref: Eq. (5).
    """
    if not has_density(name):
        raise ValueError(f"dataset {name!r} has no density, so no entropy")
    noise = _check_noise(name, noise)
    n = _check_int(n, "n (Monte Carlo samples)", 2, 2_000_000)
    seed = _check_int(seed, "seed", 0, 2**63 - 1)
    x = _sample(name, n, noise, np.random.default_rng(seed))
    return float(-np.mean(log_density(name, x, noise)))
