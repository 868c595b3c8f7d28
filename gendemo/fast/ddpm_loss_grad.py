"""`ddpm.loss` (Eq. (10), or the bound's weights) and its gradient by hand: no autograd graph.

On CPU a training step of the small ε-network is bound by per-op framework overhead; writing the chain
rule out costs about half of autograd's step (benchmarks/tuning.md, "The gradient by hand").
Equal to `ddpm.loss` + autograd up to float rounding: tests/test_fast_ddpm_loss_grad.py.
"""

from __future__ import annotations

import torch
from torch import nn

from gendemo.ddpm import DDPM, WEIGHTINGS, bound_weights
from gendemo.fast.eps_net import ACT_BACKWARD, plain_linears
from gendemo.fast.grad_buffer import GradBuffer


class DDPMLossGrad:
    """`ddpm.loss(model, x0, generator, weighting)` and its gradient for a DDPM whose ε_θ is a plain EpsNet.

    The same draws (k, then ε, from the generator) and the same function: x^(k) by Eq. (7), ε̂ by the MLP
    (one `addmm` per Linear, then the activation), L = mean_i w_k |ε̂ − ε|². Backward: ∂L/∂ε̂ = 2 w_k (ε̂ − ε)/n;
    per layer ∂W = gᵀh, ∂b = Σ_rows g, ∂h = g W, through the activation by autograd's own kernels
    (`silu_backward`, `hardswish_backward`, and for ReLU `threshold_backward` on its output, g where
    relu(z) > 0). Gradients are written into one flat buffer (`grad`, a GradBuffer) whose views are the
    parameters' `.grad`. It holds references to the model's Parameters, so it reads their current values.
    Raises ValueError for any other ε_θ, or parameters that do not all require gradients.
    """

    def __init__(self, model: DDPM, weighting: str):
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        linears, self.activation = plain_linears(model)
        self.params = list(model.parameters())
        if not all(p.requires_grad for p in self.params):
            raise ValueError("DDPMLossGrad writes every parameter's gradient: all must require gradients")
        self.model, self.linears, self.weighting = model, linears, weighting
        dtype = self.params[0].dtype
        net, sched = model.eps_theta, model.sched
        self.d = linears[0].in_features - net.emb_dim
        tab = sched.table(dtype)
        self.coefs = torch.stack([tab["sqrt_alpha_bar"], tab["sqrt_one_minus_alpha_bar"]], dim=1)  # (N+1, 2)
        # Row k is the first layer's input [0, emb(k)]: the point is written into its first d columns.
        self.inputs = torch.zeros(sched.N + 1, linears[0].in_features, dtype=dtype)
        self.inputs[:, self.d:] = net.embed(torch.arange(sched.N + 1)).to(dtype)
        self.bound_w = bound_weights(sched, dtype) if weighting == "bound" else None
        self.grad = GradBuffer(self.params)
        self.layer_grads = [(self.grad.view(m.weight), self.grad.view(m.bias)) for m in linears]
        self._saved: tuple | None = None

    @torch.no_grad()
    def loss(self, x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """`ddpm.loss(model, x0, generator, weighting)` (same draws, same value), keeping what backward needs."""
        n = x0.shape[0]
        k = torch.randint(1, self.model.sched.N + 1, (n,), generator=generator)
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        h = torch.index_select(self.inputs, 0, k)                  # [0, emb(k)]
        c = torch.index_select(self.coefs, 0, k)
        x_k = h[:, :self.d]
        torch.mul(c[:, :1], x0, out=x_k).add_(c[:, 1:] * eps)     # √ᾱ_k x^(0) + √(1 − ᾱ_k) ε, Eq. (7)
        hs, zs = [h], []
        act = self.activation
        for m in self.linears[:-1]:
            z = torch.addmm(m.bias, h, m.weight.T)
            if act == "relu":
                h = z.relu_()  # backward needs only the output's sign
            elif act == "silu":
                h = nn.functional.silu(z)
            else:
                h = nn.functional.hardswish(z)
            zs.append(z)
            hs.append(h)
        last = self.linears[-1]
        diff = torch.addmm(last.bias, h, last.weight.T).sub_(eps)   # ε̂ − ε
        err = diff.pow(2).sum(dim=1)
        w = None
        if self.bound_w is not None:
            w = self.bound_w[k]
            err = err * w
        self._saved = (hs, zs, diff, w)
        return err.mean()

    @torch.no_grad()
    def backward(self) -> torch.Tensor:
        """Gradient of the last `loss` into `self.grad.flat` (returned); every parameter's .grad is its view of it."""
        if self._saved is None:
            raise RuntimeError("backward needs a loss() first (and runs once per loss)")
        hs, zs, diff, w = self._saved
        self._saved = None
        n = diff.shape[0]
        act_backward = ACT_BACKWARD[self.activation]
        g = diff * (2.0 / n) if w is None else diff * (w * (2.0 / n))[:, None]   # ∂L/∂ε̂
        for i in range(len(self.linears) - 1, -1, -1):
            gw, gb = self.layer_grads[i]
            torch.mm(g.T, hs[i], out=gw)
            torch.sum(g, 0, out=gb)
            if i:
                g = act_backward(torch.mm(g, self.linears[i].weight), zs[i - 1])
        return self.grad.attach()
