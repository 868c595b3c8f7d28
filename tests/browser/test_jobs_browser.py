"""Trainings are server-side jobs, shared and computed once (issue 17), in a real browser.

* A reload keeps the view and its trained model: the same samples, "trained" at once, no training.
* The copied URL in a fresh browser shows the same view and model, without training.
* Sessions with the same settings that press Train together share one job: one training, one result.
* Scrubbing the timeline shows the samples of that step; back at the end, the final ones.
* Two server processes that share a store: a model trained through one is shown by the other, untrained.
* A closed tab does not stop its job: the next visitor finds the result.

Every training here uses settings that nothing ships (a non-default seed, 1,000 planned steps), on a server with a
model store of its own (conftest.py `serve`). "No training" is observed from outside: the page's status never says
"queued" or "training" (STATUS_RECORDER_JS records every status it shows from the first byte of a load), and no
result is written to the store (StoreWrites: inotify on the store directory, one event per finished job).
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import STATUS_RECORDER_JS, AppDriver, StoreWrites, open_page, serve

pytestmark = pytest.mark.browser

TRAIN_S = 300.0  # a 1,000-step job on a loaded 2-core machine (worker start-up included), with room to spare
URL_PATH = "ddpm-training"
TITLE = "DDPM training"
SAMPLES = "ddpm_samples"
BUSY_NOTES = {"queued", "training"}


def _query(seed: int, steps: int = 1000) -> str:
    return f"d_seed={seed}&d_steps={steps}"


def _title_step(chart: dict) -> int:
    m = re.search(r"step ([\d,]+)", chart["title"])
    assert m, f"no step in the samples' title {chart['title']!r}"
    return int(m.group(1).replace(",", ""))


def _open(page, base: str, query: str) -> AppDriver:
    """Open the DDPM training page with `query`, the status recorder running from the first byte."""
    page.add_init_script(STATUS_RECORDER_JS)
    app = AppDriver(page, base)
    page.goto(f"{base}/{URL_PATH}?{query}")
    app.wait_title(TITLE)
    app.wait_idle()
    return app


def _train(app: AppDriver, what: str) -> dict:
    app.click_button("Train")
    st = app.wait_trained(TRAIN_S, f"{what}: 'trained' after Train")
    return st


def _shown_trained_without_training(app: AppDriver, what: str, steps: int = 1000) -> None:
    """The page shows a trained model, and never said "queued" or "training" since it loaded."""
    st = app.wait_trained(60.0, f"{what}: the trained model")
    rec = app.recorded()
    notes = [note for _, _, note in rec["status"]]
    assert notes and notes[0] == "trained" and not BUSY_NOTES & set(notes), f"{what}: status since the load: {rec}"
    assert not rec["errors"], f"{what}: errors shown: {rec['errors']}"
    assert st["value"] == f"{steps:,} / {steps:,}", st


def _same_query(a: str, b: str) -> bool:
    return parse_qs(urlsplit(a).query) == parse_qs(urlsplit(b).query)


@pytest.fixture(scope="module")
def jobs_server():
    with serve("streamlit-jobs-server.log") as server:
        yield server


@pytest.fixture(scope="module")
def trained(browser, jobs_server):
    """A DDPM trained through the page (seed 3, 1,000 steps): its URL, the final samples, and the store's writes."""
    with StoreWrites(jobs_server.store) as writes, open_page(browser, jobs_server.url) as page:
        app = _open(page, jobs_server.url, _query(3))
        assert app.button("Train").count() == 1, "these settings must not be trained yet"
        t0 = time.monotonic()
        _train(app, "seed 3")
        trained_s = time.monotonic() - t0
        chart = app.chart(SAMPLES)
        assert chart is not None and _title_step(chart) == 1000, chart
        app.assert_no_crash("after training")
        page.console.assert_clean()
        _wait_writes(writes, 1, "the trained model's file")
        print(f"seed 3: trained in {trained_s:.1f} s (click → 'trained'); store writes {writes.names()}")
        return {"url": page.url, "samples": chart, "file": writes.names()[0]}


