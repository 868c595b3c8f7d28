"""Client-side animations of point clouds: forward noising, reverse sampling, a flow layer by layer.

Each frame only carries float32 x/y of the moving traces; static traces (N(0, I) circles, grey data)
are drawn once. ``max_points`` is the per-frame budget over all panels (SVG costs ~45 ms a frame at
1,000 points, ~180 ms at 2,000), so a two-panel figure shows ``max_points // 2`` points per panel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gendemo.viz._common import (as_points, circle_trace, cloud_trace, fix_axes, follow_data, frame_indices,
                                 n_off_screen, off_screen_note, panel_titles, sub)
from gendemo.viz._player import add_player
from gendemo.viz.style import PALETTE, Style, apply_style, robust_range, union_range

X_K = "x⁽ᵏ⁾"
_GAUSS_2SIGMA = ((-2.2, 2.2), (-2.2, 2.2))
_GAUSS_3SIGMA = ((-3.0, 3.0), (-3.0, 3.0))
MAX_PATH_VERTICES = 50  # per path: keeps the growing paths' payload linear-ish in the number of frames
PATH_COLORS = tuple(PALETTE[c] for c in ("accent", "green", "orange", "purple", "ink"))  # none is the cloud's blue
PATH_TAIL = 8  # frames of each tracked path drawn thick and coloured; the older part fades to a thin grey line


def _n_frames(a, name: str, ks, ks_name: str = "ks") -> tuple[int, np.ndarray]:
    """Number of frames F of a (F, n, 2) array, checked against its labels ks."""
    shape, ks = np.shape(a), np.asarray(ks).ravel()
    if len(shape) != 3 or shape[-1] != 2 or shape[0] != ks.size or shape[0] == 0:
        raise ValueError(f"{name} must have shape (F, n, 2) with F = len({ks_name}) = {ks.size}, got {shape}")
    return shape[0], ks


def _two_panels(titles: Sequence[str]) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08)
    panel_titles(fig, titles, [(1, 1), (1, 2)])
    return fig


_TOWARD = {1: "right", 2: "left"}  # two narrowed panels sit side by side in the middle, not far apart


def forward_animation(chain, closed, ks, style: Style = Style.default(), max_points: int = 1000,
                      max_frames: int = 100) -> go.Figure:
    """x⁽ᵏ⁾ by the chain q(x⁽ᵏ⁾|x⁽ᵏ⁻¹⁾) (left) and by the closed form q(x⁽ᵏ⁾|x⁽⁰⁾) (right), one frame per k.

    chain, closed: (F, n, 2) for k in ks; both panels share fixed ranges and show N(0, I) 1σ/2σ circles.
    Ref: Eq. (7)
    """
    n_frames, ks = _n_frames(chain, "chain", ks)
    _n_frames(closed, "closed", ks)
    idx = frame_indices(n_frames, max_frames)
    per = max(1, max_points // 2)  # two panels share the per-frame budget
    a = as_points(chain, "chain", 3, frames=idx, n=per)
    b = as_points(closed, "closed", 3, frames=idx, n=per)
    fig = _two_panels(["step by step q(x⁽ᵏ⁾ | x⁽ᵏ⁻¹⁾)", "closed form q(x⁽ᵏ⁾ | x⁽⁰⁾), Eq. (7)"])
    for col in (1, 2):
        fig.add_trace(circle_trace(style=style, showlegend=col == 1), row=1, col=col)
    fig.add_trace(cloud_trace(a[0], style=style, name=X_K), row=1, col=1)
    fig.add_trace(cloud_trace(b[0], style=style, name=X_K, color=PALETTE["accent"]), row=1, col=2)
    rng = union_range(robust_range(np.concatenate([a, b], axis=1)), _GAUSS_2SIGMA)
    for col in (1, 2):
        fix_axes(fig, *rng, row=1, col=col, toward=_TOWARD[col])
    frames = [[(a[f, :, 0], a[f, :, 1]), (b[f, :, 0], b[f, :, 1])] for f in range(len(idx))]
    add_player(fig, frames, traces=[2, 3], labels=[str(ks[i]) for i in idx])
    return apply_style(fig, style)


def _paths(traj: np.ndarray, f: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Trajectories traj (F, P, 2) over frames 0..f as one NaN-separated polyline (x, y).

    Vertices at frames 0, stride, 2·stride, … and f: earlier parts of a path never change between frames.
    """
    steps = np.arange(0, f + 1, stride)
    if steps[-1] != f:
        steps = np.append(steps, f)
    seg = traj[steps].transpose(1, 0, 2)  # (P, len(steps), 2)
    seg = np.concatenate([seg, np.full((seg.shape[0], 1, 2), np.nan, np.float32)], axis=1).reshape(-1, 2)
    return seg[:, 0], seg[:, 1]


