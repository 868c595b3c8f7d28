"""Jobs: deterministic, path-independent trainings with a timeline; the job table shares and queues them."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from gendemo import datasets, jobs
from gendemo.config import DDPMConfig, FlowConfig
from gendemo.jobtable import JobTable
from gendemo.store import ModelStore
from gendemo.training import make_state, train_steps

POINTS = datasets.load("moons", 1000, 0)
DATA = jobs.builtin_spec("moons", 1000, 0, None)
CONFIGS = [DDPMConfig(steps=200, width=16, depth=2, N=50), FlowConfig(steps=150, K=2, width=8, batch=128)]


def _equal(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def _wait(job, timeout_s: float = 120.0):
    deadline = time.monotonic() + timeout_s
    while job.active:
        assert time.monotonic() < deadline, f"job still {job.status} at step {job.step}"
        time.sleep(0.02)
    return job


@pytest.fixture
def store(tmp_path):
    return ModelStore(tmp_path / "store", fallback=())


@pytest.mark.parametrize("cfg", CONFIGS, ids=["ddpm", "flow"])
def test_snapshots_are_the_models_of_a_plain_training(cfg):
    """The timeline's model at step s is exactly the model `train_steps(fast=True)` gives after s steps."""
    seen = []
    entry = jobs.run(jobs.JobSpec.of(DATA, cfg), POINTS, publish=lambda kind, p: seen.append(kind))
    assert entry.snapshot_steps == jobs.snapshot_steps(cfg.steps, cfg.steps)
    assert entry.snapshot_steps[0] == 0 and entry.snapshot_steps[-1] == cfg.steps
    assert 40 <= len(entry.snapshot_steps) <= jobs.SNAPSHOTS + 1
    assert "progress" in seen and seen.count("snapshot") == len(entry.snapshot_steps)
    state = make_state(cfg, POINTS)
    done = 0
    for s in entry.snapshot_steps[::10] + [cfg.steps]:
        train_steps(state, s - done, fast=True)
        done = s
        assert _equal(entry.weights_at(s), state.model.state_dict()), f"snapshot at step {s} differs"
    np.testing.assert_array_equal(entry.losses, np.asarray(state.history_loss, dtype=np.float32))


@pytest.mark.parametrize("cfg", CONFIGS, ids=["ddpm", "flow"])
def test_train_longer_does_not_depend_on_the_path(cfg):
    """From scratch, from the plan's stored run, or in two continuations: the same weights, bit for bit."""
    base = jobs.JobSpec.of(DATA, cfg)
    scratch = jobs.run(base.longer(2000), POINTS)
    planned = jobs.run(base, POINTS)
    assert planned.step == cfg.steps and scratch.step == cfg.steps + 2000
    once = jobs.run(base.longer(2000), POINTS, start=planned)
    twice = jobs.run(base.longer(2000), POINTS, start=jobs.run(base.longer(1000), POINTS, start=planned))
    for other in (once, twice):
        assert _equal(other.final, scratch.final)
        assert other.snapshot_steps == scratch.snapshot_steps
        assert all(_equal(a, b) for a, b in zip(other.snapshots, scratch.snapshots))
        np.testing.assert_array_equal(other.losses, scratch.losses)
        assert _equal(other.resume["trained"], scratch.resume["trained"])


def test_spec_limits_and_keys():
    cfg = CONFIGS[0]
    assert jobs.job_key(jobs.JobSpec.of(DATA, cfg)) == jobs.job_key(
        jobs.JobSpec.of(jobs.builtin_spec("moons", 1000, 0, 0.05), cfg)), "noise None is the default noise"
    keys = {jobs.job_key(jobs.JobSpec.of(DATA, c)) for c in (cfg, DDPMConfig(steps=200, width=16, depth=2, N=50,
                                                                             seed=1))}
    assert len(keys) == 2, "the seed is part of the key"
    with pytest.raises(ValueError, match="at most"):
        jobs.JobSpec.of(DATA, DDPMConfig(steps=jobs.MAX_STEPS), extra=jobs.LONGER)
    with pytest.raises(ValueError, match="whole"):
        jobs.JobSpec.of(DATA, cfg, extra=10)
    assert jobs.points_spec(POINTS) == jobs.points_spec(POINTS.copy())
    assert jobs.points_spec(POINTS) != jobs.points_spec(POINTS[:-1])


def test_table_shares_one_job_and_serves_the_store(store):
    table = JobTable(store, workers=1, mode="thread")
    try:
        spec = jobs.JobSpec.of(DATA, CONFIGS[0])
        job = table.submit(spec, POINTS, "student-1")
        assert all(table.submit(spec, POINTS, f"student-{i}") is job for i in range(2, 31))
        _wait(job)
        assert job.status == "done" and job.step == spec.total and table.trainings_started == 1
        again = table.submit(spec, POINTS, "late")
        assert again.status == "done" and table.trainings_started == 1, "a stored result is never trained again"
        assert _equal(again.entry.final, job.entry.final)
        other = ModelStore(store.directory, fallback=())  # another process's store over the same directory
        assert _equal(other.get(job.key).final, job.entry.final)
    finally:
        table.close()


def test_table_queues_first_come_first_served_and_cancels(store):
    table = JobTable(store, workers=1, mode="thread")
    try:
        specs = [jobs.JobSpec.of(DATA, DDPMConfig(steps=3000, width=16, depth=2, N=50, seed=s)) for s in range(3)]
        a, b, c = (table.submit(s, POINTS, f"s{i}") for i, s in enumerate(specs))
        assert (a.status, table.position(b), table.position(c)) == ("running", 0, 1)
        table.submit(specs[2], POINTS, "someone else")
        assert not table.cancel(c, "s2"), "a job another session watches is not cancelled"
        assert table.cancel(b, "s1") and b.status == "cancelled" and table.position(c) == 0
        while a.step == 0:
            time.sleep(0.01)
        assert table.cancel(a, "s0")
        _wait(a)
        assert a.status == "cancelled" and a.step < 3000 and table.get(specs[0]) is None
        _wait(c, 300)
        assert c.status == "done"
    finally:
        table.close()


def test_a_diverging_job_fails_with_its_reason(store):
    table = JobTable(store, workers=1, mode="thread")
    try:
        job = _wait(table.submit(jobs.JobSpec.of(DATA, DDPMConfig(steps=300, lr=1000.0, grad_clip=1e6, N=50)),
                                 POINTS))
        assert job.status == "failed" and "diverged" in job.error
        assert table.get(job.spec) is job and not table.store.has(job.key), "a failure is told, not stored"
        again = table.submit(job.spec, POINTS)
        assert again is not job and again.active and table.trainings_started == 2, "Train tries again"
        _wait(again)
    finally:
        table.close()
