"""Private helpers shared by the builders: array checks, subsampling, cloud traces, fixed axes, notation."""

from __future__ import annotations

import re

import numpy as np
import plotly.graph_objects as go

from gendemo.viz.style import PALETTE, Style, robust_range

DATA_SLACK = 0.5  # the view may reach this fraction of the data's span beyond it, to show points a little outside


def as_points(a, name: str, ndim: int = 2, *, n: int | None = None, frames=None) -> np.ndarray:
    """float32 copy of a (n, 2) (ndim=2) or (F, n, 2) (ndim=3) array, cut to ``frames`` and the first ``n``
    points *before* the cast (a 300 × 5000 input is not copied whole); ValueError on a wrong shape."""
    arr = np.asarray(a)
    if arr.ndim != ndim or arr.shape[-1] != 2:
        want = "(n, 2)" if ndim == 2 else "(F, n, 2)"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if frames is not None:
        arr = arr[frames]
    if n is not None:
        arr = arr[..., :n, :]
    return arr.astype(np.float32)


def frame_indices(n_frames: int, max_frames: int) -> np.ndarray:
    """≤ max_frames indices into range(n_frames), evenly spaced, always keeping the first and the last."""
    if n_frames <= max_frames:
        return np.arange(n_frames)
    if max_frames < 2:
        raise ValueError("max_frames must be ≥ 2")
    return np.unique(np.round(np.linspace(0, n_frames - 1, max_frames)).astype(int))


def circles(radii=(1.0, 2.0), n: int = 73) -> tuple[np.ndarray, np.ndarray]:
    """Circles of the given radii about 0 as one NaN-separated polyline (float32 x, y)."""
    t = np.linspace(0.0, 2 * np.pi, n)
    xs, ys = [], []
    for r in radii:
        xs += [r * np.cos(t), [np.nan]]
        ys += [r * np.sin(t), [np.nan]]
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32)


def circle_trace(radii=(1.0, 2.0), *, style: Style, name: str | None = None, showlegend: bool = False) -> go.Scatter:
    """Faint dotted N(0, I) contour circles (radii in σ) for reference."""
    x, y = circles(radii)
    label = name or "N(0, I): " + ", ".join(f"{r:g}σ" for r in radii)
    return go.Scatter(x=x, y=y, mode="lines", name=label, showlegend=showlegend, hoverinfo="skip",
                      line=dict(color=PALETTE["guide"], width=max(1.0, 0.6 * style.line_width), dash="dot"),
                      opacity=0.7)


def cloud_trace(xy: np.ndarray, *, style: Style, color: str = PALETTE["model"], name: str = "",
                opacity: float = 0.75, showlegend: bool = False, hover: bool = True, size_scale: float = 1.0,
                **kw) -> go.Scatter:
    """A point cloud (n, 2) as an SVG scatter of markers without outlines (cheap to animate)."""
    return go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="markers", name=name, showlegend=showlegend,
                      marker=dict(color=color, size=style.marker_size * size_scale, opacity=opacity,
                                  line=dict(width=0)),
                      hoverinfo="x+y+name" if hover else "skip", **kw)


def xy_ids(fig: go.Figure, row: int | None, col: int | None) -> tuple[str, str]:
    """Layout keys of the axes of subplot (row, col), e.g. ('xaxis2', 'yaxis2'); ('xaxis', 'yaxis') without grid."""
    if row is None:
        return "xaxis", "yaxis"
    sp = fig.get_subplot(row, col)
    return sp.xaxis.plotly_name, sp.yaxis.plotly_name


def fix_axes(fig: go.Figure, xr, yr, *, row: int | None = None, col: int | None = None, **kw) -> None:
    """Fixed ranges (no autorange, so animations do not jump); equal aspect via scaleanchor, ranges kept exactly.

    Keywords as for ``axes_layout``.
    """
    fig.update_layout(axes_layout(fig, xr, yr, row=row, col=col, **kw))


