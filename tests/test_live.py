"""ui/live.py: a training page is a view of a shared job (the page-level behaviour is in test_app.py).

The old per-session trainer (its thread, heartbeat, revive and timers) is gone: a job is bounded work that runs in
the job table's workers whoever watches it, so these tests check the view's pieces and that a job's result does not
depend on what else runs.
"""

from __future__ import annotations

import time

import pytest
import torch
from jobhelpers import shutdown_jobs, wait_jobs

from gendemo import datasets, jobs
from gendemo.config import DDPMConfig
from gendemo.jobtable import JobTable
from gendemo.store import ModelStore
from ui.data import DataChoice, Dataset

TINY = {"width": 16, "depth": 1, "N": 20, "batch": 64}


def _dataset() -> Dataset:
    x = datasets.load("moons", 500, seed=0)
    return Dataset(DataChoice("moons"), x, x[:200], x[200:400])


def test_the_live_quality_readout_is_the_energy_distance_against_its_expected_floor_and_reuses_the_floor():
    from gendemo import metrics
    from ui import quality

    ds = _dataset()
    samples = datasets.load("moons", 300, seed=9)
    q = quality.energy_vs_floor(samples, ds)
    assert q["value"] == pytest.approx(metrics.energy_distance(samples, ds.reference))
    assert q["floor"] == pytest.approx(metrics.energy_floor(ds.train, 300, 200))
    assert q["ratio"] == pytest.approx(q["value"] / q["floor"]) and q["band"][0] < 1 < q["band"][1]
    quality._floors[(ds.choice, 300, 200)] = (123.0, (0.5, 2.0))  # a cached floor is used as is
    assert quality.energy_vs_floor(samples, ds)["floor"] == 123.0
    quality._floors.clear()


def _live_panel_page():
    import streamlit as st

    from ui import live as live_

    st.title("before")
    live_.live("ddpm", lambda view: st.markdown("panel content"))
    st.markdown("after")


def _path_to(node, text, path=()):
    """The chain of blocks from `node` down to the markdown element whose value is `text` (None if absent)."""
    for child in getattr(node, "children", {}).values():
        if getattr(child, "type", None) == "markdown" and child.value == text:
            return (*path, node)
        found = _path_to(child, text, (*path, node))
        if found:
            return found
    return None


def test_each_live_panel_sits_alone_in_a_holder_so_a_pruned_panel_moves_nothing(app_env):
    """Regression for "Cannot set a node at a delta path" (see live()'s docstring): when the browser prunes a
    panel's fragment container, the elements after it must keep their places. So the fragment's container must
    be the only child of a container drawn by the full run, never a direct child of the page with siblings."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_live_panel_page).run()
    assert not at.exception, [e.message for e in at.exception]
    chain = _path_to(at._tree, "panel content")
    assert chain is not None, "the panel's content was not drawn"
    fragment_container, holder = chain[-1], chain[-2]
    assert holder is not at.main, "the panel's fragment container is a direct child of the page"
    assert len(holder.children) == 1
    assert next(iter(fragment_container.children.values())).value == "panel content"
    assert [m.value for m in at.markdown] == ["panel content", "after"]


def _spec(seed: int, steps: int = 300) -> jobs.JobSpec:
    return jobs.JobSpec.of(jobs.builtin_spec("moons", 500, 0, None), DDPMConfig(**TINY, steps=steps, seed=seed))


def test_a_job_ends_the_same_alone_or_beside_other_jobs(tmp_path):
    """A job is a pure function of its spec: the workers running other jobs at the same time change nothing."""
    points = _dataset().train
    alone = jobs.run(_spec(7), points)
    table = JobTable(ModelStore(tmp_path / "store", fallback=()), workers=3, mode="thread")
    try:
        crowd = [table.submit(_spec(s), points, "w") for s in (7, 1, 2)]
        assert table.trainings_started == 3
        wait_jobs(table, 120)
    finally:
        shutdown_jobs(table)
    job = crowd[0]
    assert job.status == "done" and job.entry.step == alone.step == 300
    assert all(torch.equal(job.entry.final[k], v) for k, v in alone.final.items())
    assert job.entry.snapshot_steps == alone.snapshot_steps
    assert (job.entry.losses == alone.losses).all()


def test_a_job_goes_on_when_its_only_watcher_is_gone_and_the_next_visitor_finds_it(tmp_path):
    """No heartbeat: nothing stops a job but Stop; a closed tab leaves it to finish, and its result is stored."""
    points = _dataset().train
    store = tmp_path / "store"
    table = JobTable(ModelStore(store, fallback=()), workers=1, mode="thread")
    try:
        job = table.submit(_spec(3), points, "a tab that closes at once")
        wait_jobs(table, 120)
        assert job.status == "done"
        again = table.submit(_spec(3), points, "the next visitor")  # a finished job: from the store, no training
        assert again.status == "done" and again.entry.step == 300 and table.trainings_started == 1
    finally:
        shutdown_jobs(table)
    other = JobTable(ModelStore(store, fallback=()), workers=1, mode="thread")  # another server process, say
    try:
        found = other.get(_spec(3))
        assert found is not None and found.status == "done" and other.trainings_started == 0
    finally:
        shutdown_jobs(other)


def test_a_queued_job_says_where_it_waits(app_env):
    from ui import jobs as ui_jobs
    from ui import live

    table = ui_jobs.table()
    points = _dataset().train
    n = table.n_workers
    running = [table.submit(_spec(s, steps=50_000), points, "w") for s in range(n)]
    queued = [table.submit(_spec(100 + s, steps=50_000), points, "w") for s in range(2)]
    deadline = time.monotonic() + 60
    while not all(j.status == "running" for j in running):
        assert time.monotonic() < deadline, [j.status for j in running]
        time.sleep(0.02)
    assert [j.status for j in queued] == ["queued", "queued"]
    assert [table.position(j) for j in queued] == [0, 1]
    assert live.status_line(queued[0], 0).startswith("Queued (next)")
    assert live.status_line(queued[1], 1).startswith("Queued (1 ahead of you)")
    assert live.status_line(running[0], None) is None
