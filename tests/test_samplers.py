"""The DDPM samplers (gendemo/samplers.py): DDIM against Algorithm Sampling, the PF-ODE against Gaussian truth."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from gendemo import ddpm, samplers
from gendemo.nets import init_parameters_
from gendemo.schedules import make_schedule

F64 = torch.float64


def _ddpm(N: int = 50, seed: int = 0) -> ddpm.DDPM:
    """An untrained DDPM in float64: a smooth, nonlinear ε_θ (the identities below hold for any ε_θ)."""
    model = ddpm.DDPM(make_schedule("linear", N, 1e-4, 0.05), width=32, depth=2, activation="silu")
    init_parameters_(model, torch.Generator().manual_seed(seed))
    return model.double()


class GaussianEps(nn.Module):
    """The exact ε of Gaussian data N(m, s² I) under q(x^(k) | x^(0)) = N(√ᾱ x^(0), (1 − ᾱ) I) (Eq. (7)).

    x^(k) = √ᾱ x^(0) + √(1 − ᾱ) ε is Gaussian, N(√ᾱ m, v I) with v = ᾱ s² + 1 − ᾱ, and Cov(ε, x^(k)) = √(1 − ᾱ) I,
    so E[ε | x^(k) = x] = √(1 − ᾱ)/v · (x − √ᾱ m): linear in x. ᾱ at a continuous step k = N t is the
    probability flow's ᾱ(t) (equal to ᾱ_k at integers).
    """

    def __init__(self, sched, m, s):
        super().__init__()
        self.sched, self.m, self.s = sched, torch.as_tensor(m, dtype=F64), float(s)
        self.flow = None
        self.register_buffer("shift", torch.zeros(2, dtype=F64))
        self.register_buffer("scale", torch.ones(2, dtype=F64))

    def eps_theta(self, x, k):
        k0 = float(k[0])
        assert bool((k == k[0]).all())
        ab = float(self.sched.alpha_bar[int(k0)]) if k0 == int(k0) else self.flow.alpha_bar(k0 / self.sched.N)
        v = ab * self.s**2 + 1 - ab
        return math.sqrt(1 - ab) / v * (x - math.sqrt(ab) * self.m.to(x.dtype))

    def standardize(self, x):
        return x

    def unstandardize(self, x):
        return x


def _gaussian_model(N=100, beta_N=0.05, m=(0.5, -1.0), s=0.6):
    model = GaussianEps(make_schedule("linear", N, 1e-4, beta_N), m, s)
    model.flow = samplers.ProbabilityFlow(model)
    return model


def test_timesteps_even_distinct_and_complete():
    assert samplers.timesteps(10, 10) == list(range(10, -1, -1))
    for N, S in [(200, 7), (200, 50), (1000, 333), (3, 2)]:
        ks = samplers.timesteps(N, S)
        assert len(ks) == S + 1 and ks[0] == N and ks[-1] == 0 and all(a > b for a, b in itertools.pairwise(ks))
    with pytest.raises(ValueError, match="at most N"):
        samplers.timesteps(10, 11)


def test_ddim_eta1_on_all_steps_is_algorithm_sampling_with_beta_tilde_draw_for_draw():
    """η = 1, j = k − 1: σ² = β̃_k and mean μ_θ (Eq. (8)-(9)); with the same generator state the same draws."""
    model = _ddpm()
    g = torch.Generator().manual_seed(3)
    x_N = torch.randn(500, 2, generator=g).double()  # ddpm.sample's first draw, then its z's
    state = g.get_state()
    ref = ddpm.sample(model, 500, torch.Generator().manual_seed(3), sigma2="beta_tilde", keep="all")
    g.set_state(state)
    got = samplers.ddim(model, x_N, model.sched.N, eta=1.0, generator=g)
    assert got.times == [float(k) for k in ref.ks]
    torch.testing.assert_close(got.xs, ref.xs, rtol=1e-10, atol=1e-10)
    # and via the ancestral sampler of this module (ddpm.sample from the given x_N)
    anc = samplers.ancestral(model, x_N, model.sched.N, torch.Generator().manual_seed(3).set_state(state),
                             sigma2="beta_tilde")
    torch.testing.assert_close(anc.xs, ref.xs, rtol=1e-10, atol=1e-10)


def test_ddim_eta1_one_step_mean_and_variance_are_eq9_beta_tilde():
    """One step k → k − 1: E = μ_θ(x^(k), k) of Eq. (9) (by `ddpm.mu_theta_from_eps`), Var = β̃_k per coordinate."""
    model = _ddpm(N=40, seed=1)
    x_k = torch.randn(20_000, 2, generator=torch.Generator().manual_seed(4), dtype=F64)
    for k in (2, 17, 40):
        out = samplers.ddim(model, x_k, [k, k - 1], eta=1.0, generator=torch.Generator().manual_seed(5)).final
        z = torch.randn(20_000, 2, generator=torch.Generator().manual_seed(5)).double()
        with torch.no_grad():
            mu = ddpm.mu_theta_from_eps(x_k, k, model(x_k, k), model.sched)
        bt = float(model.sched.beta_tilde[k])
        torch.testing.assert_close(out, mu + math.sqrt(bt) * z, rtol=1e-10, atol=1e-10)
        resid = out - mu
        assert float(resid.mean().abs()) < 4 * math.sqrt(bt / resid.numel())
        assert float(resid.var()) == pytest.approx(bt, rel=0.04)


def test_ancestral_on_a_subsequence_is_ddim_eta1_on_it_with_beta_tilde():
    """The respaced chain's Algorithm Sampling with σ² = β̃' equals DDIM η = 1 on the same sub-sequence."""
    model = _ddpm(N=60, seed=2)
    x_N = torch.randn(300, 2, generator=torch.Generator().manual_seed(6), dtype=F64)
    a = samplers.ancestral(model, x_N, 12, torch.Generator().manual_seed(7), sigma2="beta_tilde")
    d = samplers.ddim(model, x_N, 12, eta=1.0, generator=torch.Generator().manual_seed(7))
    assert a.times == d.times == [float(k) for k in samplers.timesteps(60, 12)]
    torch.testing.assert_close(a.xs, d.xs, rtol=1e-10, atol=1e-10)


def test_respaced_schedule_keeps_eq7():
    sched = make_schedule("cosine", 100)
    taus = [0, 3, 10, 50, 100]
    r = samplers.respaced_schedule(sched, taus)
    torch.testing.assert_close(torch.cumprod(r.alpha, 0), sched.alpha_bar[taus])
    assert r.N == 4


def test_samplers_reach_gaussian_data_with_its_exact_eps():
    """With the exact ε of N(m, s² I), every sampler maps N(0, I) noise to mean m and variance s²."""
    model = _gaussian_model(N=200, beta_N=0.1)
    x_N = torch.randn(20_000, 2, generator=torch.Generator().manual_seed(8), dtype=F64)
    m, s2 = torch.tensor([0.5, -1.0], dtype=F64), 0.36
    paths = [samplers.ddim(model, x_N, 200, eta=0.0), samplers.ddim(model, x_N, 200, eta=0.5,
                                                                    generator=torch.Generator().manual_seed(9)),
             samplers.ancestral(model, x_N, 200, torch.Generator().manual_seed(9)),
             samplers.pf_ode(model, x_N, 100, method="heun")]
    for p in paths:
        x = p.final.double()
        assert torch.allclose(x.mean(0), m, atol=0.03), (p.sampler, x.mean(0))
        assert torch.allclose(x.var(0), torch.full((2,), s2, dtype=F64), rtol=0.05), (p.sampler, x.var(0))


def test_ddim_eta0_is_deterministic_and_inverts():
    """η = 0 draws nothing and gives the same path from the same x_N; running the update towards the noise
    (DDIM inversion) from x^(1) returns to x^(N), closer with more steps."""
    model = _gaussian_model(N=200)
    x_N = torch.randn(1000, 2, generator=torch.Generator().manual_seed(10), dtype=F64)
    g = torch.Generator().manual_seed(11)
    state = g.get_state()
    a = samplers.ddim(model, x_N, 200, eta=0.0, generator=g)
    assert torch.equal(g.get_state(), state)  # no draw
    b = samplers.ddim(model, x_N, 200, eta=0.0, generator=torch.Generator().manual_seed(99))
    assert torch.equal(a.xs, b.xs)
    errs = []
    for S in (50, 100, 199):  # steps N … 1 (the network is not asked at k = 0)
        ks = [int(k) for k in np.unique(np.rint(np.linspace(1, 200, S + 1)))][::-1]
        down = samplers.ddim(model, x_N, ks, eta=0.0)
        up = samplers.ddim(model, down.final, ks[::-1], eta=0.0)
        assert up.times[0] == 1.0 and up.times[-1] == 200.0
        errs.append(float(((up.final - x_N).norm(dim=1) / x_N.norm(dim=1)).median()))
    # measured: 0.067, 0.034, 0.017: a first-order error (ε is taken at the step the update leaves)
    assert errs[2] < 0.025 and 1.7 < errs[0] / errs[1] < 2.3
    with pytest.raises(ValueError, match="inversion"):
        samplers.ddim(model, x_N, [0, 5], eta=0.0)
    with pytest.raises(ValueError, match="inversion"):
        samplers.ddim(model, x_N, [1, 5], eta=0.5, generator=g)


def test_pf_ode_likelihood_equals_gaussian_density_with_exact_eps():
    """The PF-ODE's exact log-likelihood (dopri5, float64) of N(m, s² I) data with its exact ε is log N(x; m, s² I).

    β up to 0.2 over N = 200 steps leaves ᾱ_N < 1e-8: the prior N(0, I) is the process's marginal at t = 1 to ~1e-9 nats.
    """
    model = _gaussian_model(N=200, beta_N=0.2)
    assert float(model.sched.alpha_bar[-1]) < 1e-8
    x = torch.tensor([[0.5, -1.0], [1.2, 0.3], [-0.4, -2.0], [2.0, 1.0]], dtype=F64)
    lp = samplers.log_likelihood(model, x, method="dopri5", rtol=1e-9, atol=1e-9)
    m, s = torch.tensor([0.5, -1.0], dtype=F64), 0.6
    want = -((x - m) ** 2).sum(1) / (2 * s * s) - math.log(2 * math.pi * s * s)
    torch.testing.assert_close(lp, want, rtol=0, atol=2e-4)
    # a fixed-step method converges to the same value
    lp_rk4 = samplers.log_likelihood(model, x, method="rk4", steps=400)
    torch.testing.assert_close(lp_rk4, want, rtol=0, atol=2e-3)


def test_probability_flow_matches_the_discrete_schedule():
    """ᾱ(k/N) = ᾱ_k at every step, β(t) ≥ 0, and β/N ≈ −log α_k ≈ β_k mid-step (the chain is the VP process at t_k = k/N)."""
    sched = make_schedule("linear", 200, 1e-4, 0.05)
    model = GaussianEps(sched, (0, 0), 1.0)
    flow = samplers.ProbabilityFlow(model)
    for k in (0, 1, 7, 100, 200):
        assert flow.alpha_bar(k / 200) == pytest.approx(float(sched.alpha_bar[k]), rel=1e-12)
    ts = np.linspace(0, 1, 2001)
    betas = np.array([flow.beta(t) for t in ts])
    assert (betas >= 0).all()
    for k in (10, 100, 190):
        assert flow.beta((k - 0.5) / 200) / 200 == pytest.approx(-math.log(1 - float(sched.beta[k])), rel=0.002)


def test_time_direction_of_every_path():
    """DDPM samplers run the DDPM's clock k = N → 0 (t = k/N from 1 to 0); progress runs 0 → 1 for all."""
    model = _ddpm(N=30)
    x_N = torch.randn(10, 2, generator=torch.Generator().manual_seed(12), dtype=F64)
    for name in ("ancestral", "ddim", "pf-ode"):
        p = samplers.run(name, model, x_N, 10, torch.Generator().manual_seed(13))
        assert p.times[0] == 30 and p.times[-1] == 0 and all(a > b for a, b in zip(p.times, p.times[1:]))
        assert p.progress[0] == 0 and p.progress[-1] == 1 and p.xs.shape == (11, 10, 2)
        assert torch.equal(p.xs[0], x_N.to(p.xs.dtype))


