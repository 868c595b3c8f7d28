"""The fast path gendemo/fast/ddpm_sampler.py equals the plain one: ddpm.sample (Eq. (9) per step, ddpm.p_step)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from gendemo import ddpm
from gendemo.fast.ddpm_sampler import eps_theta_fn
from gendemo.schedules import make_schedule

ACTIVATIONS = ["silu", "relu", "hardswish"]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _model(sched, seed: int = 0, activation: str = "silu") -> ddpm.DDPM:
    m = ddpm.DDPM(sched, width=16, depth=2, emb_dim=8, activation=activation)
    g = gen(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return m


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("sigma2", ["beta", "beta_tilde"])
@pytest.mark.parametrize("keep", [None, "all", [24, 23, 5], [1]])
def test_fast_sampler_equals_the_plain_chain(activation, sigma2, keep):
    sched = make_schedule("linear", 25, beta_1=1e-3, beta_N=0.2)
    model = _model(sched, seed=5, activation=activation)
    plain = ddpm.sample(model, 40, gen(8), sigma2=sigma2, keep=keep)
    fast = ddpm.sample(model, 40, gen(8), sigma2=sigma2, keep=keep, fast=True)
    assert fast.ks == plain.ks and fast.xs.dtype == plain.xs.dtype
    torch.testing.assert_close(fast.xs, plain.xs, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast.x0_hats, plain.x0_hats, rtol=1e-5, atol=1e-5)
    assert not torch.equal(plain.xs[0], plain.xs[-1])  # the chain moved: the comparison is not vacuous


def test_fast_sampler_from_a_given_noise_in_float64_and_its_kept_frames():
    sched = make_schedule("cosine", 20)
    model = copy.deepcopy(_model(sched, seed=3)).double()
    x_N = torch.randn(30, 2, generator=gen(1))
    plain = ddpm.sample(model, 30, gen(2), keep="all", x_N=x_N)
    fast = ddpm.sample(model, 30, gen(2), keep="all", x_N=x_N, fast=True)
    assert fast.xs.dtype == torch.float64
    torch.testing.assert_close(fast.xs, plain.xs, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(fast.x0_hats, plain.x0_hats, rtol=1e-10, atol=1e-10)
    sub = ddpm.sample(model, 30, gen(2), keep=list(range(0, 21, 3)), x_N=x_N, fast=True)
    idx = [fast.ks.index(k) for k in sub.ks]  # kept frames are the chain's own numbers, bit for bit
    assert torch.equal(sub.xs, fast.xs[idx]) and torch.equal(sub.x0_hats, fast.x0_hats[idx])


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fast_eps_equals_the_network(activation):
    sched = make_schedule("linear", 12)
    m = _model(sched, seed=2, activation=activation)
    x = torch.randn(40, 2, generator=gen(3)) * 2
    with torch.inference_mode():
        fast = eps_theta_fn(m, 40)
        for step in (1, 7, 12):
            want = m.eps_theta(x, torch.full((40,), step))
            torch.testing.assert_close(fast(x, step).clone(), want, rtol=1e-5, atol=1e-5)
            out = torch.empty(40, 2)
            assert fast(x, step, out) is out
            torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-5)


def test_fast_sampler_refuses_a_network_it_does_not_compute():
    sched = make_schedule("linear", 10)
    other = _model(sched)
    other.eps_theta.net[1] = nn.SiLU(inplace=True)  # same function, but not the plain alternation
    ddpm.sample(other, 5, gen(0))  # the plain path samples any ε_θ
    with pytest.raises(ValueError, match="plain EpsNet"):
        ddpm.sample(other, 5, gen(0), fast=True)