def _wait_writes(writes: StoreWrites, n: int, what: str, timeout_s: float = 30.0) -> list[str]:
    """The store's writes once there are `n` (the page can say "trained" a moment before the file is renamed in)."""
    deadline = time.monotonic() + timeout_s
    while len(names := writes.names()) < n:
        assert time.monotonic() < deadline, f"{what}: {len(names)} store writes after {timeout_s:.0f} s: {names}"
        time.sleep(0.1)
    return names


def test_a_reload_keeps_the_view_and_its_trained_model(browser, jobs_server, trained):
    with StoreWrites(jobs_server.store) as writes, open_page(browser, jobs_server.url) as page:
        app = _open(page, jobs_server.url, urlsplit(trained["url"]).query)
        _shown_trained_without_training(app, "opened")
        page.reload()
        app.wait_title(TITLE)
        _shown_trained_without_training(app, "after the reload")
        assert _same_query(page.url, trained["url"]), (page.url, trained["url"])
        assert app.chart(SAMPLES) == trained["samples"], "the reloaded page shows other samples"
        app.assert_no_crash("after the reload")
        page.console.assert_clean()
        time.sleep(1.0)
        assert writes.names() == [], f"something was trained: {writes.names()}"


def test_the_copied_url_in_a_fresh_browser_shows_the_same_model_without_training(browser, jobs_server, trained):
    with StoreWrites(jobs_server.store) as writes, open_page(browser, jobs_server.url) as page:  # a new context
        page.add_init_script(STATUS_RECORDER_JS)
        app = AppDriver(page, jobs_server.url)
        page.goto(trained["url"])
        app.wait_title(TITLE)
        _shown_trained_without_training(app, "the copied URL")
        assert app.chart(SAMPLES) == trained["samples"], "the copied URL shows other samples"
        assert app.button("Train").count() == 0
        app.assert_no_crash("the copied URL")
        page.console.assert_clean()
        time.sleep(1.0)
        assert writes.names() == [], f"something was trained: {writes.names()}"


def test_sessions_with_the_same_settings_that_press_train_together_share_one_training(browser, jobs_server):
    n = 3
    query = _query(4)
    with StoreWrites(jobs_server.store) as writes, \
            open_page(browser, jobs_server.url) as p0, open_page(browser, jobs_server.url) as p1, \
            open_page(browser, jobs_server.url) as p2:
        apps = [_open(p, jobs_server.url, query) for p in (p0, p1, p2)]
        for app in apps:
            assert app.button("Train").count() == 1
        t0 = time.monotonic()
        for app in apps:  # at about the same time: each click within a fraction of a second of the previous
            app.button("Train").first.click()
        clicks_s = time.monotonic() - t0
        finals = [app.wait_trained(TRAIN_S, f"session {i}: 'trained'") for i, app in enumerate(apps)]
        done_s = time.monotonic() - t0
        names = _wait_writes(writes, 1, "the shared result")
        time.sleep(2.0)
        names = writes.names()
        charts = [app.chart(SAMPLES) for app in apps]
        print(f"{n} sessions: clicks took {clicks_s:.2f} s; all 'trained' after {done_s:.1f} s; store writes {names}; "
              f"statuses seen: {[[n for _, _, n in a.recorded()['status']] for a in apps]}")
        assert [f["value"] for f in finals] == ["1,000 / 1,000"] * n, finals
        assert len(names) == 1, f"{len(names)} results written for one setting: it was trained {len(names)} times"
        assert all(c == charts[0] for c in charts), "the sessions show different samples"
        for i, app in enumerate(apps):
            assert not app.recorded()["errors"], f"session {i}: {app.recorded()['errors']}"
            app.assert_no_crash(f"session {i}")
            app.page.console.assert_clean()


