"""The classroom in a real browser (issue 5): uploads, foreign websockets, outside requests, double clicks.

Uses the harness of conftest.py (server `app_url`, `page`, `app` driver, console checks, screenshots on failure).

* A good CSV (semicolon, header, decimal commas) uploaded on the Data page becomes the dataset; a bad one
  (gzip renamed .csv, binary garbage) gets exactly one error alert and the previous dataset stays.
* The sidebar names the dataset the page trains on, right after an upload.
* A websocket to /_stcore/stream from a foreign Origin is refused; from the app's own origin it is accepted.
* Visiting every page and training briefly requests nothing from any host but the app's own.
* Double-clicking Play / Step and moving a slider while training leaves exactly one run: the step counter
  only grows, the loss curve is one unbroken history 1..step, and no exception or error is ever shown.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import os
import random
import re
import socket
import time
from urllib.parse import urlsplit

import pytest
import torch

pytestmark = pytest.mark.browser

STEP = r"^step(?!s)"  # the DDPM page's metric "step" ("1,234 / 3,000"), not "steps / s"
HOME_TITLE = "DDPMs and normalizing flows"
UPLOAD_TAB = "Your own points (CSV)"
SETTLE_S = 120.0  # an upload or a widget change → the page shows the result (a loaded 2-core machine)
TRAIN_S = 120.0  # Play → the step counter reaches a given value
MAX_LOSS_POINTS = 2000  # gendemo.viz.loss_curve block-averages longer histories to this many points


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
        return (f"url {app.page.url}, step metric {app.metric(STEP)!r}, Play buttons {app.button('Play').count()}, "
                f"Pause buttons {app.button('Pause').count()}, busy {app.busy()!r}, crash messages "
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


def _train_briefly(app, label: str, url_path: str, title: str, chart_key: str) -> None:
    app.navigate(label, url_path, title)
    app.click_button("Play")
    app.wait_live_loss(chart_key, lambda s: s["n0"] > 0, TRAIN_S, f"{title}: loss points")
    app.click_button("Pause")
    _wait(lambda: app.button("Play").count() == 1, TRAIN_S, f"{title}: paused")
    app.wait_idle()
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
    _train_briefly(app, "DDPM training", "ddpm-training", "DDPM training", "ddpm_loss")
    _train_briefly(app, "Normalizing flows", "flows", "Normalizing flows", "flow_loss")

    def ours(url: str) -> bool:
        p = urlsplit(url)
        return p.scheme in ("data", "blob") or (p.scheme in ("http", "ws") and p.netloc == own.netloc)

    foreign = sorted({f"{kind}: {url}" for kind, url in seen if not ours(url)})
    assert len(seen) > 20 and any(k == "websocket" for k, _ in seen), f"too few requests recorded: {seen[:5]}"
    print(f"{len(seen)} requests, {len({u for _, u in seen})} distinct URLs, {len(foreign)} to other hosts")
    assert not foreign, f"the pages requested {len(foreign)} URL(s) from other hosts:\n  " + "\n  ".join(foreign)
    page.console.assert_clean()


# ---------------------------------------------------------------------------------------------------------
# Double clicks and slider moves while training.

# Records every change of the "step" metric, and every exception box / error alert ever shown, from inside the
# page every 50 ms (a rerun can show and hide an error between two polls from here).
_RECORDER = r"""() => {
  if (window.__rec) return;
  const rec = window.__rec = {steps: [], errors: []};
  let last = null;
  setInterval(() => {
    for (const m of document.querySelectorAll('[data-testid="stMain"] :is([data-testid="stMetric"], .gd-metric)')) {
      const l = m.querySelector('[data-testid="stMetricLabel"], .gd-metric-label');
      const v = m.querySelector('[data-testid="stMetricValue"], .gd-metric-value');
      if (l && v && /^step(?!s)/i.test(l.innerText.trim())) {
        if (v.innerText !== last) { last = v.innerText; rec.steps.push(last); }
        break;
      }
    }
    for (const e of document.querySelectorAll('[data-testid="stException"], [data-testid="stAlertContentError"]')) {
      const t = e.getAttribute('data-testid') + ': ' + e.innerText.trim().slice(0, 500);
      if (!rec.errors.includes(t) && rec.errors.length < 20) rec.errors.push(t);
    }
  }, 50);
}"""


def _step(app) -> int | None:
    m = re.match(r"\s*([\d,]+)", app.metric(STEP) or "")
    return int(m.group(1).replace(",", "")) if m else None


def _grows_past(app, n: int, what: str) -> int:
    def past() -> int | None:
        s = _step(app)
        return s if s is not None and s > n else None
    return _wait(past, TRAIN_S, f"the step counter to pass {n} ({what})", app=app)


def _settled_button(app, quiet_s: float = 2.0, timeout_s: float = TRAIN_S) -> str:
    """"Play" or "Pause": the one button shown, unchanged for quiet_s (after a click the page is in flux)."""
    deadline, last, since = time.monotonic() + timeout_s, None, time.monotonic()
    while True:
        play, pause = app.button("Play").count(), app.button("Pause").count()
        cur = "Play" if (play, pause) == (1, 0) else "Pause" if (play, pause) == (0, 1) else None
        now = time.monotonic()
        if cur != last:
            last, since = cur, now
        elif cur is not None and now - since >= quiet_s:
            return cur
        if now > deadline:
            raise AssertionError(f"the Play/Pause button did not settle in {timeout_s:.0f} s: {_describe(app)}")
        time.sleep(0.1)


def _pause(app) -> None:
    """Pause if playing, and wait for the paused page to settle."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    for _ in range(3):
        if _settled_button(app) == "Play":
            break
        try:
            app.button("Pause").first.click(timeout=15_000)
        except PlaywrightTimeoutError:  # the button went away (paused by itself, or a rerun replaced it): look again
            continue
    _wait(lambda: app.button("Play").count() == 1 and not app.busy(), TRAIN_S, "paused", app=app)
    app.wait_idle()


