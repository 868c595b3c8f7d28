"""Sample-quality readouts: the energy distance of model samples to held-out data, next to its floor."""

from __future__ import annotations

import numpy as np

from gendemo import metrics
from ui.data import Dataset

QUALITY_N = 1000  # points on each side: ~0.1 s for the three pairwise sums


_floors: dict[tuple, float] = {}  # (dataset choice, n) -> floor: a pure function of the dataset, shared


def energy_vs_floor(samples: np.ndarray, ds: Dataset) -> dict[str, float]:
    """Energy distance of samples to the reference data; floor = heldout vs reference (same size).

    The floor depends on the dataset only, so it is computed once per dataset and size (half the cost of a
    live readout, which every training page refreshes every few seconds).
    """
    n = min(QUALITY_N, len(samples), len(ds.heldout), len(ds.reference))
    key = (ds.choice, n)
    floor = _floors.get(key)
    if floor is None:
        floor = float(metrics.energy_distance(ds.heldout[:n], ds.reference))
        if len(_floors) > 256:
            _floors.clear()
        _floors[key] = floor
    return metrics.with_floor(metrics.energy_distance, samples[:n], ds.heldout[:n], ds.reference, floor=floor)


def describe(q: dict[str, float]) -> str:
    r = q["ratio"]
    verdict = ("as close as two samples of the data itself" if r < 1.5 else "close" if r < 3 else
               "getting there" if r < 10 else "far from the data")
    return f"energy distance {q['value']:.4f} vs floor {q['floor']:.4f}: {r:.1f}× the floor, {verdict}"
