"""Densities: a model's p(x) on a grid as a heatmap, and the latent z = f⁻¹(x) against N(0, I)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from gendemo.viz._common import as_points, circle_trace, cloud_trace, fix_axes, sub
from gendemo.viz.style import Style, apply_style, robust_range, union_range

LOG_SPAN = 12.0  # log_scale: colours cover [max − 12, max] nats, so −inf far away does not wash out the rest


def density_heatmap(xs, ys, log_p, *, points=None, title: str = "model density p(x)", log_scale: bool = False,
                    style: Style = Style.default(), max_points: int = 1000) -> go.Figure:
    """Heatmap of p(x) = exp(log p(x)) (or log p(x) if log_scale) on the grid xs × ys, data points on top.

    log_p: shape (len(ys), len(xs)), row i at ys[i]. Ref: Eq. (11)
    """
    xs = np.asarray(xs, dtype=np.float64).ravel()
    ys = np.asarray(ys, dtype=np.float64).ravel()
    lp = np.asarray(log_p, dtype=np.float64)
    if lp.shape != (ys.size, xs.size):
        raise ValueError(f"log_p must have shape (len(ys), len(xs)) = ({ys.size}, {xs.size}), got {lp.shape}")
    lp = np.where(np.isnan(lp), -np.inf, lp)
    top = float(np.max(lp[np.isfinite(lp)])) if np.isfinite(lp).any() else 0.0
    if log_scale:
        z, zmin, zmax, label = np.maximum(lp, top - LOG_SPAN), top - LOG_SPAN, top, "log p(x)"
    else:
        with np.errstate(over="ignore"):
            z = np.exp(lp)
        zmin, zmax, label = 0.0, float(np.exp(top)), "p(x)"
    fig = go.Figure(go.Heatmap(
        x=xs.astype(np.float32), y=ys.astype(np.float32), z=z.astype(np.float32), zmin=zmin, zmax=zmax,
        colorscale="Viridis", colorbar=dict(title=dict(text=label), orientation="h"),
        hovertemplate="x = (%{x:.2f}, %{y:.2f})<br>" + label + " = %{z:.3g}<extra></extra>"))
    if points is not None:
        p = as_points(points, "points", n=max_points)
        fig.add_trace(cloud_trace(p, style=style, color="#E0E0E0", name="data", opacity=0.7, hover=False,
                                  showlegend=True, size_scale=0.8,
                                  ).update(marker_line=dict(width=0.5, color="#555555")))
        fig.update_traces(showlegend=False)
    dx = (xs[1] - xs[0]) / 2 if xs.size > 1 else 0.5
    dy = (ys[1] - ys[0]) / 2 if ys.size > 1 else 0.5
    fix_axes(fig, (xs.min() - dx, xs.max() + dx), (ys.min() - dy, ys.max() + dy))
    fig.update_layout(title=dict(text=sub(title), subtitle=dict(text="dots: data" if points is not None else "")))
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(showgrid=False)
    return apply_style(fig, style)


def latent_view(z, style: Style = Style.default(), *, title: str = "latent z = f⁻¹(x) against N(0, I)",
                max_points: int = 1000) -> go.Figure:
    """Points pushed to latent space, z = f⁻¹(x), with N(0, I) contours at 1, 2, 3 σ. Ref: Eq. (11)"""
    p = as_points(z, "z", n=max_points)
    fig = go.Figure([circle_trace((1.0, 2.0, 3.0), style=style, showlegend=True),
                     cloud_trace(p, style=style, name="z = f⁻¹(x)", showlegend=True)])
    fix_axes(fig, *union_range(robust_range(p), ((-3.3, 3.3), (-3.3, 3.3))))
    fig.update_layout(title=dict(text=sub(title)))
    return apply_style(fig, style)
