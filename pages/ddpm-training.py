"""DDPM training: Algorithm Training with L_simple (Eq. (10)) live, with Play / Pause / Step / Reset."""

from ui import router

router.inside_app()  # first, before the page's imports: a deep link on a fresh server must run inside app.py

import time

import numpy as np
import streamlit as st
import torch

from gendemo import ddpm, viz
from gendemo.config import DDPMConfig
from ui import ckpt, data, live, quality, settings, status, style

SLOT = "ddpm"
LIVE_SAMPLES = 500


def make_config() -> DDPMConfig:
    """The DDPM of the settings (sidebar, URL); ValueError with the engine's message if it refuses them."""
    config, error = settings.ddpm_config()
    if config is None:
        raise ValueError(error)
    return config


SAMPLE_EVERY = 1.0  # seconds between fresh sample snapshots while training (~0.1 s of CPU each): live.period()
QUALITY_EVERY = 3.0  # seconds between energy-distance readouts while training: live.period()
SAMPLES_TITLE = "samples x⁽⁰⁾ ~ p_θ (Algorithm Sampling)"


def _samples(run: live.Run, fs) -> dict:
    """Samples from a frozen copy of the model (finite ones in "points"); redrawn for new weights, at most every
    SAMPLE_EVERY seconds while training (the sampler runs N network calls)."""
    ex = run.extras.setdefault("ddpm_page", {})
    if not live.needs_refresh(run, ex, fs, SAMPLE_EVERY):
        return ex
    now = time.monotonic()
    version, model = run.version, live.snapshot(run)
    traj = ddpm.sample(model, LIVE_SAMPLES, torch.Generator().manual_seed(1234))
    samples = model.unstandardize(traj.xs[-1]).numpy()
    finite = np.isfinite(samples).all(axis=1)
    ex.update(version=version, style=fs, t=now, step=run.state.step, n_bad=int((~finite).sum()),
              points=samples[finite], figures={})
    if ex["n_bad"]:
        ex.pop("quality", None)
    elif not run.playing or now - ex.get("quality_t", 0.0) >= live.period(QUALITY_EVERY):
        ex["quality"] = quality.energy_vs_floor(samples[finite], run.dataset)
        ex["quality_t"] = now
    return ex


def render_status(run: live.Run | None) -> None:
    """Fast panel: step, steps/s, loss and the progress bar."""
    if run is None:
        st.info("Press Play to train ε_θ on the current dataset (or Step to advance by hand).")
        return
    losses = run.state.history_loss
    status.show_training(run.state, [status.Metric("loss (last 100 steps)",
                                                   f"{np.mean(losses[-100:]):.4f}" if losses else "–")],
                         presenter=style.presenter())


def render_loss(run: live.Run | None) -> None:
    """Fast panel: the loss curve."""
    if run is not None:
        cfg = run.state.config
        live.loss_chart(run, "ddpm_loss", title="L_simple, Eq. (10)" if cfg.weighting == "simple"
                        else "bound-weighted loss", log_y=True, style=style.figure_style())


def render_samples(run: live.Run | None) -> None:
    """Slow panel (every SAMPLE_EVERY s while training): samples over the data and their quality."""
    if run is None:
        return
    fs = style.figure_style()
    ex = _samples(run, fs)
    if ex["n_bad"]:
        st.warning(f"{ex['n_bad']} of {LIVE_SAMPLES} samples are not finite (the sampler blew up): only the "
                   "finite ones are drawn. This model has not learned a usable ε_θ; press Reset.")
    if run.playing:
        live.svg(viz.scatter_svg(ex["points"], title=SAMPLES_TITLE, reference=run.dataset.train, style=fs),
                 "ddpm_samples_live")
    else:
        st.plotly_chart(live.figure(ex, "samples", lambda: viz.scatter(ex["points"], title=SAMPLES_TITLE,
                                                                       reference=run.dataset.train, style=fs)),
                        key="ddpm_samples")
    if "quality" in ex:
        st.caption("Sample quality: " + quality.describe(ex["quality"]) + ". The floor is the same statistic "
                   "between two independent samples of the data.")
    ema = run.state.config.ema_decay
    st.caption((f"Samples from the moving average of the weights (EMA, decay {ema:g}): the model this page saves; "
                "the loss is that of the weights Adam updates." if ema > 0 else "Samples from the trained weights.")
               + (f" Step {ex['step']:,}, refreshed every {live.period(SAMPLE_EVERY):.0f} s while training."
                  if run.playing else ""))


st.title("DDPM training")
ds = data.current()
st.latex(r"\nabla_\theta \big\|\varepsilon - \varepsilon_\theta\big(\sqrt{\bar\alpha_k}\,x^{(0)} + "
         r"\sqrt{1-\bar\alpha_k}\,\varepsilon,\ k\big)\big\|^2\quad(10)")
st.caption("Algorithm Training: x⁽⁰⁾ ~ q₀, k ~ Uniform{1..N}, ε ~ N(0, I), one Adam step on the loss above.")
left, right = st.columns([1, 2.2], gap="large")
with left:
    run = live.controls(SLOT, make_config, ds)
    with st.expander("Save / load the model"):
        ckpt.panel(SLOT)
    _, err = settings.ddpm_config()  # the network, optimiser and β-schedule are set in the sidebar
    if err:
        st.error(f"These DDPM settings are not valid: {err}. Change them in the sidebar.")
    live.stale_notice(run, make_config, ds, "model")
with right:
    live.panels(SLOT, render_status, render_loss, render_samples, SAMPLE_EVERY)