def reverse_animation(xs, ks, *, paths_idx=None, x0_hats=None, reference=None, style: Style = Style.default(),
                      max_points: int = 1000, max_frames: int = 100) -> go.Figure:
    """Sampling x⁽ᴺ⁾ → x⁽⁰⁾ by Eq. (9): the cloud x⁽ᵏ⁾ at each step k (ks descending N … 0).

    paths_idx: a few point indices whose trajectories grow frame by frame: the whole path faint, its last
    PATH_TAIL frames thick in one colour a path, the head marked in that colour;
    x0_hats (F, n, 2): the predicted x̂⁽⁰⁾ at step k in a second panel (same axes; far-off points clip);
    reference: grey data cloud under each panel. Ref: Eq. (9)
    """
    n_frames, ks = _n_frames(xs, "xs", ks)
    idx = frame_indices(n_frames, max_frames)
    n_panels = 1 if x0_hats is None else 2
    per = max(1, max_points // n_panels)  # panels share the per-frame budget
    cloud = as_points(xs, "xs", 3, frames=idx, n=per)
    fig = go.Figure() if n_panels == 1 else _two_panels([f"{X_K} at step k", "predicted x̂⁽⁰⁾ at step k"])
    cells = [(None, None)] if n_panels == 1 else [(1, 1), (1, 2)]
    rng = robust_range(cloud)
    if reference is not None:
        ref = as_points(reference, "reference", n=per)
        # the axes follow the data and N(0, I) to 3σ (where the chain starts); a chain that blows up goes off-screen
        rng = follow_data(union_range(robust_range(ref), _GAUSS_3SIGMA), cloud, slack=0.25)
        for i, (r, c) in enumerate(cells):
            fig.add_trace(cloud_trace(ref, style=style, color=PALETTE["data"], name="data", opacity=0.35,
                                      hover=False, showlegend=i == 0), row=r, col=c)
    moving = [len(fig.data)]
    fig.add_trace(cloud_trace(cloud[0], style=style, name=X_K), row=cells[0][0], col=cells[0][1])
    frames = [[(cloud[f, :, 0], cloud[f, :, 1])] for f in range(len(idx))]
    if x0_hats is not None:
        _n_frames(x0_hats, "x0_hats", ks)
        hat = as_points(x0_hats, "x0_hats", 3, frames=idx, n=per)
        moving.append(len(fig.data))
        fig.add_trace(cloud_trace(hat[0], style=style, name="x̂⁽⁰⁾", color=PALETTE["accent"]), row=1, col=2)
        for f, fr in enumerate(frames):
            fr.append((hat[f, :, 0], hat[f, :, 1]))
    if paths_idx is not None:
        n = np.shape(xs)[1]
        p = np.asarray(paths_idx, dtype=int).ravel()
        if p.size and (p.min() < -n or p.max() >= n):
            raise ValueError(f"paths_idx out of range for {n} points")
        traj = np.asarray(xs)[np.ix_(idx, p)].astype(np.float32)  # (F', P, 2); any point, not only the first `per`
        stride = -(-len(idx) // MAX_PATH_VERTICES)
        colors = [PATH_COLORS[i % len(PATH_COLORS)] for i in range(p.size)]
        moving += [len(fig.data), len(fig.data) + 1]
        row, col = cells[0]
        x, y = _paths(traj, 0, stride)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", opacity=0.4, name="paths", hoverinfo="skip",
                                 line=dict(color=PALETTE["ink"], width=max(1.0, 0.5 * style.line_width)),
                                 showlegend=False), row=row, col=col)  # the whole path so far, faded
        fig.add_trace(go.Scatter(x=traj[0, :, 0], y=traj[0, :, 1], mode="markers", name="tracked points",
                                 marker=dict(color=colors, size=2.2 * style.marker_size + 2,
                                             line=dict(color=PALETTE["ink"], width=1.5)),
                                 showlegend=False, hoverinfo="skip"), row=row, col=col)
        for i in range(p.size):  # the recent part of each path: thick, in the colour of its head
            moving.append(len(fig.data))
            fig.add_trace(go.Scatter(x=traj[:1, i, 0], y=traj[:1, i, 1], mode="lines", hoverinfo="skip",
                                     line=dict(color=colors[i], width=1.6 * style.line_width), opacity=0.9,
                                     showlegend=False), row=row, col=col)
        for f, fr in enumerate(frames):
            fr += [_paths(traj, f, stride), (traj[f, :, 0], traj[f, :, 1])]
            tail = traj[max(0, f - PATH_TAIL):f + 1]
            fr += [(tail[:, i, 0], tail[:, i, 1]) for i in range(p.size)]
    for r, c in cells:
        fix_axes(fig, *rng, row=r, col=c, toward="center" if c is None else _TOWARD[c])
    if reference is not None:  # at the end of the chain, x⁽⁰⁾
        off_screen_note(fig, n_off_screen(cloud[-1], rng), cloud.shape[1], row=cells[0][0], col=cells[0][1],
                        what=f"points at k = {ks[idx[-1]]}")
    fig.update_layout(title=dict(text="sampling, Eq. (9): x⁽ᴺ⁾ ~ N(0, I) → x⁽⁰⁾"))
    add_player(fig, frames, traces=moving, labels=[str(ks[i]) for i in idx])
    return apply_style(fig, style)


