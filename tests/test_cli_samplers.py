"""`python -m gendemo sample --sampler …` and `logprob --method …` (issue 15): results and refused combinations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gendemo import checkpoints, cli, samplers
from gendemo.config import DDPMConfig, FlowConfig
from gendemo.nets import init_parameters_
from gendemo.training import make_model


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("ck")
    cfg = DDPMConfig(N=20, width=16, depth=2, steps=1)
    model = make_model(cfg, np.array([0.5, -0.2]), np.array([2.0, 0.5]))
    init_parameters_(model, torch.Generator().manual_seed(0))
    checkpoints.save(d / "ddpm.pt", cfg, model, 0)
    fcfg = FlowConfig(K=2, width=8, depth=1, steps=1)
    flow = make_model(fcfg, np.zeros(2), np.ones(2))
    checkpoints.save(d / "flow.pt", fcfg, flow, 0)
    np.save(d / "x.npy", np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32))
    return d, model


def _run(capsys, *args):
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sampler_runs_from_the_seeds_first_draw(ckpts, capsys, tmp_path):
    d, model = ckpts
    code, _, err = _run(capsys, "sample", "--ckpt", d / "ddpm.pt", "--n", 50, "--seed", 3, "--sampler", "ddim",
                        "--steps", 5, "--out", tmp_path / "s.npy")
    assert code == 0, err
    got = np.load(tmp_path / "s.npy")
    x_N = torch.randn(50, 2, generator=torch.Generator().manual_seed(3))
    want = model.unstandardize(samplers.ddim(model, x_N, 5, eta=0.0).final).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    # ancestral on all N steps is today's default sample, draw for draw
    _run(capsys, "sample", "--ckpt", d / "ddpm.pt", "--n", 50, "--seed", 3, "--out", tmp_path / "a.npy")
    _run(capsys, "sample", "--ckpt", d / "ddpm.pt", "--n", 50, "--seed", 3, "--sampler", "ancestral", "--out",
         tmp_path / "b.npy")
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"), rtol=1e-5, atol=1e-5)
    code, _, err = _run(capsys, "sample", "--ckpt", d / "ddpm.pt", "--n", 20, "--sampler", "pf-ode", "--steps", 40,
                        "--solver", "rk4", "--out", tmp_path / "p.npy")
    assert code == 0, err
    assert np.isfinite(np.load(tmp_path / "p.npy")).all()


@pytest.mark.parametrize("args, message", [
    (["--sampler", "ode"], "pf-ode"),
    (["--sampler", "ancestral", "--eta", "0.5"], "--eta applies to --sampler ddim"),
    (["--sampler", "ddim", "--steps", "21"], "must be in [1, 20]"),
    (["--sampler", "ddim", "--solver", "rk4"], "--solver applies"),
    (["--sampler", "pf-ode", "--sigma2", "beta"], "--sigma2 applies to --sampler ancestral"),
    (["--sampler", "ddim", "--eta", "2"], "eta must be a number in [0, 1]"),
])
def test_bad_sampler_combinations(ckpts, capsys, tmp_path, args, message):
    d, _ = ckpts
    code, _, err = _run(capsys, "sample", "--ckpt", d / "ddpm.pt", "--n", 5, *args, "--out", tmp_path / "s.npy")
    assert code == 2 and message in err and err.count("\n") == 1


def test_flow_checkpoint_refuses_a_sampler(ckpts, capsys, tmp_path):
    d, _ = ckpts
    code, _, err = _run(capsys, "sample", "--ckpt", d / "flow.pt", "--n", 5, "--sampler", "ddim", "--out",
                        tmp_path / "s.npy")
    assert code == 2 and "NICE/RealNVP" in err


def test_logprob_method_ode_is_the_pf_ode_likelihood(ckpts, capsys, tmp_path):
    d, model = ckpts
    code, out, err = _run(capsys, "logprob", "--ckpt", d / "ddpm.pt", "--data", d / "x.npy", "--method", "ode",
                          "--out", tmp_path / "lp.npy", "--quiet")
    assert code == 0, err
    line = json.loads(out)
    assert line["exact"] is True and line["method"] == "ode" and line["n_mc"] is None
    want = samplers.log_likelihood(model, torch.from_numpy(np.load(d / "x.npy"))).double().numpy()
    np.testing.assert_allclose(np.load(tmp_path / "lp.npy"), want, rtol=1e-6, atol=1e-6)
    # --method bound is today's default (the Monte-Carlo bound)
    code, out, _ = _run(capsys, "logprob", "--ckpt", d / "ddpm.pt", "--data", d / "x.npy", "--method", "bound",
                        "--n-mc", 2, "--out", tmp_path / "b.npy", "--quiet")
    assert code == 0 and json.loads(out)["exact"] is False and json.loads(out)["n_mc"] == 2


@pytest.mark.parametrize("ck, args, message", [
    ("ddpm.pt", ["--method", "ode", "--n-mc", "4"], "--n-mc and --sigma2 belong to --method bound"),
    ("flow.pt", ["--method", "bound"], "omit --method"),
    ("flow.pt", ["--method", "ode"], "Eq. (11)"),
])
def test_bad_logprob_combinations(ckpts, capsys, tmp_path, ck, args, message):
    d, _ = ckpts
    code, _, err = _run(capsys, "logprob", "--ckpt", d / ck, "--data", d / "x.npy", *args, "--out",
                        tmp_path / "lp.npy", "--quiet")
    assert code == 2 and message in err
