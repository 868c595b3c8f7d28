"""Normalizing flows: NICE / RealNVP trained live on the forward-KL loss (NLL), Eq. (11)."""

from ui import router

router.inside_app()  # first, before the page's imports: a deep link on a fresh server must run inside app.py

import numpy as np
import streamlit as st
import torch

from gendemo import metrics, viz
from ui import ckpt, data, export, firstpaint, flowviews, jobs, live, settings, status, style
from ui.flowviews import SLOT

LIVE_SAMPLES = 1000
GRID = 80  # density heatmap: GRID × GRID points in data coordinates
REFRESH_PLAYING = 1.0  # seconds between redraws of the derived figures while following a training
SAMPLES_TITLE = "samples x = f(z), z ~ N(0, I)"
DENSITY_TITLE = "model density p_x(x), Eq. (11)"
LATENT_TITLE = "latent z = f⁻¹(x) against N(0, I)"


def _derived(v: live.View) -> dict:
    """Held-out NLL, the density grid, samples and latent points of the model at the view's step (shared)."""

    def build() -> dict:
        flow, ds = v.model, v.dataset
        rng = viz.robust_range(ds.train, pad=0.15)
        xs, ys = flowviews.range_grid(rng, GRID)
        with torch.no_grad():
            log_p = flow.log_prob(flowviews.grid_points(xs, ys)).reshape(GRID, GRID).numpy()
            samples = flow.sample(LIVE_SAMPLES, torch.Generator().manual_seed(1234)).numpy()
            z = flow.f_inv(torch.from_numpy(ds.train[:LIVE_SAMPLES]))[0].numpy()
            lp = flow.log_prob(torch.from_numpy(ds.heldout)).double()
        try:
            heldout = metrics.nll(flow.log_prob, ds.heldout)
        except ValueError:  # NaN log-densities: show "–" rather than crash
            heldout = float("nan")
        se = float(lp.std() / len(lp) ** 0.5) if torch.isfinite(lp).all() else float("nan")  # standard error
        return {"heldout": heldout, "se": se, "grid": (xs, ys, log_p), "samples": samples, "z": z}

    return jobs.derived(("flow-derived", *v.version), build)


def render_status(v: live.View | None) -> None:
    """Fast panel: step, steps/s, the training NLL, the held-out NLL of the model shown, the NLL curve."""
    if v is None:
        st.info("Press Train to train the flow on the current dataset by minimising the NLL.")
        return
    H = data.true_entropy(v.dataset.choice)
    # While following a training, this panel (4 redraws a second) only reads what the slow panel computed
    # (~50 ms a snapshot): the held-out NLL of the newest snapshot pictured so far.
    last = st.session_state.get("flow_last_derived", (None, None))
    ex = (jobs.peek(("flow-derived", *v.version)) or (last[1] if last[0] == v.job.key else None)) if v.live \
        else _derived(v)
    ex = ex or {"heldout": float("nan"), "se": float("nan")}
    _, losses = v.history()
    heldout = ex["heldout"]
    status.show_training(v.job, v.job.step if v.live else v.step, [
        status.Metric("NLL, training", f"{np.mean(losses[-100:]):.3f}" if losses else "–",
                      help="Loss(θ) = −(1/N) Σ log p_x(x_n; θ) on the training batches, in nats per point, averaged "
                           "over the last 100 steps."),
        status.Metric("NLL, held-out", f"{heldout:.3f}" if np.isfinite(heldout) else "–",
                      note=None if H is None or not np.isfinite(heldout) else f"gap {heldout - H:+.3f} to H(q₀)",
                      help=f"On {len(v.dataset.heldout):,} points the model never trained on, at step {v.step:,}.")],
        presenter=style.presenter())
    if H is not None and np.isfinite(heldout) and not style.presenter():  # presenter: the metrics say it
        st.markdown(f"Held-out NLL **{heldout:.3f}** (± {ex['se']:.3f}) nats − entropy of the data H(q₀) "
                    f"**{H:.3f}** nats = gap **{heldout - H:.3f}** = D_KL(q₀ ‖ p_θ) ≥ 0: how far the model is from "
                    "the truth (± is the sampling error of the held-out mean).")
    elif data.on_curves(v.dataset.choice):
        st.caption("With this noise the points lie on curves: q₀ has no density, so no entropy floor, and the NLL "
                   "can fall without bound as the flow squeezes its mass onto them.")
    elif H is None:
        st.caption("This dataset has no known density, so no entropy floor: compare NLLs between runs instead.")
    steps, history = v.history()
    kw = dict(title="NLL: −mean log p_x(x; θ)", y_title="nats / point", floor=H,
              floor_label="floor" if H is None else f"H(q₀) = {H:.3f}: best possible", style=style.figure_style())
    if v.live:
        status.svg(viz.loss_svg(steps, history, **kw), "flow_loss_live")
    else:
        st.plotly_chart(viz.loss_curve(steps, history, **kw), key="flow_loss", config=export.config("flow_loss"))


