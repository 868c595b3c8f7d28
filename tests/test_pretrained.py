"""The default models shipped in gendemo/pretrained/ and `python -m gendemo pretrain`, which makes them.

The shipped files are lean store entries (final weights and loss history) of the default DDPM and flow of every
built-in dataset on the app's default data. A changed default (config, data, store format) changes the key: the
tests below then fail and ask for a new

    rm gendemo/pretrained/*.pt
    python -m gendemo pretrain --lean-out gendemo/pretrained --store "$(mktemp -d)"

The quality rules are benchmarks/bench_quality.py's, with its sample sizes and seeds: a DDPM's energy distance of
5,000 samples to 5,000 held-out points is at most 3x the floor (the mean over 5 pairs of independent 5,000-point
data samples); a flow's held-out NLL on 20,000 points is finite and, where the density is known, within a margin
of H(q0) (MARGINS). Evaluation is deterministic: these files give the same figures on every run.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys

import numpy as np
import pytest
import torch

from gendemo import cli, datasets, jobs, metrics, pretrain, store
from gendemo.config import DDPMConfig, FlowConfig
from gendemo.generate import draw_samples

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = store.PRETRAINED_DIR
MAX_BYTES = 4 * 2**20

# bench_quality.py's rule and sizes
EVAL_N, FLOOR_PAIRS, DDPM_RATIO = 5000, 5, 3.0
FM_RATIO_OTHERS = 5.0  # flow matching on the datasets other than moons (see the test)
NLL_N, FLOW_NLL_MOONS = 20_000, 0.32
# The flow's held-out NLL minus H(q0) (= KL(q0 || p_theta) up to Monte Carlo error), nats: the measured gap of the
# shipped model (in brackets) and its bound, about the gap plus a quarter, at least +0.05. The default RealNVP
# (12 couplings of 2x32, 3,000 steps) is close to the entropy on the smooth curves and far from it where q0 has
# many narrow modes: 25 Gaussians of std 0.1 keep it 1.8 nats away. Moons has the benchmark's own target,
# NLL <= 0.32 (H = 0.290).
MARGINS = {
    "moons": 0.05,  # [0.021]
    "circles": 0.15,  # [0.086]
    "swiss_roll": 0.45,  # [0.347]
    "8gaussians": 0.35,  # [0.252]
    "25gaussians": 2.25,  # [1.799]
    "checkerboard": 0.35,  # [0.280]
    "two_spirals": 0.45,  # [0.363]
    "rings": 0.9,  # [0.716]
}


def _path(name: str, family: str):
    return SHIPPED / f"{jobs.job_key(pretrain.default_spec(name, family))}{store.SUFFIX}"


def _shipped(name: str, family: str) -> store.Entry:
    path = _path(name, family)
    assert path.is_file(), (f"no shipped {family} for {name} ({path.name}): a default changed? Run "
                            "`python -m gendemo pretrain --lean-out gendemo/pretrained --store \"$(mktemp -d)\"`")
    return store.from_bytes(path.read_bytes())  # torch.load(weights_only=True), checked


@pytest.mark.parametrize("family", pretrain.FAMILIES)
@pytest.mark.parametrize("name", datasets.NAMES)
def test_every_dataset_ships_its_default_models(name, family):
    entry = _shipped(name, family)
    config = pretrain.default_config(family)
    assert entry.key == jobs.job_key(jobs.JobSpec.of(jobs.builtin_spec(name, datasets.DEFAULT_N, 0, None), config))
    assert entry.config == config and entry.config.family == family
    assert entry.data == jobs.builtin_spec(name, datasets.DEFAULT_N, 0, None)
    assert entry.step == config.steps and len(entry.losses) == entry.step and np.isfinite(entry.losses).all()
    assert entry.snapshots == [] and entry.snapshot_steps == [] and entry.resume is None  # lean
    entry.model_at()  # the final weights build the config's model


def test_the_folder_holds_the_defaults_only_and_is_small():
    expected = {_path(name, family).name for name in datasets.NAMES for family in pretrain.FAMILIES}
    found = {p.name for p in SHIPPED.glob(f"*{store.SUFFIX}")}
    assert found == expected, f"stale files (a default changed? delete them): {sorted(found - expected)}"
    total = sum(p.stat().st_size for p in SHIPPED.iterdir() if p.is_file())
    assert total <= MAX_BYTES, f"gendemo/pretrained holds {total / 2**20:.2f} MB"


def test_a_store_serves_the_shipped_model_as_its_fallback(tmp_path):
    key = jobs.job_key(pretrain.default_spec("moons", "ddpm"))
    entry = store.ModelStore(tmp_path).get(key)  # an empty directory, the default fallback
    assert entry is not None and entry.key == key and not list(tmp_path.iterdir()), "read-only: nothing copied"


def test_the_shipped_files_are_not_ignored_by_git():
    """A fresh clone has them: `*.pt` is ignored elsewhere, not in gendemo/pretrained/."""
    if shutil.which("git") is None or not os.path.isdir(os.path.join(ROOT, ".git")):
        pytest.skip("not a git checkout")
    name = os.path.relpath(_path("moons", "ddpm"), ROOT)
    out = subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT, capture_output=True, check=False)
    assert out.returncode == 1, f"{name} is ignored by .gitignore"


def _floor(name: str) -> float:
    return statistics.mean(metrics.energy_distance(datasets.load(name, EVAL_N, seed=4_000_037 + 2 * i),
                                                   datasets.load(name, EVAL_N, seed=4_000_038 + 2 * i))
                           for i in range(FLOOR_PAIRS))


@pytest.mark.parametrize("family", ["ddpm", "flow_matching"])
@pytest.mark.parametrize("name", datasets.NAMES)
def test_shipped_ddpm_and_flow_matching_meet_the_benchmark_rule(name, family):
    model = _shipped(name, family).model_at()
    samples = draw_samples(model, EVAL_N, torch.Generator().manual_seed(12345))
    value = metrics.energy_distance(samples, datasets.load(name, EVAL_N, seed=1_000_003))
    ratio = value / _floor(name)
    # Flow matching's default plan (3,000 steps, tuned on moons: issue 15's target) leaves thin shapes coarser:
    # circles 4.1x, rings 3.0x the floor at 20 Heun steps, the same at 100 RK4 steps (the model, not the solver).
    limit = DDPM_RATIO if family == "ddpm" or name == "moons" else FM_RATIO_OTHERS
    assert ratio <= limit, f"{name}, {family}: energy distance {ratio:.2f}x the floor"


@pytest.mark.parametrize("name", datasets.NAMES)
def test_shipped_flow_has_a_heldout_nll_near_the_entropy(name):
    model = _shipped(name, "flow").model_at()
    heldout = torch.from_numpy(datasets.load(name, NLL_N, seed=3_000_017))
    with torch.no_grad():
        nll = float(-torch.cat([model.log_prob(c) for c in heldout.split(4096)]).double().mean())
    assert np.isfinite(nll), name
    if name == "moons":
        assert nll <= FLOW_NLL_MOONS, f"moons: held-out NLL {nll:.3f}"
    if datasets.has_density(name):
        H = datasets.entropy(name, n=50_000, seed=0)  # standard error < 0.01 nats
        assert nll - H <= MARGINS[name], f"{name}: held-out NLL {nll:.3f}, H(q0) {H:.3f}, gap {nll - H:.3f}"


# ---------------------------------------------------------------- the command

def _cli(*args, cwd=ROOT, timeout=120):
    return subprocess.run([sys.executable, "-m", "gendemo", "pretrain", *map(str, args)], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": ROOT})


def _main(*args) -> int:
    """The command in this process (its argument errors exit before any import of the pool)."""
    try:
        return cli.main(["pretrain", *map(str, args)])
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("args", [
    ["--datasets", "moons,nope"],
    ["--datasets", ","],
    ["--family", "gan"],
    ["--workers", "0"],
    ["--workers", "two"],
    ["--store", "FILE"],
    ["--lean-out", "FILE"],
    ["--frobnicate"],
])
def test_pretrain_bad_arguments_exit_2_with_one_line(args, tmp_path, capsys):
    (tmp_path / "FILE").write_text("not a directory")
    code = _main(*[str(tmp_path / a) if a == "FILE" else a for a in args])
    out = capsys.readouterr()
    assert code == 2, (out.out, out.err)
    lines = [ln for ln in out.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "error" in lines[0], out.err
    assert out.out == ""


def test_pretrain_help(capsys):
    assert _main("--help") == 0
    text = capsys.readouterr().out
    assert "--lean-out" in text and "--workers" in text and "--family" in text


def test_pretrain_trains_what_is_missing_then_nothing(tmp_path):
    """The function the command calls, on a small config, with the real process pool."""
    small = {"ddpm": DDPMConfig(steps=200, width=16, depth=2, N=20), "flow": FlowConfig(steps=100, K=2)}
    s = store.ModelStore(tmp_path / "store", fallback=())
    lean = tmp_path / "lean"
    rows = pretrain.pretrain(s, ["moons"], ("ddpm", "flow"), workers=2, lean_out=lean, configs=small, progress=False)
    assert [(r["dataset"], r["family"], r["status"]) for r in rows] == [("moons", "ddpm", "trained"),
                                                                       ("moons", "flow", "trained")]
    for r, t in zip(rows, pretrain.targets(["moons"], configs=small)):
        assert r["key"] == t.key and r["steps"] == t.spec.total and r["seconds"] > 0
        full = s.get(t.key)
        assert full.snapshots and full.resume is not None  # the store holds the full entry
        thin = store.from_bytes((lean / f"{t.key}{store.SUFFIX}").read_bytes(), t.key)
        assert thin.snapshots == [] and thin.resume is None and np.array_equal(thin.losses, full.losses)
        assert all(torch.equal(thin.final[k], v) for k, v in full.final.items())
    again = pretrain.pretrain(store.ModelStore(tmp_path / "store", fallback=()), ["moons"], ("ddpm", "flow"),
                              workers=2, configs=small, progress=False)
    assert [r["status"] for r in again] == ["stored"] * 2
    assert [r["key"] for r in again] == [r["key"] for r in rows]


def test_pretrain_command_finds_a_stored_default_and_writes_its_lean_copy(tmp_path):
    """The command end to end without a training: the default moons DDPM is in the store already (the shipped
    file, copied into it); the shipped folder itself is no fallback of the command's store."""
    key = jobs.job_key(pretrain.default_spec("moons", "ddpm"))
    (tmp_path / "store").mkdir()
    shutil.copy(_path("moons", "ddpm"), tmp_path / "store")
    out = _cli("--store", tmp_path / "store", "--datasets", "moons", "--family", "ddpm",
               "--lean-out", tmp_path / "lean", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip())
    assert report["trained"] == 0 and report["stored"] == 1 and report["failed"] == 0
    assert report["models"] == [{"dataset": "moons", "family": "ddpm", "key": key, "steps": DDPMConfig().steps,
                                 "seconds": report["models"][0]["seconds"], "status": "stored"}]
    assert "stored" in out.stderr and "moons ddpm" in out.stderr
    store.from_bytes((tmp_path / "lean" / f"{key}{store.SUFFIX}").read_bytes(), key)
