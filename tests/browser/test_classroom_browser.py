"""The classroom in a real browser (issue 5): uploads, foreign websockets, outside requests, double clicks.

Uses the harness of conftest.py (server `app_url`, `page`, `app` driver, console checks, screenshots on failure).

* A good CSV (semicolon, header, decimal commas) uploaded on the Data page becomes the dataset; a bad one
  (gzip renamed .csv, binary garbage) gets exactly one error alert and the previous dataset stays.
* The sidebar names the dataset the page trains on, right after an upload.
* A websocket to /_stcore/stream from a foreign Origin is refused; from the app's own origin it is accepted.
* Visiting every page and training briefly requests nothing from any host but the app's own.
* Double-clicking Train / Pause / Step and moving the timeline slider while a job trains never creates a second
  job (the job's step only grows, its plan stays, nothing else is stored) and never shows an exception or error.
* "Download model" gives a checkpoint of the model on screen that the engine loads.
"""

from __future__ import annotations

import base64
import gzip
import os
import random
import re
import socket
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import torch
from conftest import STATUS_RECORDER_JS, StoreWrites

pytestmark = pytest.mark.browser

HOME_TITLE = "DDPMs and normalizing flows"
UPLOAD_TAB = "Your own points (CSV)"
SETTLE_S = 120.0  # an upload or a widget change → the page shows the result (a loaded 2-core machine)
TRAIN_S = 300.0  # Train → a small job is trained (a worker's start-up included, a loaded 2-core machine)


def _good_csv(rows: int = 300) -> bytes:
    """Semicolon-separated, a header, European decimal commas: two noisy clusters."""
    rng = random.Random(5)
    lines = ["x;y"]
    for i in range(rows):
        cx, cy = (-2.0, 1.0) if i % 2 else (3.0, -0.5)
        lines.append(f"{cx + rng.gauss(0, 0.5):.4f};{cy + rng.gauss(0, 0.5):.4f}".replace(".", ","))
    return ("\n".join(lines) + "\n").encode()


GOOD = _good_csv()
GOOD_TRAIN_N = int(0.6 * 300)  # ui.data.from_points trains on 60 % of the rows
BAD_FILES = [
    ("points.csv", gzip.compress(GOOD), "gzip"),  # a compressed file renamed .csv
    ("garbage.csv", random.Random(1).randbytes(4096), "binary"),  # random bytes: not UTF-8
]


def _dataset_label(page) -> str:
    """The Data page's heading over the scatter plot: the dataset's label."""
    return " | ".join(page.locator('[data-testid="stMain"] h3').all_inner_texts())


def _sidebar_data(page) -> str:
    texts = page.locator('[data-testid="stSidebar"] [data-testid="stCaptionContainer"]').all_inner_texts()
    return next((t for t in texts if t.startswith("Data:")), "")


def _errors(page) -> tuple[list[str], list[str]]:
    """(error alerts, exception boxes) in the main area."""
    main = page.locator('[data-testid="stMain"]')
    return (main.locator('[data-testid="stAlertContentError"]').all_inner_texts(),
            main.locator('[data-testid="stException"]').all_inner_texts())


def _wait(predicate, timeout_s: float, what: str, poll_s: float = 0.2, app=None):
    deadline = time.monotonic() + timeout_s
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}"
                                 + (f"; page state: {_describe(app)}" if app is not None else ""))
        time.sleep(poll_s)


def _describe(app) -> str:
    """What the page shows, for a failure message."""
    from playwright.sync_api import Error as PlaywrightError  # imported here: conftest decides skip vs fail

    try:
        buttons = [b for b in ("Train", "Pause", "Follow", "Step", "Stop") if app.button(b).count()]
        return (f"url {app.page.url}, status {app.status()!r}, buttons {buttons}, busy {app.busy()!r}, crash messages "
                f"{app.crash_messages()}, body text {app.page.evaluate('document.body.innerText.slice(0, 400)')!r}")
    except PlaywrightError as exc:  # the page itself may be the problem
        return f"(could not read the page: {exc!r})"


