"""A training worker: takes job tasks, runs them (gendemo.jobs.run), reports progress and results.

`loop` is the worker itself, run in a thread (tests) or, by default, in a process of its own started as
`python -m gendemo.worker` (`Process`). A process is started by command, not with multiprocessing's spawn: spawn
re-imports the parent's `__main__`, which under `streamlit run` is the app script itself. The process talks to
the server over two `multiprocessing.connection` sockets (tasks and cancellations in, reports out), authenticated
with a key passed in its environment.
"""

from __future__ import annotations

import io
import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Client, Listener
from pathlib import Path

import torch

from gendemo import jobs
from gendemo.store import ModelStore, from_bytes, to_bytes

KEY_ENV = "GENDEMO_WORKER_KEY"


class Flag:
    """A cancel flag: `value` is the serial of the job to cancel (-1: none)."""

    def __init__(self) -> None:
        self.value = -1


def _dumps(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def loop(inbox, outbox, cancel, store_dir: str, fallback: tuple[str, ...]) -> None:
    """Take (serial, spec, points, start bytes) tasks from `inbox` until None; report (serial, kind, payload)."""
    store = ModelStore(store_dir, fallback=fallback)
    while True:
        task = inbox.get()
        if task is None:
            return
        serial, spec, points, start_blob = task
        cpu0 = time.thread_time()

        def publish(kind: str, payload, serial=serial) -> None:
            if kind == "snapshot":
                payload = (payload[0], _dumps(payload[1]))
            outbox.put((serial, kind, payload))

        try:
            start = from_bytes(start_blob) if start_blob else None
            entry = jobs.run(spec, points, start, publish, lambda serial=serial: cancel.value == serial)
            if entry is None:
                outbox.put((serial, "cancelled", None))
                continue
            blob = to_bytes(entry)
            store.write(entry.key, blob)  # the worker writes: another server sharing the directory sees it
            outbox.put((serial, "done", (blob, time.thread_time() - cpu0)))
        except Exception as exc:  # noqa: BLE001 - a job never dies silently: its page shows the reason
            outbox.put((serial, "failed", f"{type(exc).__name__}: {exc}"))


class Process:
    """A worker process, seen from the server: `put(task)`, `value = serial` (cancel), `is_alive()`, `join()`.

    Its reports go to `outbox`; `on_ready()` is called once it has connected (it imports torch first: ~2 s).
    """

    def __init__(self, store_dir: str, fallback: tuple[str, ...], outbox: queue.Queue, on_ready):
        key = secrets.token_bytes(16)
        self._listener = Listener(family="AF_UNIX", authkey=key)
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, KEY_ENV: key.hex(), "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        args = json.dumps({"address": self._listener.address, "store": store_dir, "fallback": list(fallback)})
        self._proc = subprocess.Popen([sys.executable, "-m", "gendemo.worker", args], env=env,
                                      stdin=subprocess.DEVNULL)
        self._control = None
        self._send_lock = threading.Lock()
        threading.Thread(target=self._connect, args=(outbox, on_ready), name="gendemo-worker-io",
                         daemon=True).start()

    def _connect(self, outbox: queue.Queue, on_ready) -> None:
        try:
            self._control = self._listener.accept()
            events = self._listener.accept()
        except OSError:
            return
        finally:
            self._listener.close()
        on_ready()
        while True:
            try:
                outbox.put(events.recv())
            except (EOFError, OSError):
                return

    def _send(self, msg) -> None:
        with self._send_lock:
            try:
                self._control.send(msg)
            except (OSError, AttributeError):  # the process is gone: _check_workers replaces it
                pass

    def put(self, task) -> None:
        self._send(("task", task))

    @property
    def value(self) -> int:
        return -1

    @value.setter
    def value(self, serial: int) -> None:
        self._send(("cancel", serial))

    def is_alive(self) -> bool:
        return self._proc.poll() is None

    def join(self, timeout: float) -> None:
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()


def _warm_up() -> None:
    """Train both families for two steps before saying ready: the first Adam imports torch's compiler stack
    (measured: 2.1 s of a fresh process's first make_state), which a student's first job should not wait for."""
    import numpy as np

    from gendemo.config import DDPMConfig, FlowConfig
    from gendemo.training import make_state, train_steps

    points = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    for config in (DDPMConfig(N=2, width=4, depth=1, batch=8, steps=2), FlowConfig(K=1, width=4, batch=8, steps=2)):
        train_steps(make_state(config, points), 2, fast=True)


def main(argv: list[str]) -> int:
    """The process side: connect, then run `loop` on tasks read by a thread that also applies cancellations."""
    args = json.loads(argv[0])
    key = bytes.fromhex(os.environ[KEY_ENV])
    torch.set_num_threads(1)  # one worker per core: two threads on two busy cores trained 5-10x slower
    _warm_up()
    control = Client(args["address"], family="AF_UNIX", authkey=key)
    events = Client(args["address"], family="AF_UNIX", authkey=key)
    inbox: queue.Queue = queue.Queue()
    cancel = Flag()

    def read() -> None:
        while True:
            try:
                kind, payload = control.recv()
            except (EOFError, OSError):
                inbox.put(None)
                return
            if kind == "cancel":
                cancel.value = payload
            else:
                inbox.put(payload)

    class Outbox:
        put = staticmethod(events.send)

    threading.Thread(target=read, daemon=True).start()
    try:
        loop(inbox, Outbox(), cancel, args["store"], tuple(args["fallback"]))
    except (BrokenPipeError, ConnectionResetError, EOFError):
        pass  # the server stopped while a job ran: nobody is left to report to
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
