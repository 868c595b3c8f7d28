"""Flow matching's figures: straight conditional paths next to the marginal ODE paths, a learned velocity field
next to the exact one with their error, and sampler trajectories overlaid (the race of the Samplers page).

Plain numpy arrays in (data units), ``go.Figure`` out, like the rest of gendemo.viz. Ref: Eq. (1)-(2)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gendemo.viz._common import as_points, cloud_trace, fix_axes, frame_indices, panel_titles, sub
from gendemo.viz._player import add_player
from gendemo.viz.field import grid_spacing
from gendemo.viz.style import PALETTE, SERIES, Style, apply_style, robust_range, union_range

_HEAD = np.deg2rad(25.0)
_STYLE = Style.default()


def _polylines(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Paths (F, P, 2) as one NaN-separated polyline (x, y), one piece a path."""
    seg = np.concatenate([paths.transpose(1, 0, 2), np.full((paths.shape[1], 1, 2), np.nan)], axis=1)
    seg = seg.reshape(-1, 2).astype(np.float32)
    return seg[:, 0], seg[:, 1]


def paths_animation(conditional, marginal, ts: Sequence[float], *, reference=None, n_paths: int = 40,
                    style: Style = _STYLE, max_points: int = 1000, max_frames: int = 60) -> go.Figure:
    """Left: X_t = (1 − t) X_0 + t X_1 (Eq. (1)), straight lines; right: the ODE dY/dt = u(Y, t) (Eq. (2)) from the
    same X_0, curved. conditional, marginal: (F, n, 2) at the times ts (0 → 1); n_paths of each drawn as lines,
    the clouds move with the slider (client-side frames, t = 0 the prior, t = 1 the data)."""
    ts = np.asarray(ts, dtype=np.float64).ravel()
    for name, a in (("conditional", conditional), ("marginal", marginal)):
        if np.ndim(a) != 3 or np.shape(a)[0] != ts.size or np.shape(a)[2] != 2:
            raise ValueError(f"{name} must have shape (F, n, 2) with F = len(ts) = {ts.size}, got {np.shape(a)}")
    idx = frame_indices(ts.size, max_frames)
    per = max(1, max_points // 2)
    a = as_points(conditional, "conditional", 3, frames=idx, n=per)
    b = as_points(marginal, "marginal", 3, frames=idx, n=per)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.06)
    panel_titles(fig, [sub("conditional paths X_t = (1−t)X_0 + tX_{1}: straight"),
                       sub("marginal ODE paths dY_{t}/dt = u_θ(Y_t, t): curved")], [(1, 1), (1, 2)])
    k = min(n_paths, a.shape[1])
    line = {"color": PALETTE["accent"], "width": max(1.2, 0.7 * style.line_width)}
    for col, arr in ((1, a), (2, b)):
        if reference is not None:
            ref = as_points(reference, "reference", n=max_points)
            fig.add_trace(cloud_trace(ref, style=style, color=PALETTE["data"], name="data", opacity=0.35,
                                      hover=False, showlegend=col == 1), row=1, col=col)
        x, y = _polylines(arr[:, :k])
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=line, opacity=0.8, name=f"{k} paths",
                                 showlegend=col == 1, hoverinfo="skip"), row=1, col=col)
    moving = []
    for col, arr in ((1, a), (2, b)):
        fig.add_trace(cloud_trace(arr[0], style=style, name="X_t" if col == 1 else "Y_t"), row=1, col=col)
        moving.append(len(fig.data) - 1)
    rng = union_range(robust_range(np.concatenate([a[0], a[-1], b[-1]], axis=0)), ((-2.5, 2.5), (-2.5, 2.5)))
    for col in (1, 2):
        fix_axes(fig, *rng, row=1, col=col)
    frames = [[(a[f, :, 0], a[f, :, 1]), (b[f, :, 0], b[f, :, 1])] for f in range(len(idx))]
    add_player(fig, frames, traces=moving, labels=[f"{ts[i]:.2f}" for i in idx], prefix="t = ")
    return apply_style(fig, style)


