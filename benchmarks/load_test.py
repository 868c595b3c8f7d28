"""Classroom load test (issue 5): N browser sessions train the DDPM at once against one local server.

Usage (from the repository root; loopback only, bounded in count and time, it stops by itself):

    .venv/bin/python benchmarks/load_test.py --n 10            # lecturer's-machine mode, ~5-10 min on 2 cores
    .venv/bin/python benchmarks/load_test.py --n 30 --cap 1200 # the full lecture hall (stops at the cap)
    .venv/bin/python benchmarks/load_test.py --n 5             # what CI runs (tests/browser/test_load.py)

What it does. It starts `streamlit run app.py` on 127.0.0.1 through benchmarks/load_server.py (the app
unchanged, plus a probe that logs every training call: how many compute at the same moment) and one
headless Chromium (Debian's /usr/bin/chromium, as tests/browser/conftest.py). Then, in phases:

1. solo: one session alone, the reference result;
2. waves 1..W (default 3): N browser contexts (N fresh Streamlit sessions) open the DDPM training page,
   set "planned steps" to its smallest value (500) with the keyboard, keep every other widget at its
   default (seed 0), and press Play one right after the other. Each page auto-pauses when it reaches
   its planned steps ("Reached the planned 500 steps"). A wave ends when every session has, or at its
   time cap. Its browser contexts are then closed (the tabs go away, as at the end of a lecture).

Measured per phase: sessions finished, wall time (first Play click to last session finished), peak and
end-of-phase RSS of the server process (VmRSS of it and its children, from /proc), the most training
calls that computed at once (the probe: exact, server-side), how many pages showed "Queued", errors
(exception boxes, error alerts, browser console errors, page errors) and whether each session's loss
curve and final metrics are identical to the solo run's (same config and seed → bit-identical curve).

Pass when: every session finishes; no errors; at most ui.live.MAX_CONCURRENT (= os.cpu_count()) train at
once; RSS grows < 100 MB from wave 2 to wave 3 (end of wave, and peak); every result equals the solo run.
Exit status 0 on pass, 1 on fail, 2 if it could not run.

Diagnostics (environment): LOAD_TEST_WIRE=1 logs each session's websocket, one decoded line per message, and
prints it for a session that does not finish (its full runs, timers and buttons, then its last messages);
LOAD_TEST_SESSIONS=<file> makes the server append the Runs and sessions it still holds every 5 s
(benchmarks/load_server.py).
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError

ROOT = Path(__file__).resolve().parents[1]

# The browser harness of tests/browser/conftest.py: Chromium path and flags, the console-error rules and the
# page driver. Loaded by path under its own name (it is also pytest's conftest; this copy registers nothing).
_spec = importlib.util.spec_from_file_location("_gendemo_browser_conftest", ROOT / "tests" / "browser" / "conftest.py")
harness = sys.modules.get(_spec.name) or importlib.util.module_from_spec(_spec)
if _spec.name not in sys.modules:
    sys.modules[_spec.name] = harness  # dataclasses look their module up there
    _spec.loader.exec_module(harness)

CAP = os.cpu_count() or 1  # ui/live.py: MAX_CONCURRENT = max(1, os.cpu_count() or 1)
PLANNED_STEPS = 500  # the smallest choice of the "planned steps" select-slider
WIDTH_CHOICES = (16, 32, 64, 128, 256)  # the "width" select-slider's choices (pages/ddpm-training.py)
MEMORY_GROWTH_LIMIT_MB = 100.0
URL_PATH = "ddpm-training"
TITLE = "DDPM training"
STEP = r"^step(?!s)"  # the metric "step" ("500 / 500"), not "steps / s"
LOSS = r"^loss"  # "loss (last 100 steps)"
REACHED = "Reached the planned"
QUEUED = "Queued:"

# Records, in the page itself every 100 ms, each change of the "step" metric (with the wall-clock time), whether
# "Queued" or "Reached the planned" was ever shown, and every exception box / error alert ever shown.
_RECORDER = r"""() => {
  if (window.__lt) return;
  const lt = window.__lt = {steps: [], queued: 0, reached: false, errors: []};
  let last = null;
  const tick = () => {
    const main = document.querySelector('[data-testid="stMain"]');
    if (!main) return;
    for (const m of main.querySelectorAll('[data-testid="stMetric"], .gd-metric')) {
      const l = m.querySelector('[data-testid="stMetricLabel"], .gd-metric-label');
      const v = m.querySelector('[data-testid="stMetricValue"], .gd-metric-value');
      if (l && v && /^step(?!s)/i.test(l.innerText.trim())) {
        if (v.innerText !== last) { last = v.innerText; lt.steps.push([performance.timeOrigin + performance.now(), last]); }
        break;
      }
    }
    for (const a of main.querySelectorAll('[data-testid="stAlertContentInfo"]')) {
      const t = a.innerText;
      if (t.includes('QUEUED')) lt.queued += 1;
      if (t.includes('REACHED')) lt.reached = true;
    }
    for (const e of document.querySelectorAll('[data-testid="stException"], [data-testid="stAlertContentError"]')) {
      const t = e.getAttribute('data-testid') + ': ' + e.innerText.trim().slice(0, 500);
      if (!lt.errors.includes(t) && lt.errors.length < 20) lt.errors.push(t);
    }
  };
  lt.timer = setInterval(tick, 100);
}""".replace("QUEUED", QUEUED).replace("REACHED", REACHED)

_STATE = r"""() => {
  const lt = window.__lt || {};
  const main = document.querySelector('[data-testid="stMain"]');
  const names = main ? Array.from(main.querySelectorAll('button')).map((b) => b.innerText.trim()) : [];
  return {reached: !!lt.reached, queued: lt.queued || 0, errors: lt.errors || [], nsteps: (lt.steps || []).length,
          last: (lt.steps && lt.steps.length) ? lt.steps[lt.steps.length - 1][1] : null,
          play: names.some((n) => /Play$/.test(n)), pause: names.some((n) => /Pause$/.test(n))};
}"""

_CURVE = r"""() => {
  const g = document.querySelector('.st-key-ddpm_loss .js-plotly-plot');
  if (!g || !g._fullData || !g._fullData[0]) return null;
  return {x: Array.from(g._fullData[0].x || [], Number), y: Array.from(g._fullData[0].y || [], Number)};
}"""


def _int(text: str | None) -> int | None:
    m = re.match(r"\s*([\d,]+)", text or "")
    return int(m.group(1).replace(",", "")) if m else None


# ---------------------------------------------------------------------------------------------------------
# The server and its memory.


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` (its threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        out += kids
        todo += kids
    return out


class BrowserPriority:
    """Lowers the CPU priority (nice) of every thread of this process's Chromium processes.

    In a lecture hall the students' browsers run on their own laptops; here they share the server's cores, and N
    pages redrawing plotly charts would take CPU from the server that a real classroom would never take. Niced,
    they still render everything (they run whenever the server leaves CPU), but the figures measure the server.
    Linux nice values are per thread, so every task of every Chromium process is reniced, again as new renderers
    and threads appear; `restore` puts the old values back (the browser may be shared with other tests).
    """

    def __init__(self, niceness: int):
        self.niceness = niceness
        self.saved: dict[int, int] = {}

    def apply(self) -> None:
        if not self.niceness:
            return
        for pid in _descendants(os.getpid()):
            try:
                if not Path(f"/proc/{pid}/comm").read_text().startswith(("chromium", "chrome")):
                    continue
                tids = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
            except (OSError, ValueError):
                continue
            for tid in tids:
                try:
                    cur = os.getpriority(os.PRIO_PROCESS, tid)
                    if cur < self.niceness:
                        self.saved.setdefault(tid, cur)
                        os.setpriority(os.PRIO_PROCESS, tid, self.niceness)
                except OSError:  # the thread ended
                    pass

    def restore(self) -> None:
        for tid, prio in self.saved.items():
            try:
                os.setpriority(os.PRIO_PROCESS, tid, prio)
            except OSError:  # ended, or raising priority is not permitted
                pass
        self.saved.clear()


def rss_mb(pid: int) -> float:
    """VmRSS of `pid` and all its descendants, in MB (10^6 bytes)."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
        todo += _children(p)
    return total / 1e6


