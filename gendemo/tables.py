"""The numbers behind a training page as CSV: the loss of every step and the running mean the page reports.

Plain columns of equal length in, UTF-8 CSV bytes out (a header row, then one row per step), readable by any
spreadsheet, pandas or numpy. Floats are written with repr's shortest round-trip digits, so a value read back
is the float32 value the training computed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

import numpy as np

WINDOW = 100  # the training pages' "loss (last 100 steps)" metric


def running_mean(values: Sequence[float], window: int = WINDOW) -> np.ndarray:
    """r[i] = mean(values[max(0, i − window + 1) : i + 1]): the mean of the last ≤ `window` values up to step i + 1,
    as the status metric shows it after that step (float64 prefix sums)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if window < 1:
        raise ValueError("window must be ≥ 1")
    c = np.concatenate([[0.0], np.cumsum(v)])
    i = np.arange(1, v.size + 1)
    lo = np.maximum(0, i - window)
    return (c[i] - c[lo]) / (i - lo)


def loss_columns(losses: Sequence[float], window: int = WINDOW, name: str = "loss") -> dict[str, np.ndarray]:
    """{"step": 1..n, name: the loss of each step, f"{name}_mean_last_{window}": its running mean}."""
    v = np.asarray(losses, dtype=np.float32).ravel()
    return {"step": np.arange(1, v.size + 1), name: v, f"{name}_mean_last_{window}": running_mean(v, window)}


def _cell(x) -> str:
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, np.floating):
        return str(x)  # numpy's shortest digits that read back to the same float32 / float64
    return repr(float(x))


def csv_bytes(columns: Mapping[str, Sequence], comments: Sequence[str] = ()) -> bytes:
    """Columns of equal length as CSV (comma-separated, a header row); `comments`: leading '# ' lines
    (what the numbers are), which pandas reads with comment='#' and numpy.genfromtxt skips."""
    names = list(columns)
    cols = [np.asarray(columns[k]).ravel() for k in names]
    n = {c.size for c in cols}
    if len(n) > 1:
        raise ValueError(f"columns of different lengths: {dict(zip(names, (c.size for c in cols)))}")
    buf = io.StringIO()
    for line in comments:
        buf.write(f"# {line}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(names)
    for row in zip(*cols):
        w.writerow([_cell(x) for x in row])
    return buf.getvalue().encode("utf-8")
