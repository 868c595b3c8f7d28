"""The β-schedule the settings describe (ui/settings.py: `sched`, `N`, `b1`, `bN`, in the sidebar), and what a
lecturer should be warned about. Shared by the Forward-process page and the DDPM-training page."""

from __future__ import annotations

import numpy as np
import streamlit as st

from gendemo.schedules import Schedule, make_schedule
from ui import settings


def current() -> tuple[Schedule | None, str | None]:
    """The schedule the widgets describe, or (None, the engine's message) if it is invalid."""
    v = settings.schedule_values()
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


def standardized(points: np.ndarray) -> np.ndarray:
    """x^(0): the data standardised per coordinate, as the DDPM sees it."""
    return ((points - points.mean(0)) / points.std(0)).astype(np.float32)


def show_warnings(sched: Schedule, points: np.ndarray) -> None:
    """The schedule's warnings (`diagnostics`) where it trains or samples, not only on the Forward page."""
    for _, text in diagnostics(sched, standardized(points)):
        st.warning(text)
