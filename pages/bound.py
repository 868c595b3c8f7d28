"""Variational bound: the ledger L = L_N + Σ_{k=2..N} L_{k−1} + L_0 (Eq. (6)) of the trained DDPM."""

from ui import router

router.inside_app()  # first, before the page's imports: a deep link on a fresh server must run inside app.py

import math

import numpy as np
import streamlit as st
import torch

from gendemo import bound, ddpm, metrics, viz
from ui import data, export, jobs, models, style
from ui.urlspec import VIEW  # these view settings are in the URL too

st.title("Variational bound")
view = models.require("ddpm")
model, fs = view.model, style.figure_style()
N = model.sched.N

st.latex(r"\begin{aligned}L &= \underbrace{D_{KL}(q(x^{(N)}|x^{(0)})\,\|\,p(x^{(N)}))}_{L_N}\\ &\quad + \sum_{k=2}^{N}"
         r"\underbrace{D_{KL}(q(x^{(k-1)}|x^{(k)},x^{(0)})\,\|\,p_\theta(x^{(k-1)}|x^{(k)}))}_{L_{k-1}}\\ &\quad "
         r"\underbrace{-\log p_\theta(x^{(0)}|x^{(1)})}_{L_0}\quad\text{(Proposition)}\end{aligned}")
st.caption("L is the variational bound of Eq. (6), E[−log p_θ(x⁽⁰⁾)] ≤ L; the lecture's Proposition (decomposition) "
           "splits it into these terms.")
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

N_MC = 4  # Monte-Carlo draws of x^(k) per held-out point: the headline L gets a standard error


def _bound():
    """Both ledgers (σ_k² = β_k and β̃_k, the same draws), per-point L̂ of the chosen one, L_simple."""
    with st.spinner("Evaluating every term of the bound…"):
        x0 = model.standardize(torch.from_numpy(view.dataset.heldout[: int(n)]))
        ledgers = {s2: bound.variational_bound(model, x0, torch.Generator().manual_seed(0), sigma2=s2, n_mc=N_MC)
                   for s2 in VIEW["bound_sigma2"].options}
        per_point = bound.bound_per_point(model, x0, torch.Generator().manual_seed(0), sigma2=sigma2, n_mc=N_MC)
        with torch.no_grad():
            g = torch.Generator().manual_seed(1)
            l_simple = float(np.mean([ddpm.loss(model, x0, g).item() for _ in range(8)]))
    return ledgers, per_point, l_simple


def _flow_nll() -> float | None:
    """The held-out NLL (data units) of the flow the settings describe, on the same points, if it is trained."""
    job = jobs.find(jobs.target("flow"))
    if job is None or job.status != "done":
        return None
    flow = jobs.model(job, job.step)
    pts = view.dataset.heldout[: int(n)]
    return jobs.derived(("bound-flow-nll", job.key, job.step, int(n)), lambda: metrics.nll(flow.log_prob, pts))


def _decimals(se: float) -> int:
    """Decimals that the standard error allows: two significant digits of se at most."""
    return 3 if not math.isfinite(se) or se <= 0 else int(min(4, max(0, 1 - math.floor(math.log10(se)))))


def _term(v: float, label: str) -> str:
    """LaTeX for a term of a sum with its name under it: "+ 1.2" or "- 6.4" (never "+ -6.4")."""
    return rf"{'-' if v < 0 else '+'} \underbrace{{{abs(v):.4f}}}_{{{label}}}"


ledgers, per_point, l_simple = jobs.derived(("bound", *view.version, sigma2, int(n), N_MC), _bound)
terms = ledgers[sigma2]
log_det = float(torch.log(model.scale.double()).sum())  # x = s·x^(0) + m: −log p(x) = −log p(x^(0)) + Σ_d log s_d
d = model.scale.numel()
L_x = float(per_point.L.mean()) + log_det  # the bound in the data's own units (the same draws as the ledger)
se_x = float(per_point.L.std(ddof=1) / math.sqrt(per_point.L.size)) if per_point.L.size > 1 else math.nan
nd = _decimals(se_x / (d * math.log(2.0)))

