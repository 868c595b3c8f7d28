"""Forward process & β-schedules: q(x^(k)|x^(k−1)), the closed form Eq. (7), SNR and L_N."""

from ui import router

router.inside_app()  # first, before the page's imports: a deep link on a fresh server must run inside app.py

import numpy as np
import streamlit as st
import torch

from gendemo import ddpm, viz
from gendemo.schedules import make_schedule
from ui import data, export, schedule, settings, style

MAX_FRAMES = 60
POINTS_PER_PANEL = 500


def standardized(points: np.ndarray) -> np.ndarray:
    """x^(0): the data standardised per coordinate, as the DDPM sees it."""
    return ((points - points.mean(0)) / points.std(0)).astype(np.float32)


@st.cache_data(max_entries=32, show_spinner="Noising the data…")
def forward_frames(_x0: np.ndarray, data_key: str, kind: str, N: int, beta_1: float, beta_N: float, seed: int):
    """Frames of x^(k) by the chain and by the closed form, for ≤ MAX_FRAMES steps k (float32)."""
    sched = make_schedule(kind, N, beta_1, beta_N)
    ks = np.unique(np.linspace(0, N, min(N + 1, MAX_FRAMES)).round().astype(int)).tolist()
    x0 = torch.from_numpy(_x0[:POINTS_PER_PANEL])
    chain = ddpm.forward_trajectory(x0, sched, torch.Generator().manual_seed(seed), "chain", ks)
    closed = ddpm.forward_trajectory(x0, sched, torch.Generator().manual_seed(seed + 1), "closed", ks)
    return ks, chain.numpy().astype(np.float32), closed.numpy().astype(np.float32)


st.title("Forward process & β-schedules")
ds = data.current()
fs = style.figure_style()

left, right = st.columns([1, 2.2], gap="large")
sched, error = schedule.current()
with left:
    st.caption("The β-schedule is set in the sidebar (**β-schedule**); DDPM training uses the same one.")

if sched is None:
    right.error(f"This schedule is not valid: {error}")
    st.stop()

x0 = standardized(ds.train)
abar_N = float(sched.alpha_bar[-1])
L_N = sched.prior_mismatch(x0)
with left:
    c1, c2 = st.columns(2)
    c1.metric("ᾱ_N", f"{abar_N:.3g}")
    c2.metric("L_N (nats/point)", f"{L_N:.3g}")
    st.caption(f"√ᾱ_N = {abar_N ** 0.5:.3g} of the data survives at k = N. L_N = D_KL(q(x⁽ᴺ⁾|x⁽⁰⁾) ‖ N(0, I)), "
               "the prior mismatch term of the bound, averaged over the data.")
    for level, text in schedule.diagnostics(sched, x0):
        st.warning(text)

with right:
    st.latex(r"q(x^{(k)}\mid x^{(k-1)}) = \mathcal N\big(x^{(k)};\ \sqrt{1-\beta_k}\,x^{(k-1)},\ \beta_k I\big)")
    st.latex(r"q(x^{(k)}\mid x^{(0)}) = \mathcal N\big(x^{(k)};\ \sqrt{\bar\alpha_k}\,x^{(0)},\ "
             r"(1-\bar\alpha_k) I\big),\quad \bar\alpha_k = \textstyle\prod_{i\le k}(1-\beta_i)\quad(7)")
    st.subheader("The data noised, k = 0 → N: step by step (left) and in closed form (right)")
    v = settings.schedule_values()
    ks, chain, closed = forward_frames(x0, repr(ds.choice), v["schedule"], v["N"], v["beta_1"], v["beta_N"],
                                       seed=0)
    anim = viz.forward_animation(chain, closed, ks, style=style.animation_style())
    st.plotly_chart(anim, key="forward_anim", config=export.config("forward_anim"))
    st.caption("Press ▶ under the plot. Both panels start from the same points x⁽⁰⁾ (standardised data). "
               "Left: x⁽ᵏ⁾ drawn from x⁽ᵏ⁻¹⁾, one transition at a time. Right: x⁽ᵏ⁾ drawn directly from x⁽⁰⁾ "
               "with Eq. (7). The clouds match at every k: that is the lemma. Circles: 1σ and 2σ of N(0, I).")
    export.animation(anim, "forward_anim")
    c1, c2 = st.columns(2)
    c1.plotly_chart(viz.schedule_curves(sched.beta.numpy(), sched.alpha_bar.numpy(), sched.beta_tilde.numpy(),
                                        style=fs), key="forward_schedule",
                    config=export.config("forward_schedule"))
    c2.plotly_chart(viz.snr_curve(sched.snr().numpy(), style=fs), key="forward_snr",
                    config=export.config("forward_snr"))

style.explain("What to look for", """
* **ᾱ_k** is how much of the data survives at step k: x⁽ᵏ⁾ = √ᾱ_k x⁽⁰⁾ + √(1−ᾱ_k) ε.
* Sampling starts from **N(0, I)**, so ᾱ_N must be close to 0; **L_N** measures the mismatch in nats.
  Try N = 100 with the linear schedule 1e-4 … 0.02: ᾱ_N ≈ 0.36 — far from noise.
* If ᾱ_k is ≈ 0 for most k, most training steps see pure noise: the loss looks good and the model is useless.
* The **cosine** schedule keeps ᾱ_k away from 0 and 1 for longer (its β_1, β_N are derived, not chosen).
""")
