"""The server's one job table and model store, and the job that the current settings (the URL) describe.

A model is a function of the page's settings: the data, the config and the steps trained past the plan
("Train longer", the URL's `d_more` / `f_more` in thousands). Every session that asks for the same settings
gets the same job: a running one to watch, or the finished one from the store.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import streamlit as st
from torch import nn

from gendemo import jobs
from gendemo.config import ModelConfig
from gendemo.jobtable import Job, JobTable
from gendemo.store import ModelStore, build_model
from ui import data, settings
from ui.data import Dataset

NAMES = {"ddpm": "DDPM", "flow": "flow", "fm": "flow-matching model"}
MORE = {"ddpm": "d_more", "flow": "f_more", "fm": "fm_more"}  # URL: thousands of steps trained past the plan
CK = {"ddpm": "d_ck", "flow": "f_ck", "fm": "fm_ck"}
FAMILY = {"fm": "flow_matching"}  # a slot's config family, where the two names differ  # URL: a loaded checkpoint's store key (ui/ckpt.py), shown instead


@st.cache_resource(show_spinner=False)
def table() -> JobTable:
    """One job table per server process, with one worker per core; the store directory is GENDEMO_STORE."""
    return JobTable(ModelStore(), prestart=True)


def watcher() -> str:
    """This browser tab's id among a job's watchers."""
    return st.session_state.setdefault("watcher", uuid.uuid4().hex)


def more(slot: str) -> int:
    """Steps trained past the plan: the sidebar's setting (whole thousands, in the URL)."""
    return int(st.session_state.get(MORE[slot]) or 0) * jobs.LONGER


def set_more(slot: str, extra: int) -> None:
    """For a button's callback (before the sidebar's widget is drawn again)."""
    st.session_state[MORE[slot]] = extra // jobs.LONGER


def config(slot: str) -> tuple[ModelConfig | None, str | None]:
    if slot == "fm":
        return settings.fm_config()
    return settings.ddpm_config() if slot == "ddpm" else settings.flow_config()


@dataclass(frozen=True)
class Target:
    """What the settings ask for: the spec (None with a message if they are invalid) and the dataset."""

    spec: jobs.JobSpec | None
    error: str | None
    dataset: Dataset


def target(slot: str) -> Target:
    ds = data.current()
    ck = st.session_state.get(CK[slot])
    if ck:
        entry = table().store.get(ck) if ck.isalnum() else None
        if entry is not None and "checkpoint" in entry.data and entry.config.family == FAMILY.get(slot, slot):
            return Target(jobs.JobSpec.of(entry.data, entry.config), None, ds)
        st.session_state[f"{slot}_note"] = ("The link's checkpoint is not on this server: showing the model of the "
                                            "settings instead.")
    cfg, err = config(slot)
    if cfg is None:
        return Target(None, err, ds)
    try:
        spec = jobs.JobSpec.of(data_spec(ds), cfg, min(more(slot), (jobs.MAX_STEPS - cfg.steps) // jobs.LONGER
                                                       * jobs.LONGER))
    except ValueError as exc:
        return Target(None, str(exc), ds)
    return Target(spec, None, ds)


def data_spec(ds: Dataset) -> dict:
    """The job's data spec: a built-in dataset by its parameters, anything else by its points' hash."""
    c = ds.choice
    if c.upload is None:
        return jobs.builtin_spec(c.name, c.n, c.seed, c.noise)
    return jobs.points_spec(ds.train)


def find(t: Target) -> Job | None:
    return table().get(t.spec) if t.spec is not None else None


def start(t: Target) -> Job:
    return table().submit(t.spec, t.dataset.train, watcher())


def summary(slot: str) -> str:
    """One line for the sidebar: the state of the settings' model (drawn by full runs only)."""
    t = target(slot)
    if t.spec is None:
        return "settings not valid"
    job = find(t)
    if job is None:
        return "not trained yet"
    if job.status == "done":
        return f"trained, {job.step:,} steps" + (" (loaded checkpoint)" if "checkpoint" in t.spec.data_dict else "")
    if job.active:
        return f"{job.status}… (live on its page)"
    return f"{job.status}: {job.error or ''}".rstrip(": ")


# Models built from stored weights, shared by every session: (job key, step) -> frozen model.
_models: OrderedDict[tuple[str, int], nn.Module] = OrderedDict()
_models_lock = threading.Lock()
MODELS_KEPT = 64


def model(job: Job, step: int) -> nn.Module:
    """The display model of `job` after `step` steps (a timeline snapshot or the end), built once."""
    key = (job.key, step)
    with _models_lock:
        m = _models.get(key)
        if m is not None:
            _models.move_to_end(key)
            return m
    m = build_model(job.spec.config, job.weights_at(step))
    with _models_lock:
        _models[key] = m
        while len(_models) > MODELS_KEPT:
            _models.popitem(last=False)
    return m


# Figures' data derived from a model (samples, densities), shared by every session: (name, version, …) -> value.
_derived: OrderedDict[tuple, object] = OrderedDict()
DERIVED_KEPT = 256


def peek(key: tuple):
    """What `derived` holds for this key, or None (nothing is built)."""
    with _models_lock:
        return _derived.get(key)


def derived(key: tuple, build):
    """`build()` once per key (e.g. ("samples", job key, step)): 30 students on one model sample it once."""
    with _models_lock:
        if key in _derived:
            _derived.move_to_end(key)
            return _derived[key]
    value = build()
    with _models_lock:
        _derived[key] = value
        while len(_derived) > DERIVED_KEPT:
            _derived.popitem(last=False)
    return value
