"""Coupling layers: the flow of the page one layer at a time, z_{k−1} → z_k, and its log-dets, Eq. (12)."""

from ui import router

router.inside_app()  # first, before the page's imports: a deep link on a fresh server must run inside app.py

import numpy as np
import streamlit as st
import torch

from gendemo import viz
from ui import export, flowviews, jobs, live, models, style
from ui.flowviews import SLOT
from ui.urlspec import DIRECTIONS  # the layer and the direction are in the URL

VIEW_POINTS = 1000  # points per view and per animation frame (SVG budget, GUIDE §4)
LOGDET_GRID = 60  # log-det heatmaps: LOGDET_GRID² points in data coordinates
ANIM_BETWEEN = 3  # frames interpolated between two layers in the animation: a layer's move, not a jump


def _derived(view: live.View) -> dict:
    """Everything that does not depend on the chosen layer, computed once per model (shared by sessions)."""
    return jobs.derived(("coupling", *view.version), lambda: _compute(view))


def _compute(view: live.View) -> dict:
    ex: dict = {}
    flow, train = view.model, torch.from_numpy(view.dataset.train)
    zs, lds = flowviews.layer_log_dets(flow, train)  # zs[k] = z_k, lds[k-1] = log|det J_{f_k^-1}(z_k)|
    L = len(lds)
    with torch.no_grad():
        x_back = flow.f(zs[0])
        rng = viz.robust_range(view.dataset.train, pad=0.1)
        xs, ys = flowviews.range_grid(rng, LOGDET_GRID)
        _, g_lds = flowviews.layer_log_dets(flow, flowviews.grid_points(xs, ys))
        z_prior = torch.randn(VIEW_POINTS, 2, generator=torch.Generator().manual_seed(7))
        up = flow.f_all(z_prior)  # [z_0, …, z_L = x]
    ex.update(
        zs=np.stack([z[:VIEW_POINTS].numpy() for z in zs]),  # (L+1, n, 2), index k = z_k
        ld_range=[(float(ld.min()), float(ld.max()), float(ld.mean())) for ld in lds],
        total=torch.stack(lds).sum(0).numpy(),
        round_trip=float((x_back - train).abs().max()),
        xs=xs, ys=ys,
        per_layer=np.stack([ld.reshape(LOGDET_GRID, LOGDET_GRID).numpy() for ld in g_lds]),  # (L, G, G)
        up=np.stack([z.numpy() for z in up]),
        L=L,
        figs={},
    )
    return ex


def _cached_fig(ex: dict, key: tuple, build):
    """A layer-independent figure, built once per weights version and figure style."""
    if key not in ex["figs"]:
        ex["figs"][key] = build()
    return ex["figs"][key]


def _animation(ex: dict, direction: str, fs):
    """The data through all L layers to the latent (z_L = x, …, z_0), or prior samples up to the data."""
    L = ex["L"]
    if direction == "down":
        names = [f"z_{{{L - i}}}" + (" = x" if i == 0 else " = z" if i == L else "") for i in range(L + 1)]
        return viz.layer_animation(ex["zs"][::-1], labels=names, style=fs, between=ANIM_BETWEEN, fit_last=True)
    names = [f"z_{{{i}}}" + (" = z" if i == 0 else " = x" if i == L else "") for i in range(L + 1)]
    fig = viz.layer_animation(ex["up"], labels=names, style=fs, between=ANIM_BETWEEN, fit_last=True)
    return fig.update_layout(title_text="sampling, layer by layer: z<sub>k</sub> = f<sub>k</sub>(z<sub>k−1</sub>), "
                                        "z<sub>0</sub> ~ N(0, I)")


def _layer_text(lay: flowviews.Layer, kind: str) -> str:
    a, b = flowviews.ORD[lay.keep], flowviews.ORD[1 - lay.keep]
    move = "shifts it by μ_θ(u)" if kind == "nice" else "scales it by exp σ_θ(u) and shifts it by μ_θ(u)"
    return (f"**f_{lay.k}** (coupling {lay.coupling}) keeps the **{a}** coordinate, u, and transforms the "
            f"**{b}** coordinate: it {move}.")


