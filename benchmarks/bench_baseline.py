"""Today's engine next to the engine at a base commit, measured in the same run (issue 16's "Done when").

Two worker processes, one per engine: this checkout and a `git worktree` of BASE (default 50da3e7, the code before
issue 16; `GENDEMO_BASE=<commit>` for another), both on one torch thread. Each builds the default DDPM and
RealNVP training states and a 1,000-step sampling model, warms them up, then times what a job runs (today:
`train_steps(state, n, fast=True)`, `ddpm.sample(..., fast=True)`; the base: its defaults, which were the fast
paths) in rounds that alternate between the two engines, so they share the machine's noise; medians of rounds.
It also trains both families from scratch in both engines and compares the loss curves and weights bit for bit:
the shipped checkpoints and stored jobs stay valid only if they are equal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from common import ROOT, Report, Timing, load_average

BASE = os.environ.get("GENDEMO_BASE", "50da3e7")
DDPM_TARGET_MS = 1.5
FLOW_TOLERANCE = 0.10  # a RealNVP step within 10 % of the base's

# The worker: imports the engine under `root` only, answers one JSON command per line with one JSON line.
WORKER = r'''
import hashlib, inspect, json, sys, time
root = sys.argv[1]
sys.path = [root] + [p for p in sys.path if p not in ("", ".")]
import torch
torch.set_num_threads(1)
from gendemo import datasets, ddpm, training
from gendemo.config import DDPMConfig, FlowConfig
from gendemo.schedules import make_schedule
assert training.__file__.startswith(root), training.__file__
new = "fast" in inspect.signature(training.train_steps).parameters
tkw = {"fast": True} if new else {}
skw = {"fast": True} if "fast" in inspect.signature(ddpm.sample).parameters else {}
data = datasets.load("moons", datasets.DEFAULT_N, seed=0)
states = {"ddpm": training.make_state(DDPMConfig(), data), "flow": training.make_state(FlowConfig(), data)}
for s in states.values():
    training.train_steps(s, 30, **tkw)
torch.manual_seed(0)
chain = ddpm.DDPM(make_schedule("linear", 1000, 1e-4, 0.02), width=64, depth=3, emb_dim=32, activation="hardswish")
ddpm.sample(chain, 2000, torch.Generator().manual_seed(0), keep="all", **skw)

def digest(state):
    h = hashlib.sha256()
    for name, t in sorted(state.model.state_dict().items()):
        h.update(name.encode()); h.update(t.numpy().tobytes())
    h.update(json.dumps(state.history_loss).encode())
    return h.hexdigest()[:16]

print(json.dumps("ready"), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd[0] == "step":
        family, steps = cmd[1], cmd[2]
        t0 = time.perf_counter()
        training.train_steps(states[family], steps, **tkw)
        out = (time.perf_counter() - t0) / steps * 1e3
    elif cmd[0] == "sample":
        t0 = time.perf_counter()
        ddpm.sample(chain, 2000, torch.Generator().manual_seed(1), keep="all", **skw)
        out = time.perf_counter() - t0
    elif cmd[0] == "digest":
        config = {"ddpm": DDPMConfig(), "flow": FlowConfig(), "flow-scaling": FlowConfig(scaling=True)}[cmd[1]]
        s = training.make_state(config, data)
        training.train_steps(s, cmd[2], **tkw)
        out = digest(s)
    else:
        break
    print(json.dumps(out), flush=True)
'''


def _worktree() -> Path:
    path = Path(f"/tmp/gd_base_{BASE}")
    if not (path / "gendemo" / "training.py").is_file():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), BASE], cwd=ROOT, check=True,
                       capture_output=True)
    return path


class Engine:
    def __init__(self, root: Path):
        env = {**os.environ, "PYTHONPATH": str(root)}
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, str(root)], cwd=root, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.ask(None) == "ready"

    def ask(self, cmd):
        if cmd is not None:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("an engine worker stopped")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def run(report: Report, quick: bool) -> None:
    rounds = 5 if quick else 9
    load_before = load_average()
    engines = {"today": Engine(ROOT), BASE: Engine(_worktree())}
    try:
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(rounds):
            for what, cmd in (("ddpm", ["step", "ddpm", 200]), ("flow", ["step", "flow", 60]),
                              ("sample", ["sample"])):
                for name, engine in engines.items():
                    times.setdefault((what, name), []).append(engine.ask(cmd))
        same = {fam: len({e.ask(["digest", fam, steps]) for e in engines.values()}) == 1
                for fam, steps in (("ddpm", 300), ("flow", 100), ("flow-scaling", 100))}
    finally:
        for engine in engines.values():
            engine.close()
    t = {k: Timing(tuple(v)) for k, v in times.items()}
    note = f"{rounds} rounds, the two engines alternating; load {load_before} → {load_average()}"
    d_now, d_base = t[("ddpm", "today")], t[("ddpm", BASE)]
    report.add("baseline", "DDPM train step, default, what a job runs: today (ms)", d_now.fmt(digits=3),
               f"≤ {DDPM_TARGET_MS}", d_now.median <= DDPM_TARGET_MS, note)
    report.add("baseline", f"same step at {BASE} (ms)", d_base.fmt(digits=3), "", None,
               f"today / {BASE} = {d_now.median / d_base.median:.2f}")
    f_now, f_base = t[("flow", "today")], t[("flow", BASE)]
    ratio = f_now.median / f_base.median
    report.add("baseline", "RealNVP train step, default, what a job runs: today (ms)", f_now.fmt(digits=2),
               f"≤ {1 + FLOW_TOLERANCE:.2f}× {BASE}", ratio <= 1 + FLOW_TOLERANCE, f"today / {BASE} = {ratio:.2f}")
    report.add("baseline", f"same step at {BASE} (ms)", f_base.fmt(digits=2), "", None, note)
    s_now, s_base = t[("sample", "today")], t[("sample", BASE)]
    report.add("baseline", "1,000-step chain, 2,000 points, keep='all', fast: today (s)", s_now.fmt(digits=3),
               "", None, f"today / {BASE} = {s_now.median / s_base.median:.2f}")
    report.add("baseline", f"same chain at {BASE} (s)", s_base.fmt(digits=3), "", None, "")
    for fam, ok in same.items():
        report.add("baseline", f"{fam}: a job's losses and weights equal {BASE}'s, bit for bit", "yes" if ok else "no",
                   "", None, "default config from scratch" + (" (scaling=True)" if fam == "flow-scaling" else ""))
