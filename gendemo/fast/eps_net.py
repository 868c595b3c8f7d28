"""What the DDPM fast paths read from ε_θ: the Linear layers and the activation of a plain `nets.EpsNet`.

A plain EpsNet is `mlp`'s alternation of Linear and one activation class (SiLU, ReLU or Hardswish), as
`DDPM(...)` builds it. The fast paths compute that network's function with other ops; they refuse
(ValueError) any other ε_θ. Forward or backward hooks on its modules are not called.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gendemo.nets import EpsNet

# ∂h/∂z applied to the incoming gradient g, given what the forward kept per layer (z; for ReLU, relu(z)).
ACT_BACKWARD: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "silu": lambda g, z: torch.ops.aten.silu_backward(g, z),
    "relu": lambda g, h: torch.ops.aten.threshold_backward(g, h, 0),
    "hardswish": lambda g, z: torch.ops.aten.hardswish_backward(g, z),
}
# h ← activation(h) in place, for the sampler's preallocated buffers.
ACT_INPLACE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "silu": lambda h: nn.functional.silu(h, inplace=True),
    "relu": torch.relu_,
    "hardswish": lambda h: nn.functional.hardswish(h, inplace=True),
}


def plain_linears(model: nn.Module) -> tuple[list[nn.Linear], str]:
    """(the Linear layers of model.eps_theta, its activation's name), or ValueError when ε_θ is not a plain EpsNet
    with biases whose parameters are all its Linears', on the CPU, of one floating dtype."""
    net = getattr(model, "eps_theta", None)
    act = net.plain_activation if type(net) is EpsNet else None
    if act is None:
        raise ValueError("the DDPM fast paths need ε_θ to be a plain EpsNet (Linear and one activation, as mlp "
                         "builds it); use the plain path (fast=False)")
    linears = list(net.net)[::2]
    params = list(net.parameters())
    mine = {id(t) for m in linears if m.bias is not None for t in (m.weight, m.bias)}
    if (any(m.bias is None for m in linears) or {id(p) for p in params} != mine or len(params) != len(mine)
            or not params[0].dtype.is_floating_point
            or not all(p.dtype == params[0].dtype and p.device.type == "cpu" for p in params)):
        raise ValueError("the DDPM fast paths need ε_θ's Linear layers with biases, one floating dtype, on the CPU")
    return linears, act