def test_fm_ode_runs_forward_in_time_from_the_same_noise():
    from gendemo import flow_matching

    model = flow_matching.FlowMatching(width=16, depth=2)
    x_N = torch.randn(10, 2, generator=torch.Generator().manual_seed(14))
    p = samplers.run("ode", model, x_N, 8)
    assert p.times[0] == 0 and p.times[-1] == 1 and all(a < b for a, b in zip(p.times, p.times[1:]))
    assert p.progress == p.times and torch.equal(p.xs[0], x_N) and p.nfe == 16


def test_bad_combinations_are_refused():
    model = _ddpm(N=20)
    x_N = torch.randn(5, 2, dtype=F64)
    with pytest.raises(ValueError, match="sampler must be one of"):
        samplers.run("euler", model, x_N, 5)
    with pytest.raises(ValueError, match="flow-matching model"):
        samplers.run("ode", model, x_N, 5)
    with pytest.raises(ValueError, match="eta applies to the ddim"):
        samplers.run("ancestral", model, x_N, 5, torch.Generator(), eta=0.5)
    with pytest.raises(ValueError, match="at most N"):
        samplers.run("ddim", model, x_N, 21)
    with pytest.raises(ValueError, match="generator"):
        samplers.run("ddim", model, x_N, 5, None, eta=0.5)
    with pytest.raises(ValueError, match="eta must be"):
        samplers.ddim(model, x_N, 5, eta=1.5, generator=torch.Generator())


