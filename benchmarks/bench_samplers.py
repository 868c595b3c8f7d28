"""Issue 15, the DDPM's samplers: speed, quality against the number of steps, the PF-ODE likelihood vs the bound.

Rows (one torch thread, moons; the default DDPM of the app's default data, from the model store / gendemo/pretrained):
- each sampler at 50 steps on 2,000 points (ancestral, DDIM η = 0, PF-ODE Heun, flow matching's ODE Heun): ≤ 1 s;
- the whole quality-vs-steps curve, 4 samplers × 8 step counts (5 … 1,000; the DDPM's
  samplers stop at its N = 200 steps, `samplers.quality_curve`),
  2,000 points, energy distance / its floor: ≤ 10 s; and the steps each sampler needs to reach ≤ 3× the floor;
- DDIM η = 0 at 50 steps, 5,000 samples against 5,000 held-out points (bench_quality's floor): ≤ 3×;
- the DDPM's exact PF-ODE likelihood of 1,000 held-out points (dopri5): time (≤ 5 s), NLL next to the bound's
  (−L̂, 16 draws a point, Eq. (6)) and H(q₀), nats per point in the data's units;
- the least value of L_simple on the training set (gendemo.exact) next to the trained model's last losses.
The flow-matching model is the default FMConfig on the same data: from the store if there, else trained here.
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np
import torch
from bench_quality import EVAL_N, floor
from common import Report, repeat

from gendemo import datasets, exact, jobs, metrics, samplers
from gendemo.config import DDPMConfig
from gendemo.generate import log_prob_points
from gendemo.store import ModelStore

N_POINTS = 2000
STEP_SECONDS, CURVE_SECONDS = 1.0, 10.0
CURVE_STEPS = (5, 10, 20, 50, 100, 200, 500, 1000)
DDIM_RATIO = 3.0
LIK_N, LIK_SECONDS = 1000, 5.0
FLOOR_PAIRS = 5
FLOOR_MC = 8192  # Monte-Carlo draws of a loss floor: standard error ≈ 0.014 on moons


def _default(config) -> object:
    spec = jobs.JobSpec.of(jobs.builtin_spec("moons", datasets.DEFAULT_N, 0, None), config)
    entry = ModelStore().get(jobs.job_key(spec))
    return entry


def _ddpm_model():
    """The default DDPM of the default moons data, its loss history and where it came from: the store (as the app
    shows it), else trained here as a job trains it."""
    entry = _default(DDPMConfig())
    if entry is not None:
        return entry.model_at(), np.asarray(entry.losses), "from the model store"
    from gendemo.training import make_state, train_steps

    cfg = DDPMConfig()
    state = make_state(cfg, datasets.load("moons", datasets.DEFAULT_N, 0))
    train_steps(state, cfg.steps, fast=True)
    return state.model, np.asarray(state.history_loss), f"trained here: {cfg.steps:,} steps, {state.seconds:.1f} s"


def _fm_model():
    """The default flow-matching model of the default moons data: stored, else trained now (seconds returned)."""
    try:
        from gendemo.config import FMConfig
    except ImportError:
        return None, np.zeros(0), "no FMConfig in gendemo.config"
    entry = _default(FMConfig())
    if entry is not None:
        return entry.model_at(), np.asarray(entry.losses), "from the model store"
    from gendemo.training import make_state, train_steps

    cfg = FMConfig()
    state = make_state(cfg, datasets.load("moons", datasets.DEFAULT_N, 0))
    train_steps(state, cfg.steps)
    return state.model, np.asarray(state.history_loss), f"trained here: {cfg.steps:,} steps, {state.seconds:.1f} s"


def _floor_n(n: int) -> float:
    """Mean energy distance between FLOOR_PAIRS pairs of independent n-point moons samples."""
    return float(statistics.mean(
        metrics.energy_distance(datasets.load("moons", n, seed=5_000_011 + 2 * i),
                                datasets.load("moons", n, seed=5_000_012 + 2 * i)) for i in range(FLOOR_PAIRS)))


def run(report: Report, quick: bool) -> None:
    model, losses, ddpm_note = _ddpm_model()
    report.add("samplers", "the default DDPM of moons", ddpm_note, "", None)
    fm, fm_losses, fm_note = _fm_model()
    repeats = 2 if quick else 3

    # 1. each sampler at 50 steps on 2,000 points, from one noise
    x_N = samplers.race_noise(N_POINTS, 0)
    for name in samplers.SAMPLERS:
        m = fm if name == "ode" else model
        if m is None:
            report.add("samplers", f"{name} at 50 steps, 2,000 points", "no model", f"≤ {STEP_SECONDS:g} s", None,
                       fm_note)
            continue
        t = repeat(lambda m=m, name=name: samplers.run(name, m, x_N, 50, torch.Generator().manual_seed(0),
                                                      fast=name == "ancestral").seconds, repeats)
        nfe = samplers.run(name, m, x_N, 50, torch.Generator().manual_seed(0)).nfe
        report.add("samplers", f"{name} at 50 steps, 2,000 points ({nfe} ε/u calls)", t.fmt(unit=" s"),
                   f"≤ {STEP_SECONDS:g} s", t.median <= STEP_SECONDS, fm_note if name == "ode" else "")

    # 2. the quality-vs-steps curve, 2,000 points, its floor the mean over 5 pairs of 2,000-point samples
    heldout = datasets.load("moons", N_POINTS, seed=1_000_003)
    reference = datasets.load("moons", N_POINTS, seed=1_000_005)
    fl = _floor_n(N_POINTS)
    t0 = time.perf_counter()
    rows = samplers.quality_curve(model, heldout, reference, CURVE_STEPS, seed=0, fm_model=fm, floor=fl)
    curve_s = time.perf_counter() - t0
    n_samplers = len({r["sampler"] for r in rows})
    report.add("samplers", f"quality-vs-steps curve: {n_samplers} samplers × ≤ {len(CURVE_STEPS)} step counts "
               f"({len(rows)} runs), 2,000 points", f"{curve_s:.2f} s", f"≤ {CURVE_SECONDS:g} s",
               curve_s <= CURVE_SECONDS, f"step counts {', '.join(map(str, CURVE_STEPS))}; the DDPM samplers "
                                         f"stop at N = {model.sched.N}")
    reach = samplers.steps_to_reach(rows, 3.0)
    table = ["| sampler | " + " | ".join(str(s) for s in CURVE_STEPS) + " | steps to ≤ 3× floor |",
             "|---|" + "---|" * (len(CURVE_STEPS) + 1)]
    for name in dict.fromkeys(r["sampler"] for r in rows):
        by = {r["steps"]: r for r in rows if r["sampler"] == name}
        cells = [f"{by[s]['ratio']:.2f}" if s in by else "—" for s in CURVE_STEPS]
        table.append(f"| {name} | " + " | ".join(cells) + f" | {reach[name] if reach[name] is not None else '> max'} |")
        report.add("samplers", f"{name}: fewest steps to ≤ 3× floor (2,000 points)", str(reach[name]), "", None,
                   "ratios: " + ", ".join(f"{s}: {by[s]['ratio']:.2f}" for s in CURVE_STEPS if s in by)
                   + f"; sampling {sum(r['seconds'] for r in by.values()):.2f} s of the curve")
    report.tables["Samplers: energy distance / floor against steps (moons, default models, 2,000 points, one noise)"] = (
        "\n".join(table) + f"\n\nfloor (mean of {FLOOR_PAIRS} pairs of 2,000-point samples) = {fl:.5f}; ancestral "
        "σ² = β (respaced below N steps), DDIM η = 0, PF-ODE and FM ODE by Heun (2 calls a step); FM model "
        f"{fm_note}.")

    # 3. DDIM η = 0 at 50 steps with the default DDPM: 5,000 samples / bench_quality's floor
    x5 = samplers.race_noise(EVAL_N, 12345)
    d = samplers.ddim(model, x5, 50, eta=0.0).final
    ratio = metrics.energy_distance(model.unstandardize(d).numpy(), datasets.load("moons", EVAL_N, seed=1_000_003)) \
        / floor("moons")
    report.add("samplers", "DDIM η = 0, 50 steps, default DDPM: ED(5,000) / floor", f"{ratio:.2f}×",
               f"≤ {DDIM_RATIO:g}×", ratio <= DDIM_RATIO)

    # 4. the exact PF-ODE likelihood of 1,000 held-out points, next to the bound
    x = torch.from_numpy(datasets.load("moons", LIK_N, seed=2_000_003))
    def likelihood() -> None:
        samplers.log_likelihood(model, x)

    t = repeat(likelihood, 1 if quick else 2)
    lp = samplers.log_likelihood(model, x).double()
    nll, nll_se = -float(lp.mean()), float(lp.std() / math.sqrt(LIK_N))
    report.add("samplers", f"PF-ODE exact log-likelihood, {LIK_N:,} points (dopri5, rtol = atol = "
               f"{samplers.PF_RTOL:g})", t.fmt(unit=" s"), f"≤ {LIK_SECONDS:g} s", t.median <= LIK_SECONDS)
    t0 = time.perf_counter()
    b = log_prob_points(model, x.numpy(), torch.Generator().manual_seed(0))
    bound_s = time.perf_counter() - t0
    b_nll = -float(b.value.mean())
    b_se = float(np.sqrt(np.var(b.value, ddof=1) / LIK_N))
    gap_se = float(np.sqrt(np.var(b.value - lp.numpy(), ddof=1) / LIK_N))  # paired: the same points
    h = datasets.entropy("moons")
    report.add("samplers", "NLL, nats/point (data units): PF-ODE exact", f"{nll:.4f} ± {nll_se:.4f}", "", None,
               f"{nll / (2 * math.log(2)):.4f} bits/dim; H(q₀) = {h:.4f}")
    report.add("samplers", f"NLL, nats/point (data units): bound −L̂ ({b.n_mc} draws/point, σ² = β)",
               f"{b_nll:.4f} ± {b_se:.4f}", "", None,
               f"{b_nll / (2 * math.log(2)):.4f} bits/dim; bound − PF-ODE = {b_nll - nll:.4f} ± {gap_se:.4f} (paired); {bound_s:.1f} s")

    # 5. the least value of L_simple on the training set, next to the model's last losses
    train = torch.from_numpy(datasets.load("moons", datasets.DEFAULT_N, 0))
    Y = model.standardize(train).double()
    t0 = time.perf_counter()
    fmean, fse = exact.ddpm_loss_floor(Y, model.sched, torch.Generator().manual_seed(0), n_mc=FLOOR_MC)
    floor_s = time.perf_counter() - t0
    last = float(np.mean(losses[-500:])) if len(losses) else float("nan")
    report.add("samplers", f"L_simple floor on the 10,000 training points (exact ε*, {FLOOR_MC:,} draws)",
               f"{fmean:.4f} ± {fse:.4f}", "", None, f"the DDPM's mean training loss over its last 500 steps "
                                                     f"{last:.4f}; {floor_s:.1f} s")
    if fm is not None:
        t0 = time.perf_counter()
        fmean, fse = exact.fm_loss_floor(fm.standardize(train).double(), torch.Generator().manual_seed(0),
                                         n_mc=FLOOR_MC)
        last = float(np.mean(fm_losses[-500:])) if len(fm_losses) else float("nan")
        report.add("samplers", f"FM loss floor on the 10,000 training points (exact u*, {FLOOR_MC:,} draws)",
                   f"{fmean:.4f} ± {fse:.4f}", "", None, f"the FM model's mean training loss over its last 500 "
                                                         f"steps {last:.4f}; {time.perf_counter() - t0:.1f} s")
