"""Save the trained model (with its config) and load it again later, e.g. trained before the lecture.

An upload is read only through `gendemo.checkpoints.from_bytes`: explicit `weights_only=True`, then
size, format version, config, keys, shapes and finiteness are checked. A refused file leaves the
session's model as it was.
"""

from __future__ import annotations

import hashlib

import streamlit as st
import torch

from gendemo import checkpoints
from gendemo.training import TrainState, load_weights, make_state
from ui import data, live

FAMILY = {"ddpm": "ddpm", "flow": "flow"}


def _run_from_checkpoint(slot: str, ck: checkpoints.Checkpoint) -> live.Run:
    """A run that continues from the checkpoint's weights, on the session's current dataset."""
    ds = data.current()
    fresh: TrainState = make_state(ck.config, ds.train)
    load_weights(fresh, ck.model.state_dict())
    x = torch.from_numpy(ds.train)
    # the model standardizes with the statistics it was trained with (its own buffers)
    fresh.train_x = (fresh.model.standardize(x) if ck.config.family == "ddpm" else x).contiguous()
    fresh.step = ck.step
    run = live.Run(fresh, ds)
    run.message = ("info", f"Loaded a {ck.config.family.upper()} checkpoint trained for {ck.step:,} steps.")
    return live.install(slot, run)


def panel(slot: str) -> None:
    """Download the session's model; upload a checkpoint to replace it."""
    run = live.get(slot)
    if run is not None and run.state.step > 0:
        def blob() -> bytes:
            """Made when the button is clicked: the weights as they are then (taken under the run's lock)."""
            with run.lock:
                return checkpoints.to_bytes(run.state.config, run.state.model, run.state.step)

        # Deferred: a file built on every rerun (while training, several a second) costs CPU, and its URL
        # went stale under the browser when the next rerun replaced it (a 404 in the load test).
        st.download_button("Download model", icon=":material/download:", data=blob,
                           file_name=f"gendemo-{slot}.pt", mime="application/octet-stream",
                           key=f"{slot}_download", on_click="ignore",
                           help="A checkpoint of the current weights with their config and step.")
    up = st.file_uploader("Load a model (.pt)", type=["pt"], key=f"{slot}_upload",
                          help=f"A gendemo checkpoint of at most {checkpoints.MAX_BYTES // 2**20} MB.")
    if up is None:
        return
    raw = up.getvalue()
    digest = hashlib.sha256(raw).hexdigest()
    if st.session_state.get(f"{slot}_upload_digest") == digest:  # already handled this file
        err = st.session_state.get(f"{slot}_upload_error")
        if err:
            st.error(err)
        return
    st.session_state[f"{slot}_upload_digest"] = digest
    st.session_state[f"{slot}_upload_error"] = None
    try:
        ck = checkpoints.from_bytes(raw)
        if ck.config.family != FAMILY[slot]:
            raise checkpoints.CheckpointError(f"this is a {ck.config.family} checkpoint, not a {slot} one")
        _run_from_checkpoint(slot, ck)
        st.rerun()
    except (checkpoints.CheckpointError, ValueError) as exc:
        msg = f"Could not load {up.name}: {exc}. The current model stays in place."
        st.session_state[f"{slot}_upload_error"] = msg
        st.error(msg)
