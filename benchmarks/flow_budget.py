"""Flow time to quality by steps: held-out NLL on moons per setting and seed, and the step time to turn steps into s.

    .venv/bin/python benchmarks/flow_budget.py 'steps=3000' 'steps=4000' 'lr=0.01,steps=3000' --seeds 0 1 2

Each argument is `field=value,...` over the default FlowConfig. A run is what bench_quality.flow_quality measures
(datasets.DEFAULT_N training points of moons with data seed = config seed, held-out NLL of 20,000 points, seed
3,000,017 + seed), with the NLL also read at 50 % and 75 % of the planned steps, and the NLL of the training points. On a shared
machine seconds move with the load, steps do not: before and after the runs the script times, interleaved in the
same process, the default flow's step through autograd and each setting's step by hand (the default's too), and
prints the load average. One JSON line per run.

With `--stability 0 1`, each setting first gets bench_quality.flow_stability's check (the first 400 steps on the 9
datasets, datasets.DEFAULT_N points, data seed = config seed, for the seeds given): per dataset and seed, the step
that diverged or the largest batch loss above the first one (how close the run came to the detector's
20 + 10·|first loss|).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import common  # noqa: F401 - puts the repository on sys.path, one torch thread
import torch
from bench_quality import stability_runs
from sweep import _value  # "field=value" parsing, as in sweep.py

from gendemo import datasets, training
from gendemo.config import FlowConfig
from gendemo.training import TrainingDiverged, make_state, train_steps

TRAIN_N, NLL_N = datasets.DEFAULT_N, 20_000


def step_ms(configs: dict[str, FlowConfig], rounds: int = 5, steps: int = 100) -> dict[str, list[float]]:
    """ms per step of each config on moons (by hand), and of the default through autograd ("autograd"),
    interleaved round by round so that all share the machine's load."""
    orig = training.FLOW_GRADIENT_BY_HAND
    runs = {"autograd": (FlowConfig(), False), **{name: (cfg, True) for name, cfg in configs.items()}}
    out: dict[str, list[float]] = {name: [] for name in runs}
    try:
        states = {}
        for name, (cfg, hand) in runs.items():
            training.FLOW_GRADIENT_BY_HAND = hand
            states[name] = make_state(cfg, datasets.load("moons", TRAIN_N, seed=0))
            train_steps(states[name], 20)
        for _ in range(rounds):
            for name, (_, hand) in runs.items():
                training.FLOW_GRADIENT_BY_HAND = hand
                t0 = time.perf_counter()
                train_steps(states[name], steps)
                out[name].append(round((time.perf_counter() - t0) / steps * 1e3, 3))
    finally:
        training.FLOW_GRADIENT_BY_HAND = orig
    return out


def nll(state, heldout: torch.Tensor) -> float:
    with torch.no_grad():
        lp = torch.cat([state.model.log_prob(c) for c in heldout.split(4096)]).double()
    return round(float(-lp.mean()), 4)


def run(kw: dict, seed: int) -> dict:
    cfg = FlowConfig(seed=seed, **kw)
    state = make_state(cfg, datasets.load("moons", TRAIN_N, seed=seed))
    heldout = torch.from_numpy(datasets.load("moons", NLL_N, seed=3_000_017 + seed))
    curve, err = [], None
    try:
        for f in (0.5, 0.75, 1.0):
            train_steps(state, int(cfg.steps * f) - state.step)
            curve.append((state.step, nll(state, heldout)))
    except TrainingDiverged as exc:
        err = str(exc)
    train_nll = nll(state, state.train_x) if not err else None  # the gap to `nll`: what the finite training set leaves
    return {**kw, "seed": seed, "nll": curve[-1][1] if curve and not err else None, "curve": curve, "error": err,
            "train_nll": train_nll,
            "seconds": round(state.seconds, 2), "ms_per_step": round(1e3 * state.seconds / max(state.step, 1), 3),
            "load": [round(v, 2) for v in os.getloadavg()]}


def stability(kw: dict, seeds: list[int], steps: int = 400) -> dict:
    """bench_quality.flow_stability's measurement for one setting (`bench_quality.stability_runs`), with the count
    of runs that did not diverge."""
    cells = stability_runs(kw, seeds, TRAIN_N, steps)
    ok = sum(not isinstance(v, str) for v in cells.values())
    return {"survived": f"{ok}/{len(cells)}", "max_loss_above_first": cells}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("specs", nargs="*", help="field=value,... over the default FlowConfig")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--stability", nargs="+", type=int, default=[], metavar="SEED",
                   help="also run the stability check (first 400 steps, 9 datasets) with these seeds")
    args = p.parse_args()

    specs = [(spec, {k: _value(v) for k, v in (s.split("=", 1) for s in spec.split(",") if s)}) for spec in args.specs]
    configs = {"default": FlowConfig(), **{spec: FlowConfig(**kw) for spec, kw in specs}}

    def timing(when: str) -> None:
        t = step_ms(configs)
        med = {k: statistics.median(v) for k, v in t.items()}
        print(json.dumps({"timing": when, "ms": t, "median_ms": med,
                          "hand/autograd": round(med["default"] / med["autograd"], 3),
                          "load": [round(v, 2) for v in os.getloadavg()]}), flush=True)

    timing("before")
    for _, kw in specs:
        if args.stability:
            print(json.dumps({**kw, "stability": stability(kw, args.stability)}), flush=True)
        for seed in args.seeds:
            print(json.dumps(run(kw, seed)), flush=True)
    timing("after")


if __name__ == "__main__":
    main()
