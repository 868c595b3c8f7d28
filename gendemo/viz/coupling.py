"""Inside a coupling flow: one layer's warp of points and a grid, its conditioner, and its log-determinants."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gendemo.viz._common import as_points, axes_layout, cloud_trace, fix_axes, frame_indices, panel_titles, sub
from gendemo.viz.style import PALETTE, Style, apply_style, robust_range, union_range

_ORD = ("first", "second")
MAX_ASPECT = 2.5  # coupling_view: equal aspect up to this ratio of the two coordinates' spans


def _grid_polyline(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(G, P, 2) grid lines → one NaN-separated polyline (x, y)."""
    g = np.concatenate([grid, np.full((grid.shape[0], 1, 2), np.nan, np.float32)], axis=1).reshape(-1, 2)
    return g[:, 0], g[:, 1]


def _check_keep(keep: int) -> int:
    if keep not in (0, 1):
        raise ValueError(f"keep must be 0 or 1 (the coordinate passed through unchanged), got {keep!r}")
    return int(keep)


def coupling_view(z_in, z_out, grid_in, grid_out, keep: int, *, labels: Sequence[str] = ("z_{k−1}", "z_k"),
                  style: Style = Style.default(), max_points: int = 1000) -> go.Figure:
    """Points and a warped grid before (left) and after (right) one coupling layer.

    The kept coordinate passes through unchanged (x_1 = z_1); the other is shifted (NICE) or scaled and
    shifted (RealNVP) by functions of the kept one. grid_*: (G, P, 2), P points along each of G lines.
    """
    keep = _check_keep(keep)
    a, b = as_points(z_in, "z_in", n=max_points), as_points(z_out, "z_out", n=max_points)
    gi, go_ = as_points(grid_in, "grid_in", 3), as_points(grid_out, "grid_out", 3)
    if gi.shape != go_.shape:
        raise ValueError(f"grid_in {gi.shape} and grid_out {go_.shape} differ")
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1)
    panel_titles(fig, [sub(labels[0]), sub(labels[1])], [(1, 1), (1, 2)])
    grid_line = dict(color=PALETTE["orange"], width=max(1.0, 0.5 * style.line_width))
    for col, (pts, grid) in enumerate(((a, gi), (b, go_)), start=1):
        x, y = _grid_polyline(grid)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=grid_line, opacity=0.8, name="grid",
                                 showlegend=col == 1, hoverinfo="skip"), row=1, col=col)
        fig.add_trace(cloud_trace(pts, style=style, name="points", showlegend=col == 1), row=1, col=col)
    rng = union_range(robust_range(np.concatenate([a, b])), robust_range(np.concatenate([gi, go_], axis=1)))
    role = ["transformed", "transformed"]
    role[keep] = "kept"
    # Equal aspect unless one coordinate spans > MAX_ASPECT times the other (a layer that stretches a lot would
    # leave a sliver); both panels keep the same scales either way, so areas still compare between them.
    spans = [r[1] - r[0] for r in rng]
    equal = max(spans) <= MAX_ASPECT * min(spans)
    for col in (1, 2):
        fix_axes(fig, *rng, row=1, col=col, toward="right" if col == 1 else "left", equal=equal,
                 x_title=f"coordinate 1 ({role[0]})",
                 y_title=f"coordinate 2 ({role[1]})" if col == 1 else None)
    fig.update_layout(title=dict(text=f"one coupling layer: the {_ORD[keep]} coordinate u is kept, "
                                      f"the {_ORD[1 - keep]} transformed"))
    return apply_style(fig, style)


def conditioner_curves(u, mu, sigma=None, *, keep: int, style: Style = Style.default()) -> go.Figure:
    """μ_θ(u) and (RealNVP) σ_θ(u), a log-scale, against the kept coordinate u (the lecture's z_1 of the split,
    named u here because z_k is the output of layer k on the same screen).

    NICE: x_2 = z_2 + μ_θ(z_1); RealNVP: x_2 = exp(σ_θ(z_1)) ⊙ z_2 + μ_θ(z_1).
    """
    keep = _check_keep(keep)
    u = np.asarray(u, dtype=np.float64).ravel()
    order = np.argsort(u)
    curves = [("μ<sub>θ</sub>(u)  (shift)", mu, PALETTE["model"], "solid")]
    if sigma is not None:
        curves.append(("σ<sub>θ</sub>(u)  (log-scale)", sigma, PALETTE["accent"], "dash"))
    fig = go.Figure()
    for name, v, color, dash in curves:
        v = np.asarray(v, dtype=np.float64).ravel()
        if v.size != u.size:
            raise ValueError(f"{name}: {v.size} values for {u.size} points u")
        fig.add_trace(go.Scatter(x=u[order].astype(np.float32), y=v[order].astype(np.float32), mode="lines",
                                 name=name, line=dict(color=color, width=style.line_width, dash=dash)))
    fig.add_hline(y=0, line=dict(color=PALETTE["guide"], width=1))
    eq = ("v ↦ exp(σ<sub>θ</sub>(u)) v + μ<sub>θ</sub>(u)" if sigma is not None else "v ↦ v + μ<sub>θ</sub>(u)")
    fig.update_layout(title=dict(text=f"conditioner: the transformed coordinate v, {eq}"),
                      xaxis=dict(title=dict(text=f"u = {_ORD[keep]} coordinate (kept)")))
    return apply_style(fig, style)


