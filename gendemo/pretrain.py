"""`python -m gendemo pretrain`: the default models of every built-in dataset, trained once into the model store.

The app looks a model up in the store by its job key (gendemo.jobs.job_key): the data spec and the config. A
page with the default settings trains the default DDPM (`DDPMConfig()`) or flow (`FlowConfig()`) on the app's
default data of a built-in dataset, `datasets.load(name, datasets.DEFAULT_N, 0)` with the dataset's own noise
(ui/data.py, `DataChoice()`). Pretraining those keys before a lecture makes every default model appear at once,
timeline and "Train longer" included.

The trainings run as jobs of a JobTable (process workers, one per core): a model already in the store is not
trained again. `lean_out` also writes a lean copy of each entry (`store.lean`: the final weights and the loss
history); gendemo/pretrained/ ships those, made with
`python -m gendemo pretrain --lean-out gendemo/pretrained --store "$(mktemp -d)"`.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from gendemo import datasets, jobs
from gendemo.config import DDPMConfig, FlowConfig, FMConfig, ModelConfig
from gendemo.store import SUFFIX, Entry, ModelStore, lean, to_bytes

FAMILIES = ("ddpm", "flow", "flow_matching")
WATCHER = "pretrain"


def default_config(family: str) -> ModelConfig:
    """The config a page trains with its default settings."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    return {"ddpm": DDPMConfig, "flow": FlowConfig, "flow_matching": FMConfig}[family]()


def default_points(name: str) -> np.ndarray:
    """The app's default data of a built-in dataset (ui/data.py `_builtin` of `DataChoice(name)`)."""
    return datasets.load(name, datasets.DEFAULT_N, 0)


def default_spec(name: str, family: str, config: ModelConfig | None = None) -> jobs.JobSpec:
    """The job of a default model: `config` (default: the family's default config) on the default data."""
    return jobs.JobSpec.of(jobs.builtin_spec(name, datasets.DEFAULT_N, 0, None), config or default_config(family))


@dataclass(frozen=True)
class Target:
    dataset: str
    family: str
    spec: jobs.JobSpec

    @property
    def key(self) -> str:
        return jobs.job_key(self.spec)

    @property
    def label(self) -> str:
        return f"{self.dataset} {self.family}"


def targets(names: Sequence[str] = datasets.NAMES, families: Sequence[str] = FAMILIES,
            configs: dict[str, ModelConfig] | None = None) -> list[Target]:
    """The models to pretrain, dataset by dataset (`configs`: a config per family instead of the defaults)."""
    configs = configs or {}
    return [Target(name, family, default_spec(name, family, configs.get(family))) for name in names
            for family in families]


def write_atomic(path: Path, blob: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, path)


class _Progress:
    """One status line on stderr: models done, the steps of the running ones, the queue. On a terminal it is
    redrawn in place (at most 5 times a second); elsewhere (a log, a pipe) it is printed every `every` seconds.
    Each finished model also gets a line of its own."""

    def __init__(self, stream: TextIO, total: int, enabled: bool = True, every: float = 10.0):
        self.stream, self.total, self.enabled, self.every = stream, total, enabled, every
        self.tty = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.t0 = time.monotonic()
        self._last = -1e9
        self._width = 0

    def _write(self, text: str) -> None:
        if self.tty:
            text = "\r" + text.ljust(self._width)
            self._width = len(text) - 1
        self.stream.write(text if self.tty else text + "\n")
        self.stream.flush()

    def _clear(self) -> None:
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0

    def finished(self, text: str) -> None:
        if not self.enabled:
            return
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()
        self._last = -1e9  # redraw the status line now

    def status(self, done: int, running: list[tuple[str, int, int]], queued: int, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < (0.2 if self.tty else self.every)):
            return
        self._last = now
        frac = (done + sum(s / t for _, s, t in running if t)) / self.total if self.total else 1.0
        bar = "#" * round(20 * frac)
        runs = "; ".join(f"{label} {s:,}/{t:,}" for label, s, t in running)
        self._write(f"pretrain [{bar:.<20}] {done}/{self.total} done" + (f", running: {runs}" if runs else "")
                    + (f", {queued} queued" if queued else "") + f"  {now - self.t0:.0f} s")

    def close(self) -> None:
        if self.enabled and self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()


def _row(t: Target, status: str, entry: Entry | None = None, error: str | None = None) -> dict:
    row = {"dataset": t.dataset, "family": t.family, "key": t.key, "steps": entry.step if entry else None,
           "seconds": round(entry.seconds, 2) if entry else None, "status": status}
    if error:
        row["error"] = error
    return row


def pretrain(store: ModelStore, names: Sequence[str] = datasets.NAMES, families: Sequence[str] = FAMILIES,
             workers: int | None = None, lean_out: str | os.PathLike | None = None, stream: TextIO | None = None,
             progress: bool = True, mode: str = "process", configs: dict[str, ModelConfig] | None = None,
             poll: float = 0.1) -> list[dict]:
    """Train the default models of `names` × `families` missing from `store`; one row per model, in order:
    dataset, family, key, steps, seconds (of training), status ("stored": it was in the store already,
    "trained", "failed" with an "error", or "cancelled")."""
    from gendemo.jobtable import JobTable  # late: the CLI's other commands do not need the pool

    stream = sys.stderr if stream is None else stream
    todo = targets(names, families, configs)
    lean_dir = Path(lean_out) if lean_out is not None else None
    if lean_dir is not None:
        lean_dir.mkdir(parents=True, exist_ok=True)
    bar = _Progress(stream, len(todo), progress)
    rows: dict[Target, dict] = {}

    def finish(t: Target, status: str, entry: Entry | None, error: str | None = None) -> None:
        rows[t] = _row(t, status, entry, error)
        if entry is not None and lean_dir is not None:
            write_atomic(lean_dir / f"{t.key}{SUFFIX}", to_bytes(lean(entry)))
        what = (f"{entry.step:,} steps, {entry.seconds:.1f} s of training" if entry is not None else error or "")
        bar.finished(f"  {status:<9} {t.label}: {what}")

    for t in todo:
        entry = store.get(t.key)
        if entry is not None:
            finish(t, "stored", entry)
    missing = [t for t in todo if t not in rows]
    table = JobTable(store, workers=min(workers or os.cpu_count() or 1, len(missing)), mode=mode) if missing else None
    submitted = {}
    try:
        for t in missing:
            submitted[t] = table.submit(t.spec, default_points(t.dataset), watcher=WATCHER)
        while len(rows) < len(todo):
            for t, job in submitted.items():
                if t in rows or job.active:
                    continue
                if job.status == "done":
                    finish(t, "trained" if job.started is not None else "stored", job.entry)
                else:
                    finish(t, job.status, None, job.error or job.status)
            running = [(t.label, job.step, job.total) for t, job in submitted.items() if job.status == "running"]
            queued = sum(job.status == "queued" for job in submitted.values())
            bar.status(len(rows), running, queued, force=len(rows) == len(todo))
            if len(rows) < len(todo):
                time.sleep(poll)
    except BaseException:  # Ctrl-C: stop the trainings, then let the interrupt through
        for job in submitted.values():
            table.cancel(job, WATCHER)
        raise
    finally:
        bar.close()
        if table is not None:
            table.close()
    return [rows[t] for t in todo]
