"""`ddpm.sample(..., fast=True)`: Algorithm Sampling with ε_θ feature-major in preallocated buffers.

The same chain as the plain `ddpm.sample` (Eq. (9) per step via `ddpm.p_step`, same draws), equal to it up
to float rounding (tests/test_fast_ddpm_sampler.py); faster for a long chain (benchmarks/bench_engine.py prints both).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from gendemo.ddpm import DDPM, Trajectory, net_dtype
from gendemo.fast.eps_net import ACT_INPLACE, plain_linears
from gendemo.nets import sinusoidal_embedding


def eps_theta_fn(model: DDPM, n: int) -> Callable[..., torch.Tensor]:
    """ε_θ(x, k, out=None) for one int k and n points (inference mode only), for a plain EpsNet.

    The embedding half of the first layer becomes a per-k table (computed once), so a step costs
    (n×d)·(d×width) there instead of a concatenation. Activations are kept feature-major, (width, n): each
    layer is one `addmm(b, W, h)` with W as nn.Linear stores it, the layout MKL runs fastest here (for the
    width→2 output layer ~5× faster than `h @ W.T`), and the activation runs in place on preallocated
    buffers. Takes x of shape (n, d) in any layout; returns ε̂ as an (n, d) view of a (d, n) buffer that the
    next call reuses, or copies it into `out` when given.
    """
    linears, act = plain_linears(model)
    net = model.eps_theta
    act_ = ACT_INPLACE[act]
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


def sample(model: DDPM, n: int, generator: torch.Generator, sigma2: str, ks: list[int],
           x_N: torch.Tensor | None = None) -> Trajectory:
    """`ddpm.sample` for validated arguments (ks: the kept steps, descending from N to 0).

    Per step x^(k−1) = (x^(k) − c_ε ε̂)·c_inv + σ_k z with c_ε = β_k/√(1 − ᾱ_k), c_inv = 1/√α_k (Eq. (9), as
    `ddpm.p_step`), written with `out=` into the frame of the step when it is kept, else into one of two
    spare buffers: no allocation per step. x̂^(0) (Eq. (7) solved for x^(0)) is computed in one pass over the
    kept frames at the end. Raises ValueError unless ε_θ is a plain EpsNet.
    """
    sched = model.sched
    slot = {k: i for i, k in enumerate(ks)}
    dtype = net_dtype(model, torch.float32)
    tab = sched.table(dtype)
    c_inv = tab["inv_sqrt_alpha"].tolist()  # one host transfer up front, none per step
    c_eps = tab["eps_coef"].tolist()
    sigma = tab["sqrt_beta" if sigma2 == "beta" else "sqrt_beta_tilde"].tolist()
    with torch.inference_mode():
        eps_theta = eps_theta_fn(model, n)
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
        steps = torch.tensor(ks[:-1])
        e = x0_hats[:-1]
        e.mul_(tab["sqrt_one_minus_alpha_bar"][steps][:, None, None])
        torch.sub(xs[:-1], e, out=e).mul_(tab["inv_sqrt_alpha_bar"][steps][:, None, None])
        x0_hats[-1] = xs[-1]
    return Trajectory(ks=ks, xs=xs, x0_hats=x0_hats)
