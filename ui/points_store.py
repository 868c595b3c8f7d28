"""Uploaded points, kept on the server under their content hash, so that a link `?pts=<hash>` opens them in any
session: a reload, another tab, a student's laptop. No streamlit here.

Layout: $GENDEMO_STORE (default ~/.cache/gendemo/store, as gendemo/store.py's models) / points / <key>.npy, the
validated float32 (n, 2) points, and <key>.json, {"name": the file name it was first uploaded as}. <key> is the
first 16 hex digits of the sha256 of the uploaded file. Writes are atomic (a temporary file in the same folder, then
os.replace), so a reader in another session or process never sees half a file; the same content always has the same
key, so two writers agree.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from gendemo.points_io import parse_points_file, validate_points
from ui.urlspec import PTS, PTS_RE  # noqa: F401  (PTS: the URL parameter)


def folder() -> Path:
    """The points folder (read from the environment at every call, so a test can point it elsewhere)."""
    root = os.environ.get("GENDEMO_STORE") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "gendemo" / "store"
    return Path(root).expanduser() / "points"


def key_of(digest: str) -> str:
    """The URL key of an upload: the first 16 hex digits of its sha256."""
    return digest[:16].lower()


def _path(key: str, suffix: str) -> Path | None:
    """The file of a key, or None for anything but 16 lowercase hex digits (a URL value: no path tricks)."""
    return folder() / f"{key}{suffix}" if isinstance(key, str) and PTS_RE.fullmatch(key) else None


def exists(key: str) -> bool:
    p = _path(key, ".npy")
    return p is not None and p.is_file()


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(points: np.ndarray, name: str, digest: str) -> str:
    """Keep validated points under their key (returned). Raises ValueError for bad points, OSError if the store
    cannot be written."""
    x = validate_points(points)
    key = key_of(digest)
    if _path(key, ".npy") is None:
        raise ValueError(f"not a sha256 hex digest: {digest!r}")
    if not exists(key):
        _atomic_write(_path(key, ".json"), lambda f: f.write(json.dumps({"name": str(name)[:200]}).encode()))
        _atomic_write(_path(key, ".npy"), lambda f: np.save(f, x, allow_pickle=False))
    return key


def load(key: str) -> tuple[np.ndarray, str]:
    """(points, the file name they were uploaded as) of a key; ValueError if there are none (or they are bad)."""
    p = _path(key, ".npy")
    if p is None or not p.is_file():
        raise ValueError(f"no uploaded points under {key!r}")
    try:
        name = str(json.loads(_path(key, ".json").read_text())["name"])
    except (OSError, ValueError, KeyError, TypeError):
        name = "uploaded points"
    return parse_points_file(p), name
