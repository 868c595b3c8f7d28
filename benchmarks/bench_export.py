"""Exports of the app's animations (ui/export.py): time to draw the frames and to encode GIF and MP4, and the
file sizes, at the app's frame counts and point budgets, on synthetic clouds (the cost depends on the number of
frames and points, not on what they show). Prints one table.

    .venv/bin/python benchmarks/bench_export.py
"""

from __future__ import annotations

import time

import common  # noqa: F401 - puts the repo on sys.path
import numpy as np
import torch

from gendemo import viz
from gendemo.viz import export as vx

torch.set_num_threads(1)


def clouds(n_frames: int, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n_frames, n, 2)) * np.linspace(0.2, 1.0, n_frames)[:, None, None]).astype(np.float32)


def cases(style):
    fwd = clouds(60, 500)  # pages/forward.py: ≤ 60 frames, 500 points a panel
    rev = clouds(80, 1000)  # pages/reverse.py: ≤ 80 frames, 1,000 points, 8 paths, x̂⁽⁰⁾ panel
    lay = clouds(14, 1000)  # pages/coupling.py: L + 1 = 14 frames (K = 12 couplings + standardization)
    return {
        "forward (60 frames, 2 × 500 pts)": viz.forward_animation(fwd, fwd, list(range(60)), style=style),
        "reverse (80 frames, 2 × 500 pts)": viz.reverse_animation(rev, list(range(79, -1, -1)), paths_idx=range(8),
                                                                  x0_hats=rev, reference=rev[-1], style=style),
        "layers (14 frames, 1,000 pts)": viz.layer_animation(lay, style=style),
    }


def main() -> None:
    print(f"{'animation':36} {'style':9} {'frames':>6} {'draw s':>7} {'GIF s':>6} {'GIF MB':>7} {'MP4 s':>6} "
          f"{'MP4 MB':>7} {'HTML MB':>8}")
    for sname, style in (("default", viz.Style.default()), ("presenter", viz.Style.presenter())):
        for name, fig in cases(style).items():
            anim = vx.Animation.of(fig)
            t0 = time.perf_counter()
            frames = vx.render_frames(anim)
            t1 = time.perf_counter()
            gif = vx.gif_bytes(frames, anim.duration_ms)
            t2 = time.perf_counter()
            mp4 = vx.mp4_bytes(frames, anim.fps)
            t3 = time.perf_counter()
            html = vx.html_bytes(fig)
            print(f"{name:36} {sname:9} {anim.n_frames:6d} {t1 - t0:7.2f} {t2 - t1:6.2f} {len(gif) / 2**20:7.2f} "
                  f"{t3 - t2:6.2f} {len(mp4) / 2**20:7.2f} {len(html) / 2**20:8.2f}")


if __name__ == "__main__":
    main()