def _upload(app, name: str, data: bytes) -> None:
    app.page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": data}])


def _open_data_upload_tab(app) -> None:
    app.open_home()
    app.navigate("Data", "data", "Data")
    app.page.get_by_role("tab", name=UPLOAD_TAB).click()
    app.page.locator('[data-testid="stFileUploader"]').wait_for(state="visible")


# ---------------------------------------------------------------------------------------------------------
# Uploads on the Data page.


def test_upload_good_then_bad_csv(app, page):
    _open_data_upload_tab(app)
    before = _dataset_label(page)
    assert before.startswith("moons"), before

    _upload(app, "good.csv", GOOD)
    _wait(lambda: "good.csv" in _dataset_label(page), SETTLE_S, "the page to show the uploaded dataset")
    app.wait_idle()
    label = _dataset_label(page)
    assert label.startswith("your data (good.csv") and f"n = {GOOD_TRAIN_N}" in label, label
    assert app.metric("^points$") == f"{GOOD_TRAIN_N:,}", app.metric("^points$")
    app.assert_no_crash("after the good upload")

    for name, data, kind in BAD_FILES:
        _upload(app, name, data)
        _wait(lambda n=name: n in " ".join(_errors(page)[0]), SETTLE_S, f"the error alert for {name} ({kind})")
        app.wait_idle()
        errors, exceptions = _errors(page)
        assert not exceptions, f"{name}: exception box(es): {exceptions}"
        assert len(errors) == 1, f"{name} ({kind}): expected exactly one error alert, got {len(errors)}: {errors}"
        assert "previous dataset stays" in errors[0], errors[0]
        assert _dataset_label(page) == label, f"{name}: the dataset changed: {_dataset_label(page)!r} != {label!r}"
        assert app.metric("^points$") == f"{GOOD_TRAIN_N:,}", f"{name}: {app.metric('^points$')}"
        print(f"{name} ({kind}): {errors[0]}")

    # The good dataset is still the one every page trains on: the sidebar (drawn by every full run) names it.
    app.navigate("DDPM training", "ddpm-training", "DDPM training")
    assert _sidebar_data(page) == f"Data: {label}", _sidebar_data(page)
    app.assert_no_crash("DDPM training after the uploads")
    page.console.assert_clean()


def test_sidebar_names_the_uploaded_dataset(app, page):
    """Right after a good upload, the sidebar's "Data:" caption names the same dataset as the page."""
    _open_data_upload_tab(app)
    _upload(app, "good.csv", GOOD)
    _wait(lambda: "good.csv" in _dataset_label(page), SETTLE_S, "the page to show the uploaded dataset")
    app.wait_idle()
    label = _dataset_label(page)
    assert _sidebar_data(page) == f"Data: {label}", (
        f"the page trains on {label!r}, but the sidebar still says {_sidebar_data(page)!r} (app.py draws the "
        "sidebar before the Data page applies the upload, so it lags by one rerun)")
    page.console.assert_clean()


# ---------------------------------------------------------------------------------------------------------
# The websocket's Origin check.


def _ws_status(base_url: str, origin: str) -> int:
    """HTTP status of a websocket handshake to /_stcore/stream with this Origin: 101 accepted, 403 refused."""
    u = urlsplit(base_url)
    target = f"ws://{u.netloc}/_stcore/stream"
    try:
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect
    except ImportError:  # a raw HTTP Upgrade request
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET /_stcore/stream HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: streamlit\r\n"
               f"Origin: {origin}\r\n\r\n")
        with socket.create_connection((u.hostname, u.port), timeout=30) as s:
            s.sendall(req.encode())
            head = s.recv(4096).decode("latin-1")
        return int(head.split()[1])
    try:
        with connect(target, origin=origin, subprotocols=["streamlit"], open_timeout=30) as ws:
            return ws.response.status_code
    except InvalidStatus as exc:
        return exc.response.status_code