def test_quality_curve_rows_and_steps_to_reach():
    """Rows per (sampler, steps) with the shared floor; step counts above N skipped for the DDPM samplers."""
    model = _gaussian_model(N=50, beta_N=0.4)  # ᾱ_N ≈ 5e-5: x^(N) ~ N(0, I) is the chain's marginal
    g = torch.Generator().manual_seed(15)
    m, s = torch.tensor([0.5, -1.0], dtype=F64), 0.6
    held = (m + s * torch.randn(300, 2, generator=g, dtype=F64)).numpy()
    ref = (m + s * torch.randn(300, 2, generator=g, dtype=F64)).numpy()
    rows = samplers.quality_curve(model, held, ref, step_counts=(2, 50, 100), samplers=("ancestral", "ddim", "pf-ode"))
    assert [(r["sampler"], r["steps"]) for r in rows] == [("ancestral", 2), ("ancestral", 50), ("ddim", 2),
                                                          ("ddim", 50), ("pf-ode", 2), ("pf-ode", 50)]
    assert len({r["floor"] for r in rows}) == 1
    for name in ("ancestral", "ddim", "pf-ode"):  # the exact ε at all steps samples the data law
        best = next(r for r in rows if r["sampler"] == name and r["steps"] == 50)
        assert best["ratio"] < 3
    reach = samplers.steps_to_reach(rows, 3.0)
    assert reach["ddim"] in (2, 50)
    assert samplers.steps_to_reach([{"sampler": "x", "steps": 5, "ratio": 9.0}]) == {"x": None}


