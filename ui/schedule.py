"""The β-schedule widgets, shared by the Forward-process page and the DDPM-training page."""

from __future__ import annotations

import numpy as np
import streamlit as st

from gendemo.config import SCHEDULE_KINDS, DDPMConfig
from gendemo.schedules import Schedule, make_schedule

_D = DDPMConfig()
# Log-spaced choices: β spans decades, and a select-slider can only offer valid values.
BETA_1_CHOICES = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1]
BETA_N_CHOICES = [1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 0.9, 0.999]
N_MAX_UI = 1000


def _defaults() -> None:
    ss = st.session_state
    ss.setdefault("sched_kind", _D.schedule)
    ss.setdefault("sched_N", _D.N)
    ss.setdefault("sched_beta_1", _D.beta_1)
    ss.setdefault("sched_beta_N", _D.beta_N)


def values() -> dict:
    """The current schedule settings (widget values, or the defaults before any widget was shown)."""
    _defaults()
    ss = st.session_state
    return {"schedule": ss["sched_kind"], "N": int(ss["sched_N"]), "beta_1": float(ss["sched_beta_1"]),
            "beta_N": float(ss["sched_beta_N"])}


def widgets() -> None:
    """Kind, N, β_1, β_N. The values persist across pages (and are the DDPM page's schedule)."""
    _defaults()
    st.selectbox("Schedule kind", SCHEDULE_KINDS, key="sched_kind", persist_state="session",
                 help="cosine (Nichol & Dhariwal 2021) derives β_k from ᾱ(t) = cos²(…): β_1 and β_N are then "
                      "ignored.")
    st.slider("Number of steps N", 1, N_MAX_UI, key="sched_N", persist_state="session")
    cosine = st.session_state["sched_kind"] == "cosine"
    st.select_slider("β₁ (first step)", BETA_1_CHOICES, key="sched_beta_1", persist_state="session",
                     format_func=lambda b: f"{b:g}", disabled=cosine)
    st.select_slider("β_N (last step)", BETA_N_CHOICES, key="sched_beta_N", persist_state="session",
                     format_func=lambda b: f"{b:g}", disabled=cosine)


def current() -> tuple[Schedule | None, str | None]:
    """The schedule the widgets describe, or (None, the engine's message) if it is invalid."""
    v = values()
    try:
        return make_schedule(v["schedule"], v["N"], v["beta_1"], v["beta_N"]), None
    except ValueError as exc:
        return None, str(exc)


def diagnostics(sched: Schedule, x0: np.ndarray) -> list[tuple[str, str]]:
    """Warnings a lecturer should see: x^(N) far from N(0, I); the signal destroyed at most steps."""
    out = []
    abar_N = float(sched.alpha_bar[-1])
    L_N = sched.prior_mismatch(x0)
    if L_N > 0.01:
        out.append(("warning", f"x⁽ᴺ⁾ is still far from N(0, I): ᾱ_N = {abar_N:.3g}, so √ᾱ_N = {abar_N ** 0.5:.2f} "
                               f"of the data survives and L_N = {L_N:.3g} nats. Sampling starts from N(0, I), "
                               "which this chain never reaches: raise N or β_N."))
    dead = float((sched.alpha_bar[1:] < 1e-3).double().mean())
    if dead > 0.5:
        out.append(("warning", f"The signal is destroyed (ᾱ_k < 0.001) at {100 * dead:.0f} % of the steps: the "
                               "loss will look beautiful because most steps are pure noise, yet the model learns "
                               "little. Lower β_N or use the cosine schedule."))
    return out
