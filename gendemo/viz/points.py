"""Static figures of points and training curves: a sample cloud over the data, a loss curve."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from gendemo.viz._common import as_points, cloud_trace, fix_axes, follow_data, n_off_screen, off_screen_note, sub
from gendemo.viz.style import PALETTE, Style, apply_style, robust_range


def scatter(points, title: str = "", *, reference=None, style: Style = Style.default(), name: str = "model",
            reference_name: str = "data", max_points: int = 1000) -> go.Figure:
    """Model/dataset points (n, 2) in a strong colour, optionally over a grey reference cloud (e.g. the data).

    Both clouds keep their first ``max_points`` points; equal aspect, robust fixed ranges. With a reference, the
    axes follow the reference (`follow_data`), and points beyond them are counted in an "off-screen" note.
    """
    p = as_points(points, "points", n=max_points)
    fig = go.Figure()
    rng = robust_range(p)
    if reference is not None:
        r = as_points(reference, "reference", n=max_points)
        fig.add_trace(cloud_trace(r, style=style, color=PALETTE["data"], name=sub(reference_name), opacity=0.45,
                                  showlegend=True, hover=False))
        rng = follow_data(robust_range(r), p) if len(p) else robust_range(r)
    fig.add_trace(cloud_trace(p, style=style, name=sub(name), showlegend=reference is not None))
    fig.update_layout(title=dict(text=sub(title)))
    fix_axes(fig, *rng)
    if reference is not None:
        off_screen_note(fig, n_off_screen(p, rng), len(p))
    return apply_style(fig, style)


def downsample_mean(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """≤ max_points points: block averages of all points but the last, then the last point exactly."""
    n = x.size
    if n <= max_points:
        return x, y
    if max_points < 2:
        raise ValueError("max_points must be ≥ 2")
    starts = np.unique(np.linspace(0, n - 1, max_points).astype(int)[:-1])  # max_points − 1 blocks of x[:-1]
    counts = np.diff(np.append(starts, n - 1))
    xm = np.add.reduceat(x[:-1], starts) / counts
    ym = np.add.reduceat(y[:-1], starts) / counts
    return np.append(xm, x[-1]), np.append(ym, y[-1])


def loss_curve_xy(steps, losses, *, log_y: bool = False, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """The points `loss_curve` draws: finite (and > 0 on a log axis), block-averaged to ≤ max_points, float32.

    A live page updates a figure built once by `loss_curve` with these (≈ 1 ms instead of ≈ 20 ms a redraw).
    """
    x = np.asarray(steps, dtype=np.float64).ravel()
    y = np.asarray(losses, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"steps {x.shape} and losses {y.shape} differ in length")
    keep = np.isfinite(x) & np.isfinite(y) & ((y > 0) if log_y else True)
    x, y = downsample_mean(x[keep], y[keep], max_points)
    return x.astype(np.float32), y.astype(np.float32)


def loss_curve(steps, losses, *, title: str = "loss", floor: float | None = None, floor_label: str = "floor",
               log_y: bool = False, max_points: int = 2000, y_title: str = "loss",
               style: Style = Style.default()) -> go.Figure:
    """Training loss against step, block-averaged to ≤ max_points (last point exact); NaN/inf dropped.

    ``floor``: a dashed horizontal line (e.g. the data's entropy, the best possible flow NLL).
    """
    x, y = loss_curve_xy(steps, losses, log_y=log_y, max_points=max_points)
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines", name=sub(y_title),
                               showlegend=False, line=dict(color=PALETTE["model"], width=style.line_width)))
    if floor is not None and np.isfinite(floor):
        fig.add_hline(y=float(floor), line=dict(color=PALETTE["guide"], dash="dash", width=style.line_width * 0.8),
                      annotation=dict(text=sub(floor_label), xanchor="right", yanchor="bottom",
                                      font=dict(color=PALETTE["guide"]), bgcolor="rgba(255,255,255,0.85)"),
                      annotation_position="top right")
    fig.update_layout(title=dict(text=sub(title)), xaxis=dict(title=dict(text="training step")),
                      yaxis=dict(title=dict(text=sub(y_title)), type="log" if log_y else "linear"))
    if y.size == 0:
        fig.add_annotation(text="no finite values yet", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return apply_style(fig, style)
