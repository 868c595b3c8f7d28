"""Trainings as server-side jobs (issue 17): a default model on screen at once, and live training at full speed.

Two measurements, each on `streamlit run server.py` (the README's run command) with a fresh, empty model store (env
GENDEMO_STORE, a temporary directory) on a free loopback port, driven by Debian's Chromium through Playwright:

1. **First view of a default model.** A fresh server; in a fresh browser context, the time from `page.goto` of the
   DDPM training page (then, on another fresh server, the flows page) to the trained model on screen: the status
   says "trained" and the model's picture is on screen: the figure's SVG first paint (ui/firstpaint.py) or the
   plotly figure (`.st-key-ddpm_samples` / `.st-key-flow_density`) drawn, whichever comes first; the plotly
   figure's time is reported too. The shipped lean models (gendemo/pretrained) serve the default settings, so
   nothing trains. Timed in the page (a MutationObserver and a 10 ms poll, installed before the page's scripts
   run) from the navigation's start: everything a student waits for, the server's first script run and
   Streamlit's own bundle (parsed in every fresh context: no HTTP cache) included. The first visit on the fresh
   server, then the median of a few more fresh contexts on the same server, then a second visit in each of them
   (HTTP cache warm, as a student's browser that has opened the app before). Target ≤ 1 s.
2. **Live throughput.** A non-default config (seed 11; DDPM 3,000 steps, flow 1,000 steps) trained by the engine
   alone in this process (make_state + train_steps, one torch thread), interleaved with the same config trained as
   a job while a Chromium page follows it: the page opens the settings' URL on a fresh server and store, waits until
   the page and the server are quiet, presses Train and follows until the status says "trained". That is the
   server's first job ("cold": the job table starts its worker processes on demand); then the same tab trains seed
   12 (same network and steps) on the same server ("warm"). Figures: the job's steps/s from its stored entry
   (steps / seconds inside train_steps in the worker), the page's wall-clock steps/s (planned steps / time from the
   click to "trained" on screen), each against the median of the engine-alone runs (target ≥ 80 %), and the fast
   panel's redraws per second while following (changes of the `.gd-metric-value` texts, counted by a
   MutationObserver in the page; target ≥ 4/s), with the CPU the server, its workers and Chromium used meanwhile.

Run alone: `.venv/bin/python benchmarks/bench_jobs.py [--quick]` (prints a markdown table), or as the `jobs`
section of benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import ROOT, Report, Timing, load_average
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from gendemo import datasets, jobs
from gendemo.config import DDPMConfig, FlowConfig
from gendemo.store import SUFFIX, ModelStore

SECTION = "jobs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1440, "height": 900}  # wide enough that the sidebar stays open (tests/browser/conftest.py)

FIRST_VIEW_S = 1.0
THROUGHPUT = 0.80
REDRAWS_PER_S = 4.0

# page, URL path, the figure that shows the trained model, the live run's URL settings and config
PAGES = {
    "ddpm": ("DDPM training", "ddpm-training", ".st-key-ddpm_samples .js-plotly-plot",
             "d_seed=11&d_steps=3000", DDPMConfig(seed=11, steps=3000)),
    "flow": ("Normalizing flows", "flows", ".st-key-flow_density .js-plotly-plot",
             "f_seed=11&f_steps=1000", FlowConfig(seed=11, steps=1000)),
}

# Installed before the page's own scripts (context.add_init_script): the first moment the page title, the status
# "trained", the figure's SVG first paint (ui/firstpaint.py) and the drawn plotly figure are on the page, in ms since
# the navigation started (performance.now()). "done": "trained" and a picture of the model (either) on screen.
_FIRST_VIEW_JS = """(() => {
  const SEL = %r, PREVIEW = %r;
  const t = {};
  const check = () => {
    if (window.__firstView) return;
    const now = performance.now();
    if (t.title === undefined && document.querySelector('[data-testid="stMain"] h1')) t.title = now;
    const notes = Array.from(document.querySelectorAll('.gd-metric-note'), (e) => e.textContent.trim());
    if (t.trained === undefined && notes.includes('trained')) t.trained = now;
    const p = document.querySelector(PREVIEW);
    if (t.preview === undefined && p && p.getBoundingClientRect().height > 0 && p.querySelector('svg')) t.preview = now;
    const g = document.querySelector(SEL);
    if (t.drawn === undefined && g && g._fullLayout && g.querySelector('.main-svg')) t.drawn = now;
    const painted = Math.min(t.preview ?? Infinity, t.drawn ?? Infinity);
    if (t.trained !== undefined && painted < Infinity && t.done === undefined) t.done = Math.max(t.trained, painted);
    if (t.done !== undefined && t.drawn !== undefined) window.__firstView = t;
  };
  new MutationObserver(check).observe(document, {childList: true, subtree: true, characterData: true});
  setInterval(check, 10);
})();"""

# Installed after the page settled, before Train: every change of the status texts, and the click.
_RECORDER_JS = """() => {
  window.__rec = [];
  window.__clickAt = null;
  document.addEventListener('click', () => { if (window.__clickAt === null) window.__clickAt = performance.now(); },
                            true);
  let last = null;
  const read = () => {
    const values = Array.from(document.querySelectorAll('.gd-metric-value'), (e) => e.textContent.trim());
    if (!values.length) return;
    const text = values.join(' | ');
    if (text === last) return;
    last = text;
    const note = document.querySelector('.gd-metric-note');
    window.__rec.push([performance.now(), values[0], note ? note.textContent.trim() : '']);
  };
  new MutationObserver(read).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""

_BUSY_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (document.querySelector('[data-testid^="stStatusWidgetRunning"]')) return 'running';
  if (!main) return 'no main';
  if (main.querySelector('[data-stale="true"]')) return 'stale elements';
  if (main.querySelector('[data-testid="stSkeleton"]')) return 'skeleton';
  return '';
}"""


# ------------------------------------------------------------------------------------------------ the server
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_TICKS = os.sysconf("SC_CLK_TCK")


def _procs() -> dict[int, tuple[int, str, float]]:
    """Every process: pid -> (parent pid, command name, CPU seconds so far), from /proc."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(pid)] = (int(fields[1]), comm, (int(fields[11]) + int(fields[12])) / _TICKS)
    return out


