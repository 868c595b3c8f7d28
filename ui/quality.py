"""Sample-quality readouts: the energy distance of model samples to held-out data, next to its floor."""

from __future__ import annotations

import math

import numpy as np

from gendemo import metrics
from ui.data import Dataset

QUALITY_N = 1000  # points on each side: ~0.1 s for the three pairwise sums
FLOOR_DATA = 4000  # points of the training data on which E|X − X'| of the floor is estimated (~0.3 s, once)
NULL_DRAWS = 60  # perfect-model draws (disjoint subsets of the training data) for the band a readout falls in
BAND = (10, 90)  # percentiles of the perfect model's ratio
VERDICT = (2.0, 5.0, 20.0)  # ratio limits of the words: a perfect model's 90th percentile is 1.4-2.3×


_floors: dict[tuple, tuple] = {}  # (dataset choice, n, m) -> (floor, band): a pure function of the dataset, shared


def _floor(ds: Dataset, n: int, m: int) -> tuple[float, tuple[float, float]]:
    key = (ds.choice, n, m)
    if key not in _floors:
        floor = metrics.energy_floor(ds.train[:FLOOR_DATA], n, m)
        nn = min(n, len(ds.train) // 2)  # a small upload: the band from smaller subsets (the ratio's spread, not D²)
        mm = min(m, len(ds.train) - nn)
        null = metrics.energy_null(ds.train, nn, mm, NULL_DRAWS, seed=0)
        null /= floor if (nn, mm) == (n, m) else metrics.energy_floor(ds.train[:FLOOR_DATA], nn, mm)
        if len(_floors) > 256:
            _floors.clear()
        _floors[key] = (floor, tuple(float(v) for v in np.percentile(null, BAND)))
    return _floors[key]


def energy_vs_floor(samples: np.ndarray, ds: Dataset) -> dict:
    """Energy distance of n samples to the m reference points; floor = its expectation for a perfect model,
    (1/n + 1/m)·E|X − X'| (metrics.energy_floor), and the 10–90 % band of a perfect model's ratio (disjoint subsets
    of the training data, metrics.energy_null). Both depend on the dataset only: computed once per dataset and sizes,
    the same on every visit (a floor drawn once as the statistic between two data samples moved 3× between seeds).
    """
    n, m = min(QUALITY_N, len(samples)), len(ds.reference)
    if n < 2 or m < 2 or len(ds.train) < 4:  # a tiny upload: no statistic, no floor
        return {"value": float("nan"), "floor": float("nan"), "ratio": float("nan"), "band": (math.nan, math.nan)}
    floor, band = _floor(ds, n, m)
    value = metrics.energy_distance(samples[:n], ds.reference)
    return {"value": value, "floor": floor, "ratio": value / floor if floor > 0 else float("inf"), "band": band}


def describe(q: dict) -> str:
    r, (lo, hi) = q["ratio"], q["band"]
    if not math.isfinite(r):
        return "not measured (too few data points for the statistic and its floor)"
    verdict = ("as close as two samples of the data itself" if r <= VERDICT[0] else "close" if r < VERDICT[1] else
               "getting there" if r < VERDICT[2] else "far from the data")
    return (f"energy distance {q['value']:.4f} vs floor {q['floor']:.4f}: {r:.1f}× the floor, {verdict} (a perfect "
            f"model scores 1× on average, and {lo:.1f}–{hi:.1f}× in 80 % of its draws)")