def axes_layout(fig: go.Figure, xr, yr, *, row: int | None = None, col: int | None = None, equal: bool = True,
                x_title: str | None = None, y_title: str | None = None, ticks: bool = True,
                toward: str = "center") -> dict:
    """The layout dict of ``fix_axes`` for subplot (row, col); merge several into one update_layout (fast).

    toward: where a plot narrowed to keep the aspect sits in its column ('left', 'center', 'right').
    """
    xk, yk = xy_ids(fig, row, col)
    xa = dict(range=list(xr), autorange=False, showticklabels=ticks, title=dict(text=x_title) if x_title else None)
    ya = dict(range=list(yr), autorange=False, showticklabels=ticks, title=dict(text=y_title) if y_title else None)
    if equal:
        xa.update(constrain="domain", constraintoward=toward)  # plot shrinks, ranges stay exact;
        ya.update(constrain="domain", constraintoward="top",  # top: hug the (subplot) title
                  scaleanchor=xk.replace("axis", ""), scaleratio=1)
    return {xk: {k: v for k, v in xa.items() if v is not None}, yk: {k: v for k, v in ya.items() if v is not None}}


def panel_titles(fig: go.Figure, titles, cells) -> None:
    """Subplot titles anchored to each subplot's *actual* domain ("x2 domain"), so they follow a plot that
    plotly narrowed or moved to keep its aspect ratio (make_subplots' titles stay at the nominal centre)."""
    notes = []
    for text, (row, col) in zip(titles, cells):
        xk, yk = xy_ids(fig, row, col)
        notes.append(dict(text=text, showarrow=False, x=0.5, y=1.0, xanchor="center", yanchor="bottom", yshift=4,
                          xref=xk.replace("axis", "") + " domain", yref=yk.replace("axis", "") + " domain"))
    fig.update_layout(annotations=[a.to_plotly_json() for a in fig.layout.annotations] + notes)


SUBSCRIPT = re.compile(r"_(\{[^}]*\}|[^\s{}_=,()|]+)")


def sub(text: str) -> str:
    """Lecture notation to plotly text: 'z_{k−1}' → 'z<sub>k−1</sub>', 'z_8 = x' → 'z<sub>8</sub> = x'."""
    return SUBSCRIPT.sub(lambda m: "<sub>" + m.group(1).strip("{}") + "</sub>", text)


def follow_data(data_range, points, slack: float = DATA_SLACK):
    """Axes ranges that follow the data: the data's range, widened toward the points' robust range by at most
    slack·span on each side, so a blown-up model (samples at y ≈ 140) cannot shrink the data to a dot."""
    pr = robust_range(points, pad=0.0)
    out = []
    for (a, b), (c, d) in zip(data_range, pr):
        s = b - a
        out.append((max(min(a, c), a - slack * s), min(max(b, d), b + slack * s)))
    return out[0], out[1]


def n_off_screen(points, rng) -> int:
    """Points (..., 2) outside the ranges ((x0, x1), (y0, y1)) or not finite."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    (x0, x1), (y0, y1) = rng
    inside = (p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 1] >= y0) & (p[:, 1] <= y1)  # NaN compares False
    return int((~inside).sum())


def off_screen_note(fig: go.Figure, n_off: int, n: int, *, row: int | None = None, col: int | None = None,
                    what: str = "points") -> None:
    """'n of m points off-screen' in the bottom-left corner of a subplot (nothing if none is)."""
    if n_off <= 0:
        return
    xk, yk = xy_ids(fig, row, col)
    fig.add_annotation(text=f"{n_off:,} of {n:,} {what} off-screen", showarrow=False, x=0.01, y=0.01,
                       xanchor="left", yanchor="bottom", xref=xk.replace("axis", "") + " domain",
                       yref=yk.replace("axis", "") + " domain", bgcolor="rgba(255,255,255,0.85)",
                       font=dict(color=PALETTE["ink"]))
