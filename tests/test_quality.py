"""The defaults learn moons within their planned budget: DDPM samples near the data, RealNVP near its entropy.

These train for real (the default number of steps, seconds on one thread), so they are marked slow.
The factors are stated here and in the README; benchmarks/run.py reports the exact figures.
"""

import numpy as np
import pytest
import torch

from gendemo import datasets, metrics
from gendemo.config import DDPMConfig, FlowConfig
from gendemo.generate import draw_samples
from gendemo.training import make_state, train_steps

DDPM_ED_FACTOR = 3.0  # energy distance of 2,000 samples ≤ this × its floor
FLOW_NLL_GAP = 0.06  # held-out NLL − H(q₀) ≤ this many nats
N_EVAL = 2000


def _train(config):
    state = make_state(config, datasets.load("moons", datasets.DEFAULT_N, seed=0))  # the app's default data
    while state.step < config.steps:
        train_steps(state, min(500, config.steps - state.step))
    return state


@pytest.mark.slow
def test_default_ddpm_samples_reach_the_floor_on_moons():
    state = _train(DDPMConfig())
    samples = draw_samples(state.model, N_EVAL, torch.Generator().manual_seed(5))
    heldout = datasets.load("moons", N_EVAL, seed=11)
    reference = datasets.load("moons", N_EVAL, seed=12)
    q = metrics.with_floor(metrics.energy_distance, samples, heldout, reference)
    assert np.isfinite(samples).all()
    assert q["ratio"] <= DDPM_ED_FACTOR, q


@pytest.mark.slow
def test_default_realnvp_density_reaches_the_entropy_on_moons():
    state = _train(FlowConfig())
    heldout = datasets.load("moons", 20_000, seed=11)
    nll = metrics.nll(state.model.log_prob, heldout)
    h = datasets.entropy("moons", n=200_000, seed=3)
    assert h - 0.01 <= nll <= h + FLOW_NLL_GAP, (nll, h)