def _equations(kind: str, L: int) -> None:
    if kind == "nice":
        st.latex(r"\begin{aligned}&\text{NICE:}\\ x_1 &= z_1,\quad x_2 = z_2 + \mu_\theta(z_1)\\"
                 r"z_1 &= x_1,\quad z_2 = x_2 - \mu_\theta(x_1)\\ \det J &= 1\end{aligned}")
    else:
        st.latex(r"\begin{aligned}&\text{RealNVP:}\\ x_1 &= z_1\\ x_2 &= e^{\sigma_\theta(z_1)}\odot z_2 + "
                 r"\mu_\theta(z_1)\\ z_1 &= x_1\\ z_2 &= e^{-\sigma_\theta(x_1)}\odot\big(x_2 - \mu_\theta(x_1)\big)"
                 r"\\ \det J_{f^{-1}}(x) &= e^{-\sum_j\sigma_\theta(x_1)_j}\end{aligned}")
    st.latex(rf"\begin{{aligned}}&\log\big|\det J_{{f^{{-1}}}}(x)\big|\\ &\ \ = \sum_{{k=1}}^{{{L}}}"
             rf"\log\big|\det J_{{f_k^{{-1}}}}(z_k)\big|\\ &z_{{{L}}} = x,\ z_{{k-1}} = f_k^{{-1}}(z_k)"
             r"\quad(12)\end{aligned}")
    st.caption("In one coupling, z = (z₁, z₂) is the layer's input split into its kept and its transformed "
               "coordinate, and x its output. On this page a layer's input is z_{k−1} and its output z_k (Eq. (12)), "
               "so z₁ would also be layer 1's output: the kept coordinate is called u instead.")


st.title("Coupling layers")
view = models.require(SLOT)
flow, kind, fs = view.model, view.config.kind, style.figure_style()
lays, cps = flowviews.layers(flow), flowviews.couplings(flow)
K, L = len(cps), len(lays)
ex = _derived(view)
ss = st.session_state

left, right = st.columns([1, 2.2], gap="large")
with left:
    st.caption(f"The flow of Normalizing flows: {flowviews.KIND_LABEL[kind]}, K = {K} couplings, "
               f"step {view.step:,}, trained on {view.dataset.choice.label}.")
    if K > 1:
        if int(ss.get("coupling_layer", 1)) > K:  # a flow with fewer layers than the last one shown
            ss["coupling_layer"] = K
        ss.setdefault("coupling_layer", 1)
        c = st.slider("coupling layer", 1, K, key="coupling_layer", bind="query-params",
                      help="Which of the K couplings to look at, counted from the latent side.")
    else:
        c = 1
        st.markdown("This flow has a single coupling layer (K = 1).")
    lay = cps[c - 1]
    k = lay.k
    st.markdown(_layer_text(lay, kind))
    lo, hi, mean = ex["ld_range"][k - 1]
    if kind == "nice":
        st.metric(f"log|det J| of f_{k}⁻¹ on the data", f"{max(abs(lo), abs(hi)):.3g}",
                  help="The largest |log det J| over every training point.")
        exact = "Exactly 0" if lo == hi == 0.0 else "Not 0 (unexpected)"
        st.caption(f"{exact} at all {len(view.dataset.train):,} training points: a NICE coupling preserves area.")
    else:
        st.metric(f"log|det J| of f_{k}⁻¹ on the data", f"{lo:+.2f} … {hi:+.2f}", help="Min … max over the data.")
        st.caption(f"Mean {mean:+.3f}: RealNVP changes area, by a factor between e^{lo:.2f} = {np.exp(lo):.2f} and "
                   f"e^{hi:.2f} = {np.exp(hi):.2f} from point to point.")
    st.metric("round trip max |f(f⁻¹(x)) − x|", f"{ex['round_trip']:.2g}",
              help="Over every training point, in data units (float32 arithmetic).")
    _equations(kind, L)
    st.caption(flowviews.composition_text(flow) + f" So Eq. (12) sums L = {L} terms (the lecture's K), z_{L} = x and "
               "z_0 = z ~ N(0, I).")