def _descendants(root: int, procs: dict) -> set[int]:
    kids, frontier = set(), {root}
    while frontier:
        frontier = {p for p, (pp, _, _) in procs.items() if pp in frontier} - kids
        kids |= frontier
    return kids


class Server:
    """`streamlit run server.py` on a free loopback port with a fresh, empty model store, until `stop()`."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="gendemo-bench-jobs-"))
        self.store = self.tmp / "store"
        self.store.mkdir()
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.tmp / "server.log"
        env = {**os.environ, "GENDEMO_STORE": str(self.store)}
        cmd = [sys.executable, "-m", "streamlit", "run", "server.py", "--server.headless", "true", "--server.port",
               str(self.port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("streamlit did not become healthy within 60 s")
            time.sleep(0.1)

    def children(self) -> set[int]:
        return _descendants(self.proc.pid, _procs())

    def wait_quiet(self, quiet_s: float = 0.5, timeout_s: float = 60.0) -> None:
        """Until the server and its worker processes together used < 5 % of a core for `quiet_s` (workers up)."""
        deadline = time.monotonic() + timeout_s
        prev = None
        while time.monotonic() < deadline:
            procs = _procs()
            cpu = sum(procs[p][2] for p in _descendants(self.proc.pid, procs) | {self.proc.pid} if p in procs)
            if prev is not None and cpu - prev < 0.05 * quiet_s:
                return
            prev = cpu
            time.sleep(quiet_s)

    def stop(self) -> None:
        kids = self.children()
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM to the server's PID only
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10  # its worker processes end with it; any left over are ended by PID
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in kids):
            time.sleep(0.2)
        for p in kids:
            with contextlib.suppress(OSError):
                os.kill(p, 9)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


@contextlib.contextmanager
def serve():
    server = Server()
    try:
        yield server
    except Exception:
        print("server log (tail):\n" + server.log_tail(), file=sys.stderr)
        raise
    finally:
        server.stop()


@contextlib.contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def fresh_page(browser, init_script: str | None = None):
    ctx = browser.new_context(viewport=VIEWPORT)
    if init_script:
        ctx.add_init_script(init_script)
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    try:
        yield page
    finally:
        ctx.close()


def _crash(page) -> str:
    return " / ".join(page.evaluate("""() => Array.from(document.querySelectorAll(
        '[data-testid="stException"], [data-testid="stAlertContentError"]'), (e) => e.innerText.trim().slice(0, 300))"""))


# ------------------------------------------------------------------------------------------ 1. first view
def _seen(page, url: str) -> dict:
    """goto(url); seconds from the navigation's start to: the title, "trained" in the status, the figure present
    and drawn, both ("done"); when the plotly chunk had arrived ("plotly_js", None if it came from the cache)."""
    t0 = time.perf_counter()
    page.goto(url)
    try:
        page.wait_for_function("() => window.__firstView !== undefined", timeout=120_000, polling=20)
    except PlaywrightTimeout as exc:
        raise RuntimeError(f"no trained model on {url} in 120 s ({_crash(page) or exc})") from None
    wall = time.perf_counter() - t0
    t = page.evaluate("window.__firstView")
    js = page.evaluate("""() => { const r = performance.getEntriesByType('resource').filter(
        (e) => /PlotlyChart/.test(e.name) && e.transferSize > 0); return r.length ? r[0].responseEnd : null; }""")
    return {**{k: v / 1000 for k, v in t.items()}, "wall": wall, "plotly_js": None if js is None else js / 1000}


def first_view(browser, url: str) -> tuple[dict, dict]:
    """A fresh browser context: the first visit of `url` (empty HTTP cache), then a second one (cache warm)."""
    selector = next(sel for _, path, sel, _, _ in PAGES.values() if url.endswith("/" + path))
    key = selector.split()[0].removeprefix(".st-key-")
    with fresh_page(browser, _FIRST_VIEW_JS % (selector, f".st-key-gdpv-{key} .gd-preview")) as page:
        return _seen(page, url), _seen(page, url)


def measure_first_views(browser, family: str, more: int) -> list[tuple[dict, dict]]:
    path = PAGES[family][1]
    with serve() as server:
        return [first_view(browser, f"{server.url}/{path}") for _ in range(1 + more)]


# ------------------------------------------------------------------------------------------ 2. live throughput
def spec_of(family: str, config=None) -> jobs.JobSpec:
    """The job the page's settings describe (ui/jobs.target): the default data, the run's config (or `config`)."""
    return jobs.JobSpec.of(jobs.builtin_spec("moons", datasets.DEFAULT_N, 0, None), config or PAGES[family][4])


def engine_alone(family: str) -> float:
    """steps/s of make_state + train_steps(all planned steps) in this process (one torch thread)."""
    from gendemo.training import make_state, train_steps

    cfg = PAGES[family][4]
    state = make_state(cfg, datasets.load("moons", datasets.DEFAULT_N, 0))
    t0 = time.perf_counter()
    train_steps(state, cfg.steps)
    return cfg.steps / (time.perf_counter() - t0)


def _step(text: str) -> int:
    m = re.match(r"\s*([\d,]+)", text)
    return int(m.group(1).replace(",", "")) if m else -1


def follow(page, server: Server, url: str, spec: jobs.JobSpec) -> dict:
    """Open `url` (settings whose model is not stored), wait until the page and the server are quiet, press Train,
    follow the job until the status says "trained"; the figures of that run."""
    key = jobs.job_key(spec)
    page.goto(url)
    train = page.locator('[data-testid="stMain"]').get_by_role("button", name=re.compile(r"^\W*Train$"))
    train.first.wait_for(state="visible", timeout=120_000)
    deadline = time.monotonic() + 120
    quiet = 0
    while quiet < 5:  # the page settled for 0.5 s
        quiet = quiet + 1 if not page.evaluate(_BUSY_JS) else 0
        if time.monotonic() > deadline:
            raise RuntimeError("the page did not settle in 120 s")
        time.sleep(0.1)
    server.wait_quiet()  # nothing of the server's (worker processes included) still busy
    page.evaluate(_RECORDER_JS)
    before = _procs()
    w0, wall0 = time.monotonic(), time.time()
    train.first.click()
    try:
        page.wait_for_function("() => window.__rec.some((r) => r[2] === 'trained')", timeout=300_000, polling=50)
    except PlaywrightTimeout as exc:
        raise RuntimeError(f"the job did not end in 300 s ({_crash(page) or exc})") from None
    w1 = time.monotonic()
    after = _procs()
    rec = page.evaluate("window.__rec")
    click = page.evaluate("window.__clickAt")
    path = server.store / f"{key}{SUFFIX}"
    if not path.is_file():
        held = [p.name for p in server.store.glob(f"*{SUFFIX}")]
        raise RuntimeError(f"no stored entry under the spec's key {key}; the store holds {held}")
    disk_end = path.stat().st_mtime  # before ModelStore.get, which touches the file (its LRU clock)
    entry = ModelStore(server.store, fallback=()).get(key)
    # CPU over the click → "trained" window: the server process, its workers, Chromium, everything else
    used = {p: after[p][2] - before.get(p, (0, "", 0.0))[2] for p in after}
    kids = _descendants(server.proc.pid, after)
    window = w1 - w0
    cores = {"server": used.get(server.proc.pid, 0.0) / window,
             "workers": sum(used.get(p, 0.0) for p in kids) / window,
             "chromium": sum(v for p, v in used.items() if after[p][1].startswith("chrom")) / window}
    cores["other"] = sum(used.values()) / window - sum(cores.values())

    trained_at = next(t for t, _, note in rec if note == "trained")
    live = [(t, _step(s)) for t, s, note in rec if note in ("training", "queued") and t >= click]
    steps_live = [(t, s) for t, s in live if s > 0]
    if len(live) < 3 or len(steps_live) < 2:
        raise RuntimeError(f"too few live redraws recorded: {rec}")
    (a, s0), (b, s1) = steps_live[0], steps_live[-1]
    gaps = [y[0] - x[0] for x, y in itertools.pairwise(live)]
    return {
        "entry_steps_per_s": entry.step / entry.seconds,
        "page_steps_per_s": spec.total / ((trained_at - click) / 1000),
        "live_steps_per_s": (s1 - s0) / ((b - a) / 1000) if b > a else float("nan"),
        "job_wall_s": disk_end - wall0,  # click → the entry's file written (both on this machine's clock)
        "page_wall_s": (trained_at - click) / 1000,
        "train_s": entry.seconds,
        "redraws_per_s": (len(live) - 1) / ((live[-1][0] - live[0][0]) / 1000),
        "redraws": len(live),
        "gap_max_s": max(gaps) / 1000,
        "first_redraw_s": (live[0][0] - click) / 1000,
        "first_step_s": (a - click) / 1000,
        "cores": cores,
    }


def job_runs(browser, family: str) -> tuple[dict, dict]:
    """A fresh server and store, one browser tab: the run's settings trained and followed as the server's first job
    (cold: it may start the worker process), then the same with seed 12 (the worker warm; same network and steps)."""
    _, path, _, query, cfg = PAGES[family]
    warm_cfg = dataclasses.replace(cfg, seed=12)
    warm_query = query.replace("seed=11", "seed=12")
    with serve() as server, fresh_page(browser) as page:
        cold = follow(page, server, f"{server.url}/{path}?{query}", spec_of(family))
        warm = follow(page, server, f"{server.url}/{path}?{warm_query}", spec_of(family, warm_cfg))
    return cold, warm


# ------------------------------------------------------------------------------------------ the report
def _fmt_ms(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s" + (f" ({min(values):.2f}–{max(values):.2f}, n={len(values)})"
                                                   if len(values) > 1 else "")


def _median(rows: list[dict], key: str) -> float:
    """The median of `key` over the rows that have it (an SVG preview is not seen when plotly drew first): nan if
    none has."""
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else float("nan")


def _span(rows: list[dict], key: str, fmt: str = ".0f") -> str:
    return f"{min(r[key] for r in rows):{fmt}}–{max(r[key] for r in rows):{fmt}}"


def _at(row: dict, key: str) -> str:
    return "–" if row.get(key) is None else f"{row[key]:.2f} s"


def report_first_views(report: Report, family: str, views: list[tuple[dict, dict]]) -> None:
    _, path, selector, _, _ = PAGES[family]
    first, rest, warm = views[0][0], [v[0] for v in views[1:]], [v[1] for v in views[1:]]
    js = "" if first["plotly_js"] is None else f"plotly.js in at {first['plotly_js']:.2f} s, "
    report.add(SECTION, f"/{path}: first visit on a fresh server → trained model on screen",
               f"{first['done']:.2f} s", f"≤ {FIRST_VIEW_S:g} s", first["done"] <= FIRST_VIEW_S,
               f"navigation start → status 'trained' and the model's picture on screen (the SVG first paint, or "
               f"`{selector}` drawn); includes the server's first script run (its imports); title at "
               f"{first['title']:.2f} s, 'trained' at {first['trained']:.2f} s, SVG at {_at(first, 'preview')}, {js}"
               f"plotly figure at {first['drawn']:.2f} s "
               f"(Python-side goto → seen {first['wall']:.2f} s)")
    done = [v["done"] for v in rest]
    js = (f"plotly.js in at {_median(rest, 'plotly_js'):.2f} s, "
          if all(v["plotly_js"] is not None for v in rest) else "")
    report.add(SECTION, f"/{path}: later fresh contexts → trained model on screen",
               _fmt_ms(done), f"≤ {FIRST_VIEW_S:g} s", statistics.median(done) <= FIRST_VIEW_S,
               "a fresh browser context each (empty HTTP cache: Streamlit's bundle and plotly.js loaded and parsed "
               f"each time); medians: title {_median(rest, 'title'):.2f} s, 'trained' {_median(rest, 'trained'):.2f} s, "
               f"SVG {_median(rest, 'preview'):.2f} s, {js}plotly figure {_median(rest, 'drawn'):.2f} s")
    report.add(SECTION, f"/{path}: second visit in the same context (HTTP cache warm)",
               _fmt_ms([v["done"] for v in warm]), "", None,
               f"the same contexts, goto again: medians title {_median(warm, 'title'):.2f} s, 'trained' "
               f"{_median(warm, 'trained'):.2f} s, SVG {_median(warm, 'preview'):.2f} s, plotly figure "
               f"{_median(warm, 'drawn'):.2f} s")


def report_live(report: Report, family: str, alone: list[float], cold: list[dict], warm: list[dict],
                load: str) -> None:
    label, path, _, query, cfg = PAGES[family]
    eng = statistics.median(alone)
    n = len(cold)
    report.add(SECTION, f"{label} {cfg.steps:,} steps: engine alone (steps/s)", Timing(tuple(alone)).fmt(digits=0),
               "", None, "make_state + train_steps(all steps) in this process, one torch thread, interleaved with "
                         f"the job runs (alone, jobs, alone, jobs, …); load average over the runs {load}")
    cold_how = f"/{path}?{query} on a fresh server and store, Train, followed to 'trained'"
    warm_how = "then seed 12 in the same tab (same network and steps; the worker process started by the first job)"
    for runs, which, how in ((cold, "first job on a fresh server", cold_how), (warm, "next job, same server", warm_how)):
        entry, page = _median(runs, "entry_steps_per_s"), _median(runs, "page_steps_per_s")
        report.add(SECTION, f"{label}, {which}: stored entry / engine alone",
                   f"{entry / eng:.0%} ({entry:.0f} steps/s)", f"≥ {THROUGHPUT:.0%}", entry / eng >= THROUGHPUT,
                   f"{how}; steps / entry.seconds (time inside train_steps in the worker); median of {n} "
                   f"({_span(runs, 'entry_steps_per_s')} steps/s)")
        report.add(SECTION, f"{label}, {which}: page wall clock / engine alone",
                   f"{page / eng:.0%} ({page:.0f} steps/s)", f"≥ {THROUGHPUT:.0%}", page / eng >= THROUGHPUT,
                   f"{cfg.steps:,} steps / (click on Train → 'trained' on screen: median "
                   f"{_median(runs, 'page_wall_s'):.2f} s; first step > 0 on screen at "
                   f"{_median(runs, 'first_step_s'):.2f} s; the job's file written at {_median(runs, 'job_wall_s'):.2f} "
                   f"s, {_median(runs, 'train_s'):.2f} s of it in train_steps); between the first and last live "
                   f"redraw {_median(runs, 'live_steps_per_s'):.0f} steps/s; range {_span(runs, 'page_steps_per_s')} "
                   "steps/s")
    both = cold + warm
    c = {k: statistics.median(r["cores"][k] for r in both) for k in both[0]["cores"]}
    redraws = _median(both, "redraws_per_s")
    report.add(SECTION, f"{label}: fast-panel redraws per second while following", f"{redraws:.1f}",
               f"≥ {REDRAWS_PER_S:g}", redraws >= REDRAWS_PER_S,
               f"changes of the .gd-metric-value texts (MutationObserver) while the status says training; median "
               f"of all {len(both)} jobs ({_span(both, 'redraws_per_s', '.1f')}; first jobs "
               f"{_median(cold, 'redraws_per_s'):.1f}, next jobs {_median(warm, 'redraws_per_s'):.1f}), "
               f"{_median(both, 'redraws'):.0f} redraws a job, largest gap {max(r['gap_max_s'] for r in both):.2f} "
               f"s; cores from click to 'trained': server {c['server']:.2f}, workers {c['workers']:.2f}, Chromium "
               f"{c['chromium']:.2f}, other {c['other']:.2f} (of {os.cpu_count()})")


def run(report: Report, quick: bool) -> None:
    if not os.path.exists(CHROMIUM):
        report.add(SECTION, "jobs in the browser", "skipped: no /usr/bin/chromium", "", None)
        return
    more = 2 if quick else 4  # fresh contexts after the first visit
    pairs = 2 if quick else 3  # engine alone / job followed live, interleaved
    with chromium() as browser:
        for family in PAGES:
            report_first_views(report, family, measure_first_views(browser, family, more))
        for family in PAGES:
            alone, cold, warm, load0 = [], [], [], load_average()
            for _ in range(pairs):  # the machine is shared and noisy: alone, jobs, alone, jobs, ...
                alone.append(engine_alone(family))
                c, w = job_runs(browser, family)
                cold.append(c)
                warm.append(w)
            report_live(report, family, alone, cold, warm, f"{load0} → {load_average()}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer fresh contexts and job runs")
    args = p.parse_args(argv)
    start = load_average()
    print(f"load average (1, 5, 15 min) at start: {start}", flush=True)
    report = Report()
    run(report, args.quick)
    print("\n| figure | value | target | status | how |\n|---|---|---|---|---|")
    for r in report.rows:
        print(f"| {r.name} | {r.value} | {r.target} | {r.status} | {r.note} |")
    print(f"\nload average at start {start}, at end {load_average()} ({os.cpu_count()} cores)")
    return 0 if all(r.ok is not False for r in report.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
