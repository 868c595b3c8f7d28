"""The job table: one per server, trainings as shared jobs, run first come, first served by a worker pool.

Any number of sessions watch one job: `submit` returns the job already queued or running for the same key,
or the finished one from the model store, and starts a training only when neither exists. Workers are
processes by default (one per core): a training then never competes with the server's Python for the GIL, so
pages redraw while it trains at full speed. `mode="thread"` runs the same worker loop in threads (tests).

A job publishes its step, its new losses and its timeline snapshots as it trains; the table's listener thread
folds them into the `Job` that pages read. The result is written to the store by the worker itself (atomic),
so another server process that shares the store directory finds it too. No heartbeat: a job is bounded work,
and a closed tab changes nothing; the job finishes for the next visitor.
"""

from __future__ import annotations

import collections
import io
import os
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from gendemo import jobs, worker
from gendemo.store import Entry, ModelStore, StateDict, from_bytes, to_bytes

STATUSES = ("queued", "running", "done", "failed", "cancelled")


@dataclass(eq=False)
class Job:
    """One training, as the pages see it: its progress so far, or its stored result."""

    spec: jobs.JobSpec
    key: str
    serial: int = 0
    status: str = "queued"
    step: int = 0
    losses: list[float] = field(default_factory=list)
    snapshot_steps: list[int] = field(default_factory=list)
    snapshots: list[StateDict] = field(default_factory=list)
    entry: Entry | None = None
    error: str | None = None
    watchers: set[str] = field(default_factory=set)
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    cpu_seconds: float = 0.0  # the worker's CPU time for this job
    resumed_at: int = 0  # the step a continuation started from (a stored shorter run)

    @staticmethod
    def stored(spec: jobs.JobSpec, entry: Entry) -> Job:
        return Job(spec, entry.key, status="done", step=entry.step, losses=entry.losses.tolist(),
                   snapshot_steps=list(entry.snapshot_steps), snapshots=list(entry.snapshots), entry=entry)

    @property
    def total(self) -> int:
        return self.spec.total

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    def timeline(self) -> list[int]:
        """The steps the page can show: the snapshots so far (and the end, once done)."""
        steps = list(self.snapshot_steps)
        if self.entry is not None and self.entry.step not in steps:
            steps.append(self.entry.step)
        return steps

    def weights_at(self, step: int) -> StateDict:
        if self.entry is not None:
            return self.entry.weights_at(step)
        return self.snapshots[self.snapshot_steps.index(step)]


@dataclass(eq=False)
class _Worker:
    inbox: object  # .put(task or None)
    cancel: object  # .value = the serial of the job to cancel
    handle: object  # .is_alive(): a worker.Process or a threading.Thread
    job: Job | None = None
    ready: bool = True  # a process worker is ready once it has connected


