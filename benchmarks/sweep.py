"""Hyper-parameter sweeps behind the defaults: quality after a planned number of steps, one JSON line per run.

    .venv/bin/python benchmarks/sweep.py ddpm 'moons|lr=0.01,steps=2000' 'circles|N=200,beta_N=0.05'
    .venv/bin/python benchmarks/sweep.py flow 'moons|kind=realnvp,K=8,width=64,lr=0.001,steps=5000'

Each argument is `dataset|field=value,...` over the default config. DDPM: energy distance of 5,000 samples to
5,000 held-out points divided by its floor (two independent data samples). Flows: held-out NLL (20,000 points)
at 25, 50, 75 and 100 % of the planned steps. Training data: datasets.DEFAULT_N points, seed 0 (the app's
default; 4,000 before session 7).
Quality depends on steps, not on the machine's load, so sweeps can run while timings cannot; seconds per step
are printed too but are only comparable within one quiet run. The runs behind the defaults: RESULTS.md.
"""

from __future__ import annotations

import json
import sys

import common  # noqa: F401 - puts the repository on sys.path, one torch thread
import torch

from gendemo import datasets, metrics
from gendemo.config import DDPMConfig, FlowConfig
from gendemo.generate import draw_samples
from gendemo.training import TrainingDiverged, make_state, train_steps


def _value(v: str):
    for t in (int, float):
        try:
            return t(v)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(v, v)


def _parse(spec: str) -> tuple[str, dict]:
    name, _, kv = spec.partition("|")
    return name, {k: _value(v) for k, v in (p.split("=", 1) for p in kv.split(",") if p)}


def ddpm_run(name: str, kw: dict) -> dict:
    cfg = DDPMConfig(**kw)
    ref = datasets.load(name, 5000, 1_000_003)
    floor = metrics.energy_distance(datasets.load(name, 5000, 2_000_003), ref)
    state = make_state(cfg, datasets.load(name, datasets.DEFAULT_N, 0))
    try:
        train_steps(state, cfg.steps)
    except TrainingDiverged as exc:
        return {"dataset": name, **kw, "error": str(exc)}
    samples = draw_samples(state.model, 5000, torch.Generator().manual_seed(12345))
    return {"dataset": name, **kw, "ratio": round(metrics.energy_distance(samples, ref) / floor, 3),
            "seconds": round(state.seconds, 2), "ms_per_step": round(1e3 * state.seconds / state.step, 3),
            "alpha_bar_N": float(state.model.sched.alpha_bar[-1])}


def flow_run(name: str, kw: dict) -> dict:
    cfg = FlowConfig(**kw)
    held = torch.from_numpy(datasets.load(name, 20_000, 3_000_017))
    state = make_state(cfg, datasets.load(name, datasets.DEFAULT_N, 0))
    curve, err = [], None
    try:
        for f in (0.25, 0.5, 0.75, 1.0):
            train_steps(state, int(cfg.steps * f) - state.step)
            with torch.no_grad():
                curve.append((state.step, round(float(-state.model.log_prob(held).mean()), 4)))
    except TrainingDiverged as exc:
        err = str(exc)
    return {"dataset": name, **kw, "nll": curve[-1][1] if curve and not err else None, "curve": curve,
            "error": err, "seconds": round(state.seconds, 2),
            "ms_per_step": round(1e3 * state.seconds / max(state.step, 1), 3)}


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("ddpm", "flow"):
        print(__doc__)
        return 2
    run = ddpm_run if argv[0] == "ddpm" else flow_run
    for spec in argv[1:]:
        print(json.dumps(run(*_parse(spec))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
