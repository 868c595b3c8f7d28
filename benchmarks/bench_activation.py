"""ε_θ's activation (SiLU / ReLU / Hardswish): chain time, step time, and quality at equal steps and equal time.

One process, one torch thread (common.py). Writes JSON lines to the path given (default /tmp/act/results.jsonl).
Quality: bench_quality.ddpm_quality (energy distance of 5,000 samples vs 5,000 held-out / the floor).
Equal time: the other activations get 5,000 × (SiLU's step time / theirs) planned steps (the lr decays over them).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import common  # noqa: F401  (sets one torch thread, puts the repo on the path)
import torch
from bench_quality import QUICK_DDPM_DATASETS, TRAIN_N, ddpm_quality, floor

from gendemo import datasets, ddpm
from gendemo.config import DDPMConfig
from gendemo.nets import init_parameters_
from gendemo.training import make_state, train_steps

ACTS = ("silu", "relu", "hardswish")
OUT = sys.argv[1] if len(sys.argv) > 1 else "/tmp/act/results.jsonl"


def emit(rec: dict) -> None:
    rec["load"] = os.getloadavg()[0]
    print(json.dumps(rec), flush=True)
    with open(OUT, "a") as f:
        f.write(json.dumps(rec) + "\n")


def chain_seconds(act: str, reps: int = 5) -> list[float]:
    cfg = DDPMConfig(N=1000, activation=act)
    model = make_state(cfg, datasets.load("moons", TRAIN_N, seed=0)).model
    init_parameters_(model, torch.Generator().manual_seed(0))
    ddpm.sample(model, 2000, torch.Generator().manual_seed(0), keep="all")  # warm-up
    out = []
    for r in range(reps):
        t = time.perf_counter()
        ddpm.sample(model, 2000, torch.Generator().manual_seed(r), keep="all")
        out.append(time.perf_counter() - t)
    return out


def step_seconds(states: dict, steps: int = 100, reps: int = 15) -> dict[str, float]:
    """Seconds per training step, the minimum over `reps` interleaved bursts (robust to a loaded machine)."""
    best = {a: float("inf") for a in states}
    for _ in range(reps):
        for a, state in states.items():
            t = time.perf_counter()
            train_steps(state, steps)
            best[a] = min(best[a], (time.perf_counter() - t) / steps)
    return best


def main() -> None:
    if not os.environ.get("SKIP_CHAIN"):
        chains = {a: [] for a in ACTS}
        for _ in range(2):  # interleaved, so load changes hit every activation alike
            for a in ACTS:
                chains[a] += chain_seconds(a)
        for a in ACTS:
            emit({"kind": "chain", "act": a, "seconds": chains[a], "median": statistics.median(chains[a]),
                  "min": min(chains[a])})
    if os.environ.get("ONLY_CHAIN"):
        return
    if os.environ.get("EQUAL_TIME_STEPS"):  # "relu=6200,hardswish=5800": from an earlier step timing
        eq_steps = {"silu": 5000} | {k: int(v) for k, v in
                                     (kv.split("=") for kv in os.environ["EQUAL_TIME_STEPS"].split(","))}
    else:
        states = {a: make_state(DDPMConfig(activation=a), datasets.load("moons", TRAIN_N, seed=0)) for a in ACTS}
        for s in states.values():
            train_steps(s, 50)
        med = step_seconds(states)
        eq_steps = {a: int(round(5000 * med["silu"] / med[a], -2)) for a in ACTS}
        emit({"kind": "step", "min_per_step": med, "equal_time_steps": eq_steps})
    only = os.environ.get("DATASETS")
    names = only.split(",") if only else QUICK_DDPM_DATASETS
    cells = [(name, seed) for name in names for seed in (0, 1)]
    # Phases, so that what finishes first is what the decision needs: SiLU vs ReLU at equal time, then
    # ReLU at equal steps, then Hardswish.
    phases = [[("silu", 5000, "steps"), ("relu", eq_steps["relu"], "time")], [("relu", 5000, "steps")],
              [("hardswish", 5000, "steps"), ("hardswish", eq_steps["hardswish"], "time")]]
    done = set()
    if os.path.exists(OUT):
        with open(OUT) as f:
            for line in f:
                r = json.loads(line)
                if r.get("kind") == "quality":
                    done.add((r["dataset"], r["seed"], r["act"], r["steps"]))
    floors: dict[str, float] = {}
    for phase in phases:
        for name, seed in cells:
            for a, steps, mode in phase:
                if (name, seed, a, steps) in done:
                    continue
                if name not in floors:
                    floors[name] = floor(name)
                res = ddpm_quality(name, DDPMConfig(activation=a, seed=seed, steps=steps), data_seed=seed,
                                   floor_value=floors[name])
                emit({"kind": "quality", "dataset": name, "seed": seed, "act": a, "mode": mode, **res})


if __name__ == "__main__":
    main()
