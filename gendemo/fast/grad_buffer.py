"""One flat buffer for the gradients of a model's parameters, each parameter's `.grad` a view of it.

The hand-written backward passes (`DDPMLossGrad`, `FlowLossGrad`) write every gradient with `out=` into
its view, so no gradient tensor is allocated per step and clipping needs one norm of the flat buffer.
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

    def clip_(self, max_norm: float) -> float:
        """nn.utils.clip_grad_norm_ on the flat buffer: total = ‖flat‖₂ in one op, scale by min(1, max_norm/(total + 1e-6)).

        Differs from clip_grad_norm_ only by float rounding (one reduction instead of a norm of norms; the
        factor computed in double and skipped when it is ≥ 1). Returns total.
        """
        total = float(torch.linalg.vector_norm(self.flat))
        coef = max_norm / (total + 1e-6)
        if coef < 1.0:
            self.flat.mul_(coef)
        return total
