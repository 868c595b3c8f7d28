"""The classroom load test (issue 17): N browser sessions against one fresh server, trainings as shared jobs.

One server process (`streamlit run server.py`, process workers, one per core) with a model store of its own, and
N browser contexts (N Streamlit sessions) on the DDPM training page, in three phases:

* solo: one session trains settings of its own: the time a training takes alone (the reference);
* same: N sessions open the same non-default settings and press Train together: exactly one training happens
  (one result written to the store) and every session ends showing the final step;
* distinct: N sessions with N different seeds press Train together: all finish (N results in the store, the
  workers run them first come, first served) and no session ever shows an exception or an error.

Measured per phase: wall time per session (its click → its page says "trained"), server CPU seconds (the server
process and its children, the worker processes, from /proc/<pid>/stat), the number of trainings (results written
to the store, seen by inotify: conftest.StoreWrites), and the server's resident memory (peak, /proc/<pid>/status).

Run by tests/browser/test_load.py at N = 5 (in CI); `benchmarks/load_test.py --n 10` / `--n 30` for a lecture hall.
Loopback only; every phase is bounded by `cap_s`.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
from conftest import STATUS_RECORDER_JS, AppDriver, StoreWrites, open_page, serve

URL_PATH = "ddpm-training"
TITLE = "DDPM training"
STEPS = 1000  # planned steps of every training (a choice of the page's "planned steps")
SEED0 = 1000  # the seeds used: from here (nothing ships them: the default seed is 0)
CLK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------------------
# The server process, from /proc.


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(c) for c in fh.read().split()]
    except OSError:
        return []


def _cpu_s(pid: int) -> float:
    """CPU seconds of a process (user + system), with its waited-for children's (fields 14-17 of stat)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / CLK


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of the server and every live descendant (the worker processes)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += _cpu_s(p)
        todo.extend(_children(p))
    return total


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            m = re.search(r"^VmRSS:\s+(\d+) kB", fh.read(), re.MULTILINE)
        return int(m.group(1)) / 1024 if m else float("nan")
    except OSError:
        return float("nan")


BROWSER_NICE = 19  # the browsers' priority: below the server's and its workers'


def renice_browsers(nice: int = BROWSER_NICE) -> int:
    """Every thread of this process's Chromium descendants at priority `nice`; the number of processes.

    In a lecture hall each student's browser runs on their own laptop; here all N run on the server's 2 cores, and
    at N = 30 Chromium took 7 of every 8 CPU-seconds (measured with ps: 430 s against 57 s for the server and its
    workers in one phase), so the trainings waited for the browsers that wait for them. Reniced, the browsers use
    what the server leaves. Niceness is per thread on Linux and is inherited: new tabs' processes (forked by
    Chromium's zygote) come out reniced too, and this is called again at each phase for any that did not."""
    parents: dict[int, int] = {}  # every process's parent: `_children` (one thread's) missed some of Chromium's
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    mine, todo = set(), [os.getpid()]
    while todo:
        p = todo.pop()
        kids = [c for c, parent in parents.items() if parent == p and c not in mine]
        mine.update(kids)
        todo.extend(kids)
    count = 0
    for pid in mine:
        try:
            with open(f"/proc/{pid}/comm") as fh:
                if "chrom" not in fh.read():
                    continue
            for tid in os.listdir(f"/proc/{pid}/task"):
                os.setpriority(os.PRIO_PROCESS, int(tid), nice)
            count += 1
        except OSError:  # gone meanwhile
            pass
    return count