def _main_slider(page, label: str):
    return (page.locator('[data-testid="stMain"] [data-testid="stSlider"]')
            .filter(has=page.get_by_text(label, exact=True)).get_by_role("slider").first)


def _expand_network(app, page) -> None:
    """Open the DDPM page's "Network and optimiser" expander unless it is open."""
    if not _main_slider(page, "width").is_visible():
        page.locator('[data-testid="stMain"] [data-testid="stExpander"] summary').filter(
            has_text="Network and optimiser").click()


def test_double_clicks_and_slider_during_training_keep_one_run(app, page):
    app.open_home()
    app.navigate("DDPM training", "ddpm-training", "DDPM training")
    page.evaluate(_RECORDER)
    timeline: list[str] = []
    # Plan the longest run the page offers (50,000 steps, ~50 s alone) so that the run cannot reach its end before
    # step 3 moves a slider, however fast the machine trains (the default 8,000 steps ended first on an idle one).
    _expand_network(app, page)
    planned = _main_slider(page, "planned steps")
    planned.focus()
    planned.press("End")
    _wait(lambda: planned.get_attribute("aria-valuetext") == "50000", SETTLE_S, "planned steps = 50,000", app=app)

    # 1. Double-click Play on a page with no run yet: one run, training.
    app.button("Play").first.dblclick()
    s1 = _grows_past(app, 0, "after double-clicking Play")
    state = _settled_button(app)
    timeline.append(f"dblclick Play -> step {s1}, then {'playing' if state == 'Pause' else 'paused'}")
    if state == "Play":  # the second click landed on Pause: start again, once
        app.click_button("Play")
    s2 = _grows_past(app, s1 + 20, "playing")

    # 2. Double-click Step while training: each click pauses and trains 100 steps; the run goes on.
    app.button("Step").first.dblclick()
    assert _settled_button(app) == "Play", "Step did not pause the training"
    _pause(app)
    s3 = _step(app)
    timeline.append(f"dblclick Step at ~{s2} -> step {s3}")
    assert s3 is not None and s3 >= s2 + 100, timeline

    # 3. Play again, then move the width slider while training: a full rerun; the same run keeps training.
    app.click_button("Play")
    s4 = _grows_past(app, s3, "playing after Step")
    width = _main_slider(page, "width")
    _expand_network(app, page)
    width.wait_for(state="visible")
    w0 = width.get_attribute("aria-valuetext")
    width.focus()
    width.press("ArrowLeft")
    _wait(lambda: width.get_attribute("aria-valuetext") != w0, SETTLE_S, "the width slider to move", app=app)
    s5 = _grows_past(app, s4 + 20, "after moving the width slider")
    timeline.append(f"width {w0} -> {width.get_attribute('aria-valuetext')} at ~{s4}, step then {s5}")
    assert _settled_button(app) == "Pause", "moving a slider stopped the training"

    # 4. Double-click Pause/Play while training: whatever the second click hits, one run.
    app.button("Pause").first.dblclick()
    _pause(app)
    final = _step(app)
    timeline.append(f"dblclick Pause at ~{s5} -> paused at step {final}")

    # One run: the step counter never went back, the loss curve is one history 1..final, the sidebar agrees.
    rec = page.evaluate("window.__rec")
    steps = [int(m.group(1).replace(",", "")) for v in rec["steps"] if (m := re.match(r"\s*([\d,]+)", v))]
    drops = [(a, b) for a, b in itertools.pairwise(steps) if b < a]
    assert not drops, f"the step counter went back (a new run?): {drops}; timeline: {timeline}; values: {steps}"
    assert steps and steps[-1] == final, (steps[-5:], final)
    curve = app.plot(".st-key-ddpm_loss .js-plotly-plot")
    assert curve is not None and curve["last_x0"] == final and (
        curve["n0"] == final if final <= MAX_LOSS_POINTS else curve["n0"] <= MAX_LOSS_POINTS), (
        f"the loss curve is not one history 1..{final}: {curve}")
    # The sidebar (drawn at the start of the Pause rerun) says paused, at a step of this run. It may lag the page
    # by the one chunk that the previous tick finished after the Pause rerun had started (ui/live.py).
    sidebar = page.locator('[data-testid="stSidebar"] [data-testid="stCaptionContainer"]').all_inner_texts()
    m = next((m for t in sidebar if (m := re.fullmatch(r"DDPM: step ([\d,]+)", t.strip()))), None)
    assert m is not None and int(m.group(1).replace(",", "")) <= final, f"sidebar {sidebar}, page step {final}"
    timeline.append(f"sidebar: {m.group(0)}")
    assert not rec["errors"], "errors shown during the clicks:\n" + "\n".join(rec["errors"])
    app.assert_no_crash("after the clicks")
    print("; ".join(timeline))
    page.console.assert_clean()


# ---------------------------------------------------------------------------------------------------------
# Download the trained model: a real file the engine loads again.


def test_download_model_gives_a_checkpoint_the_engine_loads(app, page, tmp_path):
    from gendemo import checkpoints

    app.open_home()
    app.navigate("DDPM training", "ddpm-training", "DDPM training")
    app.click_button("Step")
    _wait(lambda: (_step(app) or 0) >= 100, TRAIN_S, "100 steps after Step", app=app)
    app.wait_idle()
    page.locator('[data-testid="stMain"] [data-testid="stExpander"] summary').filter(
        has_text="Save / load the model").click()
    button = page.locator('[data-testid="stMain"]').get_by_role("button", name="Download model")
    button.wait_for(state="visible")
    with page.expect_download(timeout=60_000) as info:
        button.click()
    path = tmp_path / "model.pt"
    info.value.save_as(path)
    ck = checkpoints.load(path)
    assert ck.config.family == "ddpm" and ck.step == _step(app) == 100
    assert all(torch.isfinite(p).all() for p in ck.model.parameters())
    app.assert_no_crash("after the download")
    page.console.assert_clean()
