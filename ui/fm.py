"""What the flow-matching pages share: the exact loss floor of a training set, and the model's standardization.

The floor is a property of the data alone (the loss's least value over all fields, `gendemo.exact.fm_loss_floor`),
computed once per dataset on the server and shared by every session (`ui.jobs.derived`).
"""

from __future__ import annotations

import numpy as np
import torch

from gendemo import exact
from ui import jobs
from ui.data import Dataset

SLOT = "fm"
FLOOR_MC = 4096  # Monte-Carlo draws of the floor: standard error ≈ 0.02 on moons
FLOOR_SEED = 0


def standardized(train: np.ndarray) -> torch.Tensor:
    """The training set as the model sees it, x = (data − mean)/std (gendemo.training.make_state), float64."""
    x = torch.from_numpy(np.asarray(train, dtype=np.float32))
    return ((x - x.mean(0)) / x.std(0)).double()


def loss_floor(ds: Dataset) -> tuple[float, float]:
    """min over all fields u of E|u(X_t, t) − (X_1 − X_0)|² on this training set: (mean, standard error)."""
    return jobs.derived(("fm-floor", ds.choice, FLOOR_MC), lambda: exact.fm_loss_floor(
        standardized(ds.train), torch.Generator().manual_seed(FLOOR_SEED), n_mc=FLOOR_MC))


def memorisation_radius(train: np.ndarray) -> float:
    """A sample counts as a copy of a training point within 1 % of the data's spread (mean std of the axes)."""
    return 0.01 * float(np.asarray(train, dtype=np.float64).std(0).mean())


def offer(t: jobs.Target, name: str, key: str):
    """The trained model of target `t` (at its end) as a live.View, or None after saying why and offering to train
    it: never blocks the page. While it trains, a progress bar, and a rerun of the page when it is done."""
    import streamlit as st

    from ui import live

    if t.spec is None:
        st.warning(f"The {name} of these settings cannot be trained: {t.error}.")
        return None
    job = jobs.find(t)
    if job is not None and job.status == "done":
        return live.View(key, job, t.dataset, job.step, False)
    if job is not None and job.active:
        @st.fragment(run_every=0.5)
        def progress() -> None:
            j = jobs.find(t)
            if j is None or not j.active:
                st.rerun()
            st.progress(j.step / j.total if j.total else 0.0,
                        text=f"Training the {name}: step {j.step:,} / {j.total:,}" if j.status != "queued"
                        else f"The {name} is queued for training")

        progress()
        return None
    if job is not None and job.status == "failed":
        st.error(f"The last training of the {name} stopped: {job.error}")
    c = st.columns([3, 1], vertical_alignment="center")
    c[0].info(f"No {name} is trained for these settings yet ({t.spec.total:,} steps).")
    c[1].button(f"Train the {name}", key=f"offer_{key}", on_click=jobs.start, args=(t,))
    return None
