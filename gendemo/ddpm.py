"""DDPM of Ho, Jain & Abbeel (2020): forward process, posterior, ε-parametrised reverse process.

Everything works on x^(0) in the model's space (standardized data, float32 tensors (n, 2)).
A step ``k`` is an int or an int64 tensor of shape (n,) with values in 1..N.
Schedule coefficients are float64 and cast to x's dtype at use (cached tables, gathered by index).
Ref: lecture Part 2, Eq. (6)–(10).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from gendemo.gradbuffer import GradBuffer
from gendemo.nets import EpsNet, sinusoidal_embedding
from gendemo.schedules import Schedule

Step = int | torch.Tensor
SIGMA2 = ("beta", "beta_tilde")
WEIGHTINGS = ("simple", "bound")


def _check_k(k: Step, sched: Schedule, low: int = 1) -> None:
    """ValueError unless every k lies in low..N."""
    if isinstance(k, torch.Tensor):
        if k.dtype.is_floating_point or k.dtype == torch.bool:
            raise ValueError(f"k must be an integer tensor with values in {low}..{sched.N}, got {k.dtype}")
        if k.numel() and (int(k.min()) < low or int(k.max()) > sched.N):
            raise ValueError(f"k must lie in {low}..{sched.N}, got values in {int(k.min())}..{int(k.max())}")
    elif isinstance(k, bool) or not isinstance(k, numbers.Integral) or not low <= k <= sched.N:
        raise ValueError(f"k must be an int in {low}..{sched.N}, got {k!r}")


def _at(sched: Schedule, name: str, k: Step, x: torch.Tensor) -> torch.Tensor:
    """Coefficient table[name][k] in x's dtype, broadcastable to x: shape () or (n, 1)."""
    table = sched.table(x.dtype)[name]
    if isinstance(k, torch.Tensor):
        return table[k].unsqueeze(-1)
    return table[k]


def q_step(x_prev: torch.Tensor, k: Step, sched: Schedule, generator: torch.Generator) -> torch.Tensor:
    """x^(k) = √(1 − β_k) x^(k−1) + √β_k ε, ε ~ N(0, I).

    Ref: forward process q(x^(k) | x^(k−1)) (Part 2)
    """
    _check_k(k, sched)
    eps = torch.randn(x_prev.shape, generator=generator, dtype=x_prev.dtype)
    return _at(sched, "sqrt_alpha", k, x_prev) * x_prev + _at(sched, "sqrt_beta", k, x_prev) * eps


def q_sample(x0: torch.Tensor, k: Step, sched: Schedule, generator: torch.Generator | None = None,
             eps: torch.Tensor | None = None) -> torch.Tensor:
    """x^(k) = √ᾱ_k x^(0) + √(1 − ᾱ_k) ε (eps given, or drawn from the generator). k = 0 gives x^(0).

    Ref: Eq. (7)
    """
    _check_k(k, sched, low=0)
    if eps is None:
        if generator is None:
            raise ValueError("q_sample needs a torch.Generator (generator=...) when eps is None")
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    elif eps.shape != x0.shape:
        raise ValueError(f"eps must have the shape of x0 {tuple(x0.shape)}, got {tuple(eps.shape)}")
    return _q_sample(x0, k, sched, eps)


def _q_sample(x0: torch.Tensor, k: Step, sched: Schedule, eps: torch.Tensor) -> torch.Tensor:
    return _at(sched, "sqrt_alpha_bar", k, x0) * x0 + _at(sched, "sqrt_one_minus_alpha_bar", k, x0) * eps


def forward_trajectory(x0: torch.Tensor, sched: Schedule, generator: torch.Generator,
                       method: str = "chain", ks: list[int] | None = None) -> torch.Tensor:
    """x^(k) for k in ks (default 0..N) by the step-by-step chain or by independent closed-form draws.

    Returns shape (len(ks), n, d), in the order of ks. Ref: Eq. (7)
    """
    if method not in ("chain", "closed"):
        raise ValueError(f"method must be 'chain' or 'closed', got {method!r}")
    ks = list(range(sched.N + 1)) if ks is None else [int(k) for k in ks]
    if not ks or min(ks) < 0 or max(ks) > sched.N:
        raise ValueError(f"ks must be a non-empty list of steps in 0..{sched.N}")
    if method == "closed":
        return torch.stack([x0 if k == 0 else q_sample(x0, k, sched, generator) for k in ks])
    wanted = set(ks)
    kept = {0: x0} if 0 in wanted else {}
    x = x0
    for k in range(1, max(ks) + 1):
        x = q_step(x, k, sched, generator)
        if k in wanted:
            kept[k] = x
    return torch.stack([kept[k] for k in ks])


