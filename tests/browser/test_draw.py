"""Draw your own data (Data page, ui/draw.py), in Chromium: a ring drawn with mouse moves becomes points along it,
the spray and Undo change the drawing, "Use this drawing" stores the points by their hash (`pts=…`, the test
server's store) like an upload, a flow trains on them in a few steps, and its samples follow the ring; the link
opens the same data in a fresh browser context."""

from __future__ import annotations

import math
import re
import time
from urllib.parse import parse_qs, urlsplit

import numpy as np
from conftest import RUN_TIMEOUT_MS, AppDriver, open_page

R = 2.0  # the ring's radius, data units (the canvas covers [-3, 3]²)
STEPS = 500  # the flow's planned steps (f_steps): a few seconds of training


def _canvas(app: AppDriver) -> dict:
    """The canvas's place on the page and its axes (data-* attributes set by ui/draw.py's script)."""
    cv = app.page.locator("canvas.gd-draw")
    cv.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
    cv.scroll_into_view_if_needed()
    box = cv.bounding_box()
    d = {k: float(v) for k, v in cv.evaluate("(c) => ({...c.dataset})").items()}
    return {**d, **box}


def _to_page(c: dict, x: float, y: float) -> tuple[float, float]:
    span = c["hi"] - c["lo"]
    pw, ph = c["width"] - c["ml"] - c["mr"], c["height"] - c["mt"] - c["mb"]
    return (c["x"] + c["ml"] + (x - c["lo"]) / span * pw, c["y"] + c["mt"] + (c["hi"] - y) / span * ph)


def _wait_canvas(app: AppDriver, strokes: int, what: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        c = _canvas(app)
        if int(c.get("strokes", -1)) == strokes and not app.busy():
            app.wait_idle()
            return _canvas(app)
        if time.monotonic() > deadline:
            app.assert_no_crash(what)
            raise AssertionError(f"timed out waiting for {what}: canvas {c}")
        time.sleep(0.2)


def test_draw_a_ring_and_train_a_flow_on_it(app, app_server, browser, artifacts):
    page = app.page
    page.goto(f"{app.url}/data?f_steps={STEPS}")
    app.wait_title("Data")
    app.wait_idle()
    page.get_by_role("tab", name="Draw your own").click()
    app.wait_idle()
    c = _wait_canvas(app, 0, "the empty canvas")
    assert c["lo"] == -3 and c["hi"] == 3

    # a ring, drawn with the pen: mouse down, 80 moves around the circle, mouse up
    page.mouse.move(*_to_page(c, R, 0.0))
    page.mouse.down()
    for i in range(1, 81):
        a = 2 * math.pi * i / 80
        page.mouse.move(*_to_page(c, R * math.cos(a), R * math.sin(a)), steps=2)
    page.mouse.up()
    c = _wait_canvas(app, 1, "the ring stroke")
    assert int(c["n"]) == 2000  # the default number of points
    page.screenshot(path=str(artifacts / "draw_ring.png"))

    # the spray held at the centre for a moment adds a stroke; Undo takes it away again
    page.get_by_text("Spray", exact=True).click()
    app.wait_idle()
    page.mouse.move(*_to_page(c, 0.0, 0.0))
    page.mouse.down()
    page.wait_for_timeout(400)
    page.mouse.up()
    _wait_canvas(app, 2, "the spray stroke")
    app.click_button("Undo")
    _wait_canvas(app, 1, "the drawing after Undo")

    app.click_button("Use this drawing as the data")
    page.wait_for_url(re.compile(r"[?&]pts=[0-9a-f]{16}"), timeout=RUN_TIMEOUT_MS)
    key = parse_qs(urlsplit(page.url).query)["pts"][0]
    app.wait_idle()
    stored = app_server.store / "points" / f"{key}.npy"
    assert stored.is_file(), f"the drawing is not in the test server's store: {stored}"
    x = np.load(stored)
    r = np.hypot(x[:, 0], x[:, 1])
    assert x.shape == (2000, 2) and abs(np.median(r) - R) < 0.05 and np.quantile(np.abs(r - R), 0.99) < 0.35, \
        "the stored points do not lie along the drawn ring"
    app.assert_no_crash("after using the drawing")

    # a flow trains on the drawn points (a shared job like a built-in dataset's) and its samples follow the ring
    app.navigate("Normalizing flows", "flows", "Normalizing flows")
    assert f"pts={key}" in page.url
    app.click_button("Train")
    app.wait_trained(300, "the flow trained on the drawing")
    chart = app.chart("flow_samples")
    assert chart is not None, "no samples chart after training"
    traces = {t["name"]: t for t in chart["traces"]}
    samples = next(t for name, t in traces.items() if "data" not in name.lower())
    s = np.stack([samples["x"], samples["y"]], axis=1)
    rs = np.hypot(s[:, 0], s[:, 1])
    near = np.mean(np.abs(rs - R) < 0.5)
    inside = np.mean(rs < 1.0)
    print(f"flow samples: {len(s)}, within 0.5 of the ring {near:.3f}, inside r < 1 {inside:.3f}")
    # a Gaussian fit to the ring's points, N(0, (R²/2) I), has P(1.5 < r < 2.5) = e^{-9/16} − e^{-25/16} ≈ 36 %
    # and P(r < 1) = 1 − e^{-1/4} ≈ 22 % (r is Rayleigh): the flow must do far better than that
    assert len(s) >= 500 and near > 0.8 and inside < 0.05, (near, inside)
    page.console.assert_clean()

    # the link works in a fresh browser context (a new session): the same points, by their hash
    with open_page(browser, app.url) as fresh:
        other = AppDriver(fresh, app.url)
        fresh.goto(f"{app.url}/data?pts={key}")
        other.wait_title("Data")
        other.wait_idle()
        assert fresh.get_by_text(re.compile(rf"your data \(drawing, {key[:8]}")).count() >= 1
        other.assert_no_crash("the drawing's link in a fresh session")
        fresh.console.assert_clean()


def test_draw_an_L_in_presenter_mode_at_1280x720(app, artifacts):
    """On a projector: the tab's toolbar and canvas fit the width, and an L drawn with the mouse is kept."""
    page = app.page
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{app.url}/data?presenter=true")
    app.wait_title("Data")
    app.wait_idle()
    page.get_by_role("tab", name="Draw your own").click()
    app.wait_idle()
    c = _wait_canvas(app, 0, "the empty canvas")
    assert c["ml"] > 44, "presenter mode: larger margins for larger tick labels"
    page.mouse.move(*_to_page(c, -2.0, 2.0))
    page.mouse.down()
    for i in range(1, 41):  # down the long leg, then along the short one
        page.mouse.move(*_to_page(c, -2.0, 2.0 - 4.0 * i / 40), steps=2)
    for i in range(1, 31):
        page.mouse.move(*_to_page(c, -2.0 + 3.0 * i / 30, -2.0), steps=2)
    page.mouse.up()
    c = _wait_canvas(app, 1, "the L stroke")
    assert int(c["n"]) == 2000
    assert c["x"] + c["width"] <= 1280
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), "horizontal overflow"
    assert page.get_by_text("1 stroke(s), 2,000 points: not the data yet").count() == 1
    page.screenshot(path=str(artifacts / "draw_L_presenter_1280x720.png"))
    app.assert_no_crash("drawing in presenter mode")
    page.console.assert_clean()
