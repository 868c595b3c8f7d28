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
FLOOR_MC = 16_384  # Monte-Carlo draws of the floor: standard error ≈ 0.024 on moons (4,096: 0.05), ~4 s once
FLOOR_SEED = 0


def standardized(train: np.ndarray) -> torch.Tensor:
    """The training set as the model sees it, x = (data − mean)/std (gendemo.training.make_state), float64."""
    x = torch.from_numpy(np.asarray(train, dtype=np.float32))
    return ((x - x.mean(0)) / x.std(0)).double()


def loss_floor(ds: Dataset) -> tuple[float, float]:
    """min over all fields u of E|u(X_t, t) − (X_1 − X_0)|² on this training set: (mean, standard error)."""
    return jobs.derived(("fm-floor", ds.choice, FLOOR_MC), lambda: exact.fm_loss_floor(
        standardized(ds.train), torch.Generator().manual_seed(FLOOR_SEED), n_mc=FLOOR_MC))


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


def exact_grid(steps: int) -> list[float]:
    """Times 0 = t_0 < … < t_S = 1 for sampling with the exact u*: t_i = 1 − (1 − i/S)³, steps that shrink towards
    t = 1. u*(x, t) ~ (E[X_1 | X_t = x] − x)/(1 − t) turns sharply there (the posterior narrows from a blend of
    neighbouring points to one), and Euler's last step, x + h u*(x, 1 − h) = E[X_1 | X_{1−h} = x], lands on one
    training point only once h is below the points' spacing: on a uniform grid of 20 steps (h = 0.05) it lands
    between neighbours of the 10,000 default moons points; on this grid (last h = 1/S³) on them."""
    s = torch.linspace(0.0, 1.0, int(steps) + 1, dtype=torch.float64)
    ts = (1.0 - (1.0 - s) ** 3).tolist()
    ts[-1] = 1.0
    return ts


def copy_radius(train: np.ndarray, m: int = 2000) -> float:
    """A sample is a copy of a training point within a tenth of the points' median nearest-neighbour spacing."""
    x = torch.from_numpy(np.asarray(train, dtype=np.float64))
    d = torch.cdist(x[:m], x)
    d[d == 0] = float("inf")
    return 0.1 * float(d.min(dim=1).values.median())
