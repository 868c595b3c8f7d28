"""Flow matching (Eq. (1)-(2)): the path, the loss and its minimiser, sampling t = 0 → 1, the exact likelihood."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from gendemo import checkpoints, datasets, jobs, metrics
from gendemo import flow_matching as fm
from gendemo.config import FMConfig, config_from_dict, config_to_dict
from gendemo.training import make_state, train_steps

F64 = torch.float64


def test_path_and_conditional_velocity():
    """X_t = (1 − t) X_0 + t X_1 runs from X_0 (t = 0, the prior) to X_1 (t = 1, the data) at velocity X_1 − X_0."""
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(7, 2, generator=g, dtype=F64), torch.randn(7, 2, generator=g, dtype=F64)
    assert torch.equal(fm.path(x0, x1, 0.0), x0) and torch.equal(fm.path(x0, x1, 1.0), x1)
    t = torch.rand(7, generator=g, dtype=F64).requires_grad_(True)
    xt = fm.path(x0, x1, t)
    torch.testing.assert_close(xt.detach(), x0 + t.detach()[:, None] * (x1 - x0))
    # d/dt X_t by autograd, coordinate by coordinate, is the conditional velocity.
    dt = torch.stack([torch.autograd.grad(xt[:, j].sum(), t, retain_graph=True)[0] for j in range(2)], dim=1)
    torch.testing.assert_close(dt, fm.conditional_velocity(x0, x1))


# A tiny discrete data set p_1 (three points, uniform) for the exact marginal velocity.
POINTS = torch.tensor([[1.0, 0.0], [-0.5, 1.5], [0.2, -1.0]], dtype=F64)


def u_star(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """u*(x, t) = (E[X_1 | X_t = x] − x)/(1 − t) by brute-force Bayes: p(x | X_1 = a_i) = N(x; t a_i, (1 − t)² I)."""
    t = t[:, None]
    s2 = (1.0 - t) ** 2  # (n, 1)
    lik = torch.stack([torch.exp(-((x - t * a) ** 2).sum(1, keepdim=True) / (2 * s2)) / (2 * math.pi * s2)
                       for a in POINTS], dim=1)[..., 0]  # (n, 3): the Gaussian density of x under each point
    post = lik / lik.sum(1, keepdim=True)  # P(X_1 = a_i | X_t = x), uniform prior over the points
    return (post @ POINTS - x) / (1.0 - t)


class Field(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, t):
        return self.fn(x, t)


def _model(fn) -> fm.FlowMatching:
    model = fm.FlowMatching(width=4, depth=1).double()
    model.u_theta = Field(fn)
    return model


def test_the_loss_is_the_mean_squared_velocity_error_with_its_draws():
    model = fm.FlowMatching(width=8, depth=1).double()
    x1 = torch.randn(64, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    value = fm.loss(model, x1, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    t = torch.rand(64, generator=g, dtype=F64)
    x0 = torch.randn(64, 2, generator=g, dtype=F64)
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    expected = ((model.u_theta(xt, t) - (x1 - x0)) ** 2).sum(1).mean()
    torch.testing.assert_close(value, expected)


def test_the_loss_is_minimised_by_the_exact_marginal_velocity():
    """L(u) = L(u*) + E|u − u*|²: u* = (E[X_1|X_t] − x)/(1 − t) is the minimiser (normal equations hold).

    Monte Carlo over 400,000 draws of (t, X_0, X_1) in float64, with the package's loss: for several
    perturbations δ, L(u* + δ) − L(u*) equals E|δ|² up to the cross term 2E[δ·(u* − (X_1 − X_0))], which
    vanishes for u* and is checked to be within 5 standard errors of 0, while a wrong field fails it.
    """
    n = 400_000
    x1 = POINTS[torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(2))]
    seed = 3
    g = torch.Generator().manual_seed(seed)  # the loss's own draws, replayed: t then X_0
    t = torch.rand(n, generator=g, dtype=F64)
    x0 = torch.randn(n, 2, generator=g, dtype=F64)
    xt = fm.path(x0, x1, t)
    resid = u_star(xt, t) - fm.conditional_velocity(x0, x1)

    base = fm.loss(_model(u_star), x1, torch.Generator().manual_seed(seed))
    torch.testing.assert_close(base, (resid ** 2).sum(1).mean())

    deltas = {
        "constant": lambda x, s: torch.tensor([0.3, -0.2], dtype=F64).expand_as(x),
        "linear in x": lambda x, s: 0.2 * x.flip(1),
        "time-dependent": lambda x, s: 0.3 * torch.sin(3 * x) * s[:, None],
        "early times only": lambda x, s: (s < 0.3)[:, None] * torch.tensor([0.0, 0.4], dtype=F64),
    }
    for name, delta in deltas.items():
        d = delta(xt, t)
        cross = 2 * (d * resid).sum(1)
        assert abs(cross.mean()) < 5 * cross.std() / math.sqrt(n), f"{name}: u* is not a stationary point"
        perturbed = fm.loss(_model(lambda x, s, delta=delta: u_star(x, s) + delta(x, s)), x1,
                            torch.Generator().manual_seed(seed))
        gain = float(perturbed - base)
        assert gain > 0, name
        assert abs(gain - float((d ** 2).sum(1).mean())) < 5 * float(cross.std()) / math.sqrt(n) + 1e-12, name

    # A wrong candidate (the posterior mean minus x, without 1/(1 − t)) is not stationary: the test can fail.
    wrong = u_star(xt, t) * (1.0 - t[:, None])
    wrong_resid = wrong - fm.conditional_velocity(x0, x1)
    cross = 2 * 0.3 * wrong_resid[:, 0]  # δ = (0.3, 0): L(wrong + δ) − L(wrong) − E|δ|² is far from 0
    assert abs(cross.mean()) > 20 * cross.std() / math.sqrt(n)


def test_a_trained_network_approaches_the_exact_marginal_velocity():
    """Train u_θ on the three points: at t = 0.5 its field is close to u* where X_t lives."""
    cfg = FMConfig(steps=1500, width=32, depth=2, lr=1e-2, batch=256, seed=0)
    data = POINTS.numpy().astype(np.float32).repeat(50, axis=0)
    state = make_state(cfg, data)
    train_steps(state, cfg.steps)
    model = state.model.double()
    g = torch.Generator().manual_seed(4)
    t = 0.5
    x1 = model.standardize(POINTS[torch.randint(0, 3, (2000,), generator=g)])
    xt = fm.path(torch.randn(2000, 2, generator=g, dtype=F64), x1, t)  # where X_t lives at t = 0.5
    # u* of the standardized points (the space u_θ works in).
    a = model.standardize(POINTS)
    s2 = (1 - t) ** 2
    lik = torch.exp(-((xt[:, None, :] - t * a[None]) ** 2).sum(-1) / (2 * s2))
    exact = ((lik / lik.sum(1, keepdim=True)) @ a - xt) / (1 - t)
    learned = fm.velocity_field(model, t, xt)
    rel = float(((learned - exact) ** 2).sum(1).mean() / (exact ** 2).sum(1).mean())
    assert rel < 0.05, rel


# A linear field carrying N(0, I) at t = 0 to N(m, diag(s²)) at t = 1 along Eq. (1):
# X_t = t m + σ_t Z with σ_t² = (1 − t)² + t² s², u(x, t) = m + (σ_t'/σ_t)(x − t m).
M = torch.tensor([1.5, -0.5], dtype=F64)
S = torch.tensor([0.4, 2.0], dtype=F64)


def gaussian_velocity(x, t):
    t = t[:, None] if isinstance(t, torch.Tensor) and t.ndim == 1 else t
    var = (1 - t) ** 2 + t * t * S ** 2
    return M + (t * S ** 2 - (1 - t)) / var * (x - t * M)


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_trajectories_run_from_the_prior_at_t0_to_the_data_at_t1(method):
    model = _model(gaussian_velocity)
    traj = fm.sample(model, 500, torch.Generator().manual_seed(6), steps=200, method=method)
    assert traj.ts[0] == 0.0 and traj.ts[-1] == 1.0 and all(a < b for a, b in zip(traj.ts, traj.ts[1:]))
    assert traj.xs.shape == (201, 500, 2)
    z = torch.randn(500, 2, generator=torch.Generator().manual_seed(6)).double()
    assert torch.equal(traj.xs[0], z), "xs[0] is the prior draw Y_0 ~ N(0, I)"
    tol = {"euler": 5e-2, "heun": 1e-4, "rk4": 1e-8}[method]
    for i in (50, 100, 200):  # X_t = t m + σ_t Z along the way, the data law N(m, s²) at t = 1
        t = traj.ts[i]
        sigma = torch.sqrt((1 - t) ** 2 + t * t * S ** 2)
        torch.testing.assert_close(traj.xs[i], t * M + sigma * z, atol=tol, rtol=0)


def test_log_prob_is_the_analytic_density_in_the_data_units():
    """With shift/scale, log p(x) of the data = the standardized density + the standardization's log-det."""
    model = _model(gaussian_velocity)
    model.shift.copy_(torch.tensor([3.0, -1.0], dtype=F64))
    model.scale.copy_(torch.tensor([0.5, 4.0], dtype=F64))
    mean, sd = model.shift + model.scale * M, model.scale * S  # the data's law
    x = mean + sd * torch.randn(200, 2, generator=torch.Generator().manual_seed(7), dtype=F64)
    expected = (-0.5 * ((x - mean) / sd) ** 2 - torch.log(sd) - 0.5 * math.log(2 * math.pi)).sum(1)
    torch.testing.assert_close(fm.log_prob(model, x, rtol=1e-9, atol=1e-9), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(fm.log_prob(model, x, method="rk4", steps=100), expected, atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def small_model():
    cfg = FMConfig(steps=400, width=32, depth=2, seed=0)
    state = make_state(cfg, datasets.load("moons", 2000, seed=0))
    train_steps(state, cfg.steps)
    return state


def test_a_trained_models_density_integrates_to_one(small_model):
    model = small_model.model
    lo, hi, m = np.array([-3.5, -3.0]), np.array([4.5, 3.5]), 140
    gx, gy = np.linspace(lo[0], hi[0], m), np.linspace(lo[1], hi[1], m)
    grid = torch.from_numpy(np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2).astype(np.float32))
    p = torch.exp(fm.log_prob(model, grid)).double().numpy()
    mass = p.sum() * (gx[1] - gx[0]) * (gy[1] - gy[0])
    assert abs(mass - 1.0) < 0.02, mass
    # And the samples go where the density is: the data, far better than the prior.
    traj = fm.sample(model, 1000, torch.Generator().manual_seed(8))
    data = datasets.load("moons", 1000, seed=9)
    ed_samples = metrics.energy_distance(model.unstandardize(traj.xs[-1]).numpy(), data)
    ed_prior = metrics.energy_distance(model.unstandardize(traj.xs[0]).numpy(), data)
    assert ed_samples < 0.4 * ed_prior, (ed_samples, ed_prior)


def test_config_validates_and_round_trips():
    cfg = FMConfig(width=16, seed=3)
    assert cfg.family == "flow_matching" and config_from_dict(config_to_dict(cfg)) == cfg
    for bad in ({"width": 0}, {"emb_dim": 3}, {"activation": "tanh"}, {"lr": -1.0}, {"depth": 9}):
        with pytest.raises(ValueError):
            FMConfig(**bad)


def test_checkpoint_round_trip(small_model, tmp_path):
    path = tmp_path / "fm.pt"
    checkpoints.save(path, small_model.config, small_model.model, small_model.step)
    ck = checkpoints.load(path)
    assert ck.config == small_model.config and ck.step == small_model.step
    assert isinstance(ck.model, fm.FlowMatching)
    for k, v in small_model.model.state_dict().items():
        assert torch.equal(ck.model.state_dict()[k], v), k
    a = fm.sample(small_model.model, 50, torch.Generator().manual_seed(1)).xs
    b = fm.sample(ck.model, 50, torch.Generator().manual_seed(1)).xs
    assert torch.equal(a, b)
    x = torch.randn(20, 2, generator=torch.Generator().manual_seed(2))
    assert torch.equal(fm.log_prob(small_model.model, x), fm.log_prob(ck.model, x))


def test_training_is_deterministic_and_a_jobs_snapshots_are_plain_training():
    cfg = FMConfig(steps=150, width=16, depth=2, batch=128)
    points = datasets.load("moons", 1000, 0)
    entry = jobs.run(jobs.JobSpec.of(jobs.builtin_spec("moons", 1000, 0, None), cfg), points)
    assert entry.snapshot_steps[0] == 0 and entry.snapshot_steps[-1] == cfg.steps
    state = make_state(cfg, points)
    done = 0
    for s in entry.snapshot_steps[::10] + [cfg.steps]:
        train_steps(state, s - done)
        done = s
        w = entry.weights_at(s)
        assert all(torch.equal(w[k], v) for k, v in state.model.state_dict().items()), f"step {s}"
    np.testing.assert_array_equal(entry.losses, np.asarray(state.history_loss, dtype=np.float32))
    # The store rebuilds it (store.build_model): the same model, frozen.
    stored = entry.model_at()
    assert isinstance(stored, fm.FlowMatching) and not any(p.requires_grad for p in stored.parameters())
    assert all(torch.equal(stored.state_dict()[k], v) for k, v in state.model.state_dict().items())
    # Chunked training gives the same weights as one call.
    other = make_state(cfg, points)
    train_steps(other, cfg.steps)
    assert all(torch.equal(other.model.state_dict()[k], v) for k, v in state.model.state_dict().items())


def test_cli_train_sample_logprob(tmp_path, capsys):
    """`train --model flow_matching`, then `sample` (the ODE) and `logprob` (exact) on its checkpoint."""
    from gendemo.cli import main

    ckpt, samples, data, lp = (str(tmp_path / n) for n in ("m.pt", "s.npy", "d.npy", "lp.npy"))
    assert main(["train", "--model", "flow_matching", "--dataset", "moons", "--n", "500", "--steps", "30",
                 "--width", "16", "--seed", "1", "--out", ckpt, "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["model"] == "flow_matching" and report["steps"] == 30 and np.isfinite(report["final_loss"])
    ck = checkpoints.load(ckpt)
    assert ck.config == FMConfig(steps=30, width=16, seed=1) and isinstance(ck.model, fm.FlowMatching)
    assert main(["sample", "--ckpt", ckpt, "--n", "123", "--seed", "2", "--out", samples]) == 0
    x = np.load(samples)
    expected = ck.model.unstandardize(fm.sample(ck.model, 123, torch.Generator().manual_seed(2)).xs[-1]).numpy()
    np.testing.assert_array_equal(x, expected.astype(np.float32))
    assert main(["data", "--dataset", "moons", "--n", "64", "--seed", "0", "--out", data]) == 0
    capsys.readouterr()
    assert main(["logprob", "--ckpt", ckpt, "--data", data, "--out", lp, "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["exact"] is True and "Eq. (2)" in out["estimate"]
    v = np.load(lp)
    np.testing.assert_allclose(v, fm.log_prob(ck.model, torch.from_numpy(np.load(data))).double().numpy(), rtol=1e-6)
    assert main(["train", "--model", "flow_matching", "--dataset", "moons", "--K", "2", "--out", ckpt]) == 2
