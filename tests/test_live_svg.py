"""gendemo.viz.live_svg: the light SVG loss curve and sample cloud a page draws while training."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from gendemo.viz import live_svg, loss_curve_xy
from gendemo.viz.style import Style

NS = "{http://www.w3.org/2000/svg}"


def _coords(points_attr: str) -> np.ndarray:
    return np.array([[float(v) for v in p.split(",")] for p in points_attr.split()])


def _curve(root) -> np.ndarray:
    """The model-coloured polyline's pixel coordinates."""
    lines = [e for e in root.iter(f"{NS}polyline") if e.get("stroke") == live_svg.PALETTE["model"]]
    assert len(lines) == 1
    return _coords(lines[0].get("points"))


@pytest.mark.parametrize("lo, hi", [(0, 3000), (0.37, 0.41), (-5, 17), (1e-3, 2e-3), (0, 1)])
def test_nice_ticks_are_round_and_inside(lo, hi):
    ticks = live_svg.nice_ticks(lo, hi)
    assert 3 <= len(ticks) <= 11, ticks
    assert all(lo - 1e-12 <= t <= hi + 1e-12 for t in ticks)
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0])
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 5)), steps[0]


@pytest.mark.parametrize("lo, hi", [(0.5, 1.6), (0.01, 10), (0.2, 0.3), (3, 4000)])
def test_log_ticks_are_inside_and_increasing(lo, hi):
    ticks = live_svg.log_ticks(lo, hi)
    assert len(ticks) >= 2 and all(lo <= t <= hi for t in ticks) and ticks == sorted(set(ticks))


def test_loss_svg_draws_the_same_points_as_the_plotly_curve_on_a_log_axis():
    steps = np.arange(1, 5001)
    losses = 0.4 + np.exp(-steps / 500.0)
    losses[10] = np.nan  # dropped, as by loss_curve
    svg = live_svg.loss_svg(steps, losses, log_y=True, max_points=400, title="L_simple, Eq. (10)")
    root = ET.fromstring(svg)
    x, y = loss_curve_xy(steps, losses, log_y=True, max_points=400)
    assert root.get("data-n") == str(x.size) and root.get("data-last-step") == "5000"
    px = _curve(root)
    assert len(px) == x.size and np.all(np.diff(px[:, 0]) > 0)  # one point per step block, left to right
    # the y map is log-linear: pixel height is an affine function of log10(loss) (y grows downwards)
    slope, intercept = np.polyfit(np.log10(y), px[:, 1], 1)
    assert slope < 0 and np.allclose(slope * np.log10(y) + intercept, px[:, 1], atol=0.06)
    # and x is linear in the step, from the left edge at step 0
    slope_x, icept_x = np.polyfit(x, px[:, 0], 1)
    assert np.allclose(slope_x * x + icept_x, px[:, 0], atol=0.06)


def test_loss_svg_floor_line_empty_history_and_escaping():
    root = ET.fromstring(live_svg.loss_svg([1, 2, 3], [1.0, 0.8, 0.7], floor=0.5, floor_label="H(q₀) = 0.500",
                                           title="<script>alert(1)</script>"))
    assert not list(root.iter(f"{NS}script")) and "<script>" in "".join(root.itertext())
    dashed = [e for e in root.iter(f"{NS}line") if e.get("stroke-dasharray")]
    assert len(dashed) == 1 and "H(q₀) = 0.500" in "".join(root.itertext())
    floor_y = float(dashed[0].get("y1"))
    assert floor_y > _curve(root)[:, 1].max()  # below every loss on screen
    empty = ET.fromstring(live_svg.loss_svg([], [], log_y=True))
    assert empty.get("data-n") == "0" and "no finite values yet" in "".join(empty.itertext())
    nan = ET.fromstring(live_svg.loss_svg([1, 2], [float("nan"), float("inf")]))
    assert nan.get("data-n") == "0"


def test_lecture_subscripts_become_svg_subscripts():
    root = ET.fromstring(live_svg.loss_svg([1, 2], [1.0, 0.5], title="samples x⁽⁰⁾ ~ p_θ"))
    subs = [t for t in root.iter(f"{NS}tspan") if t.get("baseline-shift") == "sub"]
    assert [t.text for t in subs] == ["θ"]


