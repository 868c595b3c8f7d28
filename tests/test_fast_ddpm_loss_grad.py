"""The fast path gendemo/fast/ddpm_loss_grad.py equals the plain one: ddpm.loss + autograd, and training with it."""

import io

import pytest
import torch
from torch import nn

from gendemo import checkpoints, datasets, ddpm
from gendemo.config import DDPMConfig, config_from_dict, config_to_dict
from gendemo.fast.ddpm_loss_grad import DDPMLossGrad
from gendemo.fast.grad_buffer import GradBuffer
from gendemo.nets import init_parameters_
from gendemo.schedules import make_schedule
from gendemo.training import make_state, train_steps

ACTIVATIONS = ["silu", "relu", "hardswish"]


def _model(width: int, depth: int, emb_dim: int, N: int, seed: int, dtype=torch.float32,
           activation: str = "silu") -> ddpm.DDPM:
    m = ddpm.DDPM(make_schedule("linear", N, 1e-3, 0.1), width=width, depth=depth, emb_dim=emb_dim,
                  activation=activation)
    init_parameters_(m, torch.Generator().manual_seed(seed))
    with torch.no_grad():  # biases away from their init too, so every term of the gradient matters
        for p in m.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(seed + p.numel())))
    return m.to(dtype)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("weighting", ["simple", "bound"])
@pytest.mark.parametrize(("width", "depth", "emb_dim", "n"),
                         [(64, 3, 32, 256), (16, 1, 8, 7), (33, 2, 6, 100), (128, 4, 32, 64), (8, 5, 2, 1)])
