"""Reverse sampling: Algorithm Sampling, x^(N) → x^(0) by Eq. (9), animated, with paths, x̂^(0) and ε_θ."""

from ui import router

router.inside_app()  # first, before the page's imports: a deep link on a fresh server must run inside app.py

import numpy as np
import streamlit as st
import torch

from gendemo import ddpm, viz
from ui import export, jobs, models, schedule, style
from ui.urlspec import VIEW  # these view settings are in the URL too

MAX_FRAMES = 80
N_PATHS = 5  # a few paths, one colour each (gendemo/viz/animation.py PATH_COLORS)
GRID = 21

st.title("Reverse sampling")
view = models.require("ddpm")
model, fs = view.model, style.figure_style()
sched = model.sched
N = sched.N

st.latex(r"\begin{gathered}x^{(N)}\sim\mathcal N(0,I)\\ x^{(k-1)} = \frac{1}{\sqrt{\alpha_k}}\Big(x^{(k)} - "
         r"\frac{\beta_k}{\sqrt{1-\bar\alpha_k}}\,\varepsilon_\theta(x^{(k)},k)\Big) + \sigma_k z\quad(9)\end{gathered}")
st.caption("z ~ N(0, I) for k > 1 and z = 0 at k = 1 (Algorithm Sampling).")
left, right = st.columns([1, 2.2], gap="large")
with left:
    sigma2 = st.radio("reverse variance σ_k²", VIEW["rev_sigma2"].options, key="rev_sigma2", bind="query-params",
                      format_func=VIEW["rev_sigma2"].label, horizontal=True)
    n = st.select_slider("number of samples", VIEW["rev_n"].options, value=VIEW["rev_n"].default, key="rev_n",
                         bind="query-params")
    seed = st.number_input("seed", 0, int(VIEW["rev_seed"].hi), 0, key="rev_seed", bind="query-params")

def _chain():
    ks = np.unique(np.linspace(0, N, min(N + 1, MAX_FRAMES)).round().astype(int)).tolist()
    return ddpm.sample(model, int(n), torch.Generator().manual_seed(int(seed)), sigma2=sigma2, keep=ks, fast=True)


traj = jobs.derived(("reverse-chain", *view.version, sigma2, int(n), int(seed)), _chain)
n_bad = int((~torch.isfinite(traj.xs[-1]).all(dim=1)).sum())
if n_bad:
    st.warning(f"{n_bad} of {int(n)} chains blew up to non-finite values and are left out of the plots: this ε_θ "
               "is not usable (did training diverge?). Retrain it on DDPM training.")
x0_data = model.standardize(torch.from_numpy(view.dataset.train)).numpy()
with left:
    schedule.show_warnings(sched, view.dataset.train)

with right:
    st.subheader(f"The reverse chain x⁽ᴺ⁾ → x⁽⁰⁾ (N = {N}), {N_PATHS} paths traced")
    fig = viz.reverse_animation(traj.xs.numpy(), traj.ks, paths_idx=list(range(N_PATHS)),
                                x0_hats=traj.x0_hats.numpy(), reference=x0_data, style=style.animation_style())
    st.plotly_chart(fig, key="rev_anim", config=export.config("rev_anim"))
    export.animation(fig, "rev_anim")
    st.caption("Press ▶ under the plot. Left: the cloud x⁽ᵏ⁾ and the paths of a few points. Right: the model's "
               "guess of where each point will end, x̂⁽⁰⁾ = (x⁽ᵏ⁾ − √(1−ᾱ_k) ε_θ)/√ᾱ_k. Grey: the data x⁽⁰⁾.")

st.divider()
k = st.slider("inspect step k", 1, N, max(1, N // 4), key="rev_k", bind="query-params") if N > 1 else 1
alpha_k, beta_k = float(sched.alpha[k]), float(sched.beta[k])
abar_k = float(sched.alpha_bar[k])
sigma_k = (beta_k if sigma2 == "beta" else float(sched.beta_tilde[k])) ** 0.5
c1, c2 = st.columns([1, 1.2], gap="large")
with c1:
    st.latex(rf"\begin{{aligned}}x^{{({k - 1})}} &= {1 / alpha_k ** 0.5:.4f}\,\Big(x^{{({k})}} - "
             rf"{beta_k / (1 - abar_k) ** 0.5:.4f}\,\varepsilon_\theta(x^{{({k})}},{k})\Big)\\ "
             rf"&\quad + {sigma_k if k > 1 else 0.0:.4f}\,z\end{{aligned}}")
    st.caption(f"At k = {k}: β_k = {beta_k:.4g}, ᾱ_k = {abar_k:.4g}, σ_k = {sigma_k:.4g}"
               + (" (z = 0 at k = 1)" if k == 1 else "") + ".")
    at_k = jobs.derived(("reverse-at-k", *view.version, sigma2, int(n), int(seed), k), lambda: ddpm.sample(
        model, int(n), torch.Generator().manual_seed(int(seed)), sigma2=sigma2, keep=[k], fast=True))  # the same chain, at k
    x_k, x0_hat_k = at_k.xs[at_k.ks.index(k)].numpy(), at_k.x0_hats[at_k.ks.index(k)].numpy()
    st.plotly_chart(viz.scatter(x0_hat_k, title=f"x̂⁽⁰⁾ predicted at k = {k}",
                                reference=x0_data, style=fs, name="x̂⁽⁰⁾"), key="rev_x0hat",
                    config=export.config("rev_x0hat"))
with c2:
    lim = 3.0
    g1 = np.linspace(-lim, lim, GRID, dtype=np.float32)
    grid = np.stack(np.meshgrid(g1, g1), -1).reshape(-1, 2)
    eps = ddpm.eps_field(model, k, torch.from_numpy(grid)).numpy()
    score = -eps / (1 - abar_k) ** 0.5
    st.plotly_chart(viz.arrow_field(grid, score, points=x_k, points_name=f"x⁽ᵏ⁾ of the chain, k = {k}",
                                    title=f"score −ε_θ(x, {k})/√(1−ᾱ_k) at step k = {k}", style=fs),
                    key="rev_field", config=export.config("rev_field"))
    st.caption("Arrows: the direction the denoiser pushes a point at step k, −ε_θ/√(1−ᾱ_k), an estimate of the "
               "score ∇ log q(x⁽ᵏ⁾). Points: the chain at that step.")
