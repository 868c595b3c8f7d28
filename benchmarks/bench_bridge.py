"""Issue 15 (bridge to Part 1 of the lecture): flow matching's time to quality, its ODE sampler, its exact likelihood.

Rows (one torch thread, moons, the app's default 10,000 training points):
- FM on moons: seconds of training until the energy distance of 5,000 samples (Heun, 20 steps) to 5,000
  held-out points is ≤ 3× its floor, checked every CHECK_EVERY steps of the default plan (target ≤ 10 s);
  and the ratio after the whole plan.
- The FM ODE at 20 Heun steps on 2,000 points with the default model: energy distance / floor (≤ 3×) and the
  sampler's time (≤ 1 s).
- The exact ODE likelihood (dopri5, the default tolerances) of 1,000 held-out points: time (≤ 5 s); the model's
  density integrated on a grid (1 ± 0.02).
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from bench_quality import TRAIN_N, floor
from common import Report, repeat

from gendemo import datasets, flow_matching, metrics
from gendemo.config import FMConfig
from gendemo.training import make_state, train_steps

EVAL_N = 5000
CHECK_EVERY = 250
RATIO, FM_SECONDS = 3.0, 10.0
SAMPLE_N, SAMPLE_SECONDS = 2000, 1.0
LIK_N, LIK_SECONDS = 1000, 5.0
GRID = 150  # GRID × GRID points for ∫ p


def _ratio(model, heldout: np.ndarray, fl: float, n: int = EVAL_N, seed: int = 12345) -> float:
    traj = flow_matching.sample(model, n, torch.Generator().manual_seed(seed), steps=20, method="heun")
    return metrics.energy_distance(model.unstandardize(traj.xs[-1]).numpy(), heldout) / fl


def time_to_floor(seed: int, fl: float) -> dict:
    """Train the default FM config, checking the ratio every CHECK_EVERY steps (evaluation time not counted)."""
    cfg = FMConfig(seed=seed)
    state = make_state(cfg, datasets.load("moons", TRAIN_N, seed=seed))
    heldout = datasets.load("moons", EVAL_N, seed=1_000_003 + seed)
    reached = None
    while state.step < cfg.steps:
        train_steps(state, min(CHECK_EVERY, cfg.steps - state.step))
        if reached is None and _ratio(state.model, heldout, fl) <= RATIO:
            reached = (state.step, state.seconds)
    return {"reached": reached, "final": _ratio(state.model, heldout, fl), "seconds": state.seconds,
            "state": state}


def run(report: Report, quick: bool) -> None:
    cfg = FMConfig()
    fl = floor("moons")
    seeds = [0] if quick else [0, 1, 2]
    runs = [time_to_floor(s, fl) for s in seeds]
    secs = [r["reached"][1] if r["reached"] else float("inf") for r in runs]
    steps = [r["reached"][0] if r["reached"] else None for r in runs]
    med = statistics.median(secs)
    report.add("bridge", f"FM moons: training s to ED ≤ {RATIO:g}× floor (Heun 20, checked every {CHECK_EVERY})",
               f"{med:.1f} s", f"≤ {FM_SECONDS:g} s", med <= FM_SECONDS,
               f"seeds {seeds}: s {', '.join(f'{s:.1f}' for s in secs)} at steps {steps}")
    finals = [r["final"] for r in runs]
    report.add("bridge", f"FM moons: ED / floor after the planned {cfg.steps} steps",
               f"{statistics.median(finals):.2f}× in {statistics.median(r['seconds'] for r in runs):.1f} s",
               f"≤ {RATIO:g}×", statistics.median(finals) <= RATIO,
               "ratios " + ", ".join(f"{x:.2f}" for x in finals) + "; s " + ", ".join(f"{r['seconds']:.1f}" for r in runs))

    model = runs[0]["state"].model
    heldout = datasets.load("moons", SAMPLE_N, seed=2_000_029)
    fl_small = metrics.energy_floor(datasets.load("moons", 4000, seed=5_000_011), SAMPLE_N, SAMPLE_N)
    ratios = [_ratio(model, heldout, fl_small, n=SAMPLE_N, seed=100 + i) for i in range(1 if quick else 3)]
    report.add("bridge", f"FM ODE, Heun 20 steps, {SAMPLE_N:,} points: ED / floor (default model)",
               f"{statistics.median(ratios):.2f}×", f"≤ {RATIO:g}×", statistics.median(ratios) <= RATIO,
               f"floor (metrics.energy_floor) at {SAMPLE_N:,} points {fl_small:.2e}; ratios {', '.join(f'{x:.2f}' for x in ratios)}")
    t = repeat(lambda: flow_matching.sample(model, SAMPLE_N, torch.Generator().manual_seed(7)) and None,
               3 if quick else 7)
    report.add("bridge", f"FM ODE, Heun 20 steps, {SAMPLE_N:,} points: time", t.fmt(unit=" s"),
               f"≤ {SAMPLE_SECONDS:g} s", t.median <= SAMPLE_SECONDS, "40 evaluations of u_θ")

    x = torch.from_numpy(datasets.load("moons", LIK_N, seed=3_000_017))
    values = []

    def lik() -> float:
        t0 = time.perf_counter()
        values.append(flow_matching.log_prob(model, x))
        return time.perf_counter() - t0

    t = repeat(lik, 1 if quick else 3)
    nll = float(-values[-1].double().mean())
    H = datasets.entropy("moons", n=200_000, seed=0)
    report.add("bridge", f"FM exact ODE likelihood (dopri5) of {LIK_N:,} points: time", t.fmt(unit=" s"),
               f"≤ {LIK_SECONDS:g} s", t.median <= LIK_SECONDS,
               f"held-out NLL {nll:.3f} nats (H(q₀) = {H:.3f}); rtol = atol = 1e-5")

    data = datasets.load("moons", TRAIN_N, seed=0)
    lo, hi = data.min(0) - 1.5, data.max(0) + 1.5
    gx, gy = np.linspace(lo[0], hi[0], GRID), np.linspace(lo[1], hi[1], GRID)
    grid = torch.from_numpy(np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2).astype(np.float32))
    t0 = time.perf_counter()
    p = torch.exp(flow_matching.log_prob(model, grid).double()).numpy()
    mass = float(p.sum() * (gx[1] - gx[0]) * (gy[1] - gy[0]))
    report.add("bridge", f"FM density (dopri5) integrated on a {GRID}×{GRID} grid", f"{mass:.4f}", "1 ± 0.02",
               abs(mass - 1.0) <= 0.02,
               f"box [{lo[0]:.1f}, {hi[0]:.1f}] × [{lo[1]:.1f}, {hi[1]:.1f}] (data ± 1.5); {time.perf_counter() - t0:.1f} s")
