"""Variational bound: the ledger L = L_N + Σ_{k=2..N} L_{k−1} + L_0 (Eq. (6)) of the trained DDPM."""

from ui import router

router.inside_app()  # first, before the page's imports: a deep link on a fresh server must run inside app.py

import math

import numpy as np
import streamlit as st
import torch

from gendemo import bound, ddpm, viz
from ui import data, jobs, models, style
from ui.urlspec import VIEW  # these view settings are in the URL too

st.title("Variational bound")
view = models.require("ddpm")
model, fs = view.model, style.figure_style()
N = model.sched.N

st.latex(r"L = \underbrace{D_{KL}(q(x^{(N)}|x^{(0)})\,\|\,p(x^{(N)}))}_{L_N} + \sum_{k=2}^{N}"
         r"\underbrace{D_{KL}(q(x^{(k-1)}|x^{(k)},x^{(0)})\,\|\,p_\theta(x^{(k-1)}|x^{(k)}))}_{L_{k-1}}"
         r"\underbrace{-\log p_\theta(x^{(0)}|x^{(1)})}_{L_0}\quad(6)")
st.latex(r"\tilde\mu_k = \tfrac{\sqrt{\bar\alpha_{k-1}}\beta_k}{1-\bar\alpha_k}x^{(0)} + "
         r"\tfrac{\sqrt{\alpha_k}(1-\bar\alpha_{k-1})}{1-\bar\alpha_k}x^{(k)},\quad "
         r"\tilde\beta_k = \tfrac{1-\bar\alpha_{k-1}}{1-\bar\alpha_k}\beta_k\quad(8)")
left, right = st.columns([1, 2.2], gap="large")
with left:
    sigma2 = st.radio("reverse variance σ_k²", VIEW["bound_sigma2"].options, key="bound_sigma2", bind="query-params",
                      format_func=VIEW["bound_sigma2"].label, horizontal=True)
    n = st.select_slider("held-out points", VIEW["bound_n"].options, value=VIEW["bound_n"].default, key="bound_n",
                         bind="query-params")
    if sigma2 == "beta_tilde":
        st.caption("With σ_k² = β̃_k, β̃_1 = 0 would make the decoder L_0 degenerate: as in Ho et al.'s reference "
                   "code, σ_1² is clipped to β̃_2.")

def _bound():
    with st.spinner("Evaluating every term of the bound…"):
        x0 = model.standardize(torch.from_numpy(view.dataset.heldout[: int(n)]))
        terms = bound.variational_bound(model, x0, torch.Generator().manual_seed(0), sigma2=sigma2)
        with torch.no_grad():
            g = torch.Generator().manual_seed(1)
            l_simple = float(np.mean([ddpm.loss(model, x0, g).item() for _ in range(8)]))
    return terms, l_simple


terms, l_simple = jobs.derived(("bound", *view.version, sigma2, int(n)), _bound)
log_det = float(torch.log(model.scale.double()).sum())  # nats/point between x^(0) and the data's units

with right:
    c = st.columns(4)
    c[0].metric("L (nats / point)", f"{terms.total:.4f}")
    c[1].metric("bits / dim", f"{terms.bits_per_dim():.4f}")
    c[2].metric("L_simple (Eq. 10)", f"{l_simple:.4f}")
    c[3].metric("steps N", f"{N}")
    st.latex(rf"L = \underbrace{{{terms.L_N:.4f}}}_{{L_N}} + \underbrace{{{float(np.sum(terms.L_terms)):.4f}}}"
             rf"_{{\sum_k L_{{k-1}}}} + \underbrace{{{terms.L_0:.4f}}}_{{L_0}} = {terms.total:.4f}"
             r"\ \text{nats per point}")
    st.plotly_chart(viz.bound_ledger(terms.L_N, terms.L_terms, terms.L_0, terms.total, L_simple=l_simple,
                                     style=fs), key="bound_ledger")
    rows = {"L_N (prior mismatch, no θ)": terms.L_N, "Σ_{k=2..N} L_{k−1}": float(np.sum(terms.L_terms)),
            "L_0 (decoder)": terms.L_0, "L (total)": terms.total}
    st.table({"term": list(rows), "nats / point": [f"{v:.4f}" for v in rows.values()]})
    nll_bound = terms.total + log_det
    msg = (f"In the data's own units, −log p_θ(x) ≤ L + Σ log scale = {nll_bound:.3f} nats per point "
           f"(x⁽⁰⁾ is the data standardised; the standardisation contributes {log_det:+.3f}).")
    h = data.true_entropy(view.dataset.choice)
    if h is not None:
        msg += f" The data's true entropy is H(q₀) ≈ {h:.3f}: no model gets below it, so the gap "
        msg += f"{nll_bound - h:.3f} is an upper bound on D_KL(q₀ ‖ p_θ) plus the bound's own slack."
    st.caption(msg)
    if not math.isfinite(terms.total):
        st.error("The bound is not finite for this model: train longer or with a smaller learning rate.")

style.explain("How to read the ledger", """
* **L_N** does not depend on θ: it is how far x⁽ᴺ⁾ is from N(0, I) (set by the β-schedule).
* Each **L_{k−1}** compares the true posterior q(x⁽ᵏ⁻¹⁾|x⁽ᵏ⁾, x⁽⁰⁾) (Eq. 8) with the model's reverse step: a
  closed-form KL between two Gaussians, averaged over x⁽ᵏ⁾ ~ q(·|x⁽⁰⁾).
* **L_0** is the decoder's −log-likelihood of the data at the last step.
* Switching σ_k² between β_k and β̃_k changes every term: β̃_k is the posterior's own variance, so the
  KL terms shrink, but the decoder's variance at k = 1 must be clipped.
* L_simple (Eq. 10) drops the weights β_k²/(2σ_k²α_k(1−ᾱ_k)) of the bound: it is what we train, not what we report.
""")
