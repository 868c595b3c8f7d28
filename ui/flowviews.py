"""Shared by the two flow pages (Normalizing flows, Coupling layers): the config the widgets
describe, the data's entropy floor, the layers in the lecture's numbering (Eq. (12)), grids, and the
one-click default training of the Coupling page.

Layer numbering: `flow.layers[k - 1]` is f_k, in latent → data order, so f = f_L ∘ … ∘ f_1 with
L = len(flow.layers), z_L = x, z_{k−1} = f_k⁻¹(z_k), z_0 = z ~ N(0, I) (Eq. (12)). L counts the K
couplings, the fixed standardization (always f_L) and, if on, the NICE paper's scaling (f_1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gendemo.config import FlowConfig
from gendemo.flows import Coupling, DiagonalScaling, Flow, Standardize
from ui import settings
from ui.urlspec import KIND_LABEL  # noqa: F401  (the pages' name for a coupling kind)

SLOT = "flow"
ENTROPY_MC = 50_000  # Monte Carlo points for H(q0): std error ≈ 0.005 nats, ≤ 0.5 s once per dataset
ORD = ("first", "second")


def make_config() -> FlowConfig:
    """The FlowConfig of the settings (sidebar, URL); ValueError with the engine's message if it refuses them."""
    config, error = settings.flow_config()
    if config is None:
        raise ValueError(error)
    return config


# ------------------------------------------------------------------ layers in the lecture's numbering
@dataclass(frozen=True)
class Layer:
    k: int  # f_k: position in f = f_L ∘ … ∘ f_1 (1-based, latent → data)
    kind: str  # "coupling" | "scaling" | "standardize"
    coupling: int | None = None  # 1..K among the couplings
    keep: int | None = None  # the kept (conditioning) coordinate z_1 of a coupling: 0 or 1

    @property
    def name(self) -> str:
        return {"coupling": f"coupling {self.coupling}", "scaling": "diagonal scaling (NICE paper)",
                "standardize": "standardization (fixed)"}[self.kind]


def layers(flow: Flow) -> list[Layer]:
    out, c = [], 0
    for i, layer in enumerate(flow.layers):
        if isinstance(layer, Coupling):
            c += 1
            out.append(Layer(i + 1, "coupling", c, layer.keep))
        elif isinstance(layer, DiagonalScaling):
            out.append(Layer(i + 1, "scaling"))
        elif isinstance(layer, Standardize):
            out.append(Layer(i + 1, "standardize"))
        else:  # pragma: no cover - make_flow builds only these
            raise TypeError(f"unknown flow layer {type(layer).__name__}")
    return out


def couplings(flow: Flow) -> list[Layer]:
    return [lay for lay in layers(flow) if lay.kind == "coupling"]


def composition_text(flow: Flow) -> str:
    """E.g. 'f = f_9 ∘ … ∘ f_1: f_1 … f_8 are the 8 couplings, f_9 the fixed standardization'."""
    lays = layers(flow)
    cs = [lay.k for lay in lays if lay.kind == "coupling"]
    parts = [f"f_{cs[0]} … f_{cs[-1]} are the {len(cs)} couplings" if len(cs) > 1 else f"f_{cs[0]} is the coupling"]
    if any(lay.kind == "scaling" for lay in lays):
        parts.insert(0, "f_1 is the NICE paper's diagonal scaling")
    parts.append(f"f_{len(lays)} is the fixed standardization x = m + s ⊙ z_{len(lays) - 1}")
    return f"f = f_{len(lays)} ∘ … ∘ f_1 with L = {len(lays)} layers: " + ", ".join(parts) + "."


def layer_log_dets(flow: Flow, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """zs[k] = z_k (k = 0..L, z_L = x) and ld[k − 1] = log|det J_{f_k⁻¹}(z_k)|, both indexed like the lecture.

    Reorders `flow.f_inv_all`, whose lists run data → latent (zs[0] = z_L). Ref: Eq. (12).
    """
    with torch.no_grad():
        zs_dl, lds_dl = flow.f_inv_all(x)
    return zs_dl[::-1], lds_dl[::-1]


def range_grid(rng: tuple[tuple[float, float], tuple[float, float]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """n × n grid axes (xs, ys) over a ((x0, x1), (y0, y1)) range."""
    (x0, x1), (y0, y1) = rng
    return np.linspace(x0, x1, n), np.linspace(y0, y1, n)


def grid_points(xs: np.ndarray, ys: np.ndarray) -> torch.Tensor:
    """All (x, y) of the grid, row i at ys[i] (the layout heatmaps expect), float32 (len(ys)·len(xs), 2)."""
    gx, gy = np.meshgrid(xs, ys)
    return torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32))


def grid_lines(rng, n_lines: int = 9, n_pts: int = 60) -> np.ndarray:
    """n_lines vertical then n_lines horizontal lines over a range, n_pts points each: (2·n_lines, n_pts, 2)."""
    (x0, x1), (y0, y1) = rng
    t_x, t_y = np.linspace(x0, x1, n_pts), np.linspace(y0, y1, n_pts)
    vert = [np.stack([np.full(n_pts, c), t_y], 1) for c in np.linspace(x0, x1, n_lines)]
    hori = [np.stack([t_x, np.full(n_pts, c)], 1) for c in np.linspace(y0, y1, n_lines)]
    return np.stack(vert + hori).astype(np.float32)
