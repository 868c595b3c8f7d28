"""Time to quality with the default configs: DDPM energy distance vs its floor, flows' held-out NLL vs entropy."""

from __future__ import annotations

import statistics

import torch
from common import Report

from gendemo import datasets, metrics
from gendemo.config import DDPMConfig, FlowConfig
from gendemo.generate import draw_samples
from gendemo.training import TrainingDiverged, make_state, train_steps

TRAIN_N = datasets.DEFAULT_N  # the app's default dataset size
EVAL_N = 5000  # samples, held-out points and reference points for the energy distance
NLL_N = 20_000  # held-out points for a flow's NLL (standard error ≈ 0.005 nats)
DDPM_RATIO, DDPM_SECONDS = 3.0, 20.0
FLOW_NLL, FLOW_SECONDS = 0.32, 30.0
# Budgets (seconds of training) measured for the other datasets: see RESULTS.md, "DDPM time to quality".
DDPM_DATASETS = ("moons", "pinwheel", "8gaussians", "two_spirals", "swiss_roll", "circles", "checkerboard")
QUICK_DDPM_DATASETS = ("moons", "pinwheel", "8gaussians", "two_spirals", "swiss_roll")
FLOW_DATASETS = ("moons", "8gaussians", "checkerboard")


def _train(config, name: str, seed: int = 0):
    """Train for the planned steps; a divergence is reported (as an infinite figure), not raised."""
    state = make_state(config, datasets.load(name, TRAIN_N, seed=seed))
    try:
        train_steps(state, config.steps, fast=True)  # what a job runs
    except TrainingDiverged as exc:
        print(f"    {name} seed {seed}: {exc}", flush=True)
        state.diverged = str(exc)
    return state


FLOOR_PAIRS = 5


def floor(name: str) -> float:
    """The energy distance between two independent 5,000-point data samples, averaged over 5 pairs.

    One pair's value is itself noisy (±20 % here), so the ratio uses its mean: what a perfect model scores.
    """
    vals = [metrics.energy_distance(datasets.load(name, EVAL_N, seed=4_000_037 + 2 * i),
                                    datasets.load(name, EVAL_N, seed=4_000_038 + 2 * i)) for i in range(FLOOR_PAIRS)]
    return float(statistics.mean(vals))


def ddpm_quality(name: str, config: DDPMConfig, data_seed: int = 0, floor_value: float | None = None) -> dict:
    """Train for the planned steps; energy distance of 5,000 samples to 5,000 held-out points / the floor."""
    state = _train(config, name, data_seed)
    if getattr(state, "diverged", None):
        return {"ratio": float("inf"), "value": float("inf"), "floor": float("nan"), "seconds": state.seconds,
                "steps": state.step}
    samples = draw_samples(state.model, EVAL_N, torch.Generator().manual_seed(12345))
    heldout = datasets.load(name, EVAL_N, seed=1_000_003 + data_seed)
    value = metrics.energy_distance(samples, heldout)
    fl = floor(name) if floor_value is None else floor_value
    return {"ratio": value / fl, "value": value, "floor": fl, "seconds": state.seconds, "steps": state.step}


def flow_quality(name: str, config: FlowConfig, data_seed: int = 0) -> dict:
    state = _train(config, name, data_seed)
    if getattr(state, "diverged", None):
        return {"nll": float("inf"), "se": float("nan"), "seconds": state.seconds, "steps": state.step}
    heldout = datasets.load(name, NLL_N, seed=3_000_017 + data_seed)
    with torch.no_grad():
        lp = torch.cat([state.model.log_prob(c) for c in torch.from_numpy(heldout).split(4096)]).double()
    return {"nll": float(-lp.mean()), "se": float(lp.std() / len(lp) ** 0.5), "seconds": state.seconds,
            "steps": state.step}


def _seeds(quick: bool, n: int = 3) -> list[int]:
    return [0] if quick else list(range(n))


def stability_runs(kw: dict, seeds, n: int = TRAIN_N, steps: int = 400) -> dict[str, float | str]:
    """The flow FlowConfig(seed=seed, **kw) for its first `steps` steps on each dataset (n points, data seed =
    seed): per "dataset/seed", the largest batch loss minus the first one, or "diverged at step N" (a
    TrainingDiverged: the loss passed 20 + 10·|first loss|)."""
    cells: dict[str, float | str] = {}
    for name in datasets.NAMES:
        for seed in seeds:
            state = make_state(FlowConfig(seed=seed, **kw), datasets.load(name, n, seed=seed))
            try:
                train_steps(state, steps, fast=True)
                cells[f"{name}/{seed}"] = round(max(state.history_loss) - state.first_loss, 1)
            except TrainingDiverged as exc:
                cells[f"{name}/{seed}"] = f"diverged at step {exc.step}"
    return cells


def flow_stability(report: Report, quick: bool) -> None:
    """Does the default flow train without TrainingDiverged for its first 400 steps, dataset by dataset?"""
    seeds = (0,) if quick else (0, 1)
    lines = ["| dataset | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|" + "---|" * len(seeds)]
    runs = stability_runs({}, seeds)
    total = len(runs)
    ok_count = sum(not isinstance(v, str) for v in runs.values())
    for name in datasets.NAMES:
        cells = [runs[f"{name}/{seed}"] for seed in seeds]
        cells = [c if isinstance(c, str) else "ok" for c in cells]  # "diverged at step N", or ok
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    report.add("flow", f"default RealNVP: first 400 steps without divergence (9 datasets × {len(seeds)} seeds)",
               f"{ok_count} / {total}", f"{total} / {total}", ok_count == total,
               "TrainingDiverged: the loss passed 20 + 10·|first loss| (see the table)")
    report.tables[f"Flows: does the default RealNVP survive its first 400 steps? ({TRAIN_N:,} points per dataset)"] = \
        "\n".join(lines)