def test_foreign_origin_websocket_is_refused(app_url):
    port = urlsplit(app_url).port
    # Control: the app's own origin gets the websocket (else "refused" below would prove nothing).
    assert _ws_status(app_url, app_url) == 101, "the same-origin websocket handshake was not accepted"
    for origin in ("http://evil.example", "https://evil.example", f"http://evil.example:{port}",
                   f"http://127.0.0.1.evil.example:{port}", "null"):
        status = _ws_status(app_url, origin)
        assert status == 403, f"a websocket from Origin {origin!r} got HTTP {status} (expected 403 refused)"


# ---------------------------------------------------------------------------------------------------------
# No request leaves the app's own host.


def _train_briefly(app, url_path: str, query: str, title: str) -> None:
    """Train settings that nothing ships (a small job) through the page, to the end."""
    app.page.goto(f"{app.url}/{url_path}?{query}")
    app.wait_title(title)
    app.wait_idle()
    app.click_button("Train")
    app.wait_trained(TRAIN_S, f"{title}: trained")
    app.assert_no_crash(title)


def test_no_request_to_another_host(app, page, app_url):
    own = urlsplit(app_url)
    seen: list[tuple[str, str]] = []  # (kind, url)
    page.context.on("request", lambda r: seen.append((r.resource_type, r.url)))
    page.on("websocket", lambda ws: seen.append(("websocket", ws.url)))

    app.open_home()
    links = page.locator('[data-testid="stSidebarNavLink"]')
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    labels = links.all_inner_texts()
    assert len(hrefs) >= 8, f"sidebar links: {labels}"
    for i, href in enumerate(hrefs[1:] + hrefs[:1]):  # every page, ending back at Home
        links.nth((i + 1) % len(hrefs)).click()
        page.wait_for_url(lambda u, h=href: u.rstrip("/") == h.rstrip("/") if h.startswith("http")
                          else urlsplit(u).path.rstrip("/") == urlsplit(h).path.rstrip("/"))
        app.wait_idle()
        app.assert_no_crash(f"page {href}")
    _train_briefly(app, "ddpm-training", "d_seed=31&d_steps=500", "DDPM training")
    _train_briefly(app, "flows", "f_seed=31&f_steps=300", "Normalizing flows")

    def ours(url: str) -> bool:
        p = urlsplit(url)
        return p.scheme in ("data", "blob") or (p.scheme in ("http", "ws") and p.netloc == own.netloc)

    foreign = sorted({f"{kind}: {url}" for kind, url in seen if not ours(url)})
    assert len(seen) > 20 and any(k == "websocket" for k, _ in seen), f"too few requests recorded: {seen[:5]}"
    print(f"{len(seen)} requests, {len({u for _, u in seen})} distinct URLs, {len(foreign)} to other hosts")
    assert not foreign, f"the pages requested {len(foreign)} URL(s) from other hosts:\n  " + "\n  ".join(foreign)
    page.console.assert_clean()


# ---------------------------------------------------------------------------------------------------------
# Double clicks and slider moves while a job trains.


def _job_step(value: str) -> tuple[int, int, int | None]:
    """(the step shown, the job's step, its planned total) of a status value: "1,234 / 50,000" (following, or at
    the end) or "1,200 (of 1,234)" (a frozen view)."""
    m = re.fullmatch(r"([\d,]+)(?: / ([\d,]+)| \(of ([\d,]+)\))", value)
    assert m, f"cannot read the status {value!r}"
    num = lambda g: int(g.replace(",", "")) if g else None
    shown = num(m.group(1))
    return shown, num(m.group(3)) or shown, num(m.group(2))


def _at(page) -> int | None:
    """The frozen step of the URL (read in the page: the sync API's page.url lags until the next Playwright call)."""
    v = parse_qs(page.evaluate("location.search").lstrip("?")).get("d_at")
    return int(v[0]) if v else None


