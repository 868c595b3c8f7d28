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

if __name__ == "__main__":
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", "app.py", *sys.argv[1:]]  # cwd is the repo root, as for `streamlit run`
    sys.exit(cli.main())
