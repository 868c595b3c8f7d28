"""`python -m gendemo`: every command on a tiny budget; bad arguments exit 2 with one line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "gendemo", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_help_on_every_command():
    for cmd in ([], ["train"], ["sample"], ["logprob"], ["data"]):
        out = run(*cmd, "--help")
        assert out.returncode == 0 and "usage:" in out.stdout


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


def test_import_gendemo_does_not_import_streamlit():
    code = ("import sys, gendemo, gendemo.cli, gendemo.training, gendemo.checkpoints, gendemo.metrics;"
            "import gendemo.viz\n"
            "print('streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
