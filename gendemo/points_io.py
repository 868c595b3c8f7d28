"""The user's own points: validation of arrays, and parsing of CSV / NPY files and uploads.

Everything a user can hand over (an array, a file, an upload's bytes) goes through
`validate_points`, which returns float32 (n, 2) or raises a ValueError that says what is wrong.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

MAX_POINTS = 100_000
MAX_FILE_BYTES = 10 * 2**20  # 10 MiB: ~250k CSV rows, far more than MAX_POINTS
MAX_MAGNITUDE = 1e6


def _check_int(value: int, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"{what} must be an integer in [{lo}, {hi:_}], got {value!r}")
    return int(value)


def validate_points(x: object, name: str = "data") -> np.ndarray:
    """A user's array-like of points -> float32 (n, 2), or a ValueError that says what is wrong."""
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        raw = np.asarray(x)
        if raw.dtype.kind == "c":
            raise ValueError("complex numbers are not points")
        arr = raw.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array of shape (n, 2): {exc}") from None
    if arr.ndim != 2 or arr.shape[1] != 2:
        hint = " (transposed? try x.T)" if arr.ndim == 2 and arr.shape[0] == 2 else ""
        raise ValueError(f"{name} must have shape (n, 2), one point (x, y) a row; got shape {arr.shape}{hint}")
    if not 2 <= len(arr) <= MAX_POINTS:
        raise ValueError(f"{name} must have between 2 and {MAX_POINTS:_} points, got {len(arr):_}"
                         + ("; subsample it" if len(arr) > MAX_POINTS else ""))
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise ValueError(f"{name} has {bad.sum()} row(s) with NaN or infinite values "
                         f"(first at row {np.argmax(bad)}: {arr[np.argmax(bad)].tolist()})")
    big = np.abs(arr).max()
    if big > MAX_MAGNITUDE:
        raise ValueError(f"{name} has values up to {big:.3g} in magnitude, above the limit "
                         f"{MAX_MAGNITUDE:.0e}; rescale the data (e.g. to standard units)")
    arr32 = arr.astype(np.float32)
    for j, col in enumerate("xy"):
        if np.ptp(arr32[:, j]) == 0.0:
            raise ValueError(f"{name}: column {j} ({col}) is constant (= {arr32[0, j]:g}); the points lie "
                             "on a line, which has no 2D density and cannot be standardized")
    return arr32


_MAGIC = {b"\x1f\x8b": "gzip-compressed; decompress it first",
          b"PK\x03\x04": "a ZIP archive (an Excel .xlsx?); export the sheet as CSV",
          b"\xd0\xcf\x11\xe0": "an old Excel/Office document; export the sheet as CSV",
          b"\x93NUMPY": "a NumPy .npy file; give it the .npy extension",
          b"\xff\xfe": "UTF-16 text; save it as UTF-8 CSV", b"\xfe\xff": "UTF-16 text; save it as UTF-8 CSV"}


def _check_text(data: object, max_bytes: int) -> str:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"CSV data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    max_bytes = _check_int(max_bytes, "max_bytes", 1, 2**40)
    if len(data) > max_bytes:
        raise ValueError(f"file is {len(data):_} bytes, above the limit of {max_bytes:_} bytes")
    if not data.strip():
        raise ValueError("file is empty")
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise ValueError(f"not a CSV text file: it is {what}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("not a CSV text file: binary data (not UTF-8 text)") from None
    if "\x00" in text:
        raise ValueError("not a CSV text file: binary data (contains NUL bytes)")
    return text


def _split(line: str, sep: str | None) -> list[str]:
    fields = [f.strip().strip('"').strip() for f in line.split(sep)]
    while len(fields) > 2 and fields[-1] == "":  # tolerate trailing separators: "1,2,"
        fields.pop()
    return fields


def _to_float(field: str, line: int) -> float:
    try:
        return float(field)
    except ValueError:
        raise ValueError(f"line {line}: {field!r} is not a number") from None


def parse_csv_bytes(data: bytes, max_bytes: int = MAX_FILE_BYTES) -> np.ndarray:
    """Text "x,y" rows (comma or semicolon, optional header and # comments) -> float32 (n, 2) points."""
    text = _check_text(data, max_bytes)
    lines = [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), 1)
             if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ValueError("file is empty (only blank or comment lines)")
    head = " ".join(ln for _, ln in lines[:3])
    sep = ";" if ";" in head else "," if "," in head else "\t" if "\t" in head else None
    rows = [(i, _split(ln.replace(",", ".") if sep == ";" else ln, sep)) for i, ln in lines]
    try:
        [float(f) for f in rows[0][1]]
    except ValueError:
        rows = rows[1:]  # a header line
    if not rows:
        raise ValueError("file has a header but no data rows")
    for i, fields in rows:
        if len(fields) != 2:
            raise ValueError(f"line {i} has {len(fields)} column(s): {fields[:4]}; expected exactly two "
                             "numeric columns x, y separated by a comma or a semicolon")
    try:
        arr = np.array([f for _, f in rows], dtype=np.float64)
    except ValueError:  # find the culprit line for the message
        arr = np.array([[_to_float(f, i) for f in fields] for i, fields in rows])
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        i, fields = rows[int(np.argmax(bad))]
        raise ValueError(f"line {i}: non-finite value in {fields} (NaN or infinity)")
    return validate_points(arr, name="CSV data")


def _parse_npy_bytes(data: bytes, label: str = ".npy file") -> np.ndarray:
    if not data.startswith(b"\x93NUMPY"):
        what = _MAGIC.get(data[:2], "") or _MAGIC.get(data[:4], "")
        raise ValueError(f"{label} is not a NumPy .npy file" + (f": it is {what}" if what else ""))
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{label} could not be read as a .npy array: {exc}") from None
    return validate_points(arr, name=label)


def parse_points_file(path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES) -> np.ndarray:
    """Read the user's points from a .npy or .csv (.txt) file -> float32 (n, 2), or a clear ValueError."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".npy", ".csv", ".txt"):
        raise ValueError(f"unsupported file type {suffix or '(none)'!r} for {p.name}; use .npy or .csv")
    if not p.is_file():
        raise ValueError(f"no such file: {p}")
    if p.stat().st_size > max_bytes:
        raise ValueError(f"{p.name} is {p.stat().st_size:_} bytes, above the limit of {max_bytes:_} bytes")
    data = p.read_bytes()
    return _parse_npy_bytes(data, p.name) if suffix == ".npy" else parse_csv_bytes(data, max_bytes)