def _timeline(page):
    return (page.locator('[data-testid="stMain"] [data-testid="stSlider"]')
            .filter(has=page.get_by_text("training timeline (step)", exact=True)).get_by_role("slider").first)


def test_scrubbing_the_timeline_shows_the_samples_of_that_step(browser, jobs_server, trained):
    with StoreWrites(jobs_server.store) as writes, open_page(browser, jobs_server.url) as page:
        app = _open(page, jobs_server.url, urlsplit(trained["url"]).query)
        app.wait_trained(60.0)
        final = app.chart(SAMPLES)
        assert final == trained["samples"]
        slider = _timeline(page)
        assert slider.get_attribute("aria-valuetext") == "1,000", slider.get_attribute("aria-valuetext")
        for want in (980, 960, 940):  # a key press at a time: each moves one snapshot back (every 20 steps)
            slider.focus()
            slider.press("ArrowLeft")
            app._wait_for(lambda: app.chart(SAMPLES), lambda c, w=want: _title_step(c) == w and not app.busy(),
                          120.0, f"the samples of step {want}")
        app.wait_idle()
        chart = app.chart(SAMPLES)
        assert _title_step(chart) == 940, chart["title"]
        assert slider.get_attribute("aria-valuetext") == "940"
        assert parse_qs(urlsplit(page.url).query).get("d_at") == ["940"], page.url
        assert chart["traces"] != final["traces"], "the samples did not change with the step"
        assert app.status()["value"] == "940 (of 1,000)", app.status()

        slider.focus()
        slider.press("End")
        app._wait_for(lambda: app.chart(SAMPLES), lambda c: _title_step(c) == 1000, 120.0, "the final samples again")
        app.wait_idle()
        assert app.chart(SAMPLES) == final, "back at the end, the samples are not the final ones"
        assert not app.recorded()["errors"], app.recorded()["errors"]
        app.assert_no_crash("after scrubbing")
        page.console.assert_clean()
        assert writes.names() == [], "scrubbing trained something"


def test_two_servers_sharing_a_store_show_each_others_models_without_training(browser, tmp_path):
    store = tmp_path / "shared-store"
    store.mkdir()
    query = _query(6)
    with serve("streamlit-shared-store-1.log", store=store) as one, \
            serve("streamlit-shared-store-2.log", store=store) as two, StoreWrites(store) as writes:
        with open_page(browser, one.url) as page:
            app = _open(page, one.url, query)
            _train(app, "server 1")
            samples = app.chart(SAMPLES)
            page.console.assert_clean()
        names = _wait_writes(writes, 1, "server 1's result")
        with open_page(browser, two.url) as page:
            app = _open(page, two.url, query)
            _shown_trained_without_training(app, "server 2")
            assert app.chart(SAMPLES) == samples, "server 2 shows other samples"
            app.assert_no_crash("server 2")
            page.console.assert_clean()
        time.sleep(1.0)
        assert writes.names() == names, f"server 2 trained it again: {writes.names()}"


def test_a_closed_tab_leaves_its_job_to_finish_for_the_next_visitor(browser, jobs_server):
    query = _query(7, steps=10_000)  # long enough to be seen running on a quick machine (1,000 steps: ~1.5 s)
    with StoreWrites(jobs_server.store) as writes:
        with open_page(browser, jobs_server.url) as page:
            app = _open(page, jobs_server.url, query)
            app.click_button("Train")
            app.wait_status(lambda s: s["note"] in BUSY_NOTES, 120.0, "the job to start")
        t_closed = time.monotonic()  # the tab is gone; no heartbeat, nothing stops the job
        names = _wait_writes(writes, 1, "the closed tab's job to finish", timeout_s=TRAIN_S)
        print(f"the job finished {time.monotonic() - t_closed:.1f} s after its tab closed: {names}")
        with open_page(browser, jobs_server.url) as page:
            app = _open(page, jobs_server.url, query)
            _shown_trained_without_training(app, "the next visitor", steps=10_000)
            page.console.assert_clean()
        assert writes.names() == names
