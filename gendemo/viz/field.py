"""A vector field (e.g. −ε_θ(x, k) or the score at step k) as arrows on a grid."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from gendemo.viz._common import as_points, cloud_trace, fix_axes, n_off_screen, off_screen_note, sub
from gendemo.viz.style import PALETTE, Style, apply_style

_HEAD_ANGLE = np.deg2rad(25.0)


def grid_spacing(grid_xy: np.ndarray) -> float:
    """Median nearest-neighbour distance of the grid points (one grid spacing for a regular grid)."""
    g = np.asarray(grid_xy, dtype=np.float64)
    g = g[np.isfinite(g).all(1)]
    if g.shape[0] < 2:
        return 1.0
    q = g[:: max(1, g.shape[0] // 400)]  # ≤ ~400 query points against all: O(400 m) memory
    d2 = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
    d2[d2 == 0] = np.inf
    h = float(np.sqrt(np.median(d2.min(axis=1))))
    return h if np.isfinite(h) and h > 0 else 1.0


def _segments(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """[start, end, NaN] per arrow, flattened to (3m, 2): one polyline for all shafts."""
    nan = np.full_like(start, np.nan)
    return np.stack([start, end, nan], axis=1).reshape(-1, 2)


def _heads(start: np.ndarray, end: np.ndarray, h: float) -> np.ndarray:
    """Two barbs per arrow tip, [barb, tip, barb, NaN], length 30 % of the arrow (≤ 0.35 h)."""
    d = end - start
    length = np.linalg.norm(d, axis=1, keepdims=True)
    u = np.divide(d, length, out=np.zeros_like(d), where=length > 0)
    barb = np.minimum(0.3 * length, 0.35 * h)
    c, s = np.cos(_HEAD_ANGLE), np.sin(_HEAD_ANGLE)
    left = np.stack([c * u[:, 0] - s * u[:, 1], s * u[:, 0] + c * u[:, 1]], axis=1)
    right = np.stack([c * u[:, 0] + s * u[:, 1], -s * u[:, 0] + c * u[:, 1]], axis=1)
    nan = np.full_like(end, np.nan)
    return np.stack([end - barb * left, end, end - barb * right, nan], axis=1).reshape(-1, 2)


def arrow_field(grid_xy, vectors, *, points=None, title: str = "", scale: float | None = None,
                style: Style = Style.default(), max_points: int = 1000, points_name: str = "data") -> go.Figure:
    """Arrows v(x) at grid points x (m, 2): shafts as ONE NaN-separated line trace plus one arrow-head trace.

    scale: arrow = scale·v; by default the longest arrow is one grid spacing. points: grey cloud underneath,
    named points_name in the legend (what they are: the data, or the chain at step k).
    """
    g = as_points(grid_xy, "grid_xy").astype(np.float64)
    v = as_points(vectors, "vectors").astype(np.float64)
    if g.shape != v.shape:
        raise ValueError(f"grid_xy {g.shape} and vectors {v.shape} differ")
    h = grid_spacing(g)
    ok = np.isfinite(g).all(1) & np.isfinite(v).all(1)
    g, v = g[ok], v[ok]
    if scale is None:
        vmax = float(np.linalg.norm(v, axis=1).max()) if v.size else 0.0
        scale = h / vmax if vmax > 0 else 1.0
    end = g + scale * v
    fig = go.Figure()
    if points is not None:
        p = as_points(points, "points", n=max_points)
        fig.add_trace(cloud_trace(p, style=style, color=PALETTE["data"], name=sub(points_name), opacity=0.5,
                                  hover=False, showlegend=True))
    line = dict(color=PALETTE["model"], width=max(1.0, 0.6 * style.line_width))
    seg = _segments(g, end).astype(np.float32)
    fig.add_trace(go.Scatter(x=seg[:, 0], y=seg[:, 1], mode="lines", line=line, name="arrows",
                             showlegend=False, hoverinfo="skip"))
    head = _heads(g, end, h).astype(np.float32)
    fig.add_trace(go.Scatter(x=head[:, 0], y=head[:, 1], mode="lines", line=line, showlegend=False,
                             hoverinfo="skip"))
    lo, hi = (g.min(0), g.max(0)) if g.size else (np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    rng = ((lo[0] - h, hi[0] + h), (lo[1] - h, hi[1] + h))
    fix_axes(fig, *rng)
    if points is not None:  # the axes are the grid's: say how many points lie beyond it
        off_screen_note(fig, n_off_screen(p, rng), len(p))
    fig.update_layout(title=dict(text=sub(title)))
    return apply_style(fig, style)