def test_pf_ode_density_of_a_nonlinear_eps_integrates_to_one():
    """The exact Gaussian ε plus 0.3 × an untrained ε-network: a nonlinear field whose PF-ODE density (RK4, float64)
    is not the Gaussian's, yet integrates to 1 on a grid (the change of variables is exact: a wrong sign or a
    missing term in the divergence would not)."""

    class Warped(GaussianEps):
        def __init__(self, sched):
            super().__init__(sched, (0.3, -0.2), 0.8)
            self.net = _ddpm(N=sched.N, seed=4).eps_theta
            self.flow = samplers.ProbabilityFlow(self)

        def eps_theta(self, x, k):
            return super().eps_theta(x, k) + 0.3 * self.net(x, k)

    model = Warped(make_schedule("linear", 50, 1e-4, 0.3))  # ᾱ_N ≈ 2e-4
    g = torch.linspace(-5, 5, 50, dtype=F64)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    pts = torch.stack([xx.ravel(), yy.ravel()], 1)
    lp = samplers.log_likelihood(model, pts, method="rk4", steps=30)
    assert float(lp.exp().sum() * (g[1] - g[0]) ** 2) == pytest.approx(1.0, abs=0.005)
    gauss = -((pts - torch.tensor([0.3, -0.2], dtype=F64)) ** 2).sum(1) / (2 * 0.64) - math.log(2 * math.pi * 0.64)
    near = gauss > math.log(0.05)
    assert float((lp - gauss)[near].abs().max()) > 0.1  # the network's part matters