class JobTable:
    """The server's trainings: a FIFO queue, `workers` workers, and the store their results go to."""

    def __init__(self, store: ModelStore, workers: int | None = None, mode: str | None = None,
                 prestart: bool = False):
        self.store = store
        self.mode = mode or os.environ.get("GENDEMO_WORKERS", "process")
        if self.mode not in ("process", "thread"):
            raise ValueError(f"mode must be 'process' or 'thread', got {self.mode!r}")
        self.n_workers = max(1, workers or os.cpu_count() or 1)
        self._lock = threading.RLock()
        self._active: dict[str, Job] = {}  # key -> queued or running job
        self._by_serial: dict[int, Job] = {}
        self._failed: collections.OrderedDict[str, Job] = collections.OrderedDict()  # key -> its last failure
        self._pending: collections.deque[tuple[Job, np.ndarray]] = collections.deque()
        self._serial = 0
        self.trainings_started = 0
        self.cpu_seconds = 0.0
        self._outbox: queue.Queue = queue.Queue()
        self._workers: list[_Worker] = []  # started on demand, up to n_workers: a table that never trains costs nothing
        self._closed = False
        self._listener = threading.Thread(target=self._listen, name="gendemo-jobs", daemon=True)
        self._listener.start()
        if prestart:  # a server starts its workers with its first page, so that no student's job waits for them
            with self._lock:
                self._workers = [self._start_worker() for _ in range(self.n_workers)]

    # -- what pages call ------------------------------------------------------------------------------------------

    def get(self, spec: jobs.JobSpec) -> Job | None:
        """The job for these settings: queued or running, or done (from the store); None if never trained."""
        key = jobs.job_key(spec)
        with self._lock:
            job = self._active.get(key)
        if job is not None:
            return job
        entry = self.store.get(key)
        if entry is not None:
            return Job.stored(spec, entry)
        with self._lock:
            return self._failed.get(key)  # its page says why, until it is trained again

    def submit(self, spec: jobs.JobSpec, points: np.ndarray, watcher: str | None = None,
               timeline: bool = False) -> Job:
        """The job for these settings, started (queued) unless it runs already or its result is stored.

        timeline: also train again when the stored result lacks its timeline (a lean, shipped model): the
        training is deterministic, so the new entry has the same final weights and adds the snapshots."""
        key = jobs.job_key(spec)
        with self._lock:
            job = self._active.get(key)
            if job is None:
                entry = self.store.get(key)
                if entry is not None and (entry.snapshot_steps or not timeline):
                    return Job.stored(spec, entry)
                self._failed.pop(key, None)
                self._serial += 1
                job = Job(spec, key, self._serial)
                self._active[key] = job
                self._by_serial[job.serial] = job
                self._pending.append((job, np.ascontiguousarray(points, dtype=np.float32)))
                self._dispatch()
            if watcher is not None:
                job.watchers.add(watcher)
            return job

    def cancel(self, job: Job, watcher: str) -> bool:
        """Cancel a queued or running job that no other session watches; True if it was cancelled."""
        with self._lock:
            if not job.active or job.watchers - {watcher}:
                return False
            for i, (pending, _) in enumerate(self._pending):
                if pending is job:
                    del self._pending[i]
                    self._end(job, "cancelled")
                    return True
            for w in self._workers:
                if w.job is job:
                    w.cancel.value = job.serial
                    return True
        return False

    def position(self, job: Job) -> int | None:
        """How many jobs wait before this one (0: it starts next), or None if it is not waiting."""
        with self._lock:
            for i, (pending, _) in enumerate(self._pending):
                if pending is job:
                    return i
        return None

    def running(self) -> int:
        with self._lock:
            return sum(w.job is not None for w in self._workers)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for w in self._workers:
                w.inbox.put(None)
        for w in self._workers:
            w.handle.join(5.0)

    # -- the pool -------------------------------------------------------------------------------------------------

    def _start_worker(self) -> _Worker:
        fallback = tuple(str(d) for d in self.store.fallback)
        if self.mode == "process":
            w = _Worker(None, None, None, ready=False)
            w.handle = worker.Process(str(self.store.directory), fallback, self._outbox,
                                      on_ready=lambda: self._ready(w))
            w.inbox, w.cancel = w.handle, w.handle
            return w
        inbox, cancel = queue.Queue(), worker.Flag()
        handle = threading.Thread(target=worker.loop, name="gendemo-worker", daemon=True,
                                  args=(inbox, self._outbox, cancel, str(self.store.directory), fallback))
        handle.start()
        return _Worker(inbox, cancel, handle)

    def _ready(self, w: _Worker) -> None:
        with self._lock:
            w.ready = True
            self._dispatch()

    def _dispatch(self) -> None:
        """Give waiting jobs to idle workers, first come, first served (under the lock)."""
        idle = sum(w.job is None for w in self._workers)
        for _ in range(min(len(self._pending) - idle, self.n_workers - len(self._workers))):
            self._workers.append(self._start_worker())
        for w in self._workers:
            if not self._pending:
                return
            if w.job is None and w.ready:
                job, points = self._pending.popleft()
                start = self._longest_prefix(job.spec)
                w.job, job.status, job.started = job, "running", time.monotonic()
                self.trainings_started += 1
                w.inbox.put((job.serial, job.spec, points, to_bytes(start) if start is not None else None))

    def _longest_prefix(self, spec: jobs.JobSpec) -> Entry | None:
        """The stored run of the same data and config with the most steps short of `spec`, if it can continue."""
        for extra in range(spec.extra - jobs.LONGER, -1, -jobs.LONGER):
            entry = self.store.get(jobs.job_key(spec.longer(extra)))
            if entry is not None and entry.resume is not None:
                return entry
        return None

    def _end(self, job: Job, status: str, error: str | None = None) -> None:
        job.status, job.error, job.finished = status, error, time.monotonic()
        self._active.pop(job.key, None)
        self._by_serial.pop(job.serial, None)
        if status == "failed":
            self._failed[job.key] = job
            while len(self._failed) > 256:
                self._failed.popitem(last=False)

    def _listen(self) -> None:
        while True:
            try:
                serial, kind, payload = self._outbox.get(timeout=1.0)
            except queue.Empty:
                self._check_workers()
                continue
            with self._lock:
                job = self._by_serial.get(serial)
                if job is None:
                    continue
                if kind == "resumed":
                    job.resumed_at = payload
                elif kind == "progress":
                    step, losses = payload
                    job.losses.extend(losses)
                    job.step = step
                elif kind == "snapshot":
                    step, blob = payload
                    job.snapshots.append(torch.load(io.BytesIO(blob), weights_only=True))
                    job.snapshot_steps.append(step)
                else:
                    if kind == "done":
                        blob, cpu = payload
                        entry = from_bytes(blob)
                        self.store.remember(entry)
                        job.entry, job.step, job.cpu_seconds = entry, entry.step, cpu
                        self.cpu_seconds += cpu
                    self._end(job, kind, payload if kind == "failed" else None)
                    for w in self._workers:
                        if w.job is job:
                            w.job = None
                    self._dispatch()

    def _check_workers(self) -> None:
        """A worker process that died (killed, out of memory) fails its job and is replaced."""
        with self._lock:
            if self._closed:
                return
            for i, w in enumerate(self._workers):
                if w.ready and not w.handle.is_alive():
                    if w.job is not None:
                        self._end(w.job, "failed", "the training process died")
                    self._workers[i] = self._start_worker()
            self._dispatch()
