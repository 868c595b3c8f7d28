"""`python -m gendemo`: every command on a tiny budget; bad arguments exit 2 with one line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "gendemo", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_help_on_every_command():
    for cmd in ([], ["train"], ["sample"], ["logprob"], ["data"]):
        out = run(*cmd, "--help")
        assert out.returncode == 0 and "usage:" in out.stdout
        if cmd == ["logprob"]:
            assert "--n-mc" in out.stdout and "default 16" in out.stdout and "--se-out" in out.stdout


@pytest.mark.parametrize("model", ["ddpm", "nice", "realnvp"])
def test_train_sample_logprob_round(model, tmp_path):
    ckpt, samples, data, lp = (tmp_path / n for n in ("m.pt", "s.npy", "d.npy", "lp.npy"))
    extra = ["--N", 20] if model == "ddpm" else ["--K", 2]
    out = run("train", "--model", model, "--dataset", "moons", "--n", 500, "--steps", 30, "--seed", 1,
              "--width", 16, *extra, "--out", ckpt)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["steps"] == 30 and report["train_seconds"] > 0 and report["steps_per_s"] > 0
    assert np.isfinite(report["final_loss"])
    assert "30/30" in out.stderr  # the progress bar reached the end

    assert run("sample", "--ckpt", ckpt, "--n", 123, "--seed", 2, "--out", samples).returncode == 0
    x = np.load(samples)
    assert x.shape == (123, 2) and x.dtype == np.float32 and np.isfinite(x).all()

    assert run("data", "--dataset", "moons", "--n", 64, "--seed", 0, "--out", data).returncode == 0
    out = run("logprob", "--ckpt", ckpt, "--data", data, "--out", lp)
    assert out.returncode == 0, out.stderr
    v = np.load(lp)
    assert v.shape == (64,) and np.isfinite(v).all()


def test_train_on_a_csv_file(tmp_path):
    csv = tmp_path / "pts.csv"
    rng = np.random.default_rng(0)
    csv.write_text("x;y\n" + "\n".join(f"{a:.4f};{b:.4f}" for a, b in rng.normal(size=(200, 2))))
    out = run("train", "--model", "nice", "--data", csv, "--steps", 5, "--K", 2, "--out", tmp_path / "m.pt")
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("args", [
    ["train", "--model", "gan", "--dataset", "moons", "--out", "x.pt"],
    ["train", "--model", "ddpm", "--dataset", "nope", "--out", "x.pt"],
    ["train", "--model", "ddpm", "--dataset", "moons", "--steps", "-3", "--out", "x.pt"],
    ["train", "--model", "ddpm", "--dataset", "moons", "--beta-1", "0.5", "--beta-N", "0.1", "--out", "x.pt"],
    ["train", "--model", "ddpm", "--dataset", "moons", "--n", "0", "--out", "x.pt"],
    ["train", "--model", "realnvp", "--dataset", "moons", "--N", "10", "--out", "x.pt"],
    ["train", "--model", "realnvp", "--data", "/nonexistent.csv", "--out", "x.pt"],
    ["train", "--model", "ddpm", "--steps", "abc", "--dataset", "moons", "--out", "x.pt"],
    ["sample", "--ckpt", "/nonexistent.pt", "--n", "5", "--out", "s.npy"],
    ["data", "--dataset", "moons", "--n", "-1", "--out", "d.npy"],
    ["frobnicate"],
])
def test_bad_arguments_exit_2_with_one_line(args, tmp_path):
    out = subprocess.run([sys.executable, "-m", "gendemo", *args], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": ROOT}, timeout=120)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "error" in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def cheap_checkpoint(path, model="ddpm", **overrides):
    """An untrained tiny model written as a checkpoint (no training run): logprob needs only weights."""
    from gendemo import checkpoints, datasets
    from gendemo.config import DDPMConfig, FlowConfig
    from gendemo.training import make_state

    config = (DDPMConfig(**{"N": 2, "width": 8, "depth": 1, "steps": 0, **overrides}) if model == "ddpm"
              else FlowConfig(kind=model, K=2, width=8, depth=1, steps=0))
    state = make_state(config, datasets.load("moons", 200, 0))
    checkpoints.save(path, config, state.model, 0)
    return state.model


def last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def in_process(capsys, *args):
    """`python -m gendemo ARGS` run by cli.main in this process (no interpreter start): (status, stdout, stderr)."""
    from gendemo.cli import main

    try:
        status = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    out = capsys.readouterr()
    return status, out.out, out.err


def test_logprob_n_mc_and_standard_errors(tmp_path, capsys):
    ckpt, data, lp, se = (tmp_path / n for n in ("m.pt", "d.npy", "lp.npy", "se.npy"))
    cheap_checkpoint(ckpt, N=10)
    np.save(data, np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32))
    errors = {}
    for n_mc in (4, 16):
        status, stdout, stderr = in_process(capsys, "logprob", "--ckpt", ckpt, "--data", data, "--n-mc", n_mc,
                                            "--out", lp, "--se-out", se)
        assert status == 0, stderr
        report = last_json(stdout)
        assert report["n"] == 300 and report["n_mc"] == n_mc and report["sigma2"] == "beta"
        assert not report["exact"] and "estimate" in report["estimate"]
        v, s = np.load(lp), np.load(se)
        assert v.shape == s.shape == (300,) and v.dtype == np.float64 and np.isfinite(v).all() and (s > 0).all()
        assert report["se_mean"] == pytest.approx(s.mean()) and report["se_max"] == pytest.approx(s.max())
        errors[n_mc] = np.sqrt(np.mean(s ** 2))
    assert 1.6 < errors[4] / errors[16] < 2.5  # √(16/4) = 2
    status, stdout, _ = in_process(capsys, "logprob", "--ckpt", ckpt, "--data", data, "--n-mc", 1, "--out", lp,
                                   "--se-out", se)
    assert status == 0 and last_json(stdout)["se_mean"] is None and np.isnan(np.load(se)).all()
    for bad in ("0", "x"):
        status, _, stderr = in_process(capsys, "logprob", "--ckpt", ckpt, "--data", data, "--n-mc", bad, "--out", lp)
        assert status == 2 and len(stderr.strip().splitlines()) == 1, stderr


@pytest.mark.parametrize("model", ["ddpm", "realnvp"])
def test_logprob_on_a_400_by_400_grid(model, tmp_path):
    """160,000 points (a heatmap's grid, above the 100,000 a training set may hold): worked through in chunks,
    with a progress bar, and the same values as one in-process call (the chunks keep the draws)."""
    from gendemo.generate import log_prob_points

    ckpt, data, lp, se = (tmp_path / n for n in ("m.pt", "grid.npy", "lp.npy", "se.npy"))
    fitted = cheap_checkpoint(ckpt, model=model)
    g = np.linspace(-3, 3, 400, dtype=np.float32)
    grid = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    np.save(data, grid)
    out = run("logprob", "--ckpt", ckpt, "--data", data, "--n-mc", 2, "--seed", 3, "--out", lp, "--se-out", se)
    assert out.returncode == 0, out.stderr
    assert "160000/160000" in out.stderr and last_json(out.stdout)["n"] == 160_000
    v, s = np.load(lp), np.load(se)
    assert v.shape == s.shape == (160_000,) and np.isfinite(v).all()
    ref = log_prob_points(fitted, grid, torch.Generator().manual_seed(3), n_mc=2)
    np.testing.assert_allclose(v, ref.value, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(s, ref.se, rtol=1e-6, atol=1e-6)
    assert (s == 0).all() == (model == "realnvp")


def test_logprob_refuses_bad_points_in_one_line(tmp_path, capsys):
    ckpt = tmp_path / "m.pt"
    cheap_checkpoint(ckpt)
    bad = {"nan.npy": np.array([[0.0, 1.0], [np.nan, 2.0]]), "shape.npy": np.zeros((5, 3)),
           "strings.npy": np.array([["a", "b"]]), "empty.npy": np.zeros((0, 2)), "missing.npy": None}
    for name, arr in bad.items():
        if arr is not None:
            np.save(tmp_path / name, arr)
        status, _, stderr = in_process(capsys, "logprob", "--ckpt", ckpt, "--data", tmp_path / name,
                                       "--out", tmp_path / "lp.npy")
        assert status == 2 and len(stderr.strip().splitlines()) == 1, (name, stderr)
        assert "error" in stderr and not (tmp_path / "lp.npy").exists()