def _live(app) -> bool:
    """Whether the page draws the job live (light SVG panels) rather than a frozen view (plotly charts)."""
    return app.page.locator(".st-key-ddpm_samples_live").count() > 0


def _frozen(app) -> int:
    """Freeze the view with Pause (first Follow, where the page offers Follow while drawing live) and wait for the
    frozen view; its step (the URL's d_at). A job that has finished meanwhile (a quick machine trained all 50,000
    steps before a Pause landed) is a view at rest: its step (its end, or the URL's d_at)."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        try:
            st = app.status()
            if not app.busy() and st is not None and st["note"] == "trained":
                return _at(app.page) or _job_step(st["value"])[0]
            if not app.busy():
                if _at(app.page) is not None and not _live(app) and app.button("Follow").count():
                    app.wait_idle()
                    return _at(app.page)
                if app.button("Pause").count():
                    app.button("Pause").first.click(timeout=10_000)
                    time.sleep(1.0)
                elif _live(app) and _at(app.page) is None and app.button("Follow").count():
                    app.button("Follow").first.click(timeout=10_000)  # following, but offered Follow
                    time.sleep(1.0)
        except PlaywrightError:  # the button went away under the click (a rerun): look again
            pass
        time.sleep(0.3)
    raise AssertionError(f"could not pause: {_describe(app)}")


def _follow(app, timeline: list[str]) -> None:
    """Follow the job again (Follow, until the URL has no d_at and Pause shows), or find it finished."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        try:
            if (app.status() or {}).get("note") == "trained" or (_at(app.page) is None and app.button("Pause").count()):
                return  # following again, or the job has finished meanwhile (a done job has nothing to follow)
            if not app.busy() and _at(app.page) is not None and app.button("Follow").count():
                app.button("Follow").first.click(timeout=10_000)
                time.sleep(1.0)
        except PlaywrightError:  # the button went away under the click (a rerun): look again
            pass
        time.sleep(0.3)
    raise AssertionError(f"could not follow the job again ({timeline}): {_describe(app)}")


def _timeline(page):
    return (page.locator('[data-testid="stMain"] [data-testid="stSlider"]')
            .filter(has=page.get_by_text("training timeline (step)", exact=True)).get_by_role("slider").first)


