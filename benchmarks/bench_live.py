"""The live UI in a real browser: updates per second and training throughput while ▶ Play trains (DDPM, flow).

Starts `streamlit run app.py` on a free port, drives Debian's Chromium through Playwright (GUIDE §5), presses
▶ Play on the DDPM training page (then the flows page) with the default settings, and records in the page itself (a 20 ms poll) every
change of the "step" metric: each change is one redraw of the live panel reaching the browser. Throughput is
Δstep / Δwall-clock between the first and last change, against the engine alone (train_steps in a loop, this
process, same config and data) measured right before and after.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from common import ROOT, Report

from gendemo.config import DDPMConfig, FlowConfig
from ui.data import DEFAULT_N  # the app's dataset size

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
UPDATES_PER_S = 4.0
THROUGHPUT = 0.80

_RECORDER = """() => {
  window.__steps = [];
  let last = null;
  const read = () => {
    for (const m of document.querySelectorAll('[data-testid="stMetric"], .gd-metric')) {
      const l = m.querySelector('[data-testid="stMetricLabel"], .gd-metric-label');
      const v = m.querySelector('[data-testid="stMetricValue"], .gd-metric-value');
      if (l && v && /^step(?!s)/i.test(l.textContent.trim())) {
        const t = v.textContent;
        if (t !== last) { last = t; window.__steps.push([performance.now(), t]); }
        return;
      }
    }
  };
  window.__poll = setInterval(read, 20);
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PAGES = {"ddpm": ("DDPM training", "ddpm-training", DDPMConfig), "flow": ("Normalizing flows", "flows", FlowConfig)}


def _engine_steps_per_s(family: str = "ddpm", seconds: float = 4.0) -> float:
    """The page's default config on the app's default data, train_steps in chunks for `seconds`."""
    from gendemo import datasets
    from gendemo.training import make_state, train_steps

    state = make_state(PAGES[family][2](), datasets.load("moons", DEFAULT_N, seed=0))
    chunk = 200 if family == "ddpm" else 20
    train_steps(state, chunk)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        train_steps(state, chunk)
        n += chunk
    return n / (time.perf_counter() - t0)


def _start_server(port: int, log) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
           str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not become healthy within 60 s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_TICKS = os.sysconf("SC_CLK_TCK")


PF_KTHREAD = 0x00200000  # /proc/<pid>/stat flags: a kernel thread


def _cpu_times() -> dict[str, float]:
    """CPU seconds so far of every user process on the machine, keyed 'comm pid' (from /proc; Linux only).

    Kernel threads are left out: on this VM /proc charged a kworker with 0.3-0.9 of a core whenever a process
    computed (even the engine alone), while `perf record -a` over the same seconds found kworkers in 0.01 % of
    the samples and the other core idle: an accounting artefact, not CPU the trainer lost (tuning.md).
    """
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
        if int(fields[6]) & PF_KTHREAD:
            continue
        out[f"{comm} {pid}"] = (int(fields[11]) + int(fields[12])) / _TICKS
    return out


def _thread_times(pid: int) -> dict[str, float]:
    """CPU seconds so far of each thread of process pid, by thread id."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out[tid] = (int(fields[11]) + int(fields[12])) / _TICKS
    return out


def _cpu_split(before: dict, after: dict, server_pid: int, seconds: float) -> dict[str, float]:
    """Cores used over `seconds` by the server, by Chromium (all its processes) and by everything else."""
    used = {k: after[k] - before.get(k, 0.0) for k in after}
    server = sum(v for k, v in used.items() if k.endswith(f" {server_pid}"))
    chromium = sum(v for k, v in used.items() if k.split()[0].startswith("chrom"))
    total = sum(used.values())
    return {"server": server / seconds, "chromium": chromium / seconds,
            "other": (total - server - chromium) / seconds}


def _step(text: str) -> int:
    m = re.match(r"\s*([\d,]+)", text)
    return int(m.group(1).replace(",", "")) if m else -1


def measure(window_s: float, family: str = "ddpm") -> dict:
    label, url_path, config = PAGES[family]
    from load_test import harness  # the browser tests' page driver (tests/browser/conftest.py)
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp, open(os.path.join(tmp, "server.log"), "w") as log:
        proc = _start_server(port, log)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                try:
                    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
                    page = ctx.new_page()
                    page.set_default_timeout(120_000)
                    driver = harness.AppDriver(page, f"http://127.0.0.1:{port}")
                    page.goto(f"http://127.0.0.1:{port}/")  # the default page, then the sidebar link
                    driver.wait_idle()
                    link = page.locator('[data-testid="stSidebarNavLink"]').filter(
                        has=page.get_by_text(label, exact=True))
                    link.first.click()
                    page.wait_for_url(re.compile(rf".*/{url_path}/?$"))
                    play = page.locator('[data-testid="stMain"]').get_by_role("button", name=re.compile(r"Play$"))
                    play.first.wait_for(state="visible")
                    driver.wait_idle()
                    page.evaluate(_RECORDER)
                    play.first.click()
                    t_click = time.monotonic()
                    # wait for the first live update, then record for window_s (or until the planned steps end)
                    while not page.evaluate("window.__steps.length > 1"):
                        if time.monotonic() - t_click > 120:
                            raise RuntimeError("no live update within 120 s of Play")
                        time.sleep(0.05)
                    first_update_s = time.monotonic() - t_click
                    cdp = ctx.new_cdp_session(page)
                    cdp.send("Performance.enable")
                    perf0 = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                    cpu0, threads0, w0 = _cpu_times(), _thread_times(proc.pid), time.monotonic()
                    time.sleep(window_s)
                    cpu1, threads1, w1 = _cpu_times(), _thread_times(proc.pid), time.monotonic()
                    perf1 = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                    rec = page.evaluate("window.__steps")
                    pause = page.locator('[data-testid="stMain"]').get_by_role("button", name=re.compile(r"Pause$"))
                    if pause.count():  # (gone if the planned steps ended meanwhile)
                        try:
                            pause.first.click(timeout=5_000)
                        except PlaywrightError:
                            pass
                finally:
                    browser.close()
        finally:
            _stop(proc)
    pts = [(t / 1000.0, _step(s)) for t, s in rec if _step(s) >= 0]
    pts = [p for p in pts if p[1] > 0]
    planned = config().steps
    live = [p for p in pts if p[1] < planned] or pts  # drop the last update if the planned steps ended
    if len(live) < 3:
        raise RuntimeError(f"too few live updates recorded: {pts}")
    (t0, s0), (t1, s1) = live[0], live[-1]
    cores = _cpu_split(cpu0, cpu1, proc.pid, w1 - w0)
    busiest = sorted((t - threads0.get(tid, 0.0) for tid, t in threads1.items()), reverse=True)
    renderer = {k: (perf1[k] - perf0[k]) / (w1 - w0) for k in ("TaskDuration", "ScriptDuration", "LayoutDuration",
                                                                "RecalcStyleDuration") if k in perf0}
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(live)]
    return {"updates_per_s": (len(live) - 1) / (t1 - t0), "steps_per_s": (s1 - s0) / (t1 - t0),
            "updates": len(live), "seconds": t1 - t0, "first_update_s": first_update_s,
            "gap_median_s": statistics.median(gaps), "gap_max_s": max(gaps), "points": live,
            "cores": cores, "server_threads": [t / (w1 - w0) for t in busiest[:3]], "renderer": renderer}


def run(report: Report, quick: bool) -> None:
    if not os.path.exists(CHROMIUM):
        report.add("live", "live UI (browser)", "skipped: no /usr/bin/chromium", "", None)
        return
    for family in PAGES:
        _run_page(report, quick, family)


def _run_page(report: Report, quick: bool, family: str) -> None:
    label = PAGES[family][0]
    runs = []  # each: a fresh server and browser, framed by two engine-alone measurements
    for _ in range(1 if quick else 3):
        before = _engine_steps_per_s(family)
        ui = measure(window_s=5.0 if quick else 8.0, family=family)
        after = _engine_steps_per_s(family)
        ui["fraction"] = ui["steps_per_s"] / statistics.median([before, after])
        runs.append(ui)
    med = lambda key: statistics.median(r[key] for r in runs)
    span = lambda key, fmt: "–".join(format(f(r[key] for r in runs), fmt) for f in (min, max))
    n = len(runs)
    report.add("live", f"{label} page while playing: updates per second", f"{med('updates_per_s'):.1f}",
               f"≥ {UPDATES_PER_S:g}", med("updates_per_s") >= UPDATES_PER_S,
               f"median of {n} runs ({span('updates_per_s', '.1f')}); gap median {med('gap_median_s'):.2f} s, "
               f"max {max(r['gap_max_s'] for r in runs):.2f} s; first update {med('first_update_s'):.1f} s after Play")
    report.add("live", f"{label}: training throughput with the UI attached / engine alone",
               f"{med('fraction'):.0%} ({med('steps_per_s'):.0f} steps/s)", f"≥ {THROUGHPUT:.0%}",
               med("fraction") >= THROUGHPUT, f"median of {n} runs ({span('fraction', '.0%')}), each against the "
                                                "engine alone in this process right before and after it")
    cores = {k: statistics.median(r["cores"][k] for r in runs) for k in ("server", "chromium", "other")}
    trainer = statistics.median(r["server_threads"][0] for r in runs)
    renderer = {k: statistics.median(r["renderer"][k] for r in runs) for k in runs[0]["renderer"]}
    report.add("live", f"{label}: where the CPU went while playing (cores of {os.cpu_count()})",
               f"server {cores['server']:.2f}, Chromium {cores['chromium']:.2f}, other {cores['other']:.2f}",
               "profile", None,
               f"medians; the server's busiest thread (the trainer) {trainer:.2f}; Chromium page's main thread per "
               "second: " + ", ".join(f"{k.removesuffix('Duration').lower()} {v:.2f} s" for k, v in renderer.items()))
