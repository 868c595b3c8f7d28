"""Normalizing flows in d = 2: NICE (additive) and RealNVP (affine) coupling layers.

Every layer maps latent → data with `f(z) -> (x, log|det J_f(z)|)` and back with
`f_inv(x) -> (z, log|det J_{f^{-1}}(x)|)`; log-dets have shape (n,). A `Flow` composes
f = f_K ∘ … ∘ f_1 and keeps every intermediate z_k for a layer-by-layer view (Eq. (12)).
z = (z_1, z_2) are single coordinates: `keep` is the index of the conditioning coordinate z_1.
Ref: Eq. (11), (12).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence

import torch
from torch import nn

from gendemo.nets import mlp

KINDS = ("nice", "realnvp")
# c in σ_θ = c·tanh(raw/c): per-coupling scale factor in (e^-1, e^1) ≈ (0.37, 2.7). Larger c let couplings at the
# bound compound on edge points until the loss diverged (benchmarks/tuning.md, "Why the default RealNVP diverged");
# with c = 1 the composed map still scales each coordinate by up to e^(±K/2), enough for the thin moons (≈ ×15).
LOG_SCALE_BOUND = 1.0
_TensorPair = tuple[torch.Tensor, torch.Tensor]


def _check_points(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a tensor of shape (n, 2), got {shape}")


def _as_vector(value: Sequence[float] | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(value, dtype=torch.float32).detach().clone()


def _init_conditioner(net: nn.Sequential, generator: torch.Generator | None) -> None:
    """Hidden layers ~ U(±1/√fan_in) (nn.Linear's default law) drawn from `generator` if given; last layer 0."""
    with torch.no_grad():
        if generator is not None:
            for layer in net:
                if isinstance(layer, nn.Linear):
                    bound = 1.0 / math.sqrt(layer.in_features)
                    for p in (layer.weight, layer.bias):
                        u = torch.rand(p.shape, generator=generator, device=generator.device, dtype=p.dtype)
                        p.copy_(bound * (2.0 * u - 1.0))
        net[-1].weight.zero_()
        net[-1].bias.zero_()


class Coupling(nn.Module):
    """A coupling layer: x_1 = z_1 and x_2 a map of z_2 conditioned on z_1; coordinate `keep` is z_1.

    The conditioner is `mlp(1, n_out, width, depth)` with a zero last layer, so the layer is the identity at
    initialisation. Each subclass writes its own `f` and `f_inv` (the formulas of Eq. (12)). Ref: Eq. (12).
    """

    n_out = 1

    def __init__(self, keep: int, width: int = 64, depth: int = 2,
                 generator: torch.Generator | None = None):
        super().__init__()
        if keep not in (0, 1):
            raise ValueError(f"keep must be 0 or 1 (index of the conditioning coordinate z_1), got {keep!r}")
        self.keep = keep
        self.net = mlp(1, self.n_out, width, depth)
        _init_conditioner(self.net, generator)

    def split(self, v: torch.Tensor) -> _TensorPair:
        """(v_1, v_2) of shape (n,) each: the kept coordinate and the transformed one."""
        return v[:, self.keep], v[:, 1 - self.keep]

    def merge(self, v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
        """The inverse of `split`: (n, 2) in coordinate order."""
        return torch.stack((v1, v2) if self.keep == 0 else (v2, v1), dim=1)

    def mu_sigma(self, z1: torch.Tensor) -> _TensorPair:
        """(μ_θ(z_1), σ_θ(z_1)), shape (n,) each, for z_1 of shape (n,)."""
        raise NotImplementedError

    def mu_theta(self, z1: torch.Tensor) -> torch.Tensor:
        """μ_θ(z_1), the shift of the transformed coordinate, shape (n,) for z_1 of shape (n,)."""
        return self.mu_sigma(z1.reshape(-1))[0]

    def sigma_theta(self, z1: torch.Tensor) -> torch.Tensor:
        """σ_θ(z_1), the log-scale of the transformed coordinate (zeros for NICE), shape (n,)."""
        return self.mu_sigma(z1.reshape(-1))[1]


class AdditiveCoupling(Coupling):
    """NICE: x_1 = z_1, x_2 = z_2 + μ_θ(z_1); det J = 1 (log-det exactly zero). Ref: Part 3, NICE."""

    n_out = 1

    def mu_sigma(self, z1: torch.Tensor) -> _TensorPair:
        mu = self.net(z1[:, None])[:, 0]
        return mu, torch.zeros_like(mu)

    def f(self, z: torch.Tensor) -> _TensorPair:
        """x_1 = z_1, x_2 = z_2 + μ_θ(z_1); log|det J_f| = 0. Ref: Eq. (12)."""
        z1, z2 = self.split(z)
        return self.merge(z1, z2 + self.net(z1[:, None])[:, 0]), z.new_zeros(z.shape[0])

    def f_inv(self, x: torch.Tensor) -> _TensorPair:
        """z_1 = x_1, z_2 = x_2 − μ_θ(x_1); log|det J_{f^-1}| = 0. Ref: Eq. (12)."""
        x1, x2 = self.split(x)
        return self.merge(x1, x2 - self.net(x1[:, None])[:, 0]), x.new_zeros(x.shape[0])


class AffineCoupling(Coupling):
    """RealNVP: x_2 = exp(σ_θ(z_1)) z_2 + μ_θ(z_1), σ_θ = c·tanh(raw/c); det J_{f^-1} = exp(−σ_θ).

    Ref: Part 3, RealNVP. The conditioner outputs (μ_θ, raw). The bound c (`LOG_SCALE_BOUND` = 1
    by default) keeps exp(±σ_θ) in [e^-c, e^c] ≈ [0.37, 2.7] whatever the input, so a huge point or
    a bad optimiser step cannot overflow, and K couplings cannot compound into an extreme gain;
    for |raw| ≪ c, σ_θ ≈ raw.
    """

    n_out = 2

    def __init__(self, keep: int, width: int = 64, depth: int = 2, bound: float = LOG_SCALE_BOUND,
                 generator: torch.Generator | None = None):
        super().__init__(keep, width, depth, generator)
        if not (isinstance(bound, (int, float)) and 0.0 < bound <= 20.0):
            raise ValueError(f"bound (the log-scale bound c) must be a number in (0, 20], got {bound!r}")
        self.bound = float(bound)

    def mu_sigma(self, z1: torch.Tensor) -> _TensorPair:
        mu, raw = self.net(z1[:, None]).unbind(1)
        return mu, torch.tanh(raw * (1.0 / self.bound)) * self.bound

    def f(self, z: torch.Tensor) -> _TensorPair:
        """x_1 = z_1, x_2 = exp(σ_θ(z_1)) z_2 + μ_θ(z_1); log|det J_f| = σ_θ(z_1). Ref: Eq. (12)."""
        z1, z2 = self.split(z)
        mu, sigma = self.mu_sigma(z1)
        return self.merge(z1, torch.exp(sigma) * z2 + mu), sigma

    def f_inv(self, x: torch.Tensor) -> _TensorPair:
        """z_1 = x_1, z_2 = exp(−σ_θ(x_1)) (x_2 − μ_θ(x_1)); log|det J_{f^-1}| = −σ_θ(x_1). Ref: Eq. (12)."""
        x1, x2 = self.split(x)
        mu, sigma = self.mu_sigma(x1)
        return self.merge(x1, torch.exp(-sigma) * (x2 - mu)), -sigma


class DiagonalScaling(nn.Module):
    """NICE paper's scaling layer: x = exp(s) ⊙ z; log|det J_{f^-1}| = −Σ_j s_j. Ref: Eq. (12).

    An option (off by default): the slides' NICE is volume preserving. In latent → data order it
    comes first (the NICE paper puts it last in its data → latent map).
    """

    def __init__(self) -> None:
        super().__init__()
        self.s = nn.Parameter(torch.zeros(2))

    def f(self, z: torch.Tensor) -> _TensorPair:
        """x = exp(s) ⊙ z; log|det J_f| = Σ_j s_j. Ref: Eq. (12)."""
        return z * torch.exp(self.s), self.s.sum().expand(z.shape[0])

    def f_inv(self, x: torch.Tensor) -> _TensorPair:
        """z = exp(−s) ⊙ x; log|det J_{f^-1}| = −Σ_j s_j. Ref: Eq. (12)."""
        return x * torch.exp(-self.s), (-self.s.sum()).expand(x.shape[0])


class Standardize(nn.Module):
    """Fixed affine x = shift + scale ⊙ z (buffers); log|det J_{f^-1}| = −Σ_j log scale_j. Ref: Eq. (12).

    The last layer of a flow: the couplings work on standardized data, the density is in the
    data's own coordinates. Not trained (buffers, not parameters).
    """

    def __init__(self, shift: Sequence[float] | torch.Tensor | None = None,
                 scale: Sequence[float] | torch.Tensor | None = None):
        super().__init__()
        shift_t = torch.zeros(2) if shift is None else _as_vector(shift)
        scale_t = torch.ones(2) if scale is None else _as_vector(scale)
        if shift_t.shape != (2,) or not torch.isfinite(shift_t).all():
            raise ValueError(f"shift must be 2 finite numbers, got {shift!r}")
        if scale_t.shape != (2,) or not (torch.isfinite(scale_t).all() and (scale_t > 0).all()):
            raise ValueError(f"scale must be 2 finite numbers > 0, got {scale!r}")
        self.register_buffer("shift", shift_t)
        self.register_buffer("scale", scale_t)

    def f(self, z: torch.Tensor) -> _TensorPair:
        """x = shift + scale ⊙ z; log|det J_f| = Σ_j log scale_j. Ref: Eq. (12)."""
        return self.shift + self.scale * z, torch.log(self.scale).sum().expand(z.shape[0])

    def f_inv(self, x: torch.Tensor) -> _TensorPair:
        """z = (x − shift) / scale; log|det J_{f^-1}| = −Σ_j log scale_j. Ref: Eq. (12)."""
        return (x - self.shift) / self.scale, (-torch.log(self.scale).sum()).expand(x.shape[0])


class Flow(nn.Module):
    """x = f(z) = f_L ∘ … ∘ f_1(z), z ~ N(0, I); p_x(x) = p_z(f^{-1}(x)) |det J_{f^{-1}}(x)|.

    Ref: Eq. (11), (12).

    `layers[i]` is f_{i+1}, in the order applied from latent to data: [DiagonalScaling (option)],
    the K couplings, then `Standardize` (applied last in f, first in f_inv). L = len(layers).
    """

    def __init__(self, layers: Sequence[nn.Module], kind: str):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.kind = kind

    def f(self, z: torch.Tensor) -> torch.Tensor:
        """x = f_L(…f_1(z)). Ref: Eq. (12)."""
        _check_points(z, "z")
        for layer in self.layers:
            z = layer.f(z)[0]
        return z

    def f_all(self, z: torch.Tensor) -> list[torch.Tensor]:
        """zs = [z_0 = z, z_1 = f_1(z_0), …, z_L = x] in latent → data order (L + 1 tensors).

        Ref: Eq. (12).
        """
        _check_points(z, "z")
        zs = [z]
        for layer in self.layers:
            zs.append(layer.f(zs[-1])[0])
        return zs

    def f_inv(self, x: torch.Tensor) -> _TensorPair:
        """z = f^{-1}(x), log|det J_{f^-1}(x)| = Σ_k log|det J_{f_k^-1}(z_k)|, shape (n,). Ref: Eq. (12)."""
        _check_points(x, "x")
        log_dets = []
        for layer in reversed(self.layers):
            x, ld = layer.f_inv(x)
            log_dets.append(ld)
        return x, torch.stack(log_dets).sum(0)

    def f_inv_all(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """zs = [z_L = x, z_{L-1}, …, z_0] (data → latent), z_{k-1} = f_k^{-1}(z_k). Ref: Eq. (12).

        log_dets[i] = log|det J_{f_k^-1}(z_k)| for the layer k = L − i mapping zs[i] to zs[i+1]
        (so log_dets[0] is Standardize's −Σ log scale); len(zs) = L + 1, len(log_dets) = L.
        """
        _check_points(x, "x")
        zs, log_dets = [x], []
        for layer in reversed(self.layers):
            z, ld = layer.f_inv(zs[-1])
            zs.append(z)
            log_dets.append(ld)
        return zs, log_dets

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p_x(x) = log N(f^{-1}(x); 0, I) + log|det J_{f^-1}(x)|, shape (n,). Ref: Eq. (11)."""
        z, log_det = self.f_inv(x)
        log_pz = -0.5 * (z * z).sum(1) - math.log(2.0 * math.pi)
        return log_pz + log_det

    def nll_loss(self, x: torch.Tensor) -> torch.Tensor:
        """Loss(θ) = −(1/n) Σ_i [log p_z(f^{-1}(x_i)) + log|det J_{f^-1}(x_i)|] (forward KL).

        Ref: Part 3, Loss.
        """
        return -self.log_prob(x).mean()

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """x = f(z), z ~ N(0, I) drawn from `generator` only (no gradients), shape (n, 2). Ref: Eq. (11)."""
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= 10_000_000:
            raise ValueError(f"n (number of samples) must be an integer in [1, 10_000_000], got {n!r}")
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        ref = next(itertools.chain(self.parameters(), self.buffers()))
        with torch.no_grad():
            z = torch.randn(int(n), 2, generator=generator, device=generator.device, dtype=ref.dtype)
            return self.f(z.to(ref.device))


def make_flow(kind: str, K: int = 8, width: int = 64, depth: int = 2, scaling: bool = False,
              shift: Sequence[float] | torch.Tensor | None = None,
              scale: Sequence[float] | torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> Flow:
    """f = Standardize ∘ f_K ∘ … ∘ f_1 [∘ DiagonalScaling], couplings with keep = 0, 1, 0, 1, ….

    Ref: Eq. (12).

    kind "nice" → AdditiveCoupling (det J = 1), "realnvp" → AffineCoupling. Every coupling is
    the identity at initialisation (zero last layer), so the initial flow is N(shift, diag(scale²)).
    `generator` (optional) draws the conditioners' hidden weights, making the initialisation
    reproducible; without it they come from torch's global RNG (nn.Linear's default).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    for name, value, lo, hi in (("K", K, 1, 64), ("width", width, 1, 4096), ("depth", depth, 1, 16)):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    coupling = AdditiveCoupling if kind == "nice" else AffineCoupling
    layers: list[nn.Module] = [DiagonalScaling()] if scaling else []
    layers += [coupling(keep=k % 2, width=width, depth=depth, generator=generator) for k in range(K)]
    layers.append(Standardize(shift, scale))
    return Flow(layers, kind)