def _soft_wait(predicate, timeout_s: float) -> bool:
    """Whether `predicate` came true within timeout_s (for a step whose effect is checked at the end)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_double_clicks_and_the_timeline_during_training_never_make_a_second_job(app, page, app_server):
    from gendemo import jobs
    from gendemo.config import DDPMConfig

    # 50,000 planned steps (the most a job may train) in batches of 1,024 (the page's network, cheap to draw): a
    # minute or more of training, which the test stops at the end (or finds finished on a very fast machine). Each
    # action's effect on the view is recorded; the test's claims are checked at the end, on everything the page
    # showed (STATUS_RECORDER_JS) and on the store: the only result it may hold is this job's.
    query = "d_seed=32&d_steps=50000&d_batch=1024"
    own = jobs.job_key(jobs.JobSpec.of(jobs.builtin_spec("moons", 10_000, 0, None),
                                       DDPMConfig(seed=32, steps=50_000, batch=1024))) + ".pt"
    page.add_init_script(STATUS_RECORDER_JS)
    timeline: list[str] = []
    with StoreWrites(app_server.store) as writes:
        page.goto(f"{app.url}/ddpm-training?{query}")
        app.wait_title("DDPM training")
        app.wait_idle()

        # 1. Double-click Train: one job, training (the second click lands on Train again, or on what replaced it).
        app.button("Train").first.dblclick()
        st = app.wait_status(lambda s: s["note"] == "training" and _job_step(s["value"])[0] > 0, TRAIN_S,
                             "the job to train past its first snapshot after double-clicking Train")
        timeline.append(f"dblclick Train -> {st['value']}")
        _soft_wait(lambda: (s := app.status()) is not None and _job_step(s["value"])[0] >= 2000, 60.0)  # 3 snapshots

        # 2. Pause, then double-click Pause / Follow: whatever the second click hits, the same job.
        at1 = _frozen(app)
        for label in ("Follow", "Pause"):
            b = app.button(label)
            if b.count():
                b.first.dblclick()
                break
        app.wait_idle()
        timeline.append(f"paused at {at1}, then a double click -> d_at {_at(page)}, status {app.status()}")

        # 3. Move the timeline slider back (one key press), then double-click Step: earlier, then later snapshots.
        at2 = _frozen(app)
        slider = _timeline(page)
        if slider.count():
            slider.focus()
            slider.press("ArrowLeft")
            moved = _soft_wait(lambda: (_at(page) or at2) < at2 and not app.busy(), 60.0)
            timeline.append(f"slider <- at {at2} -> d_at {_at(page)}" + ("" if moved else " (not moved in 60 s)"))
        at3 = _at(page)
        if _soft_wait(lambda: app.button("Step").count() == 1 and not app.busy(), 10.0):
            app.button("Step").first.dblclick()
            stepped = _soft_wait(lambda: (_at(page) or 0) > (at3 or 0) and not app.busy(), 60.0)
            timeline.append(f"dblclick Step at {at3} -> d_at {_at(page)}" + ("" if stepped else " (no step in 60 s)"))
            if stepped:
                samples = app.chart("ddpm_samples")
                assert samples is None or f"step {_at(page):,}" in samples["title"], (page.url, samples["title"])
        app.wait_idle()

        # 4. Follow again, then Stop: this tab alone watches the job, so it is cancelled (unless it has finished).
        _follow(app, timeline)
        if app.button("Stop").count():
            app.click_button("Stop")
            app.button("Train").or_(app.button("Train 1,000 more")).first.wait_for(timeout=SETTLE_S * 1000)
        app.wait_idle()

        rec = app.recorded()
        values = [_job_step(v) for _, v, _ in rec["status"]]
        jobs_steps = [j for _, j, _ in values]
        totals = {t for _, _, t in values if t is not None}
        print("; ".join(timeline))
        assert jobs_steps and jobs_steps == sorted(jobs_steps), (
            f"the job's step went back (a second job?): {rec['status']}; {timeline}")
        assert totals == {50_000}, f"a job of another plan appeared: {totals}; {rec['status']}"
        assert "d_more" not in page.url, page.url
        assert set(writes.names()) <= {own}, f"another job's result was stored: {writes.names()} (this job: {own})"
        assert not rec["errors"], "errors shown during the clicks:\n" + "\n".join(rec["errors"]) + f"\n{timeline}"
        app.assert_no_crash("after the clicks")
        page.console.assert_clean()


# ---------------------------------------------------------------------------------------------------------
# Download the trained model: a real file the engine loads again.


def test_download_model_gives_a_checkpoint_the_engine_loads(app, page, tmp_path):
    from gendemo import checkpoints

    app.open_home()
    app.navigate("DDPM training", "ddpm-training", "DDPM training")  # the default settings: the shipped model
    st = app.wait_trained(60.0, "the default DDPM, shipped")
    shown = _job_step(st["value"])[0]
    page.locator('[data-testid="stMain"] [data-testid="stExpander"] summary').filter(
        has_text="Save / load the model").click()
    button = page.locator('[data-testid="stMain"]').get_by_role("button", name="Download model")
    button.wait_for(state="visible")
    with page.expect_download(timeout=60_000) as info:
        button.click()
    path = tmp_path / "model.pt"
    info.value.save_as(path)
    ck = checkpoints.load(path)
    assert ck.config.family == "ddpm" and ck.step == shown == 8000, (ck.step, shown)
    assert all(torch.isfinite(p).all() for p in ck.model.parameters())
    app.assert_no_crash("after the download")
    page.console.assert_clean()
