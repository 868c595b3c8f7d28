"""Pages that need a trained model get it from the session, or offer to train a default one now."""

from __future__ import annotations

import streamlit as st

from gendemo.config import DDPMConfig, FlowConfig, ModelConfig
from ui import data, live

QUICK = {"ddpm": DDPMConfig(), "flow": FlowConfig()}
NAMES = {"ddpm": ("DDPM", "DDPM training"), "flow": ("flow", "Normalizing flows")}


def quick_train(slot: str, config: ModelConfig, steps: int | None = None) -> live.Run | None:
    """Train a model on the current dataset now, with a progress bar; it becomes the session's run."""
    try:
        run = live.reset(slot, config, data.current())
    except ValueError as exc:
        st.error(f"Cannot start training: {exc}")
        return None
    live.train_with_progress(run, config.steps if steps is None else steps)
    return run


def require(slot: str) -> live.Run:
    """The session's trained run of this family; otherwise explain, offer a quick training, and stop."""
    run = live.get(slot)
    if run is not None and run.state.step > 0:
        live.hold(run)  # this page reads the model: its trainer stops (Play resumes it on the training page)
        return run
    name, page = NAMES[slot]
    cfg = QUICK[slot]
    st.info(f"This page shows the {name} trained in this session, and none is trained yet. Train one on "
            f"**{page}** (live), or train the default {name} here now ({cfg.steps:,} steps).")
    if st.button(f"Train the default {name} now", key=f"quick_{slot}", type="primary"):
        quick_train(slot, cfg)
        st.rerun()
    st.stop()