class _Peak:
    """The server's peak RSS while a phase runs (sampled every 0.2 s in a thread)."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, rss_mb(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


# ---------------------------------------------------------------------------------------------------------
# Phases.


@dataclass
class Session:
    idx: int
    seed: int
    app: AppDriver
    clicked_ms: float = float("nan")  # epoch ms
    trained_ms: float | None = None
    final: str | None = None
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return (self.trained_ms - self.clicked_ms) / 1000 if self.trained_ms is not None else float("nan")


@dataclass
class Phase:
    name: str
    n: int
    wall_s: float = float("nan")  # first click → the last session trained
    session_s: list[float] = field(default_factory=list)
    cpu_s: float = float("nan")
    trainings: int = 0
    rss_peak_mb: float = float("nan")
    rss_end_mb: float = float("nan")  # the server's RSS once the phase's sessions have closed
    checked: str = ""  # "k/m": results found equal, bit for bit, to a solo run of the same job in this process
    problems: list[str] = field(default_factory=list)

    def row(self) -> str:
        s = sorted(x for x in self.session_s if not math.isnan(x))
        med = s[len(s) // 2] if s else float("nan")
        return (f"{self.name:<9} {self.n:>3} {self.wall_s:>8.1f} {med:>10.1f} {(s[-1] if s else float('nan')):>9.1f} "
                f"{self.trainings:>9} {self.cpu_s:>9.1f} {self.rss_peak_mb:>9.0f} {self.rss_end_mb:>9.0f} "
                f"{self.checked:>9}")


HEADER = (f"{'phase':<9} {'N':>3} {'wall s':>8} {'median s':>10} {'max s':>9} {'trainings':>9} {'CPU s':>9} "
          f"{'RSS MB':>9} {'RSS end':>9} {'= solo':>9}")


@dataclass
class Report:
    n: int
    phases: list[Phase] = field(default_factory=list)
    rss_start_mb: float = float("nan")
    workers: int = 0

    @property
    def problems(self) -> list[str]:
        return [f"{p.name}: {x}" for p in self.phases for x in p.problems]

    def table(self) -> str:
        lines = [(f"load test: N = {self.n} sessions, {STEPS:,}-step DDPM trainings, {self.workers} worker processes; "
                  f"server RSS at the start {self.rss_start_mb:.0f} MB"),
                 ("(wall s: first click → the last session says 'trained'; median/max s: per session, its click → "
                  "'trained'; CPU s: server + workers; RSS MB: the server's peak; RSS end: after the phase's tabs closed; "
                  "= solo: results equal bit for bit to the same job run alone in the test's process, of those "
                  "checked)"), HEADER]
        lines += [p.row() for p in self.phases]
        if self.problems:
            lines.append("problems:")
            lines += [f"  - {x}" for x in self.problems]
        return "\n".join(lines)


def _open_sessions(stack: ExitStack, browser, url: str, seeds: list[int]) -> list[Session]:
    sessions = []
    for i, seed in enumerate(seeds):
        page = stack.enter_context(open_page(browser, url))
        page.add_init_script(STATUS_RECORDER_JS)
        sessions.append(Session(i, seed, AppDriver(page, url)))
    for s in sessions:  # one after the other: a lecture hall opens the page over a minute, not in one instant
        s.app.page.goto(f"{url}/{URL_PATH}?d_seed={s.seed}&d_steps={STEPS}")
        s.app.wait_title(TITLE)
        s.app.wait_idle()
    return sessions


def _equal_to_solo(store_dir, names: list[str], check: int, problems: list[str]) -> str:
    """Train `check` of the phase's stored jobs again, alone, in this process: each must equal the stored result
    bit for bit (a job's result depends on its settings only, not on who else trained at the time)."""
    import torch

    from gendemo import jobs, pretrain
    from gendemo.store import ModelStore

    picked = sorted(set(names))[:check]
    if not picked:
        return ""
    torch.set_num_threads(1)  # as the workers train
    store, points, equal = ModelStore(store_dir, fallback=()), pretrain.default_points("moons"), 0
    for name in picked:
        entry = store.get(name.removesuffix(".pt"))
        if entry is None:
            problems.append(f"result {name} cannot be read back from the store")
            continue
        solo = jobs.run(jobs.JobSpec.of(entry.data, entry.config), points)
        same = entry.final.keys() == solo.final.keys() and all(torch.equal(entry.final[k], solo.final[k])
                                                                for k in entry.final)
        if same and np.array_equal(entry.losses, solo.losses):
            equal += 1
        else:
            problems.append(f"result {name} differs from the same job trained alone")
    return f"{equal}/{len(picked)}"


def _run_phase(name: str, browser, server, seeds: list[int], cap_s: float, log, check: int = 0,
               renice: bool = False) -> Phase:
    phase = Phase(name, len(seeds))
    with ExitStack() as stack:
        writes = stack.enter_context(StoreWrites(server.store))
        sessions = _open_sessions(stack, browser, server.url, seeds)
        if renice:
            renice_browsers()
        for s in sessions:
            if s.app.button("Train").count() != 1:
                phase.problems.append(f"session {s.idx}: no Train button (seed {s.seed} trained already?)")
        if phase.problems:
            return phase
        peak = _Peak(server.proc.pid)
        cpu0, t0 = tree_cpu_s(server.proc.pid), time.monotonic()
        for s in sessions:  # together: each click is sent without waiting for the page to react
            s.clicked_ms = time.time() * 1000
            s.app.button("Train").first.click(no_wait_after=True)
        pending = set(range(len(sessions)))
        deadline = t0 + cap_s
        while pending and time.monotonic() < deadline:
            for i in sorted(pending):
                app = sessions[i].app
                st = app.status()
                if st is not None and st["note"] == "trained" and not app.busy():
                    pending.discard(i)
            time.sleep(0.25)
        wall = time.monotonic() - t0
        time.sleep(1.0)  # the last results reach the store
        phase.cpu_s = tree_cpu_s(server.proc.pid) - cpu0
        phase.rss_peak_mb = peak.stop()
        names = writes.names()
        phase.trainings = len(names)
        if pending:
            phase.problems.append(f"{len(pending)} of {len(sessions)} sessions not 'trained' after {cap_s:.0f} s: "
                                  + ", ".join(f"{i}: {sessions[i].app.status()}" for i in sorted(pending)))
        else:
            phase.wall_s = wall
        for s in sessions:
            rec = s.app.recorded() or {"status": [], "errors": [], "t0_epoch_ms": 0}
            s.notes = [note for _, _, note in rec["status"]]
            s.errors = list(rec["errors"]) + s.app.crash_messages()
            first_trained = next((ms for ms, _, note in rec["status"] if note == "trained"), None)
            s.trained_ms = rec["t0_epoch_ms"] + first_trained if first_trained is not None else None
            st = s.app.status()
            s.final = st["value"] if st else None
            phase.session_s.append(s.wall_s)
            if s.errors:
                phase.problems.append(f"session {s.idx} showed: {s.errors[:3]}")
            bad_console = s.app.page.console.unexpected()
            if bad_console:
                phase.problems.append(f"session {s.idx}: console errors {[e.text[:200] for e in bad_console[:3]]}")
            if s.trained_ms is not None and s.final != f"{STEPS:,} / {STEPS:,}":
                phase.problems.append(f"session {s.idx} ends showing step {s.final!r}, not the final "
                                      f"{STEPS:,} / {STEPS:,} (URL {s.app.page.url})")
        want = len(set(seeds))
        if len(names) != want or len(set(names)) != want:
            phase.problems.append(f"{len(names)} results written to the store ({len(set(names))} distinct), for "
                                  f"{want} distinct settings: {names}")
    time.sleep(2.0)  # the closed sessions' state is released
    phase.rss_end_mb = rss_mb(server.proc.pid)
    phase.checked = _equal_to_solo(server.store, names, check, phase.problems)
    log(f"{name}: {len(seeds)} session(s), wall {wall:.1f} s, trainings {len(names)}, CPU {phase.cpu_s:.1f} s, "
        f"per session {[round(x, 1) for x in phase.session_s]}, RSS end {phase.rss_end_mb:.0f} MB")
    return phase


def run(n: int, browser, cap_s: float = 600.0, log=print, waves: int = 1, check: int = 2,
        renice: bool = False) -> Report:
    """The load test with N sessions on a fresh server of its own (its own model store); a Report.

    `waves` distinct phases follow one another (new seeds each): the server's memory from one wave to the next
    shows whether anything accumulates. `check` results of each phase are compared with solo runs. `renice`: the
    browser is this run's own (launch_browser), whose tabs are reniced at each phase (renice_browsers)."""
    phases = ("solo", "same", "distinct") + tuple(f"distinct{w}" for w in range(2, waves + 1))
    with serve("streamlit-load-test.log") as server:
        report = Report(n)
        # The first page view starts the job table (and its worker processes): before the clock starts.
        with open_page(browser, server.url) as page:
            app = AppDriver(page, server.url)
            page.goto(f"{server.url}/{URL_PATH}")
            app.wait_title(TITLE)
            app.wait_idle()
        time.sleep(3.0)  # the workers import torch
        report.workers = len(_children(server.proc.pid))
        report.rss_start_mb = rss_mb(server.proc.pid)
        seed = SEED0
        for name in phases:
            if name == "solo":
                seeds = [seed]
                seed += 1
            elif name == "same":
                seeds = [seed] * n
                seed += 1
            else:
                seeds = list(range(seed, seed + n))
                seed += n
            report.phases.append(_run_phase(name, browser, server, seeds, cap_s, log, check, renice))
        return report


def launch_browser(playwright):
    """Debian's Chromium, as the browser tests launch it, reniced (renice_browsers): a browser of the caller's own."""
    from conftest import CHROMIUM, CHROMIUM_ARGS

    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    renice_browsers()
    return browser

