"""gendemo.viz: every builder serialises; animations are capped, float32, fixed-axis; styles and helpers behave."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from gendemo import viz
from gendemo.viz import Style
from gendemo.viz._common import frame_indices

RNG = np.random.default_rng(0)
N = 20
BETA = np.r_[0.0, np.linspace(1e-3, 0.2, N)]
ALPHA_BAR = np.cumprod(1 - BETA)
BETA_TILDE = np.r_[0.0, (1 - ALPHA_BAR[:-1]) / (1 - ALPHA_BAR[1:]) * BETA[1:]]


def uniform(*shape):
    return RNG.uniform(-1.0, 1.0, size=shape)


def ranges(fig, xk="xaxis", yk="yaxis"):
    return tuple(fig.layout[xk].range), tuple(fig.layout[yk].range)


def frame_xy(fig, f, j):
    d = fig.frames[f].data[j]
    return np.asarray(d.x), np.asarray(d.y)


GRID = np.stack(np.meshgrid(np.linspace(-2, 2, 9), np.linspace(-1, 1, 5)), -1).reshape(-1, 2)
XS, YS = np.linspace(-2, 2, 12), np.linspace(-1, 1, 8)
LINES = np.stack([np.c_[np.full(10, a), np.linspace(-1, 1, 10)] for a in np.linspace(-1, 1, 4)])

BUILDERS = {
    "scatter": lambda s: viz.scatter(uniform(50, 2), "samples", reference=uniform(60, 2), style=s),
    "loss_curve": lambda s: viz.loss_curve(np.arange(30), RNG.random(30), floor=0.1, log_y=True, style=s),
    "schedule_curves": lambda s: viz.schedule_curves(BETA, ALPHA_BAR, BETA_TILDE, style=s),
    "snr_curve": lambda s: viz.snr_curve(ALPHA_BAR / (1 - ALPHA_BAR + 1e-300), style=s),
    "forward_animation": lambda s: viz.forward_animation(uniform(5, 40, 2), uniform(5, 40, 2), range(5), style=s),
    "reverse_animation": lambda s: viz.reverse_animation(uniform(5, 40, 2), range(4, -1, -1), paths_idx=[0, 3],
                                                         x0_hats=uniform(5, 40, 2), reference=uniform(30, 2),
                                                         style=s),
    "layer_animation": lambda s: viz.layer_animation(uniform(4, 40, 2), ["z_3 = x", "z_2", "z_1", "z_0"], style=s),
    "arrow_field": lambda s: viz.arrow_field(GRID, uniform(45, 2), points=uniform(20, 2), title="−ε_θ", style=s),
    "density_heatmap": lambda s: viz.density_heatmap(XS, YS, -uniform(8, 12) ** 2, points=uniform(20, 2), style=s),
    "latent_view": lambda s: viz.latent_view(uniform(50, 2), style=s),
    "coupling_view": lambda s: viz.coupling_view(uniform(30, 2), uniform(30, 2), LINES, LINES + 0.1, 0, style=s),
    "conditioner_curves": lambda s: viz.conditioner_curves(XS, np.sin(XS), np.cos(XS), keep=1, style=s),
    "logdet_heatmaps": lambda s: viz.logdet_heatmaps(XS, YS, uniform(3, 8, 12), uniform(8, 12), style=s),
    "bound_ledger": lambda s: viz.bound_ledger(0.01, RNG.random(N - 1), -0.5, 1.0, L_simple=0.3, style=s),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("style", [Style.default(), Style.presenter()], ids=["default", "presenter"])
def test_every_builder_returns_a_serialisable_figure(name, style):
    fig = BUILDERS[name](style)
    assert isinstance(fig, go.Figure)
    assert json.loads(fig.to_json())["data"]
    assert fig.layout.font.size == style.font_size
    assert fig.layout.height == style.height or name == "logdet_heatmaps"  # small multiples size by rows
    assert viz.figure_nbytes(fig) == len(fig.to_json())


# ---- frame and point caps -------------------------------------------------------------------------


@pytest.mark.parametrize("n, cap", [(300, 100), (101, 100), (100, 100), (7, 100), (5, 2)])
def test_frame_indices_are_evenly_spaced_and_keep_first_and_last(n, cap):
    idx = frame_indices(n, cap)
    assert len(idx) == min(n, cap) and idx[0] == 0 and idx[-1] == n - 1
    assert np.all(np.diff(idx) >= 1)
    if n > cap:
        gaps = np.diff(idx)
        assert gaps.max() - gaps.min() <= 1  # even spacing up to rounding


@pytest.fixture(scope="module")
def big_forward():
    """300 frames × 5000 points, as a page might (wrongly) pass them."""
    rng = np.random.default_rng(1)
    chain = rng.uniform(-1, 1, (300, 5000, 2))
    closed = rng.uniform(-1, 1, (300, 5000, 2))
    ks = np.arange(300)
    return chain, closed, ks, viz.forward_animation(chain, closed, ks)


def test_forward_animation_caps_frames_and_points(big_forward):
    chain, closed, _, fig = big_forward
    assert len(fig.frames) == 100
    per_frame = [sum(len(d.x) for d in fr.data) for fr in fig.frames]
    assert max(per_frame) <= 1000
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 100 and steps[0].label == "0" and steps[-1].label == "299"
    # deterministic: the first n points of the first and the last k, left = chain, right = closed form
    n = len(fig.frames[0].data[0].x)
    np.testing.assert_array_equal(frame_xy(fig, 0, 0)[0], chain[0, :n, 0].astype(np.float32))
    np.testing.assert_array_equal(frame_xy(fig, -1, 1)[1], closed[-1, :n, 1].astype(np.float32))
    assert list(fig.frames[0].traces) == [2, 3]


def test_frames_carry_float32_typed_arrays(big_forward):
    fig = big_forward[3]
    for fr in (fig.frames[0], fig.frames[-1]):
        for d in fr.data:
            assert np.asarray(d.x).dtype == np.float32 and np.asarray(d.y).dtype == np.float32
    frames_json = json.loads(fig.to_json())["frames"]
    assert {frames_json[0]["data"][0]["x"]["dtype"], frames_json[-1]["data"][1]["y"]["dtype"]} == {"f4"}


def test_animations_play_client_side_without_redraw(big_forward):
    fig = big_forward[3]
    assert all(d.type == "scatter" for d in fig.data)  # SVG, not scattergl
    play, pause = fig.layout.updatemenus[0].buttons
    assert play.args[1]["frame"]["redraw"] is False and play.args[1]["transition"]["duration"] == 0
    assert list(pause.args[0]) == [None]
    assert all(s.args[1]["frame"]["redraw"] is False for s in fig.layout.sliders[0].steps)


def test_forward_animation_payload_within_budget():
    rng = np.random.default_rng(2)
    fig = viz.forward_animation(rng.standard_normal((100, 1000, 2)), rng.standard_normal((100, 1000, 2)),
                                np.arange(100))
    assert viz.figure_nbytes(fig) <= 1_500_000


# ---- fixed, robust, equal-aspect axes -------------------------------------------------------------


def inside(rng_xy, pts):
    (x0, x1), (y0, y1) = rng_xy
    p = np.asarray(pts).reshape(-1, 2)
    return bool(np.all((p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 1] >= y0) & (p[:, 1] <= y1)))


def test_forward_axes_fixed_equal_and_contain_every_frame(big_forward):
    chain, closed, _, fig = big_forward
    for xk, yk in (("xaxis", "yaxis"), ("xaxis2", "yaxis2")):
        assert fig.layout[xk].autorange is False and fig.layout[yk].autorange is False
        assert fig.layout[yk].scaleanchor == xk.replace("axis", "")
        assert inside(ranges(fig, xk, yk), chain[:, :500]) and inside(ranges(fig, xk, yk), closed[:, :500])
    assert ranges(fig) == ranges(fig, "xaxis2", "yaxis2")


def test_one_outlier_does_not_squash_the_view():
    frames = uniform(10, 400, 2)
    frames[3, 7] = (1e6, -1e6)
    fig = viz.layer_animation(frames, [f"z_{k}" for k in range(10)])
    (x0, x1), (y0, y1) = ranges(fig)
    assert x1 - x0 < 10 and y1 - y0 < 10
    assert inside(ranges(fig), np.delete(frames.reshape(-1, 2), 3 * 400 + 7, axis=0))


def test_robust_range_pads_and_ignores_non_finite():
    pts = np.r_[uniform(1000, 2), [[np.nan, 0.0], [np.inf, 1.0]]]
    (x0, x1), (y0, y1) = viz.robust_range(pts, pad=0.1)
    assert -1.3 < x0 < -1.0 and 1.0 < x1 < 1.3 and -1.3 < y0 < -1.0 and 1.0 < y1 < 1.3
    assert viz.robust_range(np.zeros((5, 2))) == ((-0.1, 0.1), (-0.1, 0.1))


# ---- reverse and layer animations -----------------------------------------------------------------


def test_reverse_animation_grows_paths_and_shows_x0_hat():
    xs, hats = uniform(150, 3000, 2), uniform(150, 3000, 2)
    ks = np.arange(149, -1, -1)
    paths = [0, 5, 2999]
    fig = viz.reverse_animation(xs, ks, paths_idx=paths, x0_hats=hats, reference=uniform(500, 2))
    assert len(fig.frames) == 100
    steps = fig.layout.sliders[0].steps
    assert steps[0].label == "149" and steps[-1].label == "0"
    cloud, hat, path, head = range(4)  # order of the moving traces in each frame
    assert sum(len(fig.frames[0].data[j].x) for j in (cloud, hat)) <= 1000
    np.testing.assert_array_equal(frame_xy(fig, -1, hat)[0], hats[-1, :500, 0].astype(np.float32))
    # heads sit at x⁽ᵏ⁾ of the tracked points; paths grow and end at the head
    np.testing.assert_array_equal(frame_xy(fig, -1, head)[0], xs[-1, paths, 0].astype(np.float32))
    lengths = [len(fr.data[path].x) for fr in fig.frames]
    assert lengths[0] < lengths[50] < lengths[-1] and np.all(np.diff(lengths) >= 0)
    px, _ = frame_xy(fig, -1, path)
    starts = np.r_[0, np.flatnonzero(np.isnan(px[:-1])) + 1]
    np.testing.assert_array_equal(px[starts], xs[0, paths, 0].astype(np.float32))  # each path starts at x⁽ᴺ⁾
    assert fig.layout.yaxis2.autorange is False and ranges(fig) == ranges(fig, "xaxis2", "yaxis2")


def test_reverse_animation_payload_is_reported():
    rng = np.random.default_rng(3)
    fig = viz.reverse_animation(rng.standard_normal((100, 1000, 2)), np.arange(99, -1, -1), paths_idx=range(5),
                                x0_hats=rng.standard_normal((100, 1000, 2)))
    assert viz.figure_nbytes(fig) < 1_800_000


def test_layer_animation_one_frame_per_layer_with_labels():
    fig = viz.layer_animation(uniform(9, 100, 2), ["z_8 = x", *[f"z_{k}" for k in range(7, -1, -1)]])
    assert len(fig.frames) == 9
    labels = [s.label for s in fig.layout.sliders[0].steps]
    assert labels[0] == "z<sub>8</sub> = x" and labels[-1] == "z<sub>0</sub>"
    with pytest.raises(ValueError):
        viz.layer_animation(uniform(9, 10, 2), ["z_1"])


# ---- styles -----------------------------------------------------------------------------------------


def test_presenter_style_is_bigger_everywhere():
    d, p = Style.default(), Style.presenter()
    assert p.font_size > d.font_size and p.marker_size > d.marker_size and p.line_width > d.line_width
    fd = viz.forward_animation(uniform(3, 20, 2), uniform(3, 20, 2), range(3), style=d)
    fp = viz.forward_animation(uniform(3, 20, 2), uniform(3, 20, 2), range(3), style=p)
    assert fp.layout.font.size > fd.layout.font.size
    assert fp.layout.sliders[0].currentvalue.font.size > fd.layout.sliders[0].currentvalue.font.size
    assert fp.layout.annotations[0].font.size > fd.layout.annotations[0].font.size
    assert fp.data[2].marker.size > fd.data[2].marker.size


# ---- static figures -------------------------------------------------------------------------------


def test_loss_curve_drops_non_finite_and_downsamples():
    steps = np.arange(10_001)
    loss = np.linspace(2.0, 1.0, steps.size)
    loss[[10, 20, 30]] = [np.nan, np.inf, -np.inf]
    loss[-1] = 0.123
    fig = viz.loss_curve(steps, loss, max_points=500)
    x, y = np.asarray(fig.data[0].x), np.asarray(fig.data[0].y)
    assert len(x) == 500 and np.all(np.isfinite(y))
    assert x[-1] == 10_000 and y[-1] == np.float32(0.123)  # last point exact
    assert np.all(np.diff(x) > 0) and abs(y[0] - 2.0) < 0.01  # block means of a straight line
    short = viz.loss_curve([0, 1, 2], [1.0, np.nan, 0.5])
    assert list(short.data[0].x) == [0, 2]
    log = viz.loss_curve([0, 1, 2], [1.0, -1.0, 0.5], log_y=True, floor=0.2)
    assert list(log.data[0].y) == [1.0, 0.5] and log.layout.yaxis.type == "log"
    assert any(s.y0 == 0.2 for s in log.layout.shapes)


def test_schedule_curves_plot_k_from_1_and_snr_drops_the_sentinel():
    fig = viz.schedule_curves(BETA, ALPHA_BAR, BETA_TILDE)
    for tr in fig.data:
        assert tr.x[0] == 1 and tr.x[-1] == N and len(tr.x) == N
    np.testing.assert_allclose(fig.data[0].y, BETA[1:], rtol=1e-6)
    snr = ALPHA_BAR / (1 - ALPHA_BAR + 1e-300)
    s = viz.snr_curve(snr)
    np.testing.assert_allclose(s.data[0].y, np.log10(snr[1:]), rtol=1e-5)
    assert s.data[0].x[0] == 1
    assert any(sh.y0 == 0 for sh in s.layout.shapes)


def test_arrow_field_is_one_segment_trace_and_autoscaled_to_one_grid_spacing():
    v = uniform(45, 2)
    fig = viz.arrow_field(GRID, v, title="score")
    shafts = fig.data[0]
    x, y = np.asarray(shafts.x), np.asarray(shafts.y)
    assert len(x) == 3 * len(GRID) and np.all(np.isnan(x[2::3]))
    lengths = np.hypot(x[1::3] - x[0::3], y[1::3] - y[0::3])
    assert abs(lengths.max() - 0.5) < 1e-5  # grid spacing 0.5 in x and in y
    assert len(fig.data) == 2  # shafts + heads, no per-arrow traces


def test_density_heatmap_shows_p_or_log_p():
    lp = -uniform(8, 12) ** 2
    fig = viz.density_heatmap(XS, YS, lp)
    np.testing.assert_allclose(fig.data[0].z, np.exp(lp), rtol=1e-6)
    assert fig.data[0].colorbar.title.text == "p(x)"
    log = viz.density_heatmap(XS, YS, np.where(lp < -0.5, -np.inf, lp), log_scale=True)
    assert np.all(np.isfinite(log.data[0].z)) and log.data[0].colorbar.title.text == "log p(x)"
    with pytest.raises(ValueError):
        viz.density_heatmap(XS, YS, lp.T)


@pytest.mark.parametrize("style", [Style.default(), Style.presenter()])
def test_a_title_subtitle_pushes_the_colour_bar_row_down_by_a_line(style):
    """The density's "dots: data" subtitle sits under the title; the colour bar's row must start below it
    (it overlapped the subtitle in the browser before apply_style counted it)."""
    lp = -uniform(8, 12) ** 2
    bare, dotted = viz.density_heatmap(XS, YS, lp, style=style), viz.density_heatmap(XS, YS, lp, points=uniform(20, 2),
                                                                                      style=style)
    assert dotted.layout.title.subtitle.text == "dots: data" and not bare.layout.title.subtitle.text
    line = 1.4 * style.font_size
    assert dotted.layout.margin.t - bare.layout.margin.t == pytest.approx(line, abs=1)
    drop_px = (bare.data[0].colorbar.y - dotted.data[0].colorbar.y) * style.height
    assert drop_px == pytest.approx(line, abs=0.5)


def many_title(xs, ys) -> str:
    return viz.logdet_heatmaps(xs, ys, uniform(4, 8, 12), uniform(8, 12)).layout.title.text


def test_coupling_titles_name_the_kept_coordinate_and_nice_logdets_are_flat():
    title = BUILDERS["coupling_view"](Style()).layout.title.text.replace("<br>", " ")
    assert "the first coordinate u is kept" in title
    fig = viz.coupling_view(uniform(30, 2), uniform(30, 2), LINES, LINES, 1)
    assert "the second coordinate u is kept" in fig.layout.title.text.replace("<br>", " ")  # u: not z₁ (Eq. (12))
    assert "(kept)" in fig.layout.yaxis.title.text and "(transformed)" in fig.layout.xaxis.title.text
    nice = viz.logdet_heatmaps(XS, YS, np.zeros((4, 8, 12)), np.zeros((8, 12)))
    assert "volume-preserving" in nice.layout.title.text and len(nice.data) == 5
    # NICE as the app draws it: zero couplings plus the fixed standardization's constant log-det
    per = np.concatenate([np.zeros((3, 8, 12)), np.full((1, 8, 12), -0.7)])
    std = viz.logdet_heatmaps(XS, YS, per, per.sum(0))
    assert "constant in x" in std.layout.title.text
    assert "constant" not in many_title(XS, YS)
    many = viz.logdet_heatmaps(XS, YS, uniform(20, 8, 12), uniform(8, 12), max_layers=6)
    assert len(many.data) == 7 and many.layout.coloraxis.cmin == -many.layout.coloraxis.cmax


def test_bound_ledger_uses_log_y_when_terms_span_decades():
    terms = np.logspace(0, -4, 99)
    fig = viz.bound_ledger(0.001, terms, 0.2, 1.5)
    assert fig.layout.yaxis2.type == "log" and "1.5 nats per point" in fig.layout.title.text.replace("<br>", " ")
    assert viz.bound_ledger(0.001, np.full(9, 0.5), 0.2, 4.7).layout.yaxis2.type == "linear"