def q_posterior(x0: torch.Tensor, x_k: torch.Tensor, k: Step,
                sched: Schedule) -> tuple[torch.Tensor, torch.Tensor]:
    """μ̃_k = √ᾱ_{k−1} β_k/(1 − ᾱ_k) x^(0) + √α_k (1 − ᾱ_{k−1})/(1 − ᾱ_k) x^(k), β̃_k = (1 − ᾱ_{k−1})/(1 − ᾱ_k) β_k.

    beta_tilde_k is returned in x's dtype, broadcastable to x_k: shape () for an int k, (n, 1) for a
    tensor k. Ref: Eq. (8)
    """
    _check_k(k, sched)
    mu_tilde = _at(sched, "post_c0", k, x0) * x0 + _at(sched, "post_ck", k, x_k) * x_k
    return mu_tilde, _at(sched, "beta_tilde", k, x_k)


def mu_theta_from_eps(x_k: torch.Tensor, k: Step, eps_hat: torch.Tensor, sched: Schedule) -> torch.Tensor:
    """μ_θ(x^(k), k) = 1/√α_k (x^(k) − β_k/√(1 − ᾱ_k) ε̂).

    Ref: Eq. (9) (reparametrization, Part 2)
    """
    _check_k(k, sched)
    return _at(sched, "inv_sqrt_alpha", k, x_k) * (x_k - _at(sched, "eps_coef", k, x_k) * eps_hat)


def x0_from_eps(x_k: torch.Tensor, k: Step, eps_hat: torch.Tensor, sched: Schedule) -> torch.Tensor:
    """x̂^(0) = (x^(k) − √(1 − ᾱ_k) ε̂)/√ᾱ_k (Eq. (7) solved for x^(0)).

    Ref: Eq. (7)
    """
    _check_k(k, sched, low=0)
    return _at(sched, "inv_sqrt_alpha_bar", k, x_k) * (
        x_k - _at(sched, "sqrt_one_minus_alpha_bar", k, x_k) * eps_hat)


class DDPM(nn.Module):
    """The ε-parametrised reverse process p_θ(x^(k−1) | x^(k)) = N(μ_θ(x^(k), k), σ_k² I).

    ``shift``/``scale`` standardize the data: x0 = (data − shift)/scale. Ref: Eq. (9)
    """

    def __init__(self, sched: Schedule, width: int = 128, depth: int = 3, emb_dim: int = 32,
                 activation: str = "silu"):
        super().__init__()
        self.sched = sched
        self.eps_theta = EpsNet(width=width, depth=depth, emb_dim=emb_dim, activation=activation)
        self.register_buffer("shift", torch.zeros(2))
        self.register_buffer("scale", torch.ones(2))

    def forward(self, x_k: torch.Tensor, k: Step) -> torch.Tensor:
        """ε̂ = ε_θ(x^(k), k); an int k is broadcast over the points. Ref: Eq. (10)"""
        if not isinstance(k, torch.Tensor):
            k = torch.full((x_k.shape[0],), int(k), dtype=torch.int64)
        return self.eps_theta(x_k, k)

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        """x0 = (data − shift)/scale."""
        return (x - self.shift) / self.scale

    def unstandardize(self, x: torch.Tensor) -> torch.Tensor:
        """data = shift + scale · x0."""
        return self.shift + self.scale * x


