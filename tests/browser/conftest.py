"""Real-browser tests: the app served by `streamlit run`, driven by Debian's Chromium via Playwright.

Recipe and gotchas: GUIDE §5. Plain `playwright.sync_api` (no pytest-playwright plugin).

* `app_url` (session): starts `streamlit run app.py` on a free port, waits for `/_stcore/health`, and
  stops the server by its PID at the end (SIGTERM, SIGKILL after a grace period). `fresh_app_url` (per test):
  the same, a server of the test's own.
* `browser` (session): Chromium at /usr/bin/chromium. Missing → skip, except under CI (env CI set),
  where a missing browser is a failure: CI must run these tests.
* `page` (per test): a fresh browser context (so a fresh Streamlit session) and page, with console
  messages and page errors recorded (`page.console`).
* `app` (per test): an `AppDriver` with the helpers the tests share (sidebar navigation, waiting for
  Streamlit to finish a run, reading plotly charts, crash checks, console checks).
* On a failing test, a screenshot goes to test-artifacts/<test name>.png (repo root, gitignored);
  the server log is test-artifacts/streamlit-server.log.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
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


@contextmanager
def _serve(log_name: str):
    """`streamlit run app.py` on a free port until the block ends; yields its URL once /_stcore/health says ok."""
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / log_name
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
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
        yield url
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def app_url():
    with _serve("streamlit-server.log") as url:
        yield url


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
        """Click the sidebar link `label`; wait for the URL, the page title and the end of the run."""
        t0 = time.monotonic()
        link = self.nav_link(label)
        assert link.count() == 1, f"sidebar link {label!r}: found {link.count()}"
        link.click(timeout=RUN_TIMEOUT_MS)
        want = self.url + "/" + url_path
        self.page.wait_for_url(lambda u: u.rstrip("/") == want.rstrip("/"), timeout=RUN_TIMEOUT_MS)
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
        """Streamlit exception boxes and st.error alerts currently on the page."""
        return self.page.evaluate("""() => Array.from(document.querySelectorAll(
              '[data-testid="stException"], [data-testid="stAlertContentError"]'))
              .map((e) => `${e.getAttribute('data-testid')}: ${e.innerText.trim().slice(0, 1500)}`)""")

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
