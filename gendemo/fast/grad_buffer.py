"""One flat buffer for the gradients of a model's parameters, each parameter's `.grad` a view of it.

The hand-written backward passes (`ddpm.PlainLossGrad`, `flow_grad.FlowLossGrad`) write every gradient with
`out=` into its view, so no gradient tensor is allocated per step and clipping needs one norm of the flat
buffer (`training._clip_flat_grad_`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class GradBuffer:
    """`flat` holds the gradients of `params` end to end; `view(p)` is p's part of it, shaped like p."""

    def __init__(self, params: Iterable[torch.Tensor]):
        self.params = list(params)
        self.flat = torch.zeros(sum(p.numel() for p in self.params), dtype=self.params[0].dtype)
        self.views: list[torch.Tensor] = []
        i = 0
        for p in self.params:
            self.views.append(self.flat[i:i + p.numel()].view_as(p))
            i += p.numel()
        self._index = {id(p): j for j, p in enumerate(self.params)}

    def view(self, p: torch.Tensor) -> torch.Tensor:
        return self.views[self._index[id(p)]]

    def attach(self) -> torch.Tensor:
        """Make every parameter's `.grad` its view (once; later calls find them in place); return `flat`."""
        for p, v in zip(self.params, self.views, strict=True):
            if p.grad is not v:
                p.grad = v
        return self.flat