def test_loss_and_gradient_equal_autograds(weighting, width, depth, emb_dim, n, activation):
    model = _model(width, depth, emb_dim, N=50, seed=width + depth, activation=activation)
    # Spread the inputs so ReLU/Hardswish see both of their kinks' sides (and Hardswish's ±3 pieces).
    x0 = torch.randn(n, 2, generator=torch.Generator().manual_seed(n)) * 3.0
    hand = DDPMLossGrad(model, weighting)
    assert hand.activation == activation
    got = hand.loss(x0, torch.Generator().manual_seed(11))
    assert not got.requires_grad
    grads = hand.backward()
    by_hand = [p.grad.clone() for p in model.parameters()]
    assert grads.shape == (sum(p.numel() for p in model.parameters()),)
    assert torch.equal(grads, torch.cat([g.flatten() for g in by_hand]))  # .grad are views of the flat buffer

    for p in model.parameters():
        p.grad = None
    want = ddpm.loss(model, x0, torch.Generator().manual_seed(11), weighting=weighting)  # same draws
    want.backward()
    torch.testing.assert_close(got, want.detach(), rtol=1e-6, atol=1e-7)
    for (name, p), g in zip(model.named_parameters(), by_hand, strict=True):
        torch.testing.assert_close(g, p.grad, rtol=1e-5, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float64_model_is_exact_to_double_rounding(activation):
    model = _model(32, 3, 16, N=20, seed=5, dtype=torch.float64, activation=activation)
    x0 = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    hand = DDPMLossGrad(model, "simple")
    got = hand.loss(x0, torch.Generator().manual_seed(1))
    hand.backward()
    by_hand = [p.grad.clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    want = ddpm.loss(model, x0, torch.Generator().manual_seed(1))
    want.backward()
    torch.testing.assert_close(got, want.detach(), rtol=1e-12, atol=1e-14)
    for g, p in zip(by_hand, model.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad, rtol=1e-11, atol=1e-13)


def test_backward_needs_a_loss_and_other_networks_are_refused():
    model = _model(16, 2, 8, N=10, seed=0)
    hand = DDPMLossGrad(model, "simple")
    with pytest.raises(RuntimeError, match="loss"):
        hand.backward()
    with pytest.raises(ValueError, match="weighting"):
        DDPMLossGrad(model, "vlb")
    changed = _model(16, 2, 8, N=10, seed=0)
    changed.eps_theta.net[1] = nn.Tanh()  # no longer the Linear/SiLU alternation
    mixed = _model(16, 2, 8, N=10, seed=0)
    mixed.eps_theta.net[1] = nn.ReLU()  # ReLU then SiLU: not one activation
    inplace = _model(16, 2, 8, N=10, seed=0, activation="relu")
    inplace.eps_theta.net[3] = nn.ReLU(inplace=True)
    frozen = _model(16, 2, 8, N=10, seed=0)
    frozen.eps_theta.net[0].bias.requires_grad_(False)
    for other in (changed, mixed, inplace, frozen, nn.Linear(2, 2)):
        with pytest.raises(ValueError):
            DDPMLossGrad(other, "simple")


DATA = datasets.load("moons", 2000, seed=3)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("weighting", ["simple", "bound"])
def test_training_by_hand_follows_autograd_training(weighting, activation):
    """Same config, same draws: the curves and weights agree to float rounding after 60 steps."""
    config = DDPMConfig(N=50, width=32, depth=2, batch=64, steps=100, seed=7, weighting=weighting,
                        activation=activation)
    hand = make_state(config, DATA)
    train_steps(hand, 60, fast=True)
    assert isinstance(hand.fast_loss_grad, DDPMLossGrad)
    auto = make_state(config, DATA)
    train_steps(auto, 60)
    torch.testing.assert_close(torch.tensor(hand.history_loss), torch.tensor(auto.history_loss),
                               rtol=1e-4, atol=1e-5)
    for p, q in zip(hand.model.parameters(), auto.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_training_by_hand_is_deterministic_and_is_what_train_steps_uses(monkeypatch):
    config = DDPMConfig(N=50, width=32, depth=2, batch=64, steps=100, seed=7)
    calls = []
    real = DDPMLossGrad.backward
    monkeypatch.setattr(DDPMLossGrad, "backward", lambda self: calls.append(1) or real(self))
    a, b = make_state(config, DATA), make_state(config, DATA)
    train_steps(a, 25, fast=True)
    train_steps(b, 5, fast=True)
    train_steps(b, 20, fast=True)
    assert len(calls) == 50
    train_steps(make_state(config, DATA), 5)
    assert len(calls) == 50  # the default is the plain path
    assert a.history_loss == b.history_loss
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_clip_of_the_flat_buffer_matches_the_per_tensor_clip():
    g = torch.Generator().manual_seed(0)
    for scale in (0.01, 1.0, 100.0):
        flat = torch.randn(1000, generator=g) * scale
        parts = [p.clone() for p in flat.split([600, 300, 100])]
        params = [torch.zeros_like(p, requires_grad=True) for p in parts]
        for p, q in zip(params, parts, strict=True):
            p.grad = q
        want = float(nn.utils.clip_grad_norm_(params, 1.0))
        buf = GradBuffer([torch.zeros(1000)])
        buf.flat.copy_(flat)
        got = buf.clip_(1.0)
        flat = buf.flat
        assert got == pytest.approx(want, rel=1e-6)
        torch.testing.assert_close(flat, torch.cat([p.grad for p in params]), rtol=1e-6, atol=1e-9)


def test_activation_config_is_validated_and_old_configs_load_as_silu():
    for bad in ("tanh", "SiLU", None, 1):
        with pytest.raises(ValueError, match="activation"):
            DDPMConfig(activation=bad)
    old = config_to_dict(DDPMConfig(width=32, seed=3))
    del old["activation"]  # written before the field existed
    assert config_from_dict(old) == DDPMConfig(width=32, seed=3, activation="silu")
    for new in (DDPMConfig(), DDPMConfig(activation="relu")):  # a written activation is kept, the default too
        assert config_from_dict(config_to_dict(new)) == new
    state = make_state(DDPMConfig(N=10, width=16, depth=1, activation="relu"), DATA)
    assert type(state.model.eps_theta.net[1]) is nn.ReLU


def test_old_checkpoint_without_activation_loads_as_silu():
    state = make_state(DDPMConfig(N=10, width=16, depth=1, steps=5), DATA)
    data = checkpoints.to_bytes(state.config, state.model, 0)
    obj = torch.load(io.BytesIO(data), weights_only=True)
    del obj["config"]["activation"]
    buf = io.BytesIO()
    torch.save(obj, buf)
    ck = checkpoints.from_bytes(buf.getvalue())
    assert ck.config.activation == "silu" and type(ck.model.eps_theta.net[1]) is nn.SiLU
