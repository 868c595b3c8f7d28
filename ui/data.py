"""The dataset the settings describe (ui/settings.py: `ds`, `n`, `noise`, `dseed`, or an upload named by `pts`),
trained on by every page. Built datasets are cached server-wide: the same link gives the same arrays, once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from gendemo import datasets
from ui import points_store

DEFAULT_N = datasets.DEFAULT_N
HELDOUT_N = 2000


@dataclass(frozen=True)
class DataChoice:
    """Which points the session trains on: a built-in dataset, or an upload (by content hash)."""

    name: str = "moons"
    n: int = DEFAULT_N
    noise: float | None = None
    seed: int = 0
    upload: str | None = None  # the uploaded file's name and hash; None for built-in datasets

    @property
    def label(self) -> str:
        if self.upload:
            return f"your data ({self.upload}, n = {self.n})"
        noise = datasets.DEFAULT_NOISE.get(self.name) if self.noise is None else self.noise
        return f"{self.name} (n = {self.n}, noise = {noise:g}, seed = {self.seed})"


@dataclass(frozen=True, eq=False)
class Dataset:
    choice: DataChoice
    train: np.ndarray  # (n, 2) float32, the data's own coordinates
    heldout: np.ndarray  # independent points for metrics (their floor needs a second sample)
    reference: np.ndarray  # another independent sample: the metrics' floor is stat(heldout, reference)


def _builtin(choice: DataChoice) -> Dataset:
    train = datasets.load(choice.name, choice.n, choice.seed, choice.noise)
    heldout = datasets.load(choice.name, HELDOUT_N, choice.seed + 1_000_003, choice.noise)
    reference = datasets.load(choice.name, HELDOUT_N, choice.seed + 2_000_003, choice.noise)
    return Dataset(choice, train, heldout, reference)


def from_points(points: np.ndarray, filename: str, digest: str, seed: int = 0) -> Dataset:
    """An upload: 60 % to train on, 20 % held out, 20 % as the metrics' reference (shuffled by seed)."""
    x = datasets.validate_points(points)
    perm = np.random.default_rng(seed).permutation(len(x))
    a, b = int(0.6 * len(x)), int(0.8 * len(x))
    choice = DataChoice(name="upload", n=a, seed=seed, upload=f"{filename}, {digest[:8]}")
    return Dataset(choice, x[perm[:a]], x[perm[a:b]], x[perm[b:]])


@st.cache_resource(max_entries=16, show_spinner="Drawing the dataset…")
def _builtin_cached(choice: DataChoice) -> Dataset:
    return _builtin(choice)


@st.cache_resource(max_entries=16, show_spinner=False)
def _upload_cached(key: str) -> Dataset:
    points, filename = points_store.load(key)
    return from_points(points, filename, key)


def upload_key() -> str | None:
    """The upload the settings name (`pts`: its widget's value, else the URL's), if the store has it, else None."""
    ss, pts = st.session_state, points_store.PTS
    key = ss[pts] if pts in ss else st.query_params.get(pts)
    return key if key and points_store.exists(key) else None


def current() -> Dataset:
    """The dataset of the URL: the upload `pts` names, else the built-in one the settings describe."""
    from ui import settings  # settings imports DataChoice from here

    key = upload_key()
    if key is not None:
        try:
            return _upload_cached(key)
        except ValueError:  # the saved file went bad: fall back like a missing one
            pass
    return _builtin_cached(settings.data_choice())


@st.cache_data(max_entries=64, show_spinner=False)
def _entropy(name: str, noise: float | None) -> float:
    return datasets.entropy(name, noise, n=50_000, seed=1)


def on_curves(choice: DataChoice) -> bool:
    """True for a built-in dataset whose noise is too small for a density: its points lie on curves or points (the
    checkerboard is uniform on squares, a density at any noise)."""
    if choice.upload is not None or choice.name == "checkerboard":
        return False
    noise = datasets.DEFAULT_NOISE[choice.name] if choice.noise is None else choice.noise
    return noise < datasets.MIN_DENSITY_NOISE


def true_entropy(choice: DataChoice) -> float | None:
    """H(q₀) in nats (Monte Carlo over 50,000 points), or None if the density is unknown (uploads, pinwheel) or does
    not exist (noise 0: the points lie on curves, `on_curves`)."""
    if choice.upload is not None or not datasets.has_density(choice.name) or on_curves(choice):
        return None
    return _entropy(choice.name, choice.noise)
