"""Exports in a real browser (issue 14, part 3).

* The standalone HTML of an animation opens from a file:// URL in Chromium with every network request aborted,
  and its ▶ Play advances the frame (plotly.js is inside the file).
* In the app: the Forward page's "Make GIF and MP4" shows a progress bar, then the GIF and the MP4 download with
  as many frames as the chart on screen; a chart's modebar saves a PNG at slide resolution; the DDPM training
  page downloads its loss history as CSV (one row per step) and a checkpoint that carries that history.
"""

from __future__ import annotations

import io
import time

import imageio_ffmpeg
import numpy as np
import pytest
from conftest import RUN_TIMEOUT_MS
from PIL import Image

pytestmark = pytest.mark.browser

FRAME_JS = """() => {
  const g = document.querySelector('.js-plotly-plot');
  if (!g || !g._fullLayout || !g._fullData) return null;
  const s = (g._fullLayout.sliders || [])[0];
  const x = g._fullData[2] && g._fullData[2].x;
  return {active: s ? s.active : null, head: x ? Array.from(x.slice(0, 3), Number) : []};
}"""


def test_html_export_plays_offline(browser, tmp_path):
    from gendemo import viz
    from gendemo.viz import export as vx

    rng = np.random.default_rng(0)
    xs = (rng.standard_normal((30, 200, 2)) * np.linspace(0.2, 1.0, 30)[:, None, None]).astype(np.float32)
    path = tmp_path / "forward.html"
    path.write_bytes(vx.html_bytes(viz.forward_animation(xs, xs, list(range(30)))))

    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    asked: list[str] = []

    def block(route):
        if not route.request.url.startswith("file:"):
            asked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    ctx.route("**/*", block)
    try:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_function("() => { const g = document.querySelector('.js-plotly-plot');"
                               " return g && g._fullLayout; }", timeout=60_000)
        start = page.evaluate(FRAME_JS)
        assert start["active"] == 0
        page.locator(".updatemenu-button").filter(has_text="Play").click()
        deadline = time.monotonic() + 30
        while True:
            now = page.evaluate(FRAME_JS)
            if now["active"] != start["active"] and now["head"] != start["head"]:
                break
            assert time.monotonic() < deadline, f"no frame advanced after Play: {now}"
            time.sleep(0.1)
        assert not asked, f"the page asked the network for {asked}"
        assert not [e for e in errors if e != "undefined"], errors
    finally:
        ctx.close()


def _download(page, click) -> bytes:
    with page.expect_download(timeout=RUN_TIMEOUT_MS) as d:
        click()
    with open(d.value.path(), "rb") as fh:
        return fh.read()


def test_app_exports_animation_chart_and_numbers(app, page, tmp_path):
    from gendemo import checkpoints
    from gendemo.viz import Style

    page.set_viewport_size({"width": 1366, "height": 768})
    app.open_home()
    app.navigate("Forward process & β-schedules", "forward", "Forward process & β-schedules")
    n_frames = app.plot(".st-key-forward_anim .js-plotly-plot")["frames"]
    assert n_frames > 10

    # GIF + MP4, made on request with a progress bar
    page.get_by_text("Export this animation: GIF, MP4, HTML").click()
    app.click_button("Make GIF and MP4")
    seen_progress = False
    deadline = time.monotonic() + 180
    while not app.button("GIF").count():
        seen_progress |= page.locator('[data-testid="stMain"] [data-testid="stProgress"]').count() > 0
        assert time.monotonic() < deadline, "the GIF button did not appear"
        time.sleep(0.05)
    app.wait_idle()
    assert seen_progress, "no progress bar while the frames were drawn"
    gif = Image.open(io.BytesIO(_download(page, lambda: app.button("GIF").first.click())))
    assert gif.format == "GIF" and gif.n_frames == n_frames
    mp4 = tmp_path / "a.mp4"
    mp4.write_bytes(_download(page, lambda: app.button("MP4").first.click()))
    assert imageio_ffmpeg.count_frames_and_secs(str(mp4))[0] == n_frames

    # a chart as PNG at slide resolution, from the modebar
    chart = page.locator(".st-key-forward_schedule .js-plotly-plot")
    chart.hover()
    png = Image.open(io.BytesIO(_download(
        page, lambda: chart.locator('.modebar-btn[data-title*="png" i]').click())))
    h = Style.default().height
    assert png.format == "PNG" and png.size == (2 * round(h * 16 / 9), 2 * h)

    # the numbers of a training page as CSV, and a checkpoint that keeps its loss history
    app.navigate("DDPM training", "ddpm-training", "DDPM training")
    step = int(app.status()["value"].split("/")[0].replace(",", "").strip())
    page.get_by_text("Export the numbers (CSV)").click()
    data = _download(page, lambda: app.button("Loss history (CSV)").first.click())
    table = np.genfromtxt(io.BytesIO(data), delimiter=",", names=True, skip_header=2)
    assert table.dtype.names == ("step", "loss", "loss_mean_last_100") and table.size == step
    np.testing.assert_array_equal(table["step"], np.arange(1, step + 1))
    page.get_by_text("Save / load the model").click()
    ck = checkpoints.from_bytes(_download(page, lambda: app.button("Download model").first.click()))
    assert ck.step == step and ck.losses.size == step
    np.testing.assert_allclose(ck.losses, table["loss"], rtol=1e-6)
    app.assert_no_crash("exports")
    page.console.assert_clean()
