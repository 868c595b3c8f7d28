"""Samplers: Algorithm Sampling (Eq. (9)), DDIM with η, the DDPM's probability-flow ODE and flow matching's ODE
(Eq. (2)) race from one fixed starting noise; sample quality against the number of steps, one curve a sampler."""

from ui import router

router.inside_app()  # first, before the page's imports: a deep link on a fresh server must run inside app.py

import streamlit as st
import torch

from gendemo import metrics, samplers
from gendemo.viz import fields
from ui import export, fm, jobs, models, style
from ui.urlspec import VIEW

BIND = "query-params"
RACE_POINTS = 300
LABELS = {"ancestral": "DDPM ancestral (Eq. 9)", "ddim": "DDIM", "pf-ode": "DDPM PF-ODE (Heun)",
          "ode": "flow matching ODE (Heun)"}
CURVE_STEPS = samplers.DEFAULT_STEP_COUNTS  # 5 … 1,000

st.title("Samplers")
st.caption("Every sampler starts from the **same** noise x⁽ᴺ⁾ ~ N(0, I) (fixed by the seed). Ancestral is Algorithm "
           "Sampling (Eq. 9), on the respaced chain of S steps when S < N. DDIM: x⁽ʲ⁾ = √ᾱ_j x̂⁽⁰⁾ + "
           "√(1 − ᾱ_j − σ²) ε̂ + σz with x̂⁽⁰⁾ from Eq. (7): η = 0 is deterministic, η = 1 on all steps is the ancestral "
           "sampler with σ_k² = β̃_k. The PF-ODE is the deterministic ODE with the same marginals as the chain "
           "(score −ε_θ/√(1 − ᾱ)). Flow matching's ODE is Eq. (2), from t = 0 (this noise) to t = 1.")
ddpm_view = models.require("ddpm")
fm_view = fm.offer(jobs.target(fm.SLOT), "flow-matching model", fm.SLOT)
ddpm_model = ddpm_view.model
fm_model = fm_view.model if fm_view is not None else None
ds = ddpm_view.dataset
N = ddpm_model.sched.N

left, mid = st.columns(2, gap="large")
right = st.container()
with left:
    seed = st.number_input("starting noise (seed)", 0, 2**31 - 1, VIEW["race_seed"].default, key="race_seed",
                           bind=BIND, help="x⁽ᴺ⁾ = randn(n, 2) from this seed: the same for every sampler.")
with mid:
    S = st.select_slider("steps S (network calls; Heun: 2 a step)", VIEW["race_S"].options,
                         value=VIEW["race_S"].default, key="race_S", bind=BIND)
with right:
    eta = st.slider("DDIM η", 0.0, 1.0, VIEW["race_eta"].default, step=0.1, key="race_eta", bind=BIND,
                    help="0: deterministic (DDIM); 1: as much noise as the ancestral sampler with σ_k² = β̃_k.")
if S > N:
    st.caption(f"The DDPM has N = {N} steps: ancestral and DDIM stop at S = {N}.")


def _race() -> dict:
    x_N = samplers.race_noise(RACE_POINTS, int(seed))
    paths = samplers.race(ddpm_model, x_N, int(S), seed=int(seed), eta=float(eta), fm_model=fm_model)
    out = {}
    for name, p in paths.items():
        m = fm_model if name == "ode" else ddpm_model
        with torch.inference_mode():
            out[name] = {"xs": m.unstandardize(p.xs.float()).numpy(), "nfe": p.nfe, "seconds": p.seconds}
    return out


race = jobs.derived(("race", *ddpm_view.version, fm_view.version if fm_view else None, int(seed), int(S),
                     round(float(eta), 2)), _race)
names = list(race)
fig = fields.trajectories([(LABELS[n] + (f", η = {eta:g}" if n == "ddim" else ""), race[n]["xs"]) for n in names],
                          reference=ds.train, n_paths=20,
                          opacity=[0.3 if n == "ancestral" or (n == "ddim" and eta > 0) else 0.8 for n in names],
                          style=style.figure_style())
fig.update_layout(height=int(style.figure_style().height * 1.4))  # the page's main picture: room for the legend
st.plotly_chart(fig, key="race", config=export.config("race"))
st.caption(f"S = {S} steps from one starting noise, 20 trajectories per sampler; click a sampler in the legend to "
           "hide or show it. Black crosses: the shared start x⁽ᴺ⁾; dots: where each sampler ends. " + " · ".join(f"{LABELS[n].split(' (')[0]}: {race[n]['nfe']} network calls, "
                                        f"{race[n]['seconds'] * 1000:.0f} ms" for n in names))

st.subheader("Sample quality against the number of steps")


def _curve() -> list[dict]:
    """`samplers.quality_curve`, one (sampler, steps) at a time so a progress bar can follow it."""
    floor = metrics.energy_distance(ds.heldout, ds.reference)
    todo = [(name, s) for name in samplers.SAMPLERS if (fm_model is not None or name != "ode")
            for s in CURVE_STEPS if name == "ode" or s <= N]
    bar = st.progress(0.0, text="Sampling at every step count…")
    rows = []
    for i, (name, s) in enumerate(todo):
        rows += samplers.quality_curve(ddpm_model, ds.heldout, ds.reference, [s], seed=int(seed), fm_model=fm_model,
                                       samplers=[name], floor=floor)
        bar.progress((i + 1) / len(todo), text=f"{LABELS[name]}, {s} steps ({i + 1} of {len(todo)})")
    bar.empty()
    return rows


rows = jobs.derived(("quality-curve", *ddpm_view.version, fm_view.version if fm_view else None, int(seed),
                     len(ds.heldout)), _curve)
st.plotly_chart(fields.quality_curves(rows, labels=LABELS, title=None, style=style.figure_style()),  # the subheader
                key="quality_curve", config=export.config("quality_curve"))
reach = samplers.steps_to_reach(rows, 3.0)
tried = {r["sampler"]: max(r2["steps"] for r2 in rows if r2["sampler"] == r["sampler"]) for r in rows}
st.caption(f"{len(ds.heldout):,} samples from one noise (the seed above) against the {len(ds.heldout):,} held-out "
           "points: energy distance divided by its floor, the distance between two independent samples of the data of "
           f"that size (1 = as good as fresh data). DDIM at η = 0; the DDPM samplers stop at N = {N}. Fewest steps to "
           "≤ 3× the floor: " + "; ".join(f"{LABELS[k]}: {v if v is not None else f'more than {tried[k]:,}'}"
                                         for k, v in reach.items()) + ".")

style.explain("What to look for", """
* From one noise, **DDIM with η = 0** and the **PF-ODE** end near each other: both are deterministic maps of x⁽ᴺ⁾
  (DDIM is a first-order step of that ODE in other variables). Raise η and DDIM's paths become jittery like the
  ancestral sampler's, and land elsewhere.
* **Flow matching's** paths are straighter: the same quality at fewer steps.
* The ancestral sampler needs many steps: each of its steps is a Gaussian step of the chain (Eq. 9), exact only
  for small β_k.
""")
