"""Likelihood: one table and one chart on the same held-out points: NICE and RealNVP (exact, Eq. (11)), the DDPM's
bound (Eq. (6)), the DDPM by its probability-flow ODE (exact), flow matching by its ODE (exact), and H(q₀)."""

from ui import router

router.inside_app()  # first, before the page's imports: a deep link on a fresh server must run inside app.py

import dataclasses
import math

import numpy as np
import streamlit as st
import torch

from gendemo import bound, flow_matching, samplers
from gendemo import jobs as engine_jobs
from gendemo.viz import fields
from ui import data, export, fm, jobs, settings, style
from ui.urlspec import VIEW

BIND = "query-params"
N_MC = 4  # Monte-Carlo draws of the bound per point (its standard error is shown)
CHUNK = 100  # points per step of the ODE likelihoods' progress bar
D = 2  # dimension of the data: bits/dim = NLL / (D ln 2)

st.title("Likelihood")
st.caption("Every number is the mean of −log p(x) over the same held-out points (never trained on), in nats per "
           "point in the data's own units, and in bits per dimension (÷ 2 ln 2; continuous 2D points, not the 8-bit "
           "images' figure). Lower is better; no model can go below the data's entropy H(q₀).")
ds = data.current()
c = st.columns([1, 1, 2])
n = c[0].select_slider("held-out points", VIEW["lik_n"].options, value=VIEW["lik_n"].default, key="lik_n",
                       bind=BIND)
tilde = c[1].checkbox("also the bound with σ_k² = β̃_k", key="lik_tilde", bind=BIND,
                      help="The same DDPM's bound with the other reverse variance (Eq. (8)'s β̃_k): another row.")
x = ds.heldout[: int(n)]
xt = torch.from_numpy(np.array(x, dtype=np.float32))


def _target(slot: str, cfg) -> jobs.Target:
    """A target of the settings' data with a given config (the other coupling kind than the sidebar's)."""
    if cfg is None:
        return jobs.target(slot)
    try:
        return jobs.Target(engine_jobs.JobSpec.of(jobs.data_spec(ds), cfg), None, ds)
    except ValueError as exc:
        return jobs.Target(None, str(exc), ds)


flow_cfg, _ = settings.flow_config()
kinds = {"realnvp": "RealNVP", "nice": "NICE"}
with st.container():
    st.markdown("**Models** (the sidebar's settings; the flows differ only in their coupling)")
    views = {}
    for kind, name in kinds.items():
        cfg = dataclasses.replace(flow_cfg, kind=kind) if flow_cfg is not None else None
        t = jobs.target("flow") if cfg is not None and cfg == flow_cfg else _target("flow", cfg)
        views[kind] = fm.offer(t, f"{name} flow", f"flow_{kind}")
    views["ddpm"] = fm.offer(jobs.target("ddpm"), "DDPM", "ddpm")
    views["fm"] = fm.offer(jobs.target(fm.SLOT), "flow-matching model", fm.SLOT)


def _chunked(fn, what: str) -> np.ndarray:
    """fn(points) → log p over chunks of CHUNK points, with a progress bar (the ODE likelihoods take seconds)."""
    bar = st.progress(0.0, text=f"{what}: 0 of {len(xt):,} points")
    parts = []
    for lo in range(0, len(xt), CHUNK):
        parts.append(fn(xt[lo:lo + CHUNK]).double().detach().numpy())
        bar.progress(min(1.0, (lo + CHUNK) / len(xt)), text=f"{what}: {min(lo + CHUNK, len(xt)):,} of {len(xt):,} points")
    bar.empty()
    return np.concatenate(parts)


def _flow(v) -> np.ndarray:
    with torch.no_grad():
        return v.model.log_prob(xt).double().numpy()


def _bound(v, sigma2: str) -> tuple[np.ndarray, np.ndarray]:
    """−L̂ per point in the data's units (Eq. (6), N_MC draws), and each point's Monte-Carlo standard error."""
    model = v.model
    with st.spinner(f"The bound's {model.sched.N} terms for every point…"):
        pb = bound.bound_per_point(model, model.standardize(xt), torch.Generator().manual_seed(0), sigma2=sigma2,
                                   n_mc=N_MC)
    log_det = float(torch.log(model.scale.double()).sum())
    return -(pb.L + log_det), pb.se


def _pf(v) -> np.ndarray:
    return _chunked(lambda p: samplers.log_likelihood(v.model, p), "DDPM by its PF-ODE (dopri5)")


def _fm(v) -> np.ndarray:
    return _chunked(lambda p: flow_matching.log_prob(v.model, p), "Flow matching by its ODE (dopri5)")


rows = []  # (model, kind, log p per point or None, how)
for kind, name in kinds.items():
    v = views[kind]
    lp = jobs.derived(("lik-flow", *v.version, int(n)), lambda v=v: _flow(v)) if v else None
    rows.append((f"{name} (Eq. 11)", "exact", lp, "change of variables through the coupling layers"))