def run(report: Report, quick: bool) -> None:
    cfg = DDPMConfig()
    sched_state = make_state(cfg, datasets.load("moons", TRAIN_N, seed=0))
    L_N = sched_state.model.sched.prior_mismatch(sched_state.train_x)
    abar = float(sched_state.model.sched.alpha_bar[-1])
    report.add("schedule", f"default {cfg.schedule} N={cfg.N}, β={cfg.beta_1:g}…{cfg.beta_N:g}: ᾱ_N; L_N (nats)",
               f"ᾱ_N={abar:.2g}; L_N={L_N:.4f}", "L_N < 0.01", L_N < 0.01, "on standardized moons")

    lines = ["| dataset | seeds | ratio to floor (median, min–max) | train s (median, min–max) | steps | PASS |",
             "|---|---|---|---|---|---|"]
    passed = []
    for name in DDPM_DATASETS if not quick else QUICK_DDPM_DATASETS:
        seeds = _seeds(quick) if name == "moons" else [0]
        fl = floor(name)
        runs = [ddpm_quality(name, DDPMConfig(seed=s), data_seed=s, floor_value=fl) for s in seeds]
        r = [x["ratio"] for x in runs]
        t = [x["seconds"] for x in runs]
        ok = statistics.median(r) <= DDPM_RATIO and statistics.median(t) <= DDPM_SECONDS
        if name != "moons" and ok:
            passed.append(name)
        report.add("ddpm", f"{name}: ED(5k samples, held-out) / floor after the planned {cfg.steps} steps",
                   f"{statistics.median(r):.2f}× in {statistics.median(t):.1f} s",
                   f"≤ {DDPM_RATIO:g}× in ≤ {DDPM_SECONDS:g} s", ok,
                   f"seeds {seeds}: ratios {', '.join(f'{x:.2f}' for x in r)}; s {', '.join(f'{x:.1f}' for x in t)}")
        lines.append(f"| {name} | {len(seeds)} | {statistics.median(r):.2f} ({min(r):.2f}–{max(r):.2f}) | "
                     f"{statistics.median(t):.1f} ({min(t):.1f}–{max(t):.1f}) | {runs[0]['steps']} | "
                     f"{'yes' if ok else 'no'} |")
    report.add("ddpm", "datasets besides moons within the same targets (default config)",
               f"{len(passed)}: {', '.join(passed) or 'none'}", "≥ 3", len(passed) >= 3)
    report.tables["DDPM time to quality (default config; energy distance of 5,000 samples / its floor)"] = \
        "\n".join(lines)

    fcfg = FlowConfig()
    H = datasets.entropy("moons", n=200_000, seed=0)
    runs = [flow_quality("moons", FlowConfig(seed=s), data_seed=s) for s in _seeds(quick, 4)]  # seeds spread ±0.01
    nll = [x["nll"] for x in runs]
    t = [x["seconds"] for x in runs]
    ok = statistics.median(nll) <= FLOW_NLL and statistics.median(t) <= FLOW_SECONDS
    report.add("flow", f"RealNVP K={fcfg.K} moons: held-out NLL after {fcfg.steps} steps (nats)",
               f"{statistics.median(nll):.3f} in {statistics.median(t):.1f} s",
               f"≤ {FLOW_NLL} in ≤ {FLOW_SECONDS:g} s", ok,
               f"H(q0) = {H:.3f}; NLLs {', '.join(f'{x:.3f}' for x in nll)} (± {runs[0]['se']:.3f}); "
               f"s {', '.join(f'{x:.1f}' for x in t)}")

    lines = ["| dataset | kind | held-out NLL (nats) | H(q₀) | gap = KL(q₀‖p_θ) | train s |", "|---|---|---|---|---|---|"]
    for name in FLOW_DATASETS:
        if quick and name != "moons":
            continue
        Hn = H if name == "moons" else datasets.entropy(name, n=200_000, seed=0)
        for kind in ("realnvp", "nice") if name == "moons" else ("realnvp",):
            if kind == "realnvp" and name == "moons":
                res = runs[0]
            else:
                res = flow_quality(name, FlowConfig(kind=kind))
            lines.append(f"| {name} | {kind} | {res['nll']:.3f} ± {res['se']:.3f} | {Hn:.3f} | {res['nll'] - Hn:.3f} | "
                         f"{res['seconds']:.1f} |")
            if kind == "nice":
                report.add("flow", f"NICE K={fcfg.K} moons: held-out NLL after {fcfg.steps} steps (nats)",
                           f"{res['nll']:.3f} in {res['seconds']:.1f} s", "", None,
                           f"gap to H(q0) {res['nll'] - Hn:.3f}: additive couplings cannot change volume")
    flow_stability(report, quick)
    report.tables[f"Flows: held-out NLL ({NLL_N:,} points) vs the true entropy, defaults ({fcfg.steps} steps)"] = \
        "\n".join(lines)
