"""Shared by the benchmark sections: timing with medians and spread, the result rows, the machine."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/run.py` puts benchmarks/ first on the path, not the repo
    sys.path.insert(0, str(ROOT))

import torch

torch.set_num_threads(1)  # every figure is for one torch thread (the app sets the same in app.py)


@dataclass
class Row:
    """One line of the table: a figure next to its target."""

    section: str
    name: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: no target (information only)
    note: str = ""

    @property
    def status(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "FAIL")


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    tables: dict[str, str] = field(default_factory=dict)  # extra markdown blocks for RESULTS.md, by title

    def add(self, *args, **kwargs) -> Row:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        print(f"  {row.section:<10} {row.name:<58} {row.value:<28} {row.target:<14} {row.status}", flush=True)
        return row


@dataclass(frozen=True)
class Timing:
    """Median of repeated measurements with their spread (min … max) and count."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> float:
        """(max − min)/median: how noisy the repeats were."""
        return (max(self.values) - min(self.values)) / self.median if self.median else float("nan")

    def fmt(self, scale: float = 1.0, unit: str = "", digits: int = 2) -> str:
        v = [x * scale for x in self.values]
        return f"{statistics.median(v):.{digits}f}{unit} ({min(v):.{digits}f}–{max(v):.{digits}f}, n={len(v)})"


def repeat(fn: Callable[[], float | None], repeats: int) -> Timing:
    """Run fn `repeats` times; each returns its own measurement, or None to be timed here (seconds)."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = fn()
        out.append(time.perf_counter() - t0 if r is None else float(r))
    return Timing(tuple(out))


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, str]:
    import numpy as np
    return {
        "CPU": cpu_model(),
        "cores": str(os.cpu_count()),
        "torch": torch.__version__,
        "torch threads": str(torch.get_num_threads()),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
