"""DDPM training: Algorithm Training with L_simple (Eq. (10)), a shared job followed live, with its timeline."""

from ui import router

router.inside_app()  # first, before the page's imports: a deep link on a fresh server must run inside app.py

import numpy as np
import streamlit as st
import torch

from gendemo import ddpm, viz
from ui import ckpt, data, export, firstpaint, jobs, live, quality, schedule, status, style

SLOT = "ddpm"
LIVE_SAMPLES = 500
SAMPLE_EVERY = 1.0  # seconds between redraws of the samples while following a training (~0.1 s of CPU each)
SAMPLES_TITLE = "samples x⁽⁰⁾ ~ p_θ (Algorithm Sampling)"


def _samples(v: live.View) -> dict:
    """Samples of the model at the view's step (the finite ones in "points"), shared by sessions."""

    def build() -> dict:
        model = v.model
        traj = ddpm.sample(model, LIVE_SAMPLES, torch.Generator().manual_seed(1234), fast=True)
        samples = model.unstandardize(traj.xs[-1]).numpy()
        finite = np.isfinite(samples).all(axis=1)
        return {"n_bad": int((~finite).sum()), "points": samples[finite]}

    return jobs.derived(("ddpm-samples", *v.version), build)


def _quality(v: live.View, points: np.ndarray) -> dict:
    """Their energy distance to the data against its floor. Computed after the samples are drawn: a dataset's
    first readout also draws the floor's band (ui/quality.py, ~1 s), which must not hold the picture back."""
    return jobs.derived(("ddpm-quality", *v.version), lambda: quality.energy_vs_floor(points, v.dataset))


def render_status(v: live.View | None) -> None:
    """Fast panel: step, steps/s, loss, the progress bar and the loss curve."""
    if v is None:
        st.info("Press Train to train ε_θ on the current dataset with the sidebar's settings.")
        return
    job = v.job
    losses = job.losses[: len(job.losses) if v.live else v.step]
    status.show_training(job, job.step if v.live else v.step, [status.Metric("loss (last 100 steps)",
                                                     f"{np.mean(losses[-100:]):.4f}" if losses else "–")],
                         presenter=style.presenter())
    steps, history = v.history()
    title = "L_simple, Eq. (10)" if v.config.weighting == "simple" else "bound-weighted loss"
    if v.live:
        status.svg(viz.loss_svg(steps, history, title=title, log_y=True, style=style.figure_style()),
                   "ddpm_loss_live")
    else:
        st.plotly_chart(viz.loss_curve(steps, history, title=title, log_y=True, style=style.figure_style()),
                        key="ddpm_loss", config=export.config("ddpm_loss"))


def render_samples(v: live.View | None) -> None:
    """Slow panel: samples of the model at the view's step, over the data, and their quality."""
    if v is None:
        return
    fs = style.figure_style()
    ex = _samples(v)
    if ex["n_bad"]:
        st.warning(f"{ex['n_bad']} of {LIVE_SAMPLES} samples are not finite (the sampler blew up): only the "
                   "finite ones are drawn. This model has not learned a usable ε_θ.")
    title = f"{SAMPLES_TITLE}, step {v.step:,}"
    svg = viz.scatter_svg(ex["points"], title=title, reference=v.dataset.train, style=fs)
    if v.live:
        status.svg(svg, "ddpm_samples_live")
    else:
        firstpaint.plotly_chart(viz.scatter(ex["points"], title=title, reference=v.dataset.train, style=fs), svg,
                                key="ddpm_samples", config=export.config("ddpm_samples"))
    if not ex["n_bad"]:
        st.caption("Sample quality: " + quality.describe(_quality(v, ex["points"])) + ". The floor is the statistic's "
                   "expected value between two independent samples of the data of these sizes.")
    ema = v.config.ema_decay
    st.caption(f"Samples from the moving average of the weights (EMA, decay {ema:g}): the model every page uses; "
               "the loss is that of the weights Adam updates." if ema > 0 else "Samples from the trained weights.")


st.title("DDPM training")
st.latex(r"\nabla_\theta \big\|\varepsilon - \varepsilon_\theta\big(\sqrt{\bar\alpha_k}\,x^{(0)} + "
         r"\sqrt{1-\bar\alpha_k}\,\varepsilon,\ k\big)\big\|^2")
st.caption("Algorithm Training: x⁽⁰⁾ ~ q₀, k ~ Uniform{1..N}, ε ~ N(0, I), one Adam step on the loss above "
           "(the gradient of L_simple, Eq. (10)). The network, optimiser and β-schedule are set in the sidebar.")
left, right = st.columns([1, 2.2], gap="large")
with left:
    view = live.controls(SLOT)
    if view is not None:  # the schedule this model trains with (a loaded checkpoint brings its own)
        schedule.show_warnings(view.model.sched, view.dataset.train)
    elif (sched := schedule.current()[0]) is not None:
        schedule.show_warnings(sched, data.current().train)
    with st.expander("Save / load the model"):
        ckpt.panel(SLOT, view)
    with st.expander("Export the numbers (CSV)"):
        export.training_csv(SLOT, view)
with right:
    live.panels(SLOT, render_status, render_samples, SAMPLE_EVERY)