def bound_weights(sched: Schedule, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """w_k = β_k²/(2σ_k² α_k (1 − ᾱ_k)) with σ_k² = β_k, k = 0..N (w_0 = 0), divided by its mean over k = 1..N.

    Computed in float64, returned in `dtype`. Ref: Part 2, "Reparametrization" (L_{k−1} − C as a weighted ε-error)
    """
    b, a, ab = sched.beta[1:], sched.alpha[1:], sched.alpha_bar[1:]
    sigma2 = b
    w = torch.zeros_like(sched.beta)
    w[1:] = b ** 2 / (2.0 * sigma2 * a * (1.0 - ab))
    return (w / w[1:].mean()).to(dtype)


def loss(model: DDPM, x0: torch.Tensor, generator: torch.Generator, weighting: str = "simple") -> torch.Tensor:
    """mean over the batch of w_k |ε_θ(√ᾱ_k x^(0) + √(1 − ᾱ_k) ε, k) − ε|², k ~ U{1..N}, ε ~ N(0, I).

    Draw order: k = randint(1, N+1, (n,)) then ε = randn(n, d), both from ``generator``.
    "simple": w_k = 1 (Eq. (10)). "bound": w_k = β_k²/(2σ_k² α_k (1 − ᾱ_k)), σ_k² = β_k, divided by its
    mean over k = 1..N, so the loss has the scale of L_simple and the same learning rate works; only
    the relative weighting of the steps differs (N·mean(w)·loss = Σ_k (L_{k−1} − C) in expectation).
    Ref: Eq. (10), Algorithm Training
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    sched = model.sched
    n = x0.shape[0]
    k = torch.randint(1, sched.N + 1, (n,), generator=generator)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    x_k = _q_sample(x0, k, sched, eps)
    err = (model.eps_theta(x_k, k) - eps).pow(2).sum(dim=1)
    if weighting == "bound":
        err = err * bound_weights(sched, x0.dtype)[k]
    return err.mean()


class PlainLossGrad:
    """`loss` and its gradient by hand for a DDPM whose ε_θ is a plain EpsNet: no autograd graph.

    The same draws (k, then ε, from the generator), the same forward ops as `EpsNet.forward` (one
    `addmm` per Linear, then the activation) and the chain rule written out for the MLP and L_simple (or
    the bound's weights): ∂L/∂ε̂ = 2 w_k (ε̂ − ε)/n; per layer ∂W = gᵀh, ∂b = Σ_rows g, ∂h = g W, through
    the activation by autograd's own kernels: `silu_backward`, `hardswish_backward`, and for ReLU
    `threshold_backward` on its output (g where relu(z) > 0, i.e. z > 0; ReLU then runs in place). Gradients are written into one flat buffer (`grad`, a GradBuffer), which the parameters'
    `.grad` are views of, so the clipping norm is one op. The loss and the gradients equal autograd's up
    to float rounding (tests/test_nets_fast.py); a training step costs about half as much, because on
    CPU a step of this small network is bound by per-op framework overhead, not arithmetic.

    Build it with `PlainLossGrad.for_model` (None when the model is not the plain network, or its
    parameters do not share one dtype and all require gradients); it holds references to the model's
    Parameters, so it always reads their current values.
    """

    def __init__(self, model: DDPM, linears: list[nn.Linear], weighting: str, activation: str = "silu"):
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        if activation not in _ACT_BACKWARD:
            raise ValueError(f"activation must be one of {', '.join(_ACT_BACKWARD)}; got {activation!r}")
        self.model, self.linears, self.weighting = model, linears, weighting
        self.activation = activation
        self.params = list(model.parameters())
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

    @classmethod
    def for_model(cls, model: nn.Module, weighting: str) -> PlainLossGrad | None:
        linears = _plain_linears(model) if isinstance(model, DDPM) else None
        if linears is None:
            return None
        params = list(model.parameters())
        mine = {id(t) for m in linears for t in (m.weight, m.bias)}
        if (any(m.bias is None for m in linears) or len(params) != len(mine) or {id(p) for p in params} != mine
                or not all(p.requires_grad and p.dtype == params[0].dtype and p.device.type == "cpu"
                           for p in params) or not params[0].dtype.is_floating_point):
            return None
        return cls(model, linears, weighting, model.eps_theta.plain_activation)

    @torch.no_grad()
    def loss(self, x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """`loss(model, x0, generator, weighting)` (same draws, same value), keeping what backward needs."""
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
        act_backward = _ACT_BACKWARD[self.activation]
        g = diff * (2.0 / n) if w is None else diff * (w * (2.0 / n))[:, None]   # ∂L/∂ε̂
        for i in range(len(self.linears) - 1, -1, -1):
            gw, gb = self.layer_grads[i]
            torch.mm(g.T, hs[i], out=gw)
            torch.sum(g, 0, out=gb)
            if i:
                g = act_backward(torch.mm(g, self.linears[i].weight), zs[i - 1])
        return self.grad.attach()


# ∂h/∂z applied to the incoming gradient, given what `loss` saved per layer (z; for ReLU z is relu(z)).
_ACT_BACKWARD: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "silu": lambda g, z: torch.ops.aten.silu_backward(g, z),
    "relu": lambda g, h: torch.ops.aten.threshold_backward(g, h, 0),
    "hardswish": lambda g, z: torch.ops.aten.hardswish_backward(g, z),
}
# h ← activation(h) in place, for the sampler's preallocated buffers (`_eps_fn`).
_ACT_INPLACE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "silu": lambda h: nn.functional.silu(h, inplace=True),
    "relu": torch.relu_,
    "hardswish": lambda h: nn.functional.hardswish(h, inplace=True),
}


@dataclass
class Trajectory:
    """The reverse chain: x^(k) for k in ks (descending N..0) and x̂^(0) predicted from each x^(k).

    At k = 0, x0_hats equals xs (there is no prediction left to make). Ref: Eq. (9)
    """

    ks: list[int]
    xs: torch.Tensor
    x0_hats: torch.Tensor


def _keep_steps(keep: None | str | list[int], N: int) -> list[int]:
    if keep is None:
        return [N, 0]
    if isinstance(keep, str):
        if keep != "all":
            raise ValueError(f"keep must be None, 'all' or a list of steps in 0..{N}, got {keep!r}")
        return list(range(N, -1, -1))
    ks = {int(k) for k in keep}
    if any(k < 0 or k > N for k in ks):
        raise ValueError(f"keep must list steps in 0..{N}, got {sorted(ks)}")
    return sorted(ks | {N, 0}, reverse=True)


def net_dtype(model: nn.Module, default: torch.dtype) -> torch.dtype:
    """The dtype ε_θ computes in: that of its first parameter, else `default`."""
    params = getattr(model.eps_theta, "parameters", None)
    p = next(iter(params()), None) if params is not None else None
    return p.dtype if p is not None else default


def _plain_linears(model: nn.Module) -> list[nn.Linear] | None:
    """The Linear layers of ε_θ when it is an EpsNet that is still `mlp`'s alternation of Linear and one
    activation (SiLU, ReLU or Hardswish; `EpsNet.plain_activation`), else None."""
    net = getattr(model, "eps_theta", None)
    if type(net) is not EpsNet or net.plain_activation is None:
        return None
    return list(net.net)[::2]


def _eps_fn(model: nn.Module, n: int) -> Callable[..., torch.Tensor]:
    """ε_θ(x, k, out=None) for one int k, for the sampler's loop (inference mode only).

    For a plain EpsNet the embedding half of the first layer becomes a per-k table (computed once), so a
    step costs (n×d)·(d×width) there instead of a concatenation. Activations are kept feature-major,
    (width, n): each layer is one `addmm(b, W, h)` with W as nn.Linear stores it, the layout MKL runs
    fastest here (for the width→2 output layer ~5× faster than `h @ W.T` with W.T copied contiguous),
    and the activation (SiLU, ReLU or Hardswish) runs in place on preallocated buffers (no allocation
    per step). Takes x of shape (n, d) in any layout; returns ε̂ as an (n, d) view of a (d, n) buffer
    that the next call reuses, or copies it into `out` (the sampler's (n, d) frame) when given.
    (Tried: oneDNN's Linear + SiLU in one call, `torch.ops.mkldnn._linear_pointwise(..., "swish")`, row-major;
    on this AVX2 machine no faster with a trained ε-network. Local branch fused-eps-experiment.)
    """
    net = model.eps_theta
    linears = _plain_linears(model)
    if linears is None:
        k_all = torch.arange(model.sched.N + 1)

        def eps_any(x: torch.Tensor, k: int, out: torch.Tensor | None = None) -> torch.Tensor:
            e = net(x, k_all[k].expand(n))
            return e if out is None else out.copy_(e)

        return eps_any
    act_ = _ACT_INPLACE[net.plain_activation]
    first = linears[0]
    d = first.in_features - net.emb_dim
    dtype = first.weight.dtype
    emb = sinusoidal_embedding(torch.arange(model.sched.N + 1), net.emb_dim).to(dtype)
    table = (emb @ first.weight[:, d:].T + first.bias).T.contiguous()      # (width, N+1): column k
    weights = [first.weight[:, :d].contiguous()] + [m.weight for m in linears[1:]]  # (out, in)
    biases = [None] + [m.bias[:, None] for m in linears[1:]]
    bufs = [torch.empty(w.shape[0], n, dtype=dtype) for w in weights]

    def eps_theta(x: torch.Tensor, k: int, out: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.addmm(table[:, k:k + 1], weights[0], x.T, out=bufs[0])
        for w, b, buf in zip(weights[1:], biases[1:], bufs[1:], strict=True):
            act_(h)
            h = torch.addmm(b, w, h, out=buf)
        return h.T if out is None else out.copy_(h.T)

    return eps_theta


def sample(model: DDPM, n: int, generator: torch.Generator, sigma2: str = "beta",
           keep: None | str | list[int] = None, x_N: torch.Tensor | None = None) -> Trajectory:
    """x^(N) ~ N(0, I); x^(k−1) = 1/√α_k (x^(k) − β_k/√(1 − ᾱ_k) ε_θ(x^(k), k)) + σ_k z, z = 0 at k = 1.

    σ_k² = β_k ("beta") or β̃_k ("beta_tilde"). Draw order: x^(N) = randn(n, 2), then z = randn(n, 2)
    for k = N, …, 2. ``keep``: None → ks = [N, 0]; "all" → N..0; a list → those steps plus N and 0.
    Runs in the model's (standardized) space and dtype (float32 normally), under torch.inference_mode.
    ``x_N``: a given starting noise (n, 2) instead of the first draw (samplers racing from one noise).
    Ref: Eq. (9), Algorithm Sampling
    """
    if sigma2 not in SIGMA2:
        raise ValueError(f"sigma2 must be one of {SIGMA2}, got {sigma2!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if x_N is not None and tuple(x_N.shape) != (n, 2):
        raise ValueError(f"x_N must have shape (n, 2) = ({n}, 2), got {tuple(x_N.shape)}")
    sched = model.sched
    ks = _keep_steps(keep, sched.N)
    slot = {k: i for i, k in enumerate(ks)}
    dtype = net_dtype(model, torch.float32)
    tab = sched.table(dtype)
    c_inv = tab["inv_sqrt_alpha"].tolist()  # one host transfer up front, none per step
    c_eps = tab["eps_coef"].tolist()
    sigma = tab["sqrt_beta" if sigma2 == "beta" else "sqrt_beta_tilde"].tolist()
    with torch.inference_mode():
        eps_theta = _eps_fn(model, n)
        xs = torch.empty(len(ks), n, 2, dtype=dtype)
        # x0_hats[i] holds ε̂ at the kept step ks[i] until the loop ends, then becomes x̂^(0) in one pass
        x0_hats = torch.empty(len(ks), n, 2, dtype=dtype)
        spare = [torch.empty(n, 2, dtype=dtype) for _ in range(2)]  # x^(k) at steps not kept
        z = torch.empty(n, 2)
        x = xs[0]  # x^(k) lives in its kept frame (xs[slot[k]]) or in a spare buffer: no copies
        x.copy_(torch.randn(n, 2, generator=generator) if x_N is None else x_N)  # float32 draws, cast to dtype
        for k in range(sched.N, 0, -1):
            i = slot.get(k)
            eps_hat = eps_theta(x, k, None if i is None else x0_hats[i])  # not kept: ε_θ's own buffer
            j = slot.get(k - 1)
            x_next = xs[j] if j is not None else spare[1] if x is spare[0] else spare[0]
            torch.sub(x, c_eps[k] * eps_hat, out=x_next).mul_(c_inv[k])
            if k > 1:
                x_next.add_(torch.randn(n, 2, generator=generator, out=z).to(dtype), alpha=sigma[k])
            x = x_next
        # x̂^(0) = (x^(k) − √(1 − ᾱ_k) ε̂)/√ᾱ_k at each kept k > 0: the same elementwise ops as per step
        steps = torch.tensor(ks[:-1])
        e = x0_hats[:-1]
        e.mul_(tab["sqrt_one_minus_alpha_bar"][steps][:, None, None])
        torch.sub(xs[:-1], e, out=e).mul_(tab["inv_sqrt_alpha_bar"][steps][:, None, None])
        x0_hats[-1] = xs[-1]
    return Trajectory(ks=ks, xs=xs, x0_hats=x0_hats)


def eps_field(model: DDPM, k: int, grid: torch.Tensor) -> torch.Tensor:
    """ε̂ = ε_θ(grid, k) for arrow plots (inference mode). Ref: Eq. (10)"""
    _check_k(k, model.sched)
    grid = torch.as_tensor(grid, dtype=net_dtype(model, torch.float32))
    with torch.inference_mode():
        return model.eps_theta(grid, torch.full((grid.shape[0],), k, dtype=torch.int64))
