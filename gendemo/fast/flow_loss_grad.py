"""A coupling flow's training loss and its gradient by hand: `Flow.nll_loss` without an autograd graph.

The flow's counterpart of `ddpm_loss_grad.DDPMLossGrad`. A RealNVP step of the default flow (12 couplings, three
Linear layers each) is ~90 small tensor operations per coupling through autograd, and on CPU at batch 512
their framework overhead, not their arithmetic, sets the step time. Writing the chain rule out needs about
24 calls per coupling (10 forward, 14 backward) and no graph: a step costs about half as much
(benchmarks/tuning.md, "Flows", "The gradient by hand"). Equal to `Flow.nll_loss` + autograd up to float
rounding: tests/test_fast_flow_loss_grad.py.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gendemo.fast.grad_buffer import GradBuffer
from gendemo.flows import AdditiveCoupling, AffineCoupling, DiagonalScaling, Flow, Standardize

_LOG_2PI = math.log(2.0 * math.pi)
_silu_into = torch.ops.aten.silu.out  # silu(a, out=h)
_silu_backward_into = torch.ops.aten.silu_backward.grad_input
_tanh_backward_into = torch.ops.aten.tanh_backward.grad_input


class FlowLossGrad:
    """Loss(θ) = −(1/n) Σ_i [log p_z(f⁻¹(x_i)) + log|det J_{f⁻¹}(x_i)|] (Part 3, "Loss") and ∂Loss/∂θ by hand.

    For a `Flow` made of AffineCouplings (RealNVP) and/or AdditiveCouplings (NICE) with the conditioners that
    `nets.mlp` builds (Linear, SiLU, …, Linear), then `Standardize`, optionally after a `DiagonalScaling`
    (`make_flow(scaling=True)`). Forward, in f⁻¹ order (Eq. (12)):
    z = (x − shift)/scale, then per coupling, with x_1 the kept coordinate and (μ_θ, raw) = MLP(x_1),

        −σ_θ = −c·tanh(raw/c),   z_2 = (x_2 − μ_θ)·e,   e = exp(−σ_θ)   (RealNVP; NICE: z_2 = x_2 − μ_θ)

    the same ops as `AffineCoupling.f_inv`, so the loss equals `nll_loss` up to float rounding. With
    log p_z(z) = −|z|²/2 − log 2π and log|det J_{f⁻¹}| = Σ_k (−σ_θ,k) − Σ_j log scale_j (Eq. (11), (12)):

        Loss = (1/n) Σ_i [|z_i|²/2 + log 2π − Σ_k (−σ_θ,k)(x_i)] + Σ_j log scale_j.

    Backward, per coupling in the reverse of f⁻¹'s order, from g = ∂Loss/∂z = z/n at the latent end, with
    g_1, g_2 the gradients reaching the coupling's outputs x_1 (unchanged) and z_2:

        ∂Loss/∂x_2 = g_2·e,   ∂Loss/∂μ_θ = −g_2·e,   ∂Loss/∂(−σ_θ) = g_2·z_2 − 1/n,
        ∂Loss/∂raw = −∂Loss/∂(−σ_θ)·(1 − tanh²(raw/c))     (NICE: e = 1, no σ_θ),

    then through the MLP layer by layer (h_ℓ = SiLU(a_ℓ), a_ℓ = W_ℓ h_{ℓ−1} + b_ℓ): ∂W_ℓ = G_ℓ h_{ℓ−1}ᵀ,
    ∂b_ℓ = Σ_i G_ℓ, ∂h_{ℓ−1} = W_ℓᵀ G_ℓ, ∂a = silu_backward(∂h, a) (autograd's kernel); finally
    ∂Loss/∂x_1 = g_1 + W_1ᵀ G_1, because x_1 both passes through and feeds the conditioner.

    Implementation: activations are kept feature-major, (features, n), so each Linear is one `addmm(b, W, h)`
    and the two coordinates are contiguous rows. The MLP is back-propagated with −∂Loss/∂(μ_θ, raw) =
    (g_2·e, (g_2·z_2 − 1/n)(1 − tanh²)) — two calls writing into a preallocated buffer instead of three plus
    a negation — so every parameter gradient comes out negated and one `neg_` of the flat buffer at the end
    fixes all of them (negation is exact). Gradients are written with `out=` into views of one flat buffer
    (`grad`, a GradBuffer), which the parameters' `.grad` are, so clipping needs one norm.

    With a DiagonalScaling layer (last in f⁻¹): z = u·exp(−s), Loss gains Σ_j s_j, ∂Loss/∂s_j = 1 − Σ_i z_ij²/n and
    ∂Loss/∂u = (z/n)·exp(−s).

    The constructor raises ValueError for any other model (another conditioner, mixed dtypes, a parameter
    not requiring gradients). Hooks on its modules are not called. It keeps references to the flow's parameters and buffers (and views of them), so it reads their
    current values as long as they are changed in place, as the optimizer and `load_state_dict` do.
    """

    def __init__(self, flow: Flow):
        couplings, nets, scaling = _parts(flow)
        self.flow = flow
        self.standardize: Standardize = flow.layers[-1]
        self.scaling: DiagonalScaling | None = scaling
        self.params = list(flow.parameters())
        self.dtype = self.params[0].dtype
        self.grad = GradBuffer(self.params)
        self.scaling_grad = None if scaling is None else self.grad.view(scaling.s)
        # In f⁻¹ order (the reverse of flow.layers): per coupling its keep, bound c (None: NICE), its layers as
        # (W, Wᵀ, b as a column, ∂W view, ∂b view). The parameters are updated in place, so the views stay current.
        self.couplings = []
        for layer, linears in zip(reversed(couplings), reversed(nets), strict=True):
            bound = layer.bound if isinstance(layer, AffineCoupling) else None
            mats = [(m.weight, m.weight.T, m.bias[:, None], self.grad.view(m.weight), self.grad.view(m.bias))
                    for m in linears]
            self.couplings.append((layer.keep, bound, mats))
        self.widths = [[m.out_features for m in linears[:-1]] for linears in reversed(nets)]
        self._n: int | None = None
        self._saved: tuple | None = None

    def _buffers(self, n: int) -> list[tuple]:
        """Per coupling (in f⁻¹ order) every tensor a batch of n points needs and its views, allocated once per n
        (training's batch size does not change), so that a step creates no views and few tensors: x_1, x_1ᵀ,
        x_2, z_2 (rows (1, n)); per hidden layer (a_ℓ, h_ℓ = SiLU(a_ℓ), h_ℓᵀ, two gradient buffers); the
        conditioner's output (n_out, n) and its rows μ_θ, raw; tanh(raw/c), −σ_θ, e = exp(−σ_θ) and the two rows of
        −∂Loss/∂(μ_θ, raw)."""
        if self._n == n:
            return self._plan
        dt = self.dtype
        K = len(self.couplings)
        self.z = torch.empty(2, n, dtype=dt)
        self.neg_sigmas = torch.zeros(K, n, dtype=dt)
        self.neg_inv_n = torch.tensor(-1.0 / n, dtype=dt)
        self.inv_n = torch.tensor(1.0 / n, dtype=dt)
        z2s, ts, es = (torch.empty(K, 1, n, dtype=dt) for _ in range(3))
        gouts = torch.empty(K, 2, n, dtype=dt)
        rows = [self.z[0:1], self.z[1:2]]
        plan = []
        for i, ((k, bound, mats), widths) in enumerate(zip(self.couplings, self.widths, strict=True)):
            x1, x2 = rows[k], rows[1 - k]
            acts = []
            for w in widths:
                a, h, ga, gh = (torch.empty(w, n, dtype=dt) for _ in range(4))
                acts.append((a, h, h.T, ga, gh))
            out = torch.empty(mats[-1][0].shape[0], n, dtype=dt)
            plan.append((x1, x1.T, x2, z2s[i], acts, out, out[0:1], out[1:2], ts[i], self.neg_sigmas[i:i + 1],
                         es[i], gouts[i], gouts[i][0:1], gouts[i][1:2]))
            rows[1 - k] = z2s[i]
        self.rows = rows  # f⁻¹(x) after the last coupling (z itself without a DiagonalScaling)
        self.u = torch.empty(2, n, dtype=dt)    # with a DiagonalScaling: its input u (rows stacked) and z = u·e^(−s)
        self.z_scaled = torch.empty(2, n, dtype=dt)
        self._plan, self._n = plan, n
        return plan

    @torch.no_grad()
    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """`flow.nll_loss(x)` (the same value up to float rounding) for x of shape (n, 2), keeping what
        `backward` needs. `generator` is unused (the loss draws nothing): DDPMLossGrad's signature."""
        n = x.shape[0]
        plan = self._buffers(n)
        std = self.standardize
        torch.sub(x.T, std.shift[:, None], out=self.z).div_(std.scale[:, None])  # Standardize.f_inv, (2, n)
        for (_, bound, mats), (x1, _, x2, z2, acts, out, mu, raw, t, neg_sigma, e, *_) in zip(
                self.couplings, plan, strict=True):
            h = x1
            for (w, _, b, _, _), (a, h_out, _, _, _) in zip(mats, acts):
                torch.addmm(b, w, h, out=a)
                h = _silu_into(a, out=h_out)
            w, _, b, _, _ = mats[-1]
            torch.addmm(b, w, h, out=out)
            if bound is None:                       # NICE: z_2 = x_2 − μ_θ
                torch.sub(x2, out, out=z2)
                continue
            # RealNVP: z_2 = (x_2 − μ_θ)·exp(−c·tanh(raw/c))
            torch.tanh(raw if bound == 1.0 else raw * (1.0 / bound), out=t)
            if bound == 1.0:
                torch.neg(t, out=neg_sigma)
            else:
                torch.mul(t, -bound, out=neg_sigma)
            torch.exp(neg_sigma, out=e)
            torch.sub(x2, mu, out=z2).mul_(e)
        rows = self.rows
        if self.scaling is not None:                # DiagonalScaling.f_inv: z = u·exp(−s)
            self.e_s = torch.exp(-self.scaling.s)[:, None]
            torch.mul(torch.cat(rows, 0, out=self.u), self.e_s, out=self.z_scaled)
            rows = [self.z_scaled[0:1], self.z_scaled[1:2]]
        self.z_rows = rows
        z1, z2 = (r.view(-1) for r in rows)
        # Loss = (|z|²/2)/n + log 2π − Σ(−σ_θ)/n + Σ_j log scale_j
        total = (torch.dot(z1, z1) + torch.dot(z2, z2)) * (0.5 / n) + torch.log(std.scale).sum() + _LOG_2PI
        if any(b is not None for _, b, _ in self.couplings):
            total = total - self.neg_sigmas.sum() * (1.0 / n)
        if self.scaling is not None:
            total = total + self.scaling.s.sum()     # −log|det J| of the scaling: +Σ_j s_j
        self._saved = plan
        return total

    @torch.no_grad()
    def backward(self) -> torch.Tensor:
        """Gradient of the last `loss` into `self.grad.flat` (returned); every parameter's .grad is its view of it."""
        if self._saved is None:
            raise RuntimeError("backward needs a loss() first (and runs once per loss)")
        plan, self._saved = self._saved, None
        g = [self.z_rows[0] * self.inv_n, self.z_rows[1] * self.inv_n]   # ∂Loss/∂z at the latent end
        if self.scaling is not None:
            z = self.z_scaled                         # −∂Loss/∂s_j = Σ_i z_ij²/n − 1 (negated: see the docstring)
            torch.sum(z * z, 1, out=self.scaling_grad).mul_(self.inv_n).sub_(1.0)
            g = [g[0] * self.e_s[0], g[1] * self.e_s[1]]              # ∂Loss/∂u = (z/n)·exp(−s)
        for i in range(len(self.couplings) - 1, -1, -1):               # reverse of f⁻¹'s order
            k, bound, mats = self.couplings[i]
            _, x1T, _, z2, acts, _, _, _, t, _, e, gout, g_mu, g_raw = plan[i]
            g1, g2 = g[k], g[1 - k]
            if bound is None:
                G = gx2 = g2                                   # −∂Loss/∂μ_θ = ∂Loss/∂x_2 = g_2
            else:
                G = gout
                gx2 = torch.mul(g2, e, out=g_mu)               # ∂Loss/∂x_2 = g_2·e = −∂Loss/∂μ_θ
                # −∂Loss/∂raw = (g_2·z_2 − 1/n)·(1 − tanh²(raw/c))
                _tanh_backward_into(torch.addcmul(self.neg_inv_n, g2, z2), t, grad_input=g_raw)
            for j in range(len(mats) - 1, -1, -1):             # G = −∂Loss/∂a_j (negated: see the docstring)
                _, wT, _, gw, gb = mats[j]
                torch.mm(G, acts[j - 1][2] if j else x1T, out=gw)
                torch.sum(G, 1, out=gb)
                if j:
                    a, _, _, ga, gh = acts[j - 1]
                    G = _silu_backward_into(torch.mm(wT, G, out=gh), a, grad_input=ga)
                elif i:                                        # the first f⁻¹ coupling's x_1 is data: not needed
                    g1 = torch.addmm(g1, wT, G, alpha=-1.0)   # ∂Loss/∂x_1 = g_1 + W_1ᵀ(∂Loss/∂a_1)
            g[k], g[1 - k] = g1, gx2
        self.grad.flat.neg_()
        return self.grad.attach()


def _parts(model: nn.Module) -> tuple[list[nn.Module], list[list[nn.Linear]], DiagonalScaling | None]:
    """(couplings, their Linear layers, the DiagonalScaling or None) of a flow this class computes exactly, else
    ValueError: [DiagonalScaling], couplings with `mlp` SiLU conditioners, Standardize; CPU, one floating dtype."""
    if type(model) is not Flow or len(model.layers) < 2 or type(model.layers[-1]) is not Standardize:
        raise ValueError("FlowLossGrad needs a gendemo.flows.Flow ending in Standardize; use fast=False")
    layers = list(model.layers[:-1])
    scaling = layers.pop(0) if type(layers[0]) is DiagonalScaling else None
    nets = []
    for c in layers:
        linears = _mlp_linears(c.net, c.n_out) if type(c) in (AffineCoupling, AdditiveCoupling) else None
        if linears is None or c.keep not in (0, 1):
            raise ValueError(f"FlowLossGrad computes couplings with plain mlp SiLU conditioners, not {c!r}")
        nets.append(linears)
    params = list(model.parameters())
    mine = {id(t) for linears in nets for m in linears for t in (m.weight, m.bias)}
    if scaling is not None:
        mine.add(id(scaling.s))
    tensors = params + list(model.layers[-1].buffers())
    if (not params or len(params) != len(mine) or {id(p) for p in params} != mine
            or not params[0].dtype.is_floating_point
            or not all(p.requires_grad for p in params)
            or not all(t.dtype == params[0].dtype and t.device.type == "cpu" for t in tensors)):
        raise ValueError("FlowLossGrad needs every parameter in a layer it computes, requiring gradients, on the "
                         "CPU, of one floating dtype")
    return layers, nets, scaling


def _mlp_linears(net: nn.Module, n_out: int) -> list[nn.Linear] | None:
    """The Linear layers of `net` when it is `mlp(1, n_out, width, depth)` with SiLU (plain, not in place) as
    `nets.mlp` builds it, all with biases; else None."""
    if type(net) is not nn.Sequential:
        return None
    layers = list(net)
    if len(layers) < 3 or len(layers) % 2 == 0:
        return None
    linears = layers[::2]
    if not all(type(m) is nn.Linear and m.bias is not None for m in linears):
        return None
    if not all(type(m) is nn.SiLU and not m.inplace for m in layers[1::2]):
        return None
    if linears[0].in_features != 1 or linears[-1].out_features != n_out:
        return None
    return linears