def layer_animation(zs, labels: Sequence[str] | None = None, style: Style = Style.default(),
                    max_points: int = 1000, max_frames: int = 100, *, between: int = 0,
                    fit_last: bool = False) -> go.Figure:
    """The points through the flow's layers, one frame per layer: z_K = x, z_{k−1} = f_k⁻¹(z_k), …, z_0.

    zs: (L+1, n, 2); labels: one per frame (default "z_K = x", …, "z_0"). between: frames interpolated linearly
    between consecutive layers (a layer's move is then seen, not a jump). fit_last: the axes fit the last frame
    (the shape the animation arrives at), widened by at most half its span toward the others, instead of every
    frame. Ref: Eq. (12)
    """
    n_frames = np.shape(zs)[0] if np.ndim(zs) == 3 else 0
    if labels is None:
        labels = [f"z_{{{n_frames - 1 - i}}}" + (" = x" if i == 0 else "") for i in range(n_frames)]
    n_frames, _ = _n_frames(zs, "zs", np.arange(len(labels)), "labels")
    if isinstance(between, bool) or not isinstance(between, int) or between < 0:
        raise ValueError(f"between must be an integer >= 0, got {between!r}")
    idx = frame_indices(n_frames, max_frames)
    z = as_points(zs, "zs", 3, frames=idx, n=max_points)
    names = [sub(labels[i]) for i in idx]
    if between and len(idx) > 1:
        t = (np.arange(between + 1, dtype=np.float32) / (between + 1))[:, None, None]
        z = np.concatenate([*(z[i] + t * (z[i + 1] - z[i]) for i in range(len(idx) - 1)), z[-1:]])
        names = [a if j == 0 else f"{a} → {b}" for a, b in zip(names[:-1], names[1:])
                 for j in range(between + 1)] + names[-1:]
    fig = go.Figure([circle_trace((1.0, 2.0, 3.0), style=style, showlegend=True),
                     cloud_trace(z[0], style=style, name="z")])
    if fit_last:
        fix_axes(fig, *follow_data(robust_range(z[-1]), z))
    else:
        fix_axes(fig, *union_range(robust_range(z), ((-3.2, 3.2), (-3.2, 3.2))))
    title = "through the flow, layer by layer: z<sub>k−1</sub> = f<sub>k</sub>⁻¹(z<sub>k</sub>)"
    fig.update_layout(title=dict(text=title))
    frames = [[(z[f, :, 0], z[f, :, 1])] for f in range(len(z))]
    add_player(fig, frames, traces=[1], labels=names, prefix="", duration_ms=600 // (between + 1))
    return apply_style(fig, style)