def _arrows(g: np.ndarray, v: np.ndarray, scale: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Shafts and two-barbed heads of the arrows g → g + scale·v as one NaN-separated polyline."""
    end = g + scale * v
    d = end - g
    length = np.linalg.norm(d, axis=1, keepdims=True)
    u = np.divide(d, length, out=np.zeros_like(d), where=length > 0)
    barb = np.minimum(0.3 * length, 0.35 * h)
    c, s = np.cos(_HEAD), np.sin(_HEAD)
    left = np.stack([c * u[:, 0] - s * u[:, 1], s * u[:, 0] + c * u[:, 1]], axis=1)
    right = np.stack([c * u[:, 0] + s * u[:, 1], -s * u[:, 0] + c * u[:, 1]], axis=1)
    nan = np.full_like(g, np.nan)
    pts = np.stack([g, end, nan, end - barb * left, end, end - barb * right, nan], axis=1).reshape(-1, 2)
    pts = pts.astype(np.float32)
    return pts[:, 0], pts[:, 1]


def field_comparison(xs, ys, learned, exact, *, t: float, points=None, style: Style = _STYLE,
                     max_points: int = 600) -> go.Figure:
    """u_θ(·, t) and u*(·, t) as arrows on the grid xs × ys (same scale), and |u_θ − u*| as a heatmap.

    learned, exact: (len(ys)·len(xs), 2) in the order of np.meshgrid(xs, ys) flattened. Ref: Eq. (2)
    """
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    gx, gy = np.meshgrid(xs, ys)
    g = np.stack([gx.ravel(), gy.ravel()], axis=1)
    lv, ev = np.asarray(learned, np.float64), np.asarray(exact, np.float64)
    if lv.shape != g.shape or ev.shape != g.shape:
        raise ValueError(f"learned {lv.shape} and exact {ev.shape} must be {g.shape}")
    h = grid_spacing(g)
    vmax = np.nanmax(np.linalg.norm(np.concatenate([lv, ev]), axis=1))
    scale = h / vmax if np.isfinite(vmax) and vmax > 0 else 1.0
    err = np.linalg.norm(lv - ev, axis=1).reshape(gx.shape)
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.05)
    panel_titles(fig, [sub(f"learned u_θ(x, t = {t:.2f})"), sub(f"exact u*(x, t = {t:.2f}) of the training set"),
                       sub("error |u_θ − u*|")], [(1, 1), (1, 2), (1, 3)])
    line = {"color": PALETTE["model"], "width": max(1.0, 0.6 * style.line_width)}
    for col, v, color in ((1, lv, PALETTE["model"]), (2, ev, PALETTE["accent"])):
        if points is not None:
            p = as_points(points, "points", n=max_points)
            fig.add_trace(cloud_trace(p, style=style, color=PALETTE["data"], name="data", opacity=0.35,
                                      hover=False, showlegend=col == 1), row=1, col=col)
        ok = np.isfinite(v).all(1)
        x, y = _arrows(g[ok], v[ok], scale, h)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line={**line, "color": color}, hoverinfo="skip",
                                 name=sub("u_θ") if col == 1 else "u*", showlegend=False), row=1, col=col)
    fig.add_trace(go.Heatmap(x=xs.astype(np.float32), y=ys.astype(np.float32), z=err.astype(np.float32),
                             colorscale="Viridis", colorbar={"title": {"text": "|u<sub>θ</sub> − u*|"},
                                                                 "len": 0.8, "thickness": 12},
                             hovertemplate="x=%{x:.2f}, y=%{y:.2f}<br>|u_θ − u*| = %{z:.3f}<extra></extra>"),
                  row=1, col=3)
    rng = ((xs[0] - h, xs[-1] + h), (ys[0] - h, ys[-1] + h))
    for col in (1, 2, 3):
        fix_axes(fig, *rng, row=1, col=col)
    return apply_style(fig, style)


def trajectories(paths: Sequence[tuple[str, np.ndarray]], *, reference=None, n_paths: int = 30,
                 title: str = "", style: Style = _STYLE, max_points: int = 1000,
                 opacity: Sequence[float] | None = None) -> go.Figure:
    """Samplers' trajectories overlaid: (name, xs (F, n, 2) in data units) each, the first n_paths of each as lines
    in the sampler's colour (opacity[i], default 0.7: a stochastic sampler's jagged paths fainter), its final points
    as markers. Every sampler starts from the same noise."""
    fig = go.Figure()
    if reference is not None:
        fig.add_trace(cloud_trace(as_points(reference, "reference", n=max_points), style=style, color=PALETTE["data"],
                                  name="data", opacity=0.3, hover=False, showlegend=True))
    ends = []
    for i, (name, xs) in enumerate(paths):
        xs = np.asarray(xs, dtype=np.float64)
        color = SERIES[i % len(SERIES)]
        k = min(n_paths, xs.shape[1])
        x, y = _polylines(xs[:, :k])
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line={"color": color, "width": max(1.0, 0.5 * style.line_width)},
                                 opacity=0.7 if opacity is None else opacity[i], name=sub(name), legendgroup=name,
                                 hoverinfo="skip"))
        end = xs[-1, :k]
        ends.append(end)
        fig.add_trace(go.Scatter(x=end[:, 0].astype(np.float32), y=end[:, 1].astype(np.float32), mode="markers",
                                 marker={"color": color, "size": style.marker_size * 1.6, "line": {"width": 0}},
                                 name=name + " (end)", legendgroup=name, showlegend=False))
    if paths:
        start = np.asarray(paths[0][1], dtype=np.float64)[0, :n_paths]
        fig.add_trace(go.Scatter(x=start[:, 0].astype(np.float32), y=start[:, 1].astype(np.float32), mode="markers",
                                 marker={"color": PALETTE["ink"], "size": style.marker_size * 1.3, "symbol": "x"},
                                 name="start (shared noise)"))
        rng = union_range(robust_range(np.concatenate([start, *ends])), robust_range(reference)
                          if reference is not None else robust_range(start))
        fix_axes(fig, *rng)
    fig.update_layout(title={"text": sub(title)}, legend={"orientation": "h", "y": -0.08})
    return apply_style(fig, style)


def quality_curves(rows: Sequence[dict], *, labels: dict[str, str] | None = None, ratio: float = 3.0,
                   title: str | None = "sample quality against the number of steps",
                   style: Style = _STYLE) -> go.Figure:
    """Energy distance / floor against the number of steps (log-log), one line per sampler; the floor (1) and
    `ratio`× the floor as dashed guides. rows: `gendemo.samplers.quality_curve`'s dicts. title None: none (a
    page heading says it; its two lines and the four-row legend left the plot ~140 px high at 1280×720)."""
    fig = go.Figure()
    names = list(dict.fromkeys(r["sampler"] for r in rows))
    for i, name in enumerate(names):
        rs = sorted((r for r in rows if r["sampler"] == name), key=lambda r: r["steps"])
        fig.add_trace(go.Scatter(x=[r["steps"] for r in rs], y=[max(r["ratio"], 1e-3) for r in rs],
                                 mode="lines+markers", name=(labels or {}).get(name, name),
                                 line={"color": SERIES[i % len(SERIES)], "width": style.line_width},
                                 marker={"size": style.marker_size * 1.6}))
    xs = [r["steps"] for r in rows] or [1]
    for y, text, dash in ((1.0, "floor: two samples of the data", "dash"), (ratio, f"{ratio:g}× floor", "dot")):
        fig.add_trace(go.Scatter(x=[min(xs), max(xs)], y=[y, y], mode="lines", name=text, hoverinfo="skip",
                                 line={"color": PALETTE["guide"], "dash": dash, "width": style.line_width * 0.7}))
    fig.update_layout(title={"text": title} if title else {},
                      xaxis={"type": "log", "title": {"text": "steps S (network calls: Heun 2S)"},
                             "tickvals": [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]},
                      yaxis={"type": "log", "title": {"text": "energy distance / floor"},
                             "tickvals": [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000]},
                      legend={"orientation": "h", "y": -0.2})
    return apply_style(fig, style)


def likelihood_bars(names: Sequence[str], nll: Sequence[float], se: Sequence[float], kinds: Sequence[str], *,
                    entropy: float | None = None, unit: str = "nats / point",
                    style: Style = _STYLE) -> go.Figure:
    """Held-out NLL per model as horizontal bars with ± one standard error, coloured by kind ("exact" or "bound"),
    and the data's entropy H(q₀) as a dashed line (no model can go below it)."""
    colors = {"exact": PALETTE["model"], "bound": PALETTE["accent"], "truth": PALETTE["data"]}
    fig = go.Figure()
    for kind in dict.fromkeys(kinds):
        ix = [i for i, k in enumerate(kinds) if k == kind]
        fig.add_trace(go.Bar(y=[names[i] for i in ix], x=[nll[i] for i in ix], orientation="h",
                             error_x={"type": "data", "array": [se[i] for i in ix], "visible": True},
                             marker={"color": colors.get(kind, PALETTE["guide"])}, name=kind,
                             text=[f"{nll[i]:.3f}" for i in ix], textposition="inside", insidetextanchor="start",
                             textfont={"color": "white"}))
    if entropy is not None and np.isfinite(entropy):
        fig.add_vline(x=float(entropy), line={"color": PALETTE["ink"], "dash": "dash", "width": style.line_width * 0.7},
                      annotation={"text": f"H(q₀) = {entropy:.3f}"}, annotation_position="top")
    fig.update_layout(title={"text": f"held-out negative log-likelihood ({unit}, lower is better)"},
                      xaxis={"title": {"text": unit}}, yaxis={"autorange": "reversed"}, barmode="overlay",
                      legend={"orientation": "h", "y": -0.2})
    return apply_style(fig, style)
