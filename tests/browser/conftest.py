"""Real-browser tests: the app served by `streamlit run`, driven by Debian's Chromium via Playwright.

Recipe and gotchas: GUIDE §5. Plain `playwright.sync_api` (no pytest-playwright plugin).

* `serve()`: starts `streamlit run server.py` (the README's entry; `script="app.py"` for the plain one) on a free
  port with a model store of its own (GENDEMO_STORE, a temporary directory; or a given one, e.g. shared by two
  servers), waits for `/_stcore/health`, and stops the server by its PID at the end (SIGTERM, SIGKILL after a grace
  period); yields a `Server` (url, store, proc, log).
  Trainings run in the server's worker processes, as served. `app_server` / `app_url` (session): the tests'
  shared server; `fresh_app_url` (per test): a server of the test's own.
* `browser` (session): Chromium at /usr/bin/chromium. Missing → skip, except under CI (env CI set),
  where a missing browser is a failure: CI must run these tests.
* `page` (per test): a fresh browser context (so a fresh Streamlit session) and page, with console
  messages and page errors recorded (`page.console`).
* `app` (per test): an `AppDriver` with the helpers the tests share (sidebar navigation, waiting for
  Streamlit to finish a run, a training page's status, reading plotly charts, crash checks, console checks).
* `STATUS_RECORDER_JS` (an init script: every status a page shows, from the first byte of each load) and
  `StoreWrites` (inotify: the results written to a store) observe from outside whether something trained.
* On a failing test, a screenshot goes to test-artifacts/<test name>.png (repo root, gitignored);
  the server log is test-artifacts/streamlit-server.log.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1440, "height": 900}  # wide enough that the sidebar stays open

# Generous but bounded: the machine has 2 shared cores and plotly.js loads lazily (~20 s for the first chart).
HEALTH_TIMEOUT_S = 60.0
SERVER_STOP_GRACE_S = 20.0  # measured: a loaded server took ~12 s to exit on SIGTERM
DEFAULT_TIMEOUT_MS = 60_000
ENTRY = "server.py"  # what the README's run command serves: app.py, its imports done before the first visitor
RUN_TIMEOUT_MS = 120_000  # a Streamlit script run to finish (a page's first plotly chart included)


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _skip_or_fail(reason: str) -> None:
    if _ci():
        pytest.fail(f"{reason} — CI is set, so the browser tests must run", pytrace=False)
    pytest.skip(reason)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:150] or "test"


# ---------------------------------------------------------------------------------------------------------
# Screenshot on failure: a report hook that finds the test's page in item.funcargs.


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
    if rep.when != "call" or not rep.failed:
        return
    page = getattr(item, "funcargs", {}).get("page")
    if page is None or page.is_closed():
        return
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{_slug(item.name)}.png"
    try:
        page.screenshot(path=str(path), full_page=True, timeout=15_000)
        rep.sections.append(("browser screenshot", str(path)))
    except Exception as exc:  # noqa: BLE001 - a screenshot must never hide the test's own failure
        rep.sections.append(("browser screenshot", f"failed: {exc!r}"))
    log = getattr(page, "console", None)
    if log is not None and log.entries:
        rep.sections.append(("browser console (last 40)", "\n".join(
            f"[{e.kind}:{e.type}] {e.text}" + (f"  ({e.url})" if e.url else "") for e in log.entries[-40:])))


# ---------------------------------------------------------------------------------------------------------
# The app server.


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()  # SIGTERM to this PID only
    try:
        proc.wait(timeout=SERVER_STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@dataclass
class Server:
    """A `streamlit run server.py` of the tests: its URL, its model store directory (GENDEMO_STORE), process and log."""

    url: str
    store: Path
    proc: subprocess.Popen
    log: Path

    def log_tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:]


@contextmanager
def serve(log_name: str, store: Path | None = None, env: dict | None = None, script: str = ENTRY):
    """`streamlit run server.py` (the README's run command; `script`: another entry, app.py) on a free port until
    the block ends; yields a `Server` once /_stcore/health says ok.

    Each server trains into a model store of its own (GENDEMO_STORE, a temporary directory removed at the end)
    unless `store` names one (two servers sharing a store: pass the same directory); the shipped models of
    gendemo/pretrained stay its fallback, so the default settings are trained already. `env`: more variables."""
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / log_name
    own_store = store is None
    store = Path(tempfile.mkdtemp(prefix="gendemo-test-store-")) if own_store else Path(store)
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    run_env = {k: v for k, v in os.environ.items() if k != "GENDEMO_WORKERS"}  # process workers, as served
    run_env.update({"GENDEMO_STORE": str(store), **(env or {})})
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=run_env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with code {proc.returncode} before it was healthy:\n"
                            + log_path.read_text(errors="replace")[-3000:], pytrace=False)
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200 and r.read().strip() == b"ok":
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit not healthy after {HEALTH_TIMEOUT_S:.0f} s:\n"
                            + log_path.read_text(errors="replace")[-3000:], pytrace=False)
            time.sleep(0.25)
        yield Server(url, store, proc, log_path)
    finally:
        _stop(proc)
        if own_store:
            shutil.rmtree(store, ignore_errors=True)


@contextmanager
def _serve(log_name: str, script: str = ENTRY):
    """`serve`, yielding just the URL."""
    with serve(log_name, script=script) as server:
        yield server.url


@pytest.fixture(scope="session")
def app_server():
    """The tests' shared server (and its own model store)."""
    with serve("streamlit-server.log") as server:
        yield server


@pytest.fixture(scope="session")
def app_url(app_server):
    return app_server.url


@pytest.fixture
def fresh_app_url():
    """A server of its own, which no session has visited yet (for what only a fresh server does)."""
    with _serve("streamlit-fresh-server.log") as url:
        yield url


# ---------------------------------------------------------------------------------------------------------
# The browser.


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        _skip_or_fail(f"{CHROMIUM} not found (install Debian's chromium: apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _skip_or_fail(f"the playwright package is not installed ({exc})")
    with sync_playwright() as pw:
        # launch() gives every run a fresh temporary user-data dir; every test gets its own context.
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


# ---------------------------------------------------------------------------------------------------------
# Console messages and page errors.


@dataclass
class Entry:
    kind: str  # "console" | "pageerror"
    type: str  # console type ("error", "warning", …) or the error's name
    text: str
    url: str = ""  # the console message's source location


# Console output that is not an app problem. Each rule is narrow; anything else is "unexpected".
def _known_subpage_404(e: Entry, base: str) -> bool:
    """Opening a sub-page URL directly (e.g. /forward) logs two 404s, for /forward/_stcore/health and
    /forward/_stcore/host-config: the frontend first resolves its endpoints relative to the page's path
    (GUIDE §5, a known Streamlit issue). Exactly those two, from our own server; the tests navigate by
    clicking, so normally there are none."""
    u, b = urlsplit(e.url), urlsplit(base)
    return (e.kind == "console" and e.type == "error" and u.netloc == b.netloc
            and e.text == "Failed to load resource: the server responded with a status of 404 (Not Found)"
            and re.fullmatch(r"/[^/]+/_stcore/(health|host-config)", u.path) is not None)


def _closed_network(e: Entry, base: str) -> bool:
    """The sandbox has no outside network: a request to another host fails with net::ERR_*. A failed
    request to the app's own server is NOT excused."""
    return (e.kind == "console" and e.type == "error" and e.text.startswith("Failed to load resource: net::ERR_")
            and bool(e.url) and urlsplit(e.url).netloc != urlsplit(base).netloc)


PLOTLY_ANIMATE_WARN = "WARN: API call to Plotly.animate rejected."


class ConsoleLog:
    def __init__(self, base_url: str):
        self.base = base_url
        self.entries: list[Entry] = []
        self.checked = False

    def on_console(self, msg) -> None:
        loc = msg.location or {}
        self.entries.append(Entry("console", msg.type, msg.text, loc.get("url", "")))

    def on_pageerror(self, err) -> None:
        self.entries.append(Entry("pageerror", getattr(err, "name", "") or "Error",
                                  getattr(err, "message", None) or str(err)))

    def unexpected(self) -> list[Entry]:
        bad: list[Entry] = []
        plotly_rejections = 0  # console warnings "API call to Plotly.animate rejected." seen so far
        for e in self.entries:
            # plotly.js logs its warnings with console.trace (type "trace"), older builds with console.warn
            if e.kind == "console" and e.type in ("trace", "warning") and e.text.startswith(PLOTLY_ANIMATE_WARN):
                plotly_rejections += 1
                continue
            if e.kind == "pageerror" and e.text == "undefined" and plotly_rejections > 0:
                # plotly.js: pressing the chart's own Pause interrupts Plotly.animate, whose promise is
                # rejected with `undefined`; the updatemenu button does not catch it, so the browser logs
                # the warning above followed by "Uncaught (in promise) undefined" (plotly/plotly.js#5613).
                # Excused once per preceding warning, and only with message exactly "undefined".
                plotly_rejections -= 1
                continue
            is_error = e.kind == "pageerror" or (e.kind == "console" and e.type == "error")
            if is_error and not (_known_subpage_404(e, self.base) or _closed_network(e, self.base)):
                bad.append(e)
        return bad

    def assert_clean(self) -> None:
        self.checked = True
        bad = self.unexpected()
        assert not bad, "unexpected browser console errors / page errors:\n" + "\n".join(
            f"  [{e.kind}:{e.type}] {e.text}" + (f"  ({e.url})" if e.url else "") for e in bad)


@contextmanager
def open_page(browser, base_url: str):
    """A page in a fresh browser context (so a fresh Streamlit session) of the server at base_url, with its
    console messages and page errors recorded in `page.console` (a ConsoleLog)."""
    ctx = browser.new_context(viewport=VIEWPORT)
    pg = ctx.new_page()
    pg.set_default_timeout(DEFAULT_TIMEOUT_MS)
    pg.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
    log = ConsoleLog(base_url)
    pg.on("console", log.on_console)
    pg.on("pageerror", log.on_pageerror)
    pg.console = log
    try:
        yield pg
    finally:
        ctx.close()


@pytest.fixture
def page(browser, app_url, request):
    with open_page(browser, app_url) as pg:
        yield pg
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.passed and not pg.console.checked:
            pg.console.assert_clean()  # safety net for a test that forgot to check the console


# ---------------------------------------------------------------------------------------------------------
# The driver the tests share.

_BUSY_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (document.querySelector('[data-testid^="stStatusWidgetRunning"]')) return 'running';
  if (!main) return 'no main';
  if (main.querySelector('[data-stale="true"]')) return 'stale elements';
  if (main.querySelector('[data-testid="stSkeleton"]')) return 'skeleton (lazy loading)';
  for (const c of main.querySelectorAll('[data-testid="stPlotlyChart"]')) {
    const g = c.querySelector('.js-plotly-plot');
    if (!g || !g._fullLayout) return 'plotly chart not drawn yet';
  }
  return '';
}"""

_PLOT_JS = """(sel) => {
  const g = document.querySelector(sel);
  if (!g || !g._fullData || !g._fullLayout) return null;
  const frames = (g._transitionData && g._transitionData._frames) || [];
  const moving = frames.length && frames[0].traces ? frames[0].traces : g._fullData.map((_, i) => i);
  const head = (a) => (a ? Array.from(a.slice(0, 5), Number) : []);
  const slider = (g._fullLayout.sliders || [])[0];
  const xs = g._fullData[0].x || [];
  return {
    n0: xs.length,
    last_x0: xs.length ? Number(xs[xs.length - 1]) : null,
    frames: frames.length,
    menus: (g._fullLayout.updatemenus || []).length,
    active: slider ? slider.active : null,
    moving_heads: moving.map((i) => head(g._fullData[i] && g._fullData[i].x)),
  };
}"""


# A training page's status ("step" metric of ui/status.py: a value like "1,234 / 8,000" over a note "queued",
# "training", "trained" or "stopped").
_STATUS_JS = """() => {
  for (const m of document.querySelectorAll('[data-testid="stMain"] .gd-metric')) {
    const l = m.querySelector('.gd-metric-label');
    if (l && /^step$/i.test(l.innerText.trim())) {
      const v = m.querySelector('.gd-metric-value'), n = m.querySelector('.gd-metric-note');
      return {value: v ? v.innerText.trim() : null, note: n ? n.innerText.trim() : null};
    }
  }
  return null;
}"""

# Installed with page.add_init_script (so it runs from the first byte of every load, a reload too): records in
# window.__gd every change of the status ([ms since the load, value, note]; t0_epoch_ms: the load's wall-clock time)
# and every exception box, error alert or "Connection error" dialog ever shown, every 50 ms (a rerun can show and
# hide one between two polls of the test).
STATUS_RECORDER_JS = """(() => {
  const t0 = performance.now();
  const rec = window.__gd = {status: [], errors: [], t0_epoch_ms: performance.timeOrigin + t0};
  let last = null;
  const read = """ + _STATUS_JS + """;
  setInterval(() => {
    if (!document.body) return;
    const s = read();
    const key = s ? s.value + ' | ' + s.note : null;
    if (s && key !== last) { last = key; rec.status.push([Math.round(performance.now() - t0), s.value, s.note]); }
    for (const e of document.querySelectorAll(
        '[data-testid="stException"], [data-testid="stAlertContentError"], [role="dialog"]')) {
      if (e.getAttribute('role') === 'dialog' && !/Connection error/.test(e.innerText)) continue;
      const t = (e.getAttribute('data-testid') || 'dialog') + ': ' + e.innerText.trim().slice(0, 500);
      if (!rec.errors.includes(t) && rec.errors.length < 20) rec.errors.push(t);
    }
  }, 50);
})();"""

# Everything a plotly chart draws: each trace's name and its x and y arrays (decoded), and the title.
_CHART_JS = """(sel) => {
  const g = document.querySelector(sel);
  if (!g || !g._fullData || !g._fullLayout) return null;
  const arr = (a) => (a ? Array.from(a, Number) : []);
  const title = g._fullLayout.title && g._fullLayout.title.text;
  return {title: title || '', traces: g._fullData.map((t) => ({name: t.name || '', x: arr(t.x), y: arr(t.y)}))};
}"""


class StoreWrites:
    """The entries written to a model store directory, seen by Linux inotify: gendemo.store writes each result
    as a temporary file renamed into place, one IN_MOVED_TO event per finished job (a rename over an existing
    file too, which a count of the files would miss). `names()` returns the .pt names written since the start."""

    IN_MOVED_TO = 0x00000080
    _HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)

    def __init__(self, directory: Path):
        import ctypes

        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or self._libc.inotify_add_watch(self.fd, str(directory).encode(), self.IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), f"inotify on {directory}")
        self.written: list[str] = []

    def names(self) -> list[str]:
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return list(self.written)
            i = 0
            while i < len(buf):
                _, mask, _, n = self._HEADER.unpack_from(buf, i)
                name = buf[i + self._HEADER.size: i + self._HEADER.size + n].split(b"\0", 1)[0].decode()
                i += self._HEADER.size + n
                if mask & self.IN_MOVED_TO and name.endswith(".pt"):
                    self.written.append(name)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> StoreWrites:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class AppDriver:
    page: object
    url: str

    # -- navigation ------------------------------------------------------------------------------------
    def open_home(self, title: str = "DDPMs and normalizing flows") -> None:
        self.page.goto(self.url + "/")
        self.wait_title(title)
        self.wait_idle()

    def nav_link(self, label: str):
        return self.page.locator('[data-testid="stSidebarNavLink"]').filter(
            has=self.page.get_by_text(label, exact=True))

    def navigate(self, label: str, url_path: str, title: str) -> float:
        """Click the sidebar link `label`; wait for the URL's path (its query carries the settings: ui/settings.py),
        the page title and the end of the run."""
        t0 = time.monotonic()
        link = self.nav_link(label)
        assert link.count() == 1, f"sidebar link {label!r}: found {link.count()}"
        link.click(timeout=RUN_TIMEOUT_MS)
        want = urlsplit(self.url + "/" + url_path).path.rstrip("/")
        self.page.wait_for_url(lambda u: urlsplit(u).path.rstrip("/") == want, timeout=RUN_TIMEOUT_MS)
        self.wait_title(title)
        self.wait_idle()
        return time.monotonic() - t0

    def wait_title(self, text: str, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
        self.page.wait_for_function(
            "(t) => Array.from(document.querySelectorAll('[data-testid=\"stMain\"] h1'))"
            ".some((h) => h.innerText.includes(t))", arg=text, timeout=timeout_ms)

    def busy(self) -> str:
        """Why the page is not settled ('' when it is): see `wait_idle`."""
        return self.page.evaluate(_BUSY_JS)

    def wait_idle(self, timeout_ms: int = RUN_TIMEOUT_MS, quiet_s: float = 1.0) -> None:
        """Until the page is done for `quiet_s` without a break: no run in progress, no stale element left from
        the previous run, no lazy-loading skeleton, every plotly chart drawn.

        The status widget shows 'Running…' only after a run has lasted ~0.5 s, hence the quiet period; and
        not the whole widget is a sign of a run: it also shows 'Source file changed' when someone edits the code.
        """
        deadline = time.monotonic() + timeout_ms / 1000
        quiet_since = None
        while True:
            busy = self.busy()
            now = time.monotonic()
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= quiet_s:
                return
            if now > deadline:
                raise AssertionError(f"the page did not settle in {timeout_ms / 1000:.0f} s: {busy}")
            time.sleep(0.1)

    # -- widgets -----------------------------------------------------------------------------------------
    def button(self, label: str):
        """Buttons in the main area whose accessible name is `label`, ignoring a leading emoji or icon
        (the app has used both "▶ Play" and "Play" with a Material icon)."""
        name = re.compile(rf"^\W*{re.escape(label)}$")
        return self.page.locator('[data-testid="stMain"]').get_by_role("button", name=name)

    def click_button(self, label: str, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
        b = self.button(label)
        b.first.wait_for(state="visible", timeout=timeout_ms)
        b.first.click(timeout=timeout_ms)

    def metric(self, label_re: str) -> str | None:
        """The value of the first metric (an st.metric, or a status metric of ui/status.py) whose label matches the
        JS regex `label_re` (case-insensitive)."""
        return self.page.evaluate(
            """(pat) => { const re = new RegExp(pat, 'i');
               for (const m of document.querySelectorAll('[data-testid="stMetric"], .gd-metric')) {
                 const l = m.querySelector('[data-testid="stMetricLabel"], .gd-metric-label');
                 const v = m.querySelector('[data-testid="stMetricValue"], .gd-metric-value');
                 if (l && v && re.test(l.innerText.trim())) return v.innerText;
               } return null; }""", label_re)

    # -- training pages --------------------------------------------------------------------------------
    def status(self) -> dict | None:
        """The training page's step metric: {"value": "1,000 / 1,000", "note": "trained"} (None if not drawn)."""
        return self.page.evaluate(_STATUS_JS)

    def wait_status(self, predicate, timeout_s: float, what: str) -> dict:
        """Until the status satisfies `predicate` and the page has settled (no run in progress)."""
        return self._wait_for(lambda: (st if (st := self.status()) is not None and not self.busy() else None),
                              predicate, timeout_s, what)

    def wait_trained(self, timeout_s: float, what: str = "the status 'trained'") -> dict:
        st = self.wait_status(lambda s: s["note"] == "trained", timeout_s, what)
        self.wait_idle()
        return self.status() or st

    def chart(self, key: str) -> dict | None:
        """The plotly chart with Streamlit key `key`: {"title", "traces": [{"name", "x", "y"}]} (None if absent)."""
        return self.page.evaluate(_CHART_JS, f".st-key-{key} .js-plotly-plot")

    def recorded(self) -> dict:
        """What STATUS_RECORDER_JS saw since the page loaded: {"status": [[ms, value, note]…], "errors": […],
        "t0_epoch_ms": the load's time.time() in ms}."""
        return self.page.evaluate("() => window.__gd || null")

    # -- plotly ------------------------------------------------------------------------------------------
    def plot(self, selector: str) -> dict | None:
        """Decoded state of the `.js-plotly-plot` at `selector`: `_fullData` holds decoded arrays."""
        return self.page.evaluate(_PLOT_JS, selector)

    def live_loss(self, chart_key: str) -> dict | None:
        """The loss curve of `chart_key` in the same shape as `plot`'s (n0 points, last_x0 the last step): the
        light SVG a page draws while training (gendemo.viz.live_svg: data-n, data-last-step), else the plotly
        chart drawn when paused."""
        svg = self.page.evaluate(
            """(sel) => { const g = document.querySelector(sel);
                          return g ? {n0: Number(g.dataset.n), last_x0: Number(g.dataset.lastStep)} : null; }""",
            f".st-key-{chart_key}_live svg[data-testid]")
        return svg if svg is not None else self.plot(f".st-key-{chart_key} .js-plotly-plot")

    def wait_live_loss(self, chart_key: str, predicate, timeout_s: float, what: str) -> dict:
        return self._wait_for(lambda: self.live_loss(chart_key), predicate, timeout_s, what)

    def wait_plot(self, selector: str, predicate, timeout_s: float, what: str) -> dict:
        return self._wait_for(lambda: self.plot(selector), predicate, timeout_s, what)

    def _wait_for(self, read, predicate, timeout_s: float, what: str) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            st = read()
            if st is not None and predicate(st):
                return st
            if time.monotonic() > deadline:
                self.assert_no_crash(what)
                raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; last state: {st}")
            time.sleep(0.25)

    # -- checks ------------------------------------------------------------------------------------------
    def crash_messages(self) -> list[str]:
        """Streamlit exception boxes, st.error alerts and Streamlit's "Connection error" dialog on the page now."""
        return self.page.evaluate("""() => Array.from(document.querySelectorAll(
              '[data-testid="stException"], [data-testid="stAlertContentError"], [role="dialog"]'))
              .filter((e) => e.getAttribute('role') !== 'dialog' || /Connection error/.test(e.innerText))
              .map((e) => `${e.getAttribute('data-testid') || 'dialog'}: ${e.innerText.trim().slice(0, 1500)}`)""")

    def assert_no_crash(self, where: str = "") -> None:
        msgs = self.crash_messages()
        assert not msgs, f"{where}: the app shows an exception / error:\n" + "\n".join(msgs)


@pytest.fixture
def artifacts() -> Path:
    """test-artifacts/ at the repo root (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def app(page, app_url) -> AppDriver:
    return AppDriver(page, app_url)
