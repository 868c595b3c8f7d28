"""Data you draw: strokes in the data's coordinates -> points x⁽⁰⁾ ~ q₀, a sample of the drawn shape.

A drawing is a list of strokes, each a polyline of (x, y) vertices in the data's own coordinates:

* a **line** stroke ("pen") puts its points along the polyline, uniformly by arc length, then adds isotropic
  Gaussian jitter of standard deviation `spread`: x = γ(s) + spread·ε, s ~ Uniform[0, L], ε ~ N(0, I), where γ is
  the polyline parametrised by arc length and L its length;
* a **spray** stroke is the list of the positions the spray can was at, one a tick (the browser records a "dab"
  every few milliseconds while the button is held): each dab scatters points around it, x = c + spray_radius·ε.
  Holding the spray still adds dabs at one place, so where you spray longer the density is higher.

The `n` points are shared out in proportion to "ink": a line stroke's ink is its length L, a dab's is `dab_ink`
(a length too, in data units), by the largest-remainder rule, so the count is exactly n. Every random draw comes from
the explicit `np.random.Generator` (or seed) given. No streamlit here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

KINDS = ("line", "spray")
MAX_POINTS = 5_000  # a drawing's points (the dataset then splits 60/20/20 like an upload)
MIN_POINTS = 50
MAX_STROKES = 100
MAX_VERTICES = 5_000  # vertices (or dabs) in one stroke
MAX_SPREAD = 2.0  # the jitter and the spray radius, in data units
MAX_COORD = 1e3


@dataclass(frozen=True)
class Stroke:
    """One stroke: `kind` "line" (a polyline) or "spray" (its dabs), `xy` float64 (m, 2) in data coordinates."""

    kind: str
    xy: np.ndarray


def stroke(kind: str, xy: object) -> Stroke:
    """A checked Stroke, or a ValueError that says what is wrong."""
    if kind not in KINDS:
        raise ValueError(f"a stroke's kind is one of {KINDS}, got {kind!r}")
    try:
        a = np.asarray(xy, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a {kind} stroke's vertices must be numbers (x, y): {exc}") from None
    if a.ndim != 2 or a.shape[1] != 2 or len(a) == 0:
        raise ValueError(f"a {kind} stroke must be an (m, 2) array of vertices with m ≥ 1, got shape {a.shape}")
    if len(a) > MAX_VERTICES:
        raise ValueError(f"a stroke has at most {MAX_VERTICES:,} vertices, got {len(a):,}")
    if not np.isfinite(a).all():
        raise ValueError(f"a {kind} stroke has a NaN or infinite coordinate")
    if np.abs(a).max() > MAX_COORD:
        raise ValueError(f"a {kind} stroke's coordinates must lie within ±{MAX_COORD:g}")
    return Stroke(kind, a)


def arc_length(xy: np.ndarray) -> np.ndarray:
    """The cumulative arc length at each vertex of a polyline: s₀ = 0, s_j = Σ_{i<j} |v_{i+1} − v_i|."""
    seg = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)])


def along(xy: np.ndarray, s: np.ndarray) -> np.ndarray:
    """γ(s): the points of the polyline at arc lengths s (0 ≤ s ≤ L), linear between vertices."""
    cum = arc_length(xy)
    keep = np.concatenate([[True], np.diff(cum) > 0])  # repeated vertices add no length
    cum, v = cum[keep], xy[keep]
    if len(v) == 1:
        return np.repeat(v, len(s), axis=0)
    return np.stack([np.interp(s, cum, v[:, 0]), np.interp(s, cum, v[:, 1])], axis=1)


def _shares(weights: np.ndarray, n: int) -> np.ndarray:
    """n split in proportion to weights, as integers summing to n (largest remainder; ties to the first)."""
    exact = n * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def _check(value: float, what: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or not lo <= value <= hi:
        raise ValueError(f"{what} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    return float(value)


def sample(strokes: Sequence[Stroke], n: int, spread: float, rng: np.random.Generator | int,
           spray_radius: float = 0.2, dab_ink: float = 0.05) -> np.ndarray:
    """n points (float32, (n, 2)) drawn from the strokes: along the line strokes, uniformly by arc length, with
    Gaussian jitter `spread`; around the spray strokes' dabs with Gaussian radius `spray_radius` (module doc).

    rng: a np.random.Generator, or a seed for np.random.default_rng. Raises ValueError on bad input, or when the
    strokes have no ink (nothing but zero-length lines)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not MIN_POINTS <= n <= MAX_POINTS:
        raise ValueError(f"the number of points must be an integer in [{MIN_POINTS}, {MAX_POINTS:,}], got {n!r}")
    spread = _check(spread, "the spread", 0.0, MAX_SPREAD)
    spray_radius = _check(spray_radius, "the spray radius", 0.0, MAX_SPREAD)
    dab_ink = _check(dab_ink, "a dab's ink", 1e-6, 1e3)
    if not isinstance(rng, np.random.Generator):
        if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)) or rng < 0:
            raise ValueError(f"rng must be a np.random.Generator or a seed ≥ 0, got {rng!r}")
        rng = np.random.default_rng(int(rng))
    strokes = list(strokes)
    if len(strokes) > MAX_STROKES:
        raise ValueError(f"a drawing has at most {MAX_STROKES} strokes, got {len(strokes)}")
    strokes = [s if isinstance(s, Stroke) else stroke(*s) for s in strokes]
    ink = np.array([arc_length(s.xy)[-1] if s.kind == "line" else dab_ink * len(s.xy) for s in strokes])
    if not strokes or ink.sum() <= 0:
        raise ValueError("nothing drawn: draw a line (longer than a dot) or spray some points first")
    out = []
    for s, k in zip(strokes, _shares(ink, int(n)), strict=True):
        if k == 0:
            continue
        if s.kind == "line":
            centre = along(s.xy, rng.uniform(0.0, arc_length(s.xy)[-1], size=k))
            out.append(centre + spread * rng.standard_normal((k, 2)))
        else:
            centre = s.xy[rng.integers(0, len(s.xy), size=k)]
            out.append(centre + spray_radius * rng.standard_normal((k, 2)))
    return np.concatenate(out).astype(np.float32)