with right:
    layer = flow.layers[k - 1]
    z_in, z_out = ex["zs"][k - 1], ex["zs"][k]
    rng = viz.robust_range(z_in)
    grid_in = flowviews.grid_lines(rng)
    u = np.linspace(rng[lay.keep][0], rng[lay.keep][1], 200, dtype=np.float32)
    with torch.no_grad():
        grid_out = layer.f(torch.from_numpy(grid_in.reshape(-1, 2)))[0].numpy().reshape(grid_in.shape)
        mu = layer.mu_theta(torch.from_numpy(u)).numpy()
        sigma = layer.sigma_theta(torch.from_numpy(u)).numpy() if kind == "realnvp" else None
    st.plotly_chart(viz.coupling_view(z_in, z_out, grid_in, grid_out, lay.keep,
                                      labels=(f"z_{{{k - 1}}}: input of f_{{{k}}}",
                                              f"z_{{{k}}} = f_{{{k}}}(z_{{{k - 1}}})"), style=fs),
                    key="coupling_view", config=export.config("coupling_view"))
    st.caption(f"The data pushed back to z_{k - 1} (left) and through f_{k} to z_{k} (right), with a grid drawn "
               f"in z_{k - 1} and pushed through the same layer. The kept coordinate does not move.")
    st.plotly_chart(viz.conditioner_curves(u, mu, sigma, keep=lay.keep, style=fs), key="coupling_conditioner",
                    config=export.config("coupling_conditioner"))
    labels = [f"f_{{{lz.k}}}⁻¹" + ("" if lz.kind == "coupling" else
                                   " (scale)" if lz.kind == "scaling" else " (standardize)") for lz in lays]
    st.plotly_chart(_cached_fig(ex, ("logdets", fs), lambda: viz.logdet_heatmaps(
        ex["xs"], ex["ys"], ex["per_layer"], ex["per_layer"].sum(0), layer_labels=labels, style=fs)),
        key="coupling_logdets", config=export.config("coupling_logdets"))
    tot = ex["total"]
    std_ld = ex["ld_range"][L - 1][0]
    if kind == "nice":
        note = (f"Every coupling panel is exactly 0 (NICE, det J = 1); the total is the fixed standardization's "
                f"−Σ log s_j = {std_ld:+.3f}" + (f" plus the diagonal scaling's −Σ s_j = {ex['ld_range'][0][0]:+.3f}"
                                                if lays[0].kind == "scaling" else "") + f", the same at every x (on the data: {tot.min():+.3f} … "
                f"{tot.max():+.3f}).")
    else:
        note = (f"Each panel is log|det J_{{f_k⁻¹}}| at z_k, as a function of the data point x; the last one is "
                f"their sum, log|det J_{{f⁻¹}}(x)| (on the data: {tot.min():+.2f} … {tot.max():+.2f}). "
                f"The standardization panel is the constant {std_ld:+.3f}.")
    st.caption(note + " Red: f⁻¹ expands area there (the density p_x is raised); blue: it shrinks area.")
    direction = st.radio("animation through all layers", list(DIRECTIONS), key="coupling_anim_dir",
                         bind="query-params", format_func=DIRECTIONS.get, horizontal=True)
    afs = style.animation_style()
    anim = _cached_fig(ex, ("anim", direction, afs), lambda: _animation(ex, direction, afs))
    st.plotly_chart(anim, key="coupling_anim", config=export.config("coupling_anim"))
    st.caption("Press ▶ under the plot. Circles: N(0, I) at 1σ, 2σ, 3σ.")
    export.animation(anim, "coupling_anim")

style.explain("What to look for", """
* A coupling **never moves its kept coordinate** u: the grid lines along the transformed coordinate are only
  shifted (NICE) or shifted and stretched (RealNVP) by amounts that depend on u alone. That is why f⁻¹ and det J
  are cheap: the Jacobian is triangular.
* Consecutive couplings keep alternate coordinates, so after two layers both coordinates have been transformed.
* **NICE** keeps area: every coupling's log|det J| is exactly 0, and the grid's cells keep their area. Only the
  fixed standardization (and the NICE paper's optional scaling) changes volume, by the same factor everywhere.
* **RealNVP** stretches where σ_θ > 0 and squeezes where σ_θ < 0; Eq. (12) adds up the per-layer log-dets into
  the total, which is what raises p_x(x) on the data.
* The **round trip** f(f⁻¹(x)) = x holds to float32 rounding: the flow is exactly invertible by construction.
""")
