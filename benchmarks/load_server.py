"""`streamlit run app.py` for the load test, in this process, with one probe: concurrent trainings.

Usage (load_test.py starts it; by hand for debugging):

    LOAD_TEST_EVENTS=/tmp/events.txt .venv/bin/python benchmarks/load_server.py --server.port 8600 ...

Nothing in the app changes. Before Streamlit starts, `gendemo.training.train_steps` is wrapped so that every
call appends "<time.monotonic()> <calls running now>" to the file LOAD_TEST_EVENTS, once on entry and once on
exit. `ui/live.py` binds `train_steps` when the app first imports it, i.e. after this wrapping, so every
training in every session (Play, Step, "train N steps") passes through the probe. time.monotonic() is the
system-wide CLOCK_MONOTONIC, so the load test can cut the file into waves with its own clock.

The probe measures the effect (how many training calls compute at the same moment), not the mechanism
(the semaphore in ui/live.py): a training that bypassed the semaphore would still be counted.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.chdir(ROOT)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gendemo import training  # noqa: E402

_events_path = os.environ.get("LOAD_TEST_EVENTS")
if not _events_path:
    sys.exit("load_server.py: set LOAD_TEST_EVENTS to the file that receives the training events")
_out = open(_events_path, "a", buffering=1)  # noqa: SIM115 - open for the process's life; line-buffered
_lock = threading.Lock()
_active = 0
_original = training.train_steps


@functools.wraps(_original)
def _probed_train_steps(state, n):
    global _active
    with _lock:
        _active += 1
        _out.write(f"{time.monotonic():.6f} {_active}\n")
    try:
        return _original(state, n)
    finally:
        with _lock:
            _active -= 1
            _out.write(f"{time.monotonic():.6f} {_active}\n")


training.train_steps = _probed_train_steps


def _sample_stacks(path: str, period_s: float = 0.01) -> None:
    """LOAD_TEST_PROFILE=<file>: every period_s, the innermost gendemo/ui/pages/streamlit/plotly frame of every
    thread, counted; written to <file> every 5 s (a poor man's sampling profiler of where the server's
    Python time goes: trainers, page reruns, serialisation)."""
    import collections
    import traceback

    counts: collections.Counter[str] = collections.Counter()
    me, last = threading.get_ident(), time.monotonic()
    keep = ("gendemo/", "ui/", "pages/", "streamlit/", "plotly/", "torch/", "tornado/", "numpy/")
    while True:
        time.sleep(period_s)
        threads = {t.ident: t for t in threading.enumerate()}
        for ident, frame in sys._current_frames().items():
            t = threads.get(ident)
            if ident == me or t is None or t.native_id is None:
                continue
            try:  # count a thread only while it is on a CPU (state R), not while it waits (GIL, socket, sleep)
                with open(f"/proc/self/task/{t.native_id}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "R":
                        continue
            except OSError:
                continue
            stack = traceback.extract_stack(frame)
            where = next((f"{f.filename.split('site-packages/')[-1].replace(str(ROOT) + '/', '')}:{f.name}"
                          for f in reversed(stack) if any(k in f.filename for k in keep)), "other")
            role = "trainer" if t.name == "gendemo-trainer" else "script" if "ScriptRunner" in t.name else t.name[:20]
            counts[f"{role} | {where}"] += 1
        if time.monotonic() - last > 5.0:
            last = time.monotonic()
            with open(path, "w") as f:
                for key, c in counts.most_common(60):
                    f.write(f"{c:8d}  {key}\n")


def _count_sessions(path: str, period_s: float = 5.0) -> None:
    """LOAD_TEST_SESSIONS=<file>: every period_s, append "<monotonic> <Runs alive> <sessions> <connected>": how
    many training runs (ui.live.Run, tracked by weak reference) and Streamlit sessions the server still holds.
    Tells retained state (closed tabs are kept for server.disconnectedSessionTTL, then dropped) from a leak."""
    import gc
    import weakref

    from ui import live

    runs: weakref.WeakSet = weakref.WeakSet()
    init = live.Run.__init__

    def tracked_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        runs.add(self)

    live.Run.__init__ = tracked_init
    with open(path, "a", buffering=1) as out:
        while True:
            time.sleep(period_s)
            gc.collect()  # a Run in a reference cycle is garbage, not retained
            try:
                from streamlit.runtime import Runtime

                mgr = Runtime.instance()._session_mgr
                sessions, connected = len(mgr.list_sessions()), len(mgr.list_active_sessions())
            except Exception:  # noqa: BLE001 - before the runtime exists
                sessions = connected = -1
            out.write(f"{time.monotonic():.3f} {len(runs)} {sessions} {connected}\n")


if os.environ.get("LOAD_TEST_SESSIONS"):
    threading.Thread(target=_count_sessions, args=(os.environ["LOAD_TEST_SESSIONS"],), daemon=True,
                     name="session-counter").start()

if os.environ.get("LOAD_TEST_PROFILE"):
    threading.Thread(target=_sample_stacks, args=(os.environ["LOAD_TEST_PROFILE"],), daemon=True,
                     name="stack-sampler").start()

if __name__ == "__main__":
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", "app.py", *sys.argv[1:]]  # cwd is the repo root, as for `streamlit run`
    sys.exit(cli.main())
