"""A training job: what defines it (data, config, steps past the plan), its key, and the run that computes it.

A job trains a model to its planned steps (plus `extra` steps past the plan, "Train longer") and publishes its
progress as it goes: the step and the new losses, and the display model's weights at the timeline's steps.
It is bounded work (seconds), deterministic (same spec, same weights, bit for bit), and so computed once:
its result goes to the model store under `job_key(spec)`.

The timeline has a fixed grid: a snapshot every `planned / SNAPSHOTS` steps from step 0, through the plan and
past it. A continuation ("Train longer") therefore has the same snapshots whether it started from scratch or
from a stored shorter run, and its result does not depend on the path (tests/test_jobs.py).
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gendemo import datasets
from gendemo.config import ModelConfig, config_to_dict
from gendemo.store import Entry, StateDict
from gendemo.training import TrainState, make_state, train_steps

SNAPSHOTS = 50  # timeline snapshots across the plan (and as densely past it)
MAX_STEPS = 50_000  # the most steps a job may train (planned + extra): ~1 min for the default DDPM alone
LONGER = 1000  # "Train longer" adds steps in these units (so a continuation finds its stored prefix)
CHUNK_S = 0.05  # seconds of training between two looks at the cancel flag and two progress messages


def builtin_spec(name: str, n: int, seed: int, noise: float | None) -> dict:
    """The data spec of a built-in dataset (noise resolved, so None and the default give one key)."""
    return {"name": name, "n": int(n), "seed": int(seed),
            "noise": float(datasets.DEFAULT_NOISE[name] if noise is None else noise)}


def points_spec(points: np.ndarray) -> dict:
    """The data spec of given points (an upload, a drawing): their content hash."""
    return {"points": points_digest(points)}


def points_digest(points: np.ndarray) -> str:
    x = np.ascontiguousarray(datasets.validate_points(points), dtype=np.float32)
    return hashlib.sha256(x.tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class JobSpec:
    """What a job computes: `config` trained on the data `data` describes for config.steps + extra steps."""

    data: tuple  # the data spec as sorted (name, value) pairs: hashable
    config: ModelConfig
    extra: int = 0  # steps past the plan ("Train longer"), at the plan's final learning rate

    @staticmethod
    def of(data: dict, config: ModelConfig, extra: int = 0) -> JobSpec:
        spec = JobSpec(tuple(sorted(data.items())), config, int(extra))
        if spec.extra < 0 or spec.extra % LONGER:
            raise ValueError(f"steps past the plan come in whole {LONGER:,}s, got {extra!r}")
        if spec.total > MAX_STEPS:
            raise ValueError(f"a job trains at most {MAX_STEPS:,} steps (planned + more); asked for "
                             f"{config.steps:,} + {extra:,}")
        return spec

    @property
    def data_dict(self) -> dict:
        return dict(self.data)

    @property
    def total(self) -> int:
        return self.config.steps + self.extra

    def longer(self, extra: int) -> JobSpec:
        return JobSpec.of(self.data_dict, self.config, extra)


def job_key(spec: JobSpec) -> str:
    """A short content hash of everything that defines the result (and the store format)."""
    from gendemo.store import VERSION

    text = json.dumps({"data": spec.data_dict, "config": config_to_dict(spec.config), "extra": spec.extra,
                       "format": VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def snapshot_steps(planned: int, total: int) -> list[int]:
    """The timeline's grid: every planned/SNAPSHOTS steps (rounded) from 0, up to `total`, and `total` itself."""
    every = max(1.0, planned / SNAPSHOTS) if planned else max(1.0, total / SNAPSHOTS)
    grid = sorted({min(total, round(i * every)) for i in range(int(total / every) + 2)})
    return grid


def _copy(sd: StateDict) -> StateDict:
    return {k: v.detach().clone() for k, v in sd.items()}


def _resume_state(state: TrainState) -> dict:
    return {"trained": _copy(state.fit_model.state_dict()), "optimizer": copy.deepcopy(state.optimizer.state_dict()),
            "generator": state.generator.get_state(), "first_loss": state.first_loss}


def _restore(state: TrainState, entry: Entry) -> None:
    """Continue `state` (fresh, same config and data) from a stored entry: weights, Adam, generator, history."""
    r = entry.resume
    state.model.load_state_dict(entry.final)
    state.fit_model.load_state_dict(r["trained"])
    state.optimizer.load_state_dict(copy.deepcopy(r["optimizer"]))  # Adam would update the entry's tensors in place
    state.generator.set_state(r["generator"])
    state.first_loss = r["first_loss"]
    state.step = entry.step
    state.seconds = entry.seconds
    state.history_step = list(range(1, entry.step + 1))
    state.history_loss = entry.losses.tolist()


Publish = Callable[[str, object], None]


def run(spec: JobSpec, points: np.ndarray, start: Entry | None = None, publish: Publish | None = None,
        cancelled: Callable[[], bool] = lambda: False) -> Entry | None:
    """Train `spec` on `points` (from `start`, a stored shorter run of the same data and config, if given).

    publish("resumed", step) first when continuing from `start`, publish("progress", (step, new_losses)) after
    every chunk of ~CHUNK_S seconds, and
    publish("snapshot", (step, weights)) at every timeline step. Returns the entry, or None when cancelled.
    Raises gendemo.training.TrainingDiverged when the loss or gradient stops being finite.
    """
    publish = publish or (lambda kind, payload: None)
    cfg, total = spec.config, spec.total
    state = make_state(cfg, points)
    grid = snapshot_steps(cfg.steps, total)
    steps_kept: list[int] = []
    snaps: list[StateDict] = []
    if start is not None:
        if start.config != cfg or start.resume is None or start.step > total:
            raise ValueError("a job can only continue a shorter stored run of the same data and config")
        _restore(state, start)
        for s in grid:
            if s <= start.step and s in start.snapshot_steps:
                steps_kept.append(s)
                snaps.append(start.weights_at(s))
        publish("resumed", state.step)
        publish("progress", (state.step, list(state.history_loss)))
        for s, w in zip(steps_kept, snaps):
            publish("snapshot", (s, w))
    chunk = 5
    while True:
        if state.step in grid and state.step not in steps_kept:
            w = _copy(state.model.state_dict())
            steps_kept.append(state.step)
            snaps.append(w)
            publish("snapshot", (state.step, w))
        if state.step >= total:
            break
        if cancelled():
            return None
        next_stop = min(s for s in grid if s > state.step)
        n = min(chunk, next_stop - state.step)
        before = len(state.history_loss)
        t0 = time.perf_counter()
        train_steps(state, n, fast=True)
        dt = time.perf_counter() - t0
        publish("progress", (state.step, state.history_loss[before:]))
        chunk = max(1, min(2000, round(n * CHUNK_S / dt))) if dt > 0 else chunk
    return Entry(job_key(spec), cfg, spec.data_dict, state.step, np.asarray(state.history_loss, dtype=np.float32),
                 steps_kept, snaps, _copy(state.model.state_dict()), _resume_state(state), state.seconds)

