"""A dependency-free text progress bar for the command line (written to stderr)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """`[#####.....] 500/1000 (50%) 2.1 s, eta 2.1 s  loss 0.41`, redrawn at most 10 times a second."""

    def __init__(self, total: int, label: str = "", enabled: bool = True, stream: TextIO | None = None,
                 width: int = 30):
        self.total, self.label, self.enabled, self.width = max(total, 0), label, enabled, width
        self.stream = stream if stream is not None else sys.stderr
        self.t0 = time.perf_counter()
        self._last_draw = 0.0
        self._drawn = False

    def update(self, done: int, suffix: str = "") -> None:
        now = time.perf_counter()
        if not self.enabled or (now - self._last_draw < 0.1 and done < self.total):
            return
        self._last_draw = now
        frac = done / self.total if self.total else 1.0
        filled = int(round(self.width * frac))
        elapsed = now - self.t0
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        line = (f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} "
                f"({100 * frac:3.0f}%) {elapsed:.1f} s, eta {eta:.1f} s  {suffix}")
        self.stream.write(line)
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