class Server:
    """benchmarks/load_server.py on 127.0.0.1:<free port>; stopped by its PID (SIGTERM, then SIGKILL)."""

    def __init__(self, workdir: Path, health_timeout_s: float = 90.0):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.events = workdir / "training-events.txt"
        self.log_path = workdir / "streamlit-server.log"
        self.events.write_text("")
        env = dict(os.environ, LOAD_TEST_EVENTS=str(self.events))
        cmd = [sys.executable, str(ROOT / "benchmarks" / "load_server.py"), "--server.headless", "true",
               "--server.port", str(self.port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + health_timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server was not healthy after {health_timeout_s:.0f} s:\n{self.log_tail()}")
            time.sleep(0.25)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)

    def cpu_s(self) -> float:
        return cpu_s(self.proc.pid)

    def concurrency(self, t0: float, t1: float) -> tuple[int, int, dict[int, float]]:
        """(most training calls at once, calls started, seconds spent at each level) within [t0, t1]."""
        events = []
        for line in self.events.read_text().splitlines():
            try:
                t, k = line.split()
                events.append((float(t), int(k)))
            except ValueError:
                continue
        level, peak, calls, time_at, prev_t = 0, 0, 0, {}, t0
        for t, k in events:
            if t < t0:
                level = k
                continue
            if t > t1:
                break
            time_at[level] = time_at.get(level, 0.0) + (t - prev_t)
            if k > level:
                calls += 1
            level, prev_t = k, t
            peak = max(peak, k)
        time_at[level] = time_at.get(level, 0.0) + max(0.0, t1 - prev_t)
        return peak, calls, time_at

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=harness.SERVER_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


# ---------------------------------------------------------------------------------------------------------
# Sessions and waves.


@dataclass
class Session:
    idx: int
    ctx: object
    page: object
    log: object  # harness.ConsoleLog
    app: object  # harness.AppDriver
    finished_at: float | None = None
    step: int | None = None
    loss: str | None = None
    curve: dict | None = None
    queued: int = 0
    problems: list[str] = field(default_factory=list)
    wire: collections.deque = field(default_factory=lambda: collections.deque(maxlen=5000))  # LOAD_TEST_WIRE


@dataclass
class Phase:
    name: str
    n: int
    finished: int = 0
    wall_s: float = float("nan")
    setup_s: float = float("nan")
    server_cpu_s: float = float("nan")  # CPU seconds the server used from the first Play to the last finish
    rss_start_mb: float = float("nan")
    rss_peak_mb: float = float("nan")
    rss_end_mb: float = float("nan")
    max_concurrent: int = 0
    train_calls: int = 0
    time_at: dict = field(default_factory=dict)
    queued_pages: int = 0
    results: list[tuple[int | None, str | None, dict | None]] = field(default_factory=list)
    equal_to_solo: int | None = None  # sessions whose result equals the solo run's (None: not compared)
    problems: list[str] = field(default_factory=list)
    complete: bool = False  # the phase ran to its end (not cut by a time cap)


@dataclass
class LoadResult:
    n: int
    cap: int
    phases: list[Phase] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    rss_after_start_mb: float = float("nan")
    width: int | None = None  # the ε-network width chosen on the page (None: its default)
    browser_nice: int = 0
    load_start: str = ""  # the machine's load average (1, 5, 15 min) at the start: the CPU is shared

    def waves(self) -> list[Phase]:
        return [p for p in self.phases if p.name.startswith("wave")]

    def growth(self) -> tuple[float, float] | None:
        """(end-of-wave RSS growth, peak RSS growth) from wave 2 to wave 3, in MB; None without 3 whole waves."""
        w = [p for p in self.waves() if p.complete]
        if len(w) < 3:
            return None
        return w[2].rss_end_mb - w[1].rss_end_mb, w[2].rss_peak_mb - w[1].rss_peak_mb

    def table(self) -> str:
        head = ("phase", "sessions finished", "wall s", "setup s", "server CPU s", "peak RSS MB", "end RSS MB", "max concurrent",
                "train calls", "pages queued", "equal to solo", "problems")
        rows = [head]
        for p in self.phases:
            rows.append((p.name, f"{p.finished}/{p.n}", f"{p.wall_s:.1f}", f"{p.setup_s:.1f}",
                         f"{p.server_cpu_s:.1f}", f"{p.rss_peak_mb:.0f}",
                         f"{p.rss_end_mb:.0f}", f"{p.max_concurrent} (cap {self.cap})", str(p.train_calls),
                         f"{p.queued_pages}/{p.n}",
                         "reference" if p.equal_to_solo is None else f"{p.equal_to_solo}/{p.n}", str(len(p.problems))))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        g = self.growth()
        lines += ["", (f"server RSS after start: {self.rss_after_start_mb:.0f} MB; peak over the run: "
                       f"{max((p.rss_peak_mb for p in self.phases), default=float('nan')):.0f} MB"),
                  "memory growth wave 2 -> wave 3: " + (
                      "n/a (fewer than 3 complete waves)" if g is None else
                      f"{g[0]:+.1f} MB at the end of the wave, {g[1]:+.1f} MB at its peak "
                      f"(limit < {MEMORY_GROWTH_LIMIT_MB:.0f} MB)"),
                  "time spent at each number of concurrent trainings (all phases): " + ", ".join(
                      f"{k}: {v:.1f} s" for k, v in sorted(self._time_at().items())),
                  f"total wall time: {self.wall_s:.0f} s; load average at the start {self.load_start}, at the end "
                  + " ".join(f"{x:.2f}" for x in os.getloadavg()),
                  "RESULT: " + ("PASS" if not self.problems else f"FAIL ({len(self.problems)} problem(s))")]
        return "\n".join(lines)

    def _time_at(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for p in self.phases:
            for k, v in p.time_at.items():
                out[k] = out.get(k, 0.0) + v
        return out


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def ms(self, cap_s: float) -> int:
        """A Playwright timeout: the smaller of cap_s and the time left (at least 1 s)."""
        return int(max(1.0, min(cap_s, self.left())) * 1000)


def _open(browser, url: str, idx: int) -> Session:
    ctx = browser.new_context(viewport=harness.VIEWPORT)
    page = ctx.new_page()
    page.set_default_timeout(harness.DEFAULT_TIMEOUT_MS)
    page.set_default_navigation_timeout(harness.DEFAULT_TIMEOUT_MS)
    log = harness.ConsoleLog(url)
    page.on("console", log.on_console)
    page.on("pageerror", log.on_pageerror)
    page.console = log
    session = Session(idx, ctx, page, log, harness.AppDriver(page, url))
    if os.environ.get("LOAD_TEST_WIRE"):
        page.on("websocket", lambda ws: _record_wire(ws, session.wire))
    return session


def _record_wire(ws, wire) -> None:
    """LOAD_TEST_WIRE=1: keep the last messages of the session's websocket, decoded to one line each (runs,
    fragments, delta paths, timers), for the report of a session that did not finish."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    def received(payload) -> None:
        if not isinstance(payload, bytes):
            return
        m = ForwardMsg()
        m.ParseFromString(payload)
        kind, run = m.WhichOneof("type"), m.metadata.run
        if kind == "delta":
            d = m.delta
            what = d.WhichOneof("type")
            sub = getattr(d, what).WhichOneof("type") if what in ("new_element", "add_block") else ""
            if sub == "button":
                sub += f"({d.new_element.button.label})"
            line = f"delta {what}:{sub} {list(m.metadata.delta_path)} frag={d.fragment_id[:6]}"
        elif kind in ("new_session", "script_finished"):
            line = f"{kind} run={run.script_run_id[:6]} frags={[f[:6] for f in run.fragment_ids]}" + (
                f" status={m.script_finished}" if kind == "script_finished" else "")
        elif kind == "auto_rerun":
            line = f"auto_rerun {m.auto_rerun.interval:.2f} s frag={m.auto_rerun.fragment_id[:6]}"
        else:
            line = kind or "?"
        wire.append(f"{time.monotonic():.2f} < {line}")

    def sent(payload) -> None:
        if isinstance(payload, bytes):
            b = BackMsg()
            b.ParseFromString(payload)
            kind = b.WhichOneof("type")
            frag = b.rerun_script.fragment_id[:6] if kind == "rerun_script" else ""
            wire.append(f"{time.monotonic():.2f} > {kind} {frag}")

    ws.on("framereceived", received)
    ws.on("framesent", sent)


def _wait(predicate, deadline: Deadline, cap_s: float, what: str) -> None:
    end = time.monotonic() + max(0.0, min(cap_s, deadline.left()))
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _slider(s: Session, label: str):
    """The thumb of the main area's slider labelled exactly `label`."""
    return (s.page.locator('[data-testid="stMain"] [data-testid="stSlider"]')
            .filter(has=s.page.get_by_text(label, exact=True)).get_by_role("slider").first)


def _planned_steps_slider(s: Session):
    return _slider(s, "planned steps")


def _set_by_keys(s: Session, label: str, keys: list[str], want: str, deadline: Deadline) -> None:
    """Focus the slider `label`, press `keys`; again if a rerun swallowed them, until it shows `want`."""
    thumb = _slider(s, label)
    for attempt in range(3):
        if thumb.get_attribute("aria-valuetext", timeout=deadline.ms(60)) == want:
            return
        thumb.focus(timeout=deadline.ms(60))
        for k in keys:
            thumb.press(k, timeout=deadline.ms(60))
        try:
            _wait(lambda: thumb.get_attribute("aria-valuetext") == want, deadline, 20,
                  f"session {s.idx}: {label} = {want}")
            return
        except TimeoutError:
            if attempt == 2:
                raise


def _page_state(s: Session) -> str:
    """What an unfinished session's page shows: the Play/Pause row, whether "Reached" was ever seen, busy."""
    try:
        st = s.page.evaluate(_STATE)
        return (f"[{'Pause' if st['pause'] else 'Play' if st['play'] else 'no Play/Pause'} shown, 'Reached' "
                f"{'seen' if st['reached'] else 'never seen'}, {'running' if s.app.busy() else 'idle'}]")
    except PlaywrightError as exc:
        return f"[page unreadable: {str(exc).splitlines()[0][:80]}]"


def run_phase(name: str, n: int, browser, server: Server, deadline: Deadline, log=print,
              width: int | None = None, nice: BrowserPriority | None = None) -> tuple[Phase, list[Session]]:
    """Open n sessions on the DDPM page, set 500 planned steps (and the width), press Play on all, wait until all
    have finished."""
    ph = Phase(name, n, rss_start_mb=server.rss_mb())
    sessions: list[Session] = []
    t_setup = time.monotonic()
    try:
        # 1. open every tab at "/" first (the server renders them concurrently), then click each one's sidebar
        #    link to the DDPM page (a deep link /ddpm-training is avoided: see GUIDE §5).
        for i in range(n):
            s = _open(browser, server.url, i)
            sessions.append(s)
            s.page.goto(server.url + "/", wait_until="commit", timeout=deadline.ms(120))
        if nice is not None:
            nice.apply()
        for s in sessions:
            s.app.wait_title("DDPMs and normalizing flows", timeout_ms=deadline.ms(300))
            s.app.wait_idle(timeout_ms=deadline.ms(300), quiet_s=0.5)
        for s in sessions:
            s.app.nav_link(TITLE).click(timeout=deadline.ms(120))
        for s in sessions:
            s.page.wait_for_url(f"{server.url}/{URL_PATH}", timeout=deadline.ms(120))
            s.app.wait_title(TITLE, timeout_ms=deadline.ms(300))
            s.app.wait_idle(timeout_ms=deadline.ms(300), quiet_s=0.5)
        # 2. "planned steps" to its first choice (500), and the network's width if asked: keyboard on the thumbs.
        for s in sessions:
            _set_by_keys(s, "planned steps", ["Home"], str(PLANNED_STEPS), deadline)
            if width is not None:
                _set_by_keys(s, "width", ["Home"] + ["ArrowRight"] * WIDTH_CHOICES.index(width), str(width), deadline)
        for s in sessions:
            s.app.wait_idle(timeout_ms=deadline.ms(300), quiet_s=0.5)
            s.page.evaluate(_RECORDER)
        ph.setup_s = time.monotonic() - t_setup
        log(f"  {name}: {n} session(s) ready in {ph.setup_s:.1f} s; pressing Play on all")

        # 3. Play on every page, one right after the other.
        t0, cpu0 = time.monotonic(), server.cpu_s()
        for s in sessions:
            s.app.click_button("Play", timeout_ms=deadline.ms(60))
        t_clicked = time.monotonic()

        # 4. until every session has reached its planned steps (or the time cap).
        peak = server.rss_mb()
        pending = list(sessions)
        last_report = time.monotonic()
        last_nice = 0.0
        while pending and deadline.left() > 0:
            peak = max(peak, server.rss_mb())
            if nice is not None and time.monotonic() - last_nice > 5:
                nice.apply()
                last_nice = time.monotonic()
            for s in list(pending):
                st = s.page.evaluate(_STATE)
                if st["reached"] and st["play"] and not st["pause"] and not s.app.busy():
                    s.finished_at = time.monotonic()
                    pending.remove(s)
            if time.monotonic() - last_report > 15:
                last_report = time.monotonic()
                log(f"  {name}: {n - len(pending)}/{n} finished after {time.monotonic() - t0:.0f} s; "
                    f"server RSS {peak:.0f} MB")
            time.sleep(0.5)
        t1 = max((s.finished_at for s in sessions if s.finished_at), default=time.monotonic())
        ph.wall_s = t1 - t0
        ph.server_cpu_s = server.cpu_s() - cpu0
        ph.rss_peak_mb = max(peak, server.rss_mb())
        ph.max_concurrent, ph.train_calls, ph.time_at = server.concurrency(t0, time.monotonic())
        if pending:
            ph.problems.append(f"{name}: {len(pending)} of {n} session(s) not finished when the time cap ran out "
                               f"({time.monotonic() - t0:.0f} s after Play); their steps: "
                               + ", ".join(str(s.app.metric(STEP)) for s in pending[:10])
                               + "; their pages: " + ", ".join(_page_state(s) for s in pending[:10]))
            for s in pending[:3]:
                if s.wire:
                    lines = list(s.wire)
                    key = [w for w in lines if "frags=[]" in w or "auto_rerun" in w or "button" in w
                           or w.endswith("> rerun_script ")]
                    log(f"  {name} session {s.idx}: its websocket's full runs, timers and buttons (LOAD_TEST_WIRE):"
                        "\n    " + "\n    ".join(key[-80:]) + "\n  and its last messages:\n    "
                        + "\n    ".join(lines[-40:]))
        log(f"  {name}: {n - len(pending)}/{n} finished, wall {ph.wall_s:.1f} s (Play clicks took "
            f"{t_clicked - t0:.1f} s); at most {ph.max_concurrent} trainings at once")

        # 5. read each session's result and its errors.
        for s in sessions:
            st = s.page.evaluate(_STATE)
            s.queued = st["queued"]
            if s.finished_at is not None:
                s.app.wait_idle(timeout_ms=deadline.ms(60), quiet_s=0.5)
                s.step, s.loss, s.curve = _int(s.app.metric(STEP)), s.app.metric(LOSS), s.page.evaluate(_CURVE)
            s.problems += [f"{name} session {s.idx}: {e}" for e in st["errors"]]
            s.problems += [f"{name} session {s.idx}: now showing {m}" for m in s.app.crash_messages()
                           if not any(m[:200] in e for e in st["errors"])]
            s.problems += [f"{name} session {s.idx}: browser [{e.kind}:{e.type}] {e.text}"
                           + (f" ({e.url})" if e.url else "") for e in s.log.unexpected()]
            ph.problems += s.problems
        ph.finished = sum(s.finished_at is not None for s in sessions)
        ph.queued_pages = sum(s.queued > 0 for s in sessions)
        ph.results = [(s.step, s.loss, s.curve) for s in sessions]
        ph.complete = not pending
    except (PlaywrightError, TimeoutError, AssertionError) as exc:  # a timeout or a broken page (AppDriver's
        # waits raise AssertionError): recorded; the caller decides whether to go on
        ph.problems.append(f"{name}: aborted: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        ph.finished = sum(s.finished_at is not None for s in sessions)
    finally:
        for s in sessions:
            try:
                s.ctx.close()
            except PlaywrightError as exc:  # the browser is gone: nothing left to close
                ph.problems.append(f"{name} session {s.idx}: closing its browser context failed: {exc}")
    time.sleep(min(3.0, max(0.0, deadline.left())))  # let the closed sessions' last runs end
    ph.rss_end_mb = server.rss_mb()
    if ph.rss_peak_mb != ph.rss_peak_mb:  # NaN: aborted before the first sample
        ph.rss_peak_mb = max(ph.rss_start_mb, ph.rss_end_mb)
    return ph, sessions


def _compare(ph: Phase, solo: tuple[int | None, str | None, dict | None]) -> None:
    """Every finished session's result against the solo run: loss curve (per step, exact), step, loss metric."""
    s_step, s_loss, s_curve = solo
    equal = 0
    for i, (step, loss, curve) in enumerate(ph.results):
        if step is None:
            continue  # not finished: reported already
        if curve is None or s_curve is None:
            ph.problems.append(f"{ph.name} session {i}: no loss curve to compare with the solo run")
            continue
        m = min(len(curve["x"]), len(s_curve["x"]))
        same_prefix = curve["x"][:m] == s_curve["x"][:m] and curve["y"][:m] == s_curve["y"][:m]
        if not same_prefix:
            k = next((j for j in range(m) if (curve["x"][j], curve["y"][j]) != (s_curve["x"][j], s_curve["y"][j])), m)
            ph.problems.append(
                f"{ph.name} session {i}: loss curve differs from the solo run's at point {k} "
                f"(x, y) = {(curve['x'][k], curve['y'][k]) if k < len(curve['x']) else None} vs "
                f"{(s_curve['x'][k], s_curve['y'][k]) if k < len(s_curve['x']) else None}")
        elif (step, loss) != (s_step, s_loss):
            ph.problems.append(
                f"{ph.name} session {i}: stopped at step {step} with loss {loss}, the solo run at step {s_step} "
                f"with loss {s_loss}; the curves agree on the {m} steps both trained, so the runs differ only in "
                f"where the live loop stopped past the planned {PLANNED_STEPS} steps")
        else:
            equal += 1
    ph.equal_to_solo = equal


def run(n: int, waves: int = 3, cap_s: float = 900.0, browser=None, workdir: Path | None = None,
        log=print, width: int | None = None, browser_nice: int = 10) -> LoadResult:
    """The whole load test; `browser`: a Playwright Browser to reuse (else one is launched here); `width`: the
    ε-network's width to choose on the page (None: the page's default); `browser_nice`: the nice value given to
    Chromium's threads while the test runs (0: leave them alone; see BrowserPriority)."""
    if width is not None and width not in WIDTH_CHOICES:
        raise ValueError(f"width must be one of {WIDTH_CHOICES}, got {width!r}")
    t_start = time.monotonic()
    deadline = Deadline(cap_s)
    res = LoadResult(n, CAP, width=width, browser_nice=browser_nice, load_start=" ".join(f"{x:.2f}" for x in os.getloadavg()))
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="gendemo-load-")
        workdir = Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    pw_cm = None
    server = None
    nice = BrowserPriority(browser_nice)
    try:
        if browser is None:
            from playwright.sync_api import sync_playwright
            pw_cm = sync_playwright()
            pw = pw_cm.__enter__()
            browser = pw.chromium.launch(executable_path=harness.CHROMIUM, args=harness.CHROMIUM_ARGS, headless=True)
        server = Server(workdir)
        res.rss_after_start_mb = server.rss_mb()
        log(f"load test: N = {n}, {waves} wave(s) after a solo run, server {server.url} (pid {server.proc.pid}), "
            f"cap {CAP} concurrent trainings, time cap {cap_s:.0f} s; DDPM page defaults, planned steps "
            f"{PLANNED_STEPS}" + (f", width {width}" if width is not None else "")
            + (f"; Chromium niced to {browser_nice}" if browser_nice else ""))
        solo, _ = run_phase("solo", 1, browser, server, deadline, log, width, nice)
        res.phases.append(solo)
        reference = solo.results[0] if solo.results and solo.results[0][0] is not None else None
        if reference is None:
            res.problems.append("the solo run did not finish: nothing to compare with")
        for w in range(1, waves + 1):
            if deadline.left() < 10:
                res.problems.append(f"time cap of {cap_s:.0f} s reached before wave {w}")
                break
            ph, _ = run_phase(f"wave {w}", n, browser, server, deadline, log, width, nice)
            if reference is not None:
                _compare(ph, reference)
            res.phases.append(ph)
            if not ph.complete:
                break  # a wave cut short: the later ones would only say the same
        if server.proc.poll() is not None:
            res.problems.append(f"the server died (exit code {server.proc.returncode}):\n{server.log_tail()}")
    finally:
        nice.restore()
        if server is not None:
            server.stop()
        if pw_cm is not None:
            try:
                browser.close()
            finally:
                pw_cm.__exit__(None, None, None)
        if tmp is not None:
            tmp.cleanup()
    res.wall_s = time.monotonic() - t_start

    for p in res.phases:
        res.problems += p.problems
        if p.finished < p.n and not any(p.name in q and "not finished" in q for q in p.problems):
            res.problems.append(f"{p.name}: {p.finished}/{p.n} sessions finished")
        if p.max_concurrent > CAP:
            res.problems.append(f"{p.name}: {p.max_concurrent} trainings computed at once, above the cap of {CAP}")
        if p.finished and p.train_calls == 0:
            res.problems.append(f"{p.name}: the probe saw no training call: the app no longer trains through "
                                "gendemo.training.train_steps, so the cap is not measured")
    if len([p for p in res.waves() if p.complete]) < waves and not any("time cap" in q for q in res.problems):
        res.problems.append(f"only {len([p for p in res.waves() if p.complete])} of {waves} waves completed")
    g = res.growth()
    if g is not None:
        if g[0] >= MEMORY_GROWTH_LIMIT_MB:
            res.problems.append(f"server RSS grew {g[0]:.0f} MB from the end of wave 2 to the end of wave 3 "
                                f"(limit {MEMORY_GROWTH_LIMIT_MB:.0f} MB)")
        if g[1] >= MEMORY_GROWTH_LIMIT_MB:
            res.problems.append(f"server peak RSS grew {g[1]:.0f} MB from wave 2 to wave 3 "
                                f"(limit {MEMORY_GROWTH_LIMIT_MB:.0f} MB)")
    elif waves >= 3:
        res.problems.append("memory growth from wave 2 to wave 3 not measured (fewer than 3 complete waves)")
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--n", type=int, default=10, help="browser sessions per wave (1-40; default 10)")
    p.add_argument("--waves", type=int, default=3, help="waves after the solo run (1-5; default 3: memory growth "
                                                        "is measured from wave 2 to wave 3)")
    p.add_argument("--width", type=int, choices=WIDTH_CHOICES, default=None,
                   help="choose this ε-network width on the page (default: the page's default)")
    p.add_argument("--browser-nice", type=int, default=10,
                   help="nice value for Chromium's threads (default 10; 0: leave them alone). In a lecture hall "
                        "the browsers run on the students' laptops, not on the server's cores")
    p.add_argument("--cap", type=float, default=None,
                   help="time cap in seconds for the whole test (default: 300 + 60·N, at most 3600)")
    args = p.parse_args(argv)
    if not 1 <= args.n <= 40:
        p.error("--n must be in [1, 40]: one machine, loopback only")
    if not 1 <= args.waves <= 5:
        p.error("--waves must be in [1, 5]")
    cap = args.cap if args.cap is not None else min(3600.0, 300.0 + 60.0 * args.n)
    if not 30 <= cap <= 3600:
        p.error("--cap must be in [30, 3600] seconds")
    if not Path(harness.CHROMIUM).exists():
        print(f"{harness.CHROMIUM} not found (apt-get install -y chromium)", file=sys.stderr)
        return 2
    if not 0 <= args.browser_nice <= 19:
        p.error("--browser-nice must be in [0, 19]")
    res = run(args.n, args.waves, cap, width=args.width, browser_nice=args.browser_nice)
    print()
    print(f"N = {args.n} sessions per wave, {args.waves} wave(s) after a solo run, planned steps {PLANNED_STEPS}"
          + (f", width {args.width}" if args.width else ", the page's default width") + f"; {os.cpu_count()} cores")
    print(res.table())
    for q in res.problems:
        print("  - " + q)
    return 0 if not res.problems else 1


if __name__ == "__main__":
    sys.exit(main())