MAX_LAYERS = 24  # log-det panels: every layer of the app's flows (16 couplings, scaling, standardization)


def logdet_heatmaps(xs, ys, per_layer, total, style: Style = Style.default(), max_layers: int = MAX_LAYERS, *,
                    layer_labels: Sequence[str] | None = None) -> go.Figure:
    """Small multiples of log|det J_{f_k⁻¹}| per layer (K, len(ys), len(xs)) and their sum, the total.

    One diverging colour scale centred at 0 for all panels. More than max_layers layers: evenly spaced ones are
    shown and the title names those left out. Ref: Eq. (12)
    """
    xs = np.asarray(xs, dtype=np.float64).ravel()
    ys = np.asarray(ys, dtype=np.float64).ravel()
    per = np.asarray(per_layer, dtype=np.float64)
    tot = np.asarray(total, dtype=np.float64)
    if per.ndim != 3 or per.shape[1:] != (ys.size, xs.size) or tot.shape != (ys.size, xs.size):
        raise ValueError(f"per_layer must be (K, {ys.size}, {xs.size}) and total ({ys.size}, {xs.size}); "
                         f"got {per.shape} and {tot.shape}")
    labels = list(layer_labels) if layer_labels is not None else [f"k = {k + 1}" for k in range(per.shape[0])]
    idx = frame_indices(per.shape[0], max_layers)
    maps = [per[i] for i in idx] + [tot]
    titles = [sub(labels[i]) for i in idx] + ["total (Eq. 12)"]
    left_out = [sub(labels[i]) for i in range(per.shape[0]) if i not in set(idx.tolist())]
    ncols = min(len(maps), 3 if style.font_size >= 20 else 4)  # maps, not thumbnails: 3 a row on a projector
    nrows = math.ceil(len(maps) / ncols)
    fig = make_subplots(rows=nrows, cols=ncols, horizontal_spacing=0.02, vertical_spacing=0.12 / nrows + 0.04)
    panel_titles(fig, titles, [(1 + i // ncols, 1 + i % ncols) for i in range(len(titles))])
    allv = np.concatenate([m.ravel() for m in maps])
    allv = allv[np.isfinite(allv)]
    flat = allv.size == 0 or np.allclose(allv, 0.0, atol=1e-6)
    lim = 1.0 if flat else float(np.percentile(np.abs(allv), 99.5)) or 1.0
    dx = (xs[-1] - xs[0]) / max(xs.size - 1, 1) / 2
    dy = (ys[-1] - ys[0]) / max(ys.size - 1, 1) / 2
    axes = {}
    for i, m in enumerate(maps):
        r, c = divmod(i, ncols)
        fig.add_trace(go.Heatmap(x=xs.astype(np.float32), y=ys.astype(np.float32), z=m.astype(np.float32),
                                 coloraxis="coloraxis", hovertemplate="%{z:.3g}<extra></extra>"),
                      row=r + 1, col=c + 1)
        axes.update(axes_layout(fig, (xs[0] - dx, xs[-1] + dx), (ys[0] - dy, ys[-1] + dy), row=r + 1, col=c + 1,
                                ticks=False))
    # NICE: every coupling's log-det is exactly 0 and the fixed standardization's a constant, so each panel is
    # one colour; say why rather than leave the student hunting for structure.
    constant = all(np.ptp(v) <= 1e-6 for v in (m[np.isfinite(m)] for m in per) if v.size)
    note = (":  all 0, volume-preserving (det J = 1)" if flat else
            ":  each constant in x (det J = 1 in every coupling)" if constant else "")
    fig.update_layout(
        axes,
        title=dict(text=f"log |det J| of each f<sub>k</sub>⁻¹ and their sum{note}" + (
            f" (not shown: {', '.join(left_out)})" if left_out else "")),
        coloraxis=dict(colorscale="RdBu_r", cmin=-lim, cmax=lim,
                       colorbar=dict(title=dict(text="log |det J|"), thickness=14)))
    fig.update_xaxes(showgrid=False, showline=False, ticks="")
    fig.update_yaxes(showgrid=False, showline=False, ticks="")
    apply_style(fig, style)
    m = fig.layout.margin
    fig.update_layout(height=round(m.t + m.b + nrows * 0.36 * style.height))
    return fig
