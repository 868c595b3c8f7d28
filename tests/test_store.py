"""The model store: atomic files, safe loads (a corrupt or foreign file is a miss), LRU caps, shared directories."""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys

import pytest
import torch

from gendemo import datasets, jobs, store
from gendemo.config import DDPMConfig

POINTS = datasets.load("moons", 500, 0)
DATA = jobs.builtin_spec("moons", 500, 0, None)


def _entry(seed: int = 0) -> store.Entry:
    return jobs.run(jobs.JobSpec.of(DATA, DDPMConfig(steps=20, width=8, depth=1, N=10, seed=seed)), POINTS)


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/gendemo-store-pwned",))


def test_round_trip_and_model_at(tmp_path):
    s = store.ModelStore(tmp_path, fallback=())
    e = _entry()
    s.put(e)
    assert not list(tmp_path.glob("*.tmp")), "no temporary file is left behind"
    got = store.ModelStore(tmp_path, fallback=()).get(e.key)
    assert got.step == e.step and got.snapshot_steps == e.snapshot_steps
    for step in (0, e.snapshot_steps[5], e.step):
        model = got.model_at(step)
        assert all(torch.equal(v, e.weights_at(step)[k]) for k, v in model.state_dict().items())
    with pytest.raises(KeyError):
        got.weights_at(e.step + 1)


@pytest.mark.parametrize("content", [b"", b"not a torch file", pickle.dumps(Evil()),
                                     None], ids=["empty", "garbage", "pickle-with-code", "foreign-torch-file"])
def test_corrupt_or_foreign_files_are_discarded_with_a_log_line(tmp_path, caplog, content):
    s = store.ModelStore(tmp_path, fallback=())
    key = "a" * 24
    if content is None:
        torch.save({"format": "something-else", "weights": torch.zeros(3)}, s.path(key))
    else:
        s.path(key).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="gendemo.store"):
        assert s.get(key) is None
    assert "discarding" in caplog.text and not s.path(key).exists() and s.discarded == 1
    assert not os.path.exists("/tmp/gendemo-store-pwned")


def test_an_entry_under_the_wrong_key_or_with_wrong_weights_is_refused(tmp_path):
    s = store.ModelStore(tmp_path, fallback=())
    e = _entry()
    s.path("b" * 24).write_bytes(store.to_bytes(e))
    assert s.get("b" * 24) is None
    e.final = {**e.final, "scale": torch.ones(3)}
    s.path(e.key).write_bytes(store.to_bytes(e))
    assert s.get(e.key) is None


def test_disk_cap_evicts_least_recently_used(tmp_path):
    entries = [_entry(seed) for seed in range(4)]
    size = len(store.to_bytes(entries[0]))
    s = store.ModelStore(tmp_path, disk_mb=2.5 * size / 2**20, fallback=())
    s.put(entries[0])
    s.put(entries[1])
    os.utime(s.path(entries[0].key), (1, 1))  # the oldest use
    os.utime(s.path(entries[1].key), (2, 2))
    s.put(entries[2])
    assert not s.path(entries[0].key).exists() and s.path(entries[1].key).exists() and s.evicted_disk == 1
    assert s.disk_usage() <= s.disk_bytes


def test_memory_cap_evicts_least_recently_used(tmp_path):
    entries = [_entry(seed) for seed in range(3)]
    size = len(store.to_bytes(entries[0]))
    s = store.ModelStore(tmp_path, memory_mb=2.5 * size / 2**20, fallback=())
    for e in entries:
        s.put(e)
    assert s.evicted_memory == 1
    assert s.get(entries[0].key) is not None, "evicted from memory, still served from disk"


def test_two_processes_share_one_directory(tmp_path):
    """An entry written by another process is served here (the scale-out path: replicas over one store)."""
    code = ("import sys; from gendemo import datasets, jobs, store; from gendemo.config import DDPMConfig\n"
            "P = datasets.load('moons', 500, 0)\n"
            "e = jobs.run(jobs.JobSpec.of(jobs.builtin_spec('moons', 500, 0, None), "
            "DDPMConfig(steps=20, width=8, depth=1, N=10, seed=7)), P)\n"
            f"store.ModelStore({str(tmp_path)!r}, fallback=()).put(e); print(e.key)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    key = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": root}).stdout.strip()
    mine = jobs.run(jobs.JobSpec.of(DATA, DDPMConfig(steps=20, width=8, depth=1, N=10, seed=7)), POINTS)
    theirs = store.ModelStore(tmp_path, fallback=()).get(key)
    assert theirs is not None and key == mine.key
    assert all(torch.equal(theirs.final[k], v) for k, v in mine.final.items()), "the same weights, bit for bit"
