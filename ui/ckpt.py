"""Save the model on screen (with its config) and load one again later, e.g. trained before the lecture.

An upload is read only through `gendemo.checkpoints.from_bytes`: explicit `weights_only=True`, then size,
format version, config, keys, shapes and finiteness are checked. A loaded checkpoint joins the model store
under a key of its own (from its content hash), and the sidebar's `d_ck` / `f_ck` / `fm_ck` (in the URL) names it: a
reload or a copied link shows it again, and "Back to the settings' model" leaves it. A refused file changes
nothing.
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from gendemo import checkpoints, jobs
from gendemo.store import Entry
from ui import jobs as ui_jobs
from ui import live


def _store(slot: str, raw: bytes) -> str:
    """The checkpoint as a store entry of its own (no timeline; the loss history it carries); its key."""
    ck = checkpoints.from_bytes(raw)
    family = ui_jobs.FAMILY.get(slot, slot)  # the slot "fm" holds the family "flow_matching"
    if ck.config.family != family:
        raise checkpoints.CheckpointError(f"this is a {ck.config.family} checkpoint, not a {family} one")
    spec = jobs.JobSpec.of({"checkpoint": hashlib.sha256(raw).hexdigest()[:16]}, ck.config)
    weights = {k: v.detach().clone() for k, v in ck.model.state_dict().items()}
    entry = Entry(jobs.job_key(spec), ck.config, spec.data_dict, ck.step, ck.losses.astype(np.float32), [], [], weights)
    ui_jobs.table().store.put(entry)
    return entry.key


def _uploaded(slot: str) -> None:
    """The uploader's callback: load the file, then point the settings at it (before the sidebar is drawn)."""
    up = st.session_state.get(f"{slot}_upload")
    if up is None:
        return
    try:
        key = _store(slot, up.getvalue())
    except checkpoints.UnreadableCheckpoint:  # torch's own text (e.g. "Re-running torch.load with weights_only
        # set to False will likely succeed") would invite a student to do exactly what must not be done
        st.session_state[f"{slot}_upload_error"] = (
            f"{up.name} is not a gendemo checkpoint: only a file saved with **Download model** on a training page "
            "can be loaded. The current model stays in place.")
        return
    except (checkpoints.CheckpointError, ValueError) as exc:
        st.session_state[f"{slot}_upload_error"] = f"Could not load {up.name}: {exc}. The current model stays in place."
        return
    st.session_state[f"{slot}_upload_error"] = None
    st.session_state[ui_jobs.CK[slot]] = key
    live.follow(slot)  # the loaded model's end, not a frozen step of the model before


def download_bytes(view: live.View) -> bytes:
    """The Download model button's file: the model on screen (this step of the timeline), its config and the loss
    of every step up to it."""
    return checkpoints.to_bytes(view.config, view.model, view.step, view.job.losses[: view.step])


def panel(slot: str, view: live.View | None) -> None:
    """Download the model on screen; upload a checkpoint to show it instead."""
    if view is not None:
        st.download_button("Download model", icon=":material/download:", data=lambda: download_bytes(view),
                           file_name=f"gendemo-{slot}-step{view.step}.pt", mime="application/octet-stream",
                           key=f"{slot}_download", on_click="ignore",
                           help="A checkpoint of the weights on screen (this step of the timeline) with their config and "
                                "the loss of every step up to it.")
    st.file_uploader("Load a model (.pt)", type=["pt"], key=f"{slot}_upload", on_change=_uploaded, args=(slot,),
                     help=f"A gendemo checkpoint of at most {checkpoints.MAX_BYTES // 2**20} MB.")
    err = st.session_state.get(f"{slot}_upload_error")
    if err and st.session_state.get(f"{slot}_upload") is not None:
        st.error(err)
