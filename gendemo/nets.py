"""Small multilayer perceptrons shared by the DDPM noise predictor ε_θ and the flow conditioners.

The same building block serves the siblings planned for later (flow matching's velocity
field u(x, t), a score-SDE sampler): a network of a point and a time embedding.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def mlp(d_in: int, d_out: int, width: int, depth: int) -> nn.Sequential:
    """A plain MLP: `depth` hidden layers of `width` units with SiLU, then a linear output."""
    if depth < 1 or width < 1:
        raise ValueError(f"mlp needs depth >= 1 and width >= 1, got depth={depth}, width={width}")
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.SiLU()]
        d = width
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


def sinusoidal_embedding(k: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Transformer-style embedding of the step k: [sin(k ω_j), cos(k ω_j)], ω_j = max_period^(-j/(dim/2)).

    `k` is a float or integer tensor of shape (n,); the result has shape (n, dim), float32.
    """
    if dim % 2:
        raise ValueError(f"embedding dim must be even, got {dim}")
    half = dim // 2
    omega = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    angles = k.to(torch.float32)[:, None] * omega[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class EpsNet(nn.Module):
    """ε_θ(x^(k), k): predicts the noise ε that produced x^(k) from x^(0).

    The step k enters through a sinusoidal embedding concatenated to the point.
    Ref: Eq. (10) (the network trained by L_simple).
    """

    def __init__(self, width: int = 128, depth: int = 3, emb_dim: int = 32, dim: int = 2):
        super().__init__()
        self.emb_dim = emb_dim
        self.net = mlp(dim + emb_dim, dim, width, depth)

    def forward(self, x_k: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """x_k: (n, d) float32; k: (n,) integer steps in 1..N. Returns ε̂ of shape (n, d)."""
        return self.net(torch.cat([x_k, sinusoidal_embedding(k, self.emb_dim)], dim=1))


@torch.no_grad()
def init_parameters_(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-draw every Linear layer from `generator` (PyTorch's default U(±1/√fan_in) law).

    Module constructors draw from torch's global RNG, which every browser session shares;
    drawing again from the run's own generator makes initialisation reproducible per seed and
    independent of other threads. Layers a constructor set to exactly zero on purpose (the
    identity-at-start output layers of the flow conditioners) stay zero.
    """
    for m in model.modules():
        if isinstance(m, nn.Linear):
            if not m.weight.any() and (m.bias is None or not m.bias.any()):
                continue
            bound = 1.0 / math.sqrt(m.in_features)
            m.weight.uniform_(-bound, bound, generator=generator)
            if m.bias is not None:
                m.bias.uniform_(-bound, bound, generator=generator)
    return model