def test_scatter_svg_equal_aspect_and_every_visible_point():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(800, 2)) * [3.0, 1.0]
    model = rng.normal(size=(300, 2)) * [3.0, 1.0]
    model[0] = [np.nan, 0.0]
    svg = live_svg.scatter_svg(model, reference=data, title="samples", style=Style.presenter())
    root = ET.fromstring(svg)
    paths = {p.get("stroke"): p.get("d") for p in root.iter(f"{NS}path")}
    moves = {c: re.findall(r"M([-\d.]+) ([-\d.]+)h0", d) for c, d in paths.items()}
    drawn = moves[live_svg.PALETTE["model"]]
    assert root.get("data-n") == "299"
    assert 280 <= len(drawn) <= 299  # all finite points but the few outside the robust view
    assert 700 <= len(moves[live_svg.PALETTE["data"]]) <= 800
    # equal aspect: data units per pixel are the same along x and y (two points one unit apart in x and in y)
    probe = ET.fromstring(live_svg.scatter_svg(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), reference=data))
    (x0, y0), (x1, y1), (x2, y2) = [(float(a), float(b)) for a, b in
                                    re.findall(r"M([-\d.]+) ([-\d.]+)h0",
                                               [p.get("d") for p in probe.iter(f"{NS}path")
                                                if p.get("stroke") == live_svg.PALETTE["model"]][0])]
    assert y1 == y0 and x2 == x0 and abs((x1 - x0) - (y0 - y2)) < 0.15


def test_density_svg_embeds_the_grid_as_an_image_in_the_right_orientation():
    import base64
    import io

    from PIL import Image

    xs, ys = np.linspace(-2.0, 2.0, 40), np.linspace(-1.0, 3.0, 30)
    X, Y = np.meshgrid(xs, ys)
    log_p = -((X - 1.0) ** 2 + (Y - 2.0) ** 2)  # peak at (1, 2): right of centre, near the top
    log_p[0, 0] = np.nan  # drawn as zero density, like the plotly heatmap
    root = ET.fromstring(live_svg.density_svg(xs, ys, log_p, points=np.zeros((5, 2)), title="p_x(x)"))
    (image,) = list(root.iter(f"{NS}image"))
    png = base64.b64decode(image.get("href").split(",", 1)[1])
    im = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert im.shape == (30, 40, 3)  # one pixel per grid cell
    row, col = np.unravel_index(np.argmax(im.sum(axis=2)), im.shape[:2])  # Viridis: brightest = densest
    assert (29 - row, col) == np.unravel_index(np.argmax(np.nan_to_num(log_p, nan=-np.inf)), log_p.shape)
    assert tuple(im[29, 0]) == tuple(live_svg._VIRIDIS[0].astype(int))  # the NaN cell (bottom left): p = 0
    assert float(root.get("data-max")) == pytest.approx(np.exp(np.nanmax(log_p)), rel=1e-5)
    # the image spans the grid's cells in data coordinates: same width/height ratio as (x range)/(y range)
    w, h = float(image.get("width")), float(image.get("height"))
    assert w / h == pytest.approx((4.0 + 4.0 / 39) / (4.0 + 4.0 / 29), rel=0.01)
    with pytest.raises(ValueError, match="shape"):
        live_svg.density_svg(xs, ys, log_p.T)


def test_latent_svg_draws_the_sigma_circles_as_circles():
    root = ET.fromstring(live_svg.scatter_svg(np.zeros((3, 2)), circles=(1.0, 2.0, 3.0),
                                              min_range=((-3.3, 3.3), (-3.3, 3.3))))
    ellipses = list(root.iter(f"{NS}ellipse"))
    rx = [float(e.get("rx")) for e in ellipses]
    assert len(ellipses) == 3 and all(float(e.get("rx")) == pytest.approx(float(e.get("ry")), abs=0.15)
                                      for e in ellipses)
    assert rx[1] == pytest.approx(2 * rx[0], abs=0.2) and rx[2] == pytest.approx(3 * rx[0], abs=0.2)


def test_live_figures_refuse_what_their_plotly_twins_refuse():
    with pytest.raises(ValueError, match=r"points must have shape \(n, 2\)"):
        live_svg.scatter_svg(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="reference must have shape"):
        live_svg.scatter_svg(np.zeros((4, 2)), reference=np.zeros(8))
