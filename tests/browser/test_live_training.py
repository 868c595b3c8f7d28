"""Live training in the browser (ui/live.py): Train starts the settings' job, the page follows it live (light SVG
panels), Pause freezes the view at a snapshot (the URL's d_at) while the job goes on, Follow follows it again,
Stop cancels it.

Each test trains settings that nothing ships (a seed of its own, the most planned steps of the widest network: it
runs all test long however fast the machine) on the session's server, and stops its job at the end, so that no
other test waits behind it.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs

import pytest
from conftest import STATUS_RECORDER_JS, StoreWrites

pytestmark = pytest.mark.browser

START_S = 180.0  # Train → the first live loss points: a script run, a worker's start-up, plotly.js's lazy load
GROW_S = 60.0
SETTLE_S = 120.0  # a click → its full rerun has settled (a loaded 2-core machine)
FROZEN_S = 2.0  # a paused view must not change for this long
# The most planned steps of a wide network: minutes of training even on a fast idle machine (~150 DDPM, ~75 flow
# steps/s on one core of the CI machine, measured idle), a first snapshot within seconds.
SLOW_DDPM = "d_steps=50000&d_width=256&d_batch=512"
SLOW_FLOW = "f_steps=20000&f_width=128&f_K=8&f_batch=512"


def _numbers(value: str) -> tuple[int, int]:
    """(the step shown, the job's step) of a status value: "1,234 / 20,000" or "1,200 (of 1,234)"."""
    m = re.fullmatch(r"([\d,]+)(?: / [\d,]+| \(of ([\d,]+)\))", value)
    assert m, f"cannot read the status {value!r}"
    shown = int(m.group(1).replace(",", ""))
    return shown, int(m.group(2).replace(",", "")) if m.group(2) else shown


def _at(page) -> str | None:
    """The frozen step of the URL (read in the page: the sync API's page.url lags until the next Playwright call)."""
    q = parse_qs(page.evaluate("location.search").lstrip("?"))
    return (q.get("d_at") or q.get("f_at") or [None])[0]


def train_pause_follow_stop(app, store, url_path: str, query: str, title: str, slot: str, loss_key: str,
                            picture_key: str) -> None:
    page = app.page
    page.add_init_script(STATUS_RECORDER_JS)
    with StoreWrites(store) as writes:
        page.goto(f"{app.url}/{url_path}?{query}")
        app.wait_title(title)
        app.wait_idle()
        app.assert_no_crash(title)
        assert app.button("Train").count() == 1, "these settings must not be trained yet"

        app.click_button("Train")
        first = app.wait_live_loss(loss_key, lambda s: s["n0"] > 0, START_S, f"the first live loss points ({loss_key})")
        grown = app.wait_live_loss(loss_key, lambda s: s["last_x0"] > first["last_x0"], GROW_S,
                                   f"the live loss curve to grow past step {first['last_x0']:.0f}")
        assert app.status()["note"] == "training", app.status()
        print(f"{slot}: live loss {first['n0']} → {grown['n0']} points, step {first['last_x0']:.0f} → "
              f"{grown['last_x0']:.0f}")
        app.assert_no_crash(f"{title}, following")

        # Pause. (Right after Train the page may offer Follow instead: see test_pause_is_offered_right_after_train.)
        if app.button("Pause").count() == 0:
            app.click_button("Follow")
            app.button("Pause").first.wait_for(timeout=SETTLE_S * 1000)
        planned = int(parse_qs(query)["d_steps" if slot == "ddpm" else "f_steps"][0])
        every = planned // 50  # gendemo.jobs.SNAPSHOTS: the timeline's grid
        st = app.wait_status(lambda s: _numbers(s["value"])[0] > every, START_S, "a snapshot past step 0")
        before = _numbers(st["value"])[0]  # the job's step, which a following page shows
        app.click_button("Pause")
        app.button("Follow").first.wait_for(timeout=SETTLE_S * 1000)
        app.wait_idle()
        at = _at(page)
        assert at is not None, f"Pause did not freeze the view in the URL: {page.url}"
        frozen = app.status()
        shown, job_step = _numbers(frozen["value"])
        assert shown == int(at) and frozen["note"] == "training", (at, frozen)
        # Pause freezes at the newest snapshot: the model exactly as it was after that step, a step of the grid.
        assert 0 < shown <= job_step and shown % every == 0, (f"Pause froze the view at step {shown} (the job was at "
                                                               f"{before} when paused, snapshots every {every}): "
                                                               f"{page.url}")
        # the frozen view's interactive charts replace the live SVG drawings
        picture = app._wait_for(lambda: app.chart(picture_key), lambda c: True, 30.0,
                                f"the frozen view's plotly chart {picture_key} (the live SVG is still shown: "
                                f"{page.locator(f'.st-key-{picture_key}_live').count()} drawing(s))")
        assert f"step {shown:,}" in picture["title"], picture["title"]
        loss = app.wait_plot(f".st-key-{loss_key} .js-plotly-plot", lambda c: True, 30.0,
                             f"the frozen view's plotly loss curve {loss_key}")
        assert loss["last_x0"] == shown, (loss, shown)  # the loss up to the frozen step
        time.sleep(FROZEN_S)
        assert app.status() == frozen and app.chart(picture_key) == picture, "the paused view changed"
        assert _at(page) == at

        # Follow: live again, past the frozen step (the job went on meanwhile).
        app.click_button("Follow")
        again = app.wait_live_loss(loss_key, lambda s: s["last_x0"] > job_step and s["n0"] > 0, GROW_S,
                                   "the live loss curve past the frozen step")
        assert _at(page) is None, page.url
        print(f"{slot}: paused at snapshot {shown} (job at {job_step}), followed again at step {again['last_x0']:.0f}")

        # Stop: this tab alone watches the job, so it is cancelled: Train again, nothing stored.
        app.click_button("Stop")
        app.button("Train").first.wait_for(timeout=SETTLE_S * 1000)
        app.wait_idle()
        rec = app.recorded()
        jobs_steps = [_numbers(v)[1] for _, v, _ in rec["status"]]
        assert jobs_steps == sorted(jobs_steps), f"the job's step went back: {rec['status']}"
        assert not rec["errors"], rec["errors"]
        assert writes.names() == [], f"a cancelled job stored something: {writes.names()}"
        app.assert_no_crash(f"{title}, stopped")
        page.console.assert_clean()


def test_ddpm_train_follow_pause_and_stop(app, app_server):
    train_pause_follow_stop(app, app_server.store, "ddpm-training", f"d_seed=21&{SLOW_DDPM}", "DDPM training",
                            "ddpm", "ddpm_loss", "ddpm_samples")


def test_flows_train_follow_pause_and_stop(app, app_server):
    train_pause_follow_stop(app, app_server.store, "flows", f"f_seed=21&{SLOW_FLOW}", "Normalizing flows",
                            "flow", "flow_loss", "flow_density")


def test_pause_is_offered_right_after_train(app):
    page = app.page
    page.goto(f"{app.url}/ddpm-training?d_seed=22&{SLOW_DDPM}")
    app.wait_title("DDPM training")
    app.wait_idle()
    try:
        app.click_button("Train")
        app.wait_live_loss("ddpm_loss", lambda s: s["n0"] > 0, START_S, "the first live loss points")
        time.sleep(2.0)
        buttons = [b for b in ("Pause", "Follow", "Stop") if app.button(b).count()]
        assert buttons == ["Pause", "Stop"], f"following a job it started, the page offers {buttons}"
    finally:
        if app.button("Stop").count():
            app.click_button("Stop")
            app.button("Train").first.wait_for(timeout=SETTLE_S * 1000)


def test_stop_on_a_paused_view_offers_train_again(app):
    page = app.page
    page.goto(f"{app.url}/ddpm-training?d_seed=23&{SLOW_DDPM}")
    app.wait_title("DDPM training")
    app.wait_idle()
    try:
        app.click_button("Train")
        app.wait_status(lambda s: _numbers(s["value"])[0] > 0, START_S, "a snapshot past step 0")
        if app.button("Pause").count() == 0:
            app.click_button("Follow")
            app.button("Pause").first.wait_for(timeout=SETTLE_S * 1000)
        app.click_button("Pause")
        app.button("Follow").first.wait_for(timeout=SETTLE_S * 1000)
        app.wait_idle()
        app.click_button("Stop")
        app.button("Train").first.wait_for(timeout=30_000)
    finally:
        if app.button("Stop").count():  # rerun the page (Follow): it shows Train, or a job still to stop
            if app.button("Follow").count():
                app.click_button("Follow")
                app.button("Train").or_(app.button("Pause")).first.wait_for(timeout=SETTLE_S * 1000)
            if app.button("Stop").count():
                app.click_button("Stop")
                app.button("Train").first.wait_for(timeout=SETTLE_S * 1000)
