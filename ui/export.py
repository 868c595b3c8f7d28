"""Everything on screen can leave the app: charts as PNG, animations as GIF, MP4 and offline HTML, the numbers as CSV.

* **Charts**: `config(name)` is the `config` of every `st.plotly_chart`: the modebar's camera button saves a PNG
  at slide resolution (16:9 at the chart's height, ×2: ≥ 1636 × 920 px), rendered by plotly.js in the browser
  (no kaleido). In presenter mode the modebar is hidden: it covered chart titles on a projector.
* **Animations**: `animation(fig, key)` under an animated chart. GIF and MP4 are drawn from the figure's own data
  by gendemo.viz.export (Pillow, imageio-ffmpeg) when the user asks, with a progress bar, and kept for this
  session until the figure changes; the HTML (plotly.js inlined, plays offline) is built when its download
  button is clicked. gendemo.viz.export bounds the frame count, frame size and file size.
* **Training numbers**: `training_csv(slot, view)`, the loss of every step and the running mean the status
  shows (`training_csv_bytes`), built when its button is clicked.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from gendemo import tables
from gendemo.viz import export as vx
from ui import style

PNG_SCALE = 2
ASPECT = 16 / 9
# The modebar keeps the PNG download and "reset axes" (a drag still zooms): narrow, it stays clear of titles.
_REMOVE = ["zoom2d", "pan2d", "select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d", "hoverClosestCartesian",
           "hoverCompareCartesian", "toggleSpikelines"]


def config(name: str, height: int | None = None) -> dict:
    """The `config` of a `st.plotly_chart`: a PNG download at slide resolution named after the chart; no modebar
    in presenter mode. `height`: the figure's height in px (default: the style's)."""
    h = int(height or style.figure_style().height)
    return {
        "displayModeBar": not style.presenter() and "hover",
        "displaylogo": False,
        "modeBarButtonsToRemove": _REMOVE,
        "toImageButtonOptions": {"format": "png", "filename": f"gendemo-{name}", "height": h,
                                 "width": round(h * ASPECT), "scale": PNG_SCALE},
    }


def _signature(fig: go.Figure) -> str:
    """Cheap identity of an animation: its frame count, title, height and first and last frames' data."""
    h = hashlib.sha1()
    h.update(f"{len(fig.frames)}|{fig.layout.title.text}|{fig.layout.height}|{len(fig.data)}".encode())
    for f in (fig.frames[0], fig.frames[-1]):
        for d in f.data:
            for a in (d.x, d.y):
                h.update(np.asarray(a if a is not None else [], dtype=np.float32).tobytes())
    return h.hexdigest()


def _make(fig: go.Figure, key: str) -> dict:
    """Render every frame, then encode GIF and MP4, with a progress bar (frames 60 %, GIF 10 %, MP4 30 %: their
    shares of the time in benchmarks/bench_export.py)."""
    anim = vx.Animation.of(fig)
    bar = st.progress(0.0, text=f"Drawing {anim.n_frames} frames…")
    t0 = time.monotonic()
    frames = vx.render_frames(anim, progress=lambda i, n: bar.progress(0.6 * i / n, text=f"Frame {i} of {n}…"))
    bar.progress(0.6, text="Encoding the GIF…")
    gif = vx.gif_bytes(frames, anim.duration_ms)
    bar.progress(0.7, text="Encoding the MP4…")
    mp4 = vx.mp4_bytes(frames, anim.fps)
    bar.empty()
    return {"sig": _signature(fig), "gif": gif, "mp4": mp4, "n": anim.n_frames, "size": frames[0].size,
            "seconds": time.monotonic() - t0}


def animation(fig: go.Figure, key: str) -> None:
    """The export panel under the animated chart `key`."""
    state_key = f"{key}_export"
    with st.expander("Export this animation: GIF, MP4, HTML"):
        st.caption(f"GIF and MP4: {vx.SIZE[0]} × {vx.SIZE[1]} px, one image per frame (at most {vx.MAX_FRAMES}), "
                   f"at most {vx.MAX_BYTES // 2**20} MB, drawn from the same points. HTML: the interactive chart "
                   "with ▶ Play and the slider, which plays offline (plotly.js inside, ~5 MB).")
        row = st.container(horizontal=True, gap="small")
        made = st.session_state.get(state_key)
        if made is not None and made["sig"] != _signature(fig):
            made = st.session_state[state_key] = None  # the settings changed: the old files are not this animation
        if made is None and row.button("Make GIF and MP4", key=f"{key}_export_make", icon=":material/movie:"):
            try:
                made = st.session_state[state_key] = _make(fig, key)
            except vx.ExportTooLarge as exc:
                st.error(str(exc))
        if made is not None:
            row.download_button("GIF", data=made["gif"], file_name=f"gendemo-{key}.gif", mime="image/gif",
                                key=f"{key}_export_gif", on_click="ignore", icon=":material/download:")
            row.download_button("MP4", data=made["mp4"], file_name=f"gendemo-{key}.mp4", mime="video/mp4",
                                key=f"{key}_export_mp4", on_click="ignore", icon=":material/download:")
        row.download_button("HTML", data=lambda: vx.html_bytes(fig, f"gendemo: {key}"),
                            file_name=f"gendemo-{key}.html", mime="text/html", key=f"{key}_export_html",
                            on_click="ignore", icon=":material/download:")
        if made is not None:
            st.caption(f"{made['n']} frames, {made['size'][0]} × {made['size'][1]} px: GIF "
                       f"{len(made['gif']) / 2**20:.1f} MB, MP4 {len(made['mp4']) / 2**20:.1f} MB "
                       f"(made in {made['seconds']:.1f} s).")


# The loss a training page's CSV holds, per slot: its column name and what it is.
LOSS_COLUMN = {
    "ddpm": ("loss", "the L_simple loss of each training step (Eq. (10)), on its batch"),
    "flow": ("nll_train", ("the training NLL −mean log p_x(x; θ) of each step (Eq. (11)), in nats per point, on "
                           "its batch")),
    "fm": ("loss", ("the flow-matching loss E|u_θ(X_t, t) − (X_1 − X_0)|² of each step (X_t of Eq. (1), u_θ the "
                    "velocity of Eq. (2)), on its batch")),
}


def training_csv_bytes(slot: str, view) -> bytes:
    """The CSV of the view's training: one row per step trained by now (following) or up to the step shown."""
    job = view.job
    name, what = LOSS_COLUMN[slot]
    losses = list(view.history()[1])
    return tables.csv_bytes(tables.loss_columns(losses, name=name), comments=[
        f"gendemo {slot} training {job.key}: {what}; {name}_mean_last_{tables.WINDOW} is the status metric",
        f"settings: {job.spec.config}"])


def training_csv(slot: str, view) -> None:
    """Download the loss of every step of the view's training (up to the step shown) as CSV."""
    if view is None:
        st.caption("Nothing trained yet: train first, then export its numbers.")
        return
    name = LOSS_COLUMN[slot][0]
    st.download_button("Loss history (CSV)", data=lambda: training_csv_bytes(slot, view),
                       file_name=f"gendemo-{slot}-losses.csv", mime="text/csv",
                       key=f"{slot}_csv", on_click="ignore", icon=":material/download:",
                       help=f"One row per step: step, {name}, and its mean over the last {tables.WINDOW} steps.")