v = views["ddpm"]
for s2 in ("beta", "beta_tilde") if tilde else ("beta",):
    b = jobs.derived(("lik-bound", *v.version, int(n), s2, N_MC), lambda v=v, s2=s2: _bound(v, s2)) if v else None
    label = "σ_k² = β_k" if s2 == "beta" else "σ_k² = β̃_k"
    rows.append((f"DDPM bound L (Eq. 6), {label}", "bound", None if b is None else b[0],
                 f"{N_MC} Monte-Carlo draws of the bound a point"))
rows.append(("DDPM by its PF-ODE", "exact",
             jobs.derived(("lik-pf", *v.version, int(n)), lambda: _pf(v)) if v else None,
             "instantaneous change of variables, exact 2×2 trace (dopri5)"))
v = views["fm"]
rows.append(("Flow matching by its ODE (Eq. 2)", "exact",
             jobs.derived(("lik-fm", *v.version, int(n)), lambda: _fm(v)) if v else None,
             "instantaneous change of variables, exact 2×2 trace (dopri5)"))
H = data.true_entropy(ds.choice)

table = {"model": [], "kind": [], "NLL (nats / point)": [], "± se": [], "bits / dim": [], "gap to H(q₀)": [],
         "how": []}
names, nll, se, kind_of = [], [], [], []
for model, kind, lp, how in rows:
    ok = lp is not None and np.isfinite(lp).all()
    m = -float(np.mean(lp)) if ok else math.nan
    e = float(np.std(lp, ddof=1) / math.sqrt(len(lp))) if ok and len(lp) > 1 else math.nan
    table["model"].append(model)
    table["kind"].append(kind)
    table["NLL (nats / point)"].append(f"{m:.3f}" if ok else ("not trained" if lp is None else "not finite"))
    table["± se"].append(f"{e:.3f}" if ok else "")
    table["bits / dim"].append(f"{m / (D * math.log(2)):.3f}" if ok else "")
    table["gap to H(q₀)"].append(f"{m - H:+.3f}" if ok and H is not None else "")
    table["how"].append(how)
    if ok:
        names.append(model)
        nll.append(m)
        se.append(e)
        kind_of.append(kind)
if H is not None:
    table["model"].append("H(q₀), the data's entropy")
    table["kind"].append("truth")
    table["NLL (nats / point)"].append(f"{H:.3f}")
    table["± se"].append("")
    table["bits / dim"].append(f"{H / (D * math.log(2)):.3f}")
    table["gap to H(q₀)"].append("0")
    table["how"].append("Monte Carlo over 50,000 points of the known density: the best any model can do")

st.table(table)
if names:
    st.plotly_chart(fields.likelihood_bars(names, nll, se, kind_of, entropy=H, style=style.figure_style()),
                    key="lik_chart", config=export.config("lik_chart"))
note = ""
lps = {model: lp for model, _, lp, _ in rows if lp is not None and np.isfinite(lp).all()}
bound_lp, pf_lp = lps.get("DDPM bound L (Eq. 6), σ_k² = β_k"), lps.get("DDPM by its PF-ODE")
if bound_lp is not None and pf_lp is not None and len(x) > 1:
    diff = pf_lp - bound_lp  # per point: the bound's NLL minus the PF-ODE's
    note = (f" On these points the same DDPM's bound is above its exact PF-ODE NLL by {diff.mean():.3f} ± "
            f"{diff.std(ddof=1) / math.sqrt(len(diff)):.3f} nats (paired over the points).")
st.caption(f"{len(x):,} held-out points of {ds.choice.label}; ± is the standard error of the mean over the points "
           "(the models' differences are paired: the same points, so they are known better than the ±)." + note)

style.explain("Which numbers are exact, which are bounds, and why the bound is looser", """
* **Exact** (up to the ODE solver's tolerance): the flows by Eq. (11), p_x(x) = p_z(f⁻¹(x)) |det J_{f⁻¹}(x)|; the
  DDPM's probability-flow ODE and flow matching's ODE by the instantaneous change of variables,
  log p(x) = log p₀(z) − ∫ div u(Y_t, t) dt, with the exact trace of the 2×2 Jacobian.
* **A bound**: the DDPM's −L of Eq. (6), E[−log p_θ(x⁽⁰⁾)] ≤ L. It is looser because it is the likelihood of the
  whole chain x⁽⁰⁾…x⁽ᴺ⁾ through the forward process q, not of x⁽⁰⁾ alone: the gap is
  E_q D_KL(q(x⁽¹:ᴺ⁾ | x⁽⁰⁾) ‖ p_θ(x⁽¹:ᴺ⁾ | x⁽⁰⁾)) ≥ 0, zero only if the model's reverse chain equals q's posterior
  exactly. Its Monte-Carlo estimate also has a standard error of its own (a few draws a point).
* The PF-ODE gives the DDPM an exact likelihood, but of a different model: the deterministic sampler's density,
  not Algorithm Sampling's; the two agree only if ε_θ is the exact ε*.
* **H(q₀)** is no model: the entropy of the true data density, the floor. NLL − H(q₀) = D_KL(q₀ ‖ p_θ) ≥ 0.
""")