def render_pictures(v: live.View | None) -> None:
    """Slow panel: the model density over the data, its samples and the latent view."""
    if v is None:
        return
    fs, ds = style.figure_style(), v.dataset
    ex = _derived(v)
    st.session_state["flow_last_derived"] = (v.job.key, ex)
    density = f"{DENSITY_TITLE}, step {v.step:,}"
    left, right = st.columns(2)
    svgs = {"flow_density": viz.density_svg(*ex["grid"], points=ds.train, style=fs, title=density),
            "flow_samples": viz.scatter_svg(ex["samples"], title=SAMPLES_TITLE, reference=ds.train, style=fs),
            "flow_latent": viz.scatter_svg(ex["z"], title=LATENT_TITLE, name="z = f⁻¹(x)", circles=(1.0, 2.0, 3.0),
                                           min_range=((-3.3, 3.3), (-3.3, 3.3)), style=fs)}
    where = {"flow_density": st, "flow_samples": left, "flow_latent": right}
    if v.live:
        for key, svg in svgs.items():
            status.svg(svg, key + "_live", where=where[key])
        return
    figures = {"flow_density": viz.density_heatmap(*ex["grid"], points=ds.train, style=fs, title=density),
               "flow_samples": viz.scatter(ex["samples"], title=SAMPLES_TITLE, reference=ds.train, style=fs),
               "flow_latent": viz.latent_view(ex["z"], style=fs, title=LATENT_TITLE)}
    for key, fig in figures.items():  # each drawn as SVG first, until plotly.js has drawn it (ui/firstpaint.py)
        firstpaint.plotly_chart(fig, svgs[key], key=key, config=export.config(key), where=where[key])


st.title("Normalizing flows")
st.latex(r"\begin{gathered}p_x(x) = p_z\big(f^{-1}(x)\big)\,\big|\det J_{f^{-1}}(x)\big|\quad(11)\\ "
         r"\mathrm{Loss}(\theta) = -\tfrac1N\textstyle\sum_{n}\big[\log p_z\big(f^{-1}(x_n;\theta)\big) + "
         r"\log\big|\det J_{f^{-1}}(x_n;\theta)\big|\big]\end{gathered}")
st.caption("The loss is the forward KL D_KL(p*_x ‖ p_x(·; θ)) up to a constant: one Adam step per batch on it.")
left, right = st.columns([1, 2.2], gap="large")
with left:
    view = live.controls(SLOT)
    if settings.get("f_kind") == "nice":  # the coupling, K and the network are set in the sidebar
        st.latex(r"\begin{gathered}x_1 = z_1\\ x_2 = z_2 + \mu_\theta(z_1)\\ \det J = 1\end{gathered}")
    else:
        st.latex(r"\begin{gathered}x_1 = z_1\\ x_2 = e^{\sigma_\theta(z_1)}\odot z_2 + \mu_\theta(z_1)\\"
                 r"\det J_{f^{-1}}(x) = e^{-\sum_j \sigma_\theta(x_1)_j}\end{gathered}")
    with st.expander("Save / load the model"):
        ckpt.panel(SLOT, view)
    with st.expander("Export the numbers (CSV)"):
        export.training_csv(SLOT, view)
with right:
    live.panels(SLOT, render_status, render_pictures, REFRESH_PLAYING)

style.explain("What to look for", """
* The **NLL** is the loss itself, in nats per point: −mean log p_x(x; θ) by Eq. (11). For a built-in dataset the
  dashed line is the data's entropy **H(q₀)**, the best any model can do: held-out NLL − H(q₀) = D_KL(q₀ ‖ p_θ).
* **NICE** (additive coupling, det J = 1) can only shear the Gaussian: the density keeps N(0, I)'s volume, so it
  cannot make p_x peaked where the data is dense. Its log-det is exactly 0 in every coupling; only the fixed
  standardization rescales. Tick the NICE paper's diagonal scaling to give it one global scale per coordinate.
* **RealNVP** also scales by exp(σ_θ(z_1)), so it can concentrate mass: its NLL gets closer to H(q₀).
* **Latent space**: a good flow pushes the data to a cloud that looks like N(0, I) (inside the 1σ, 2σ, 3σ circles).
* More layers K and a wider conditioner fit better but train slower; see every layer on the Coupling page.
""")
