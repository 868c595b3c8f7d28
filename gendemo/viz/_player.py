"""Private: frames + Play/Pause buttons + a slider, played client-side with ``redraw: False``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from gendemo.viz.style import HIDDEN

FRAME_MS = 120  # ≥ the ~45 ms/frame SVG cost of 1,000 points on a 2-core machine (GUIDE §4)
_MAX_TICK_LABELS = 12


XY = tuple[np.ndarray, np.ndarray]


def add_player(fig: go.Figure, frames: Sequence[Sequence[XY]], traces: Sequence[int],
               labels: Sequence[str], *, prefix: str = "k = ", duration_ms: int = FRAME_MS) -> go.Figure:
    """Attach one frame per entry of ``frames``, each a list of (x, y) for fig.data[traces], and a slider.

    Frames only carry what changes (x, y); every other attribute stays on the base trace. Frames are
    passed as plain dicts: plotly validates them once (building go.Scatter objects first costs 4×). Transitions
    have duration 0 and ``redraw: False`` so SVG scatters repaint cheaply in the browser.
    """
    if len(frames) != len(labels):
        raise ValueError(f"{len(frames)} frames but {len(labels)} labels")
    names = [f"f{i}" for i in range(len(frames))]
    fig.frames = [dict(data=[dict(type="scatter", x=x, y=y) for x, y in d], traces=list(traces), name=n)
                  for d, n in zip(frames, names)]
    jump = dict(frame=dict(duration=0, redraw=False), mode="immediate", transition=dict(duration=0))
    play = dict(frame=dict(duration=duration_ms, redraw=False), fromcurrent=True, mode="immediate",
                transition=dict(duration=0))
    show_ticks = len(frames) <= _MAX_TICK_LABELS
    slider = dict(
        active=0, x=0.0, len=1.0, xanchor="left", y=0.0, yanchor="top",
        steps=[dict(method="animate", label=lab, args=[[n], jump]) for lab, n in zip(labels, names)],
        currentvalue=dict(prefix=prefix, visible=True, xanchor="left", offset=14),
        ticklen=6 if show_ticks else 3, minorticklen=0, transition=dict(duration=0),
        bgcolor="#E8E8E8", activebgcolor="#BDBDBD", bordercolor="#BBBBBB",
    )
    if not show_ticks:  # 100 overlapping tick labels are noise; the current value says where we are
        slider["font"] = dict(color=HIDDEN, size=1)
    buttons = dict(type="buttons", direction="left", showactive=False, x=1.0, xanchor="right", y=0.0,
                   yanchor="top", bgcolor="#F4F4F4", bordercolor="#BBBBBB",
                   buttons=[dict(label="▶ Play", method="animate", args=[None, play]),
                            dict(label="❚❚ Pause", method="animate", args=[[None], jump])])
    fig.update_layout(sliders=[slider], updatemenus=[buttons])
    return fig