with right:
    c = st.columns(4)
    pm = f" ± {se_x:.{nd}f}" if math.isfinite(se_x) else ""
    c[0].metric("L, data units", f"{L_x:.{nd}f}", delta=pm.strip() or None, delta_color="off", delta_arrow="off",
                help=f"Nats per point: the mean over {per_point.L.size:,} held-out points of L̂(x), {per_point.n_mc} "
                     "Monte-Carlo draws each, in the data's own coordinates; ± one standard error of that mean.")
    c[1].metric("bits/dim, data units", f"{L_x / (d * math.log(2.0)):.{nd}f}",
                help="L / (d ln 2) for continuous 2D points: not comparable to Ho et al.'s bits/dim of 8-bit images.")
    flow_nll = _flow_nll()
    c[2].metric("flow NLL, data units", "–" if flow_nll is None else f"{flow_nll:.{nd}f}",
                help="The held-out NLL of the flow of these settings (Normalizing flows), on the same points: "
                     "−log p_x(x; θ) by Eq. (11), exact, where L only bounds −log p_θ(x⁽⁰⁾).")
    c[3].metric("L_simple (Eq. 10)", f"{l_simple:.4f}")
    ledger = _term(float(np.sum(terms.L_terms)), r"\sum_k L_{k-1}") + " " + _term(terms.L_0, "L_0")
    st.latex(rf"\begin{{aligned}}L &= \underbrace{{{terms.L_N:.4f}}}_{{L_N}} {ledger}"
             rf"\\ &= {terms.total:.4f}"
             r"\ \text{nats/point in } x^{(0)}\end{aligned}")
    st.caption(f"The ledger is in the standardised space x⁽⁰⁾ the DDPM works in (N = {N} steps). The data are "
               f"x = s·x⁽⁰⁾ + m, so −log p_θ(x) = −log p_θ(x⁽⁰⁾) + Σ_d log s_d: L in the data's units is "
               f"{terms.total:.3f} {'−' if log_det < 0 else '+'} {abs(log_det):.3f} = {L_x:.3f} nats per point. "
               f"**bits/dim** is L / ({d} ln 2) of continuous 2D points: it is not Ho et al.'s 8-bit-image figure "
               "(3.70 bits/dim on CIFAR-10 counts discrete pixel values), so the two do not compare. "
               f"**L_0 = {terms.L_0:.2f}** is a Gaussian decoder, −log N(x⁽⁰⁾; μ_θ(x⁽¹⁾, 1), σ_1² I), a density of "
               "continuous data: with a small σ_1² it is strongly negative, unlike Ho et al.'s discrete decoder, "
               "whose L_0 is the −log of a probability (≥ 0).")
    st.plotly_chart(viz.bound_ledger(terms.L_N, terms.L_terms, terms.L_0, terms.total, L_simple=l_simple,
                                     style=fs), key="bound_ledger", config=export.config("bound_ledger"))
    rows = {"L_N (prior mismatch, no θ)": terms.L_N, "Σ_{k=2..N} L_{k−1}": float(np.sum(terms.L_terms)),
            "L_0 (decoder)": terms.L_0, "L (total)": terms.total}
    st.table({"term": list(rows), "nats / point (standardised x⁽⁰⁾)": [f"{v:.4f}" for v in rows.values()]})
    msg = (f"In the data's own units, −log p_θ(x) ≤ L = {L_x:.{nd}f}{pm} nats per point (an estimate of the bound "
           f"from {per_point.n_mc} draws a point).")
    h = data.true_entropy(view.dataset.choice)
    if h is not None:
        msg += f" The data's true entropy is H(q₀) ≈ {h:.3f}: no model gets below it, so the gap "
        msg += f"{L_x - h:.3f} is an upper bound on D_KL(q₀ ‖ p_θ) plus the bound's own slack."
    st.caption(msg)
    if not math.isfinite(terms.total):
        st.error("The bound is not finite for this model: train longer or with a smaller learning rate.")



def _variance_note() -> str:
    """What switching σ_k² from β_k to β̃_k does to the KL terms of this model, measured on the same draws."""
    a, b = ledgers["beta"].L_terms, ledgers["beta_tilde"].L_terms
    if a.size == 0:
        return "With N = 1 there are no KL terms L_{k−1}, only the decoder L_0."
    up = int((b > a).sum())
    way = "grow" if b.sum() > a.sum() else "shrink"
    return (f"Measured on this model, Σ L_{{k−1}} is {a.sum():.2f} with σ_k² = β_k and {b.sum():.2f} with β̃_k: the KL "
            f"terms {way} ({up} of the {a.size} terms are larger with β̃_k). With σ_k² = β̃_k the variance part of each "
            "KL vanishes, but its mean part |μ̃_k − μ_θ|²/(2σ_k²) is divided by β̃_k < β_k, so an imperfect μ_θ costs "
            "more. The decoder's variance at k = 1 is clipped to β̃_2 (β̃_1 = 0).")


style.explain("How to read the ledger", """
* **L_N** does not depend on θ: it is how far x⁽ᴺ⁾ is from N(0, I) (set by the β-schedule).
* Each **L_{k−1}** compares the true posterior q(x⁽ᵏ⁻¹⁾|x⁽ᵏ⁾, x⁽⁰⁾) (Eq. 8) with the model's reverse step: a
  closed-form KL between two Gaussians, averaged over x⁽ᵏ⁾ ~ q(·|x⁽⁰⁾).
* **L_0** is the decoder's −log-likelihood of the data at the last step.
* Switching σ_k² between β_k and β̃_k changes every term. """ + _variance_note() + """
* L_simple (Eq. 10) drops the weights β_k²/(2σ_k²α_k(1−ᾱ_k)) of the bound: it is what we train, not what we report.
""")
