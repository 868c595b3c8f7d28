"""Small multilayer perceptrons shared by the DDPM noise predictor ε_θ and the flow conditioners.

The same building block serves the siblings planned for later (flow matching's velocity
field u(x, t), a score-SDE sampler): a network of a point and a time embedding.
"""

from __future__ import annotations

import math
import threading

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"silu": nn.SiLU, "relu": nn.ReLU, "hardswish": nn.Hardswish}


def activation_name(module: nn.Module) -> str | None:
    """"silu", "relu" or "hardswish" for a plain (not in-place) module of that class, else None."""
    for name, cls in ACTIVATIONS.items():
        if type(module) is cls and not getattr(module, "inplace", False):
            return name
    return None


def mlp(d_in: int, d_out: int, width: int, depth: int, activation: str = "silu") -> nn.Sequential:
    """A plain MLP: `depth` hidden layers of `width` units with `activation`, then a linear output."""
    if depth < 1 or width < 1:
        raise ValueError(f"mlp needs depth >= 1 and width >= 1, got depth={depth}, width={width}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), ACTIVATIONS[activation]()]
        d = width
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


def _omega(dim: int, max_period: float) -> torch.Tensor:
    """ω_j = max_period^(-j/(dim/2)), j = 0..dim/2 − 1, float32 (recomputed: a few ns, no shared state)."""
    half = dim // 2
    return torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)


def sinusoidal_embedding(k: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Transformer-style embedding of the step k: [sin(k ω_j), cos(k ω_j)], ω_j = max_period^(-j/(dim/2)).

    `k` is a float or integer tensor of shape (n,); the result has shape (n, dim), float32.
    """
    if dim % 2:
        raise ValueError(f"embedding dim must be even, got {dim}")
    angles = k.to(torch.float32)[:, None] * _omega(dim, max_period)[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


_TABLE_STEPS = 10_001  # k = 0..10_000 (the largest N a schedule allows): 1.3 MB at dim 32
_tables: dict[tuple[int, float], torch.Tensor] = {}
_tables_lock = threading.Lock()


def embedding_table(dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """sinusoidal_embedding(arange(10_001), dim): row k is the embedding of step k (computed once, read-only).

    Shared by every model in the process (it depends on dim only); training gathers rows instead of
    evaluating exp, sin and cos on every step.
    """
    key = (dim, float(max_period))
    table = _tables.get(key)
    if table is None:
        with _tables_lock:
            table = _tables.get(key)
            if table is None:
                table = sinusoidal_embedding(torch.arange(_TABLE_STEPS), dim, max_period)
                _tables[key] = table
    return table


class EpsNet(nn.Module):
    """ε_θ(x^(k), k): predicts the noise ε that produced x^(k) from x^(0).

    The step k enters through a sinusoidal embedding concatenated to the point.
    Ref: Eq. (10) (the network trained by L_simple).
    """

    def __init__(self, width: int = 128, depth: int = 3, emb_dim: int = 32, dim: int = 2,
                 activation: str = "silu"):
        super().__init__()
        self.emb_dim = emb_dim
        self.net = mlp(dim + emb_dim, dim, width, depth, activation)

    def embed(self, k: torch.Tensor) -> torch.Tensor:
        """sinusoidal_embedding(k, emb_dim): gathered from the cached table for integer k in 0..10_000."""
        if not k.dtype.is_floating_point and k.dtype != torch.bool and k.numel() \
                and 0 <= int(k.min()) and int(k.max()) < _TABLE_STEPS:
            return embedding_table(self.emb_dim).index_select(0, k)
        return sinusoidal_embedding(k, self.emb_dim)

    def forward(self, x_k: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """x_k: (n, d) float32; k: (n,) integer steps in 1..N. Returns ε̂ = net([x_k, emb(k)]) of shape (n, d).

        The fast paths compute this function with other ops (gendemo/fast/).
        """
        return self.net(torch.cat([x_k, self.embed(k).to(x_k.dtype)], dim=1))

    @property
    def plain_activation(self) -> str | None:
        """The activation's name while `net` is still an alternation of Linear and one activation class
        (as `mlp` built it), else None."""
        layers = list(self.net)
        if len(layers) < 3 or len(layers) % 2 == 0 or not all(type(m) is nn.Linear for m in layers[::2]):
            return None
        names = {activation_name(m) for m in layers[1::2]}
        return names.pop() if len(names) == 1 and None not in names else None


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
