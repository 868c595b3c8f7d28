"""An animated figure out of the app: GIF and MP4 frames drawn with Pillow, and a standalone HTML that plays offline.

The frames are drawn from the figure itself (its traces, its ``frames``, its axes' ranges and domains, its
slider's labels), so an export shows exactly the data the page animates, without a browser and without
plotly's image server: point clouds (markers) and paths or circles (lines, NaN-separated) in each subplot's
fixed ranges, with equal aspect where the figure keeps it, the figure's title, the subplot titles, the axes'
ticks and the frame's label ("k = 17"). Legends, hover and the slider are the HTML export's.

Bounds: at most ``MAX_FRAMES`` frames (more are thinned evenly, first and last kept), a frame size of at most
``MAX_SIZE`` pixels, and an encoded file of at most ``MAX_BYTES`` (``ExportTooLarge`` otherwise).
"""

from __future__ import annotations

import io
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageColor, ImageDraw, ImageFont

from gendemo.viz._common import frame_indices
from gendemo.viz.style import HIDDEN, PALETTE

MAX_FRAMES = 150  # the app's animations have ≤ 100 frames: exported whole
MAX_SIZE = (1920, 1080)
MAX_BYTES = 40 * 2**20
SIZE = (1280, 720)  # a 16:9 slide
_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
          "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")

Progress = Callable[[int, int], None]  # (frames done, frames in all)


class ExportTooLarge(ValueError):
    """The encoded animation would exceed MAX_BYTES."""


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in _FONTS:
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


_SUBS = str.maketrans("0123456789+−-=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")
_SUPS = str.maketrans("0123456789+−-=()ik", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾ⁱᵏ")


def plain_text(text: str | None) -> str:
    """Plotly's text markup as plain text: <sub>k−1</sub> → ₖ₋₁ (or _{k−1} where a character has no subscript),
    <sup>…</sup> likewise, <br> → a space, other tags dropped."""
    if not text:
        return ""

    def script(m: re.Match, table: dict, mark: str) -> str:
        body = m.group(1)
        mapped = body.translate(table)
        if all(c != o or not c.isalnum() for c, o in zip(mapped, body)):
            return mapped
        return f"{mark}{{{body}}}" if len(body) > 1 else f"{mark}{body}"

    text = re.sub(r"<sub>(.*?)</sub>", lambda m: script(m, _SUBS, "_"), text)
    text = re.sub(r"<sup>(.*?)</sup>", lambda m: script(m, _SUPS, "^"), text)
    text = re.sub(r"<br\s*/?>", " ", text)
    return re.sub(r"<[^>]+>", "", text)


def _rgba(color, opacity: float) -> tuple[int, int, int, int]:
    if color is None or (isinstance(color, str) and color == HIDDEN):
        return (0, 0, 0, 0)
    try:
        c = ImageColor.getrgb(str(color))
    except ValueError:
        c = ImageColor.getrgb(PALETTE["model"])
    a = c[3] / 255 if len(c) == 4 else 1.0
    return c[0], c[1], c[2], round(255 * max(0.0, min(1.0, a * opacity)))


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        return []
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


@dataclass
class _Panel:
    """One subplot: its axes' layout keys and its plot rectangle in pixels (after the equal-aspect fit)."""

    xref: str
    yref: str
    xr: tuple[float, float]
    yr: tuple[float, float]
    box: tuple[float, float, float, float]  # left, top, right, bottom

    def to_px(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        l, t, r, b = self.box
        px = l + (x - self.xr[0]) / (self.xr[1] - self.xr[0]) * (r - l)
        py = b - (y - self.yr[0]) / (self.yr[1] - self.yr[0]) * (b - t)
        return px, py


def _axis_key(ref: str, kind: str) -> str:
    """'x2' → 'xaxis2', 'x' → 'xaxis'."""
    return kind + "axis" + ref[1:]


def _panels(fig: go.Figure, w: float, h: float, s: float) -> dict[tuple[str, str], _Panel]:
    """Each (xref, yref) pair the traces use, placed as plotly places it: domains inside the margins, fixed
    ranges, and equal aspect (scaleanchor) by shrinking the domain toward constraintoward."""
    lay, m = fig.layout, fig.layout.margin
    ml, mr, mt, mb = [s * (v if v is not None else d) for v, d in ((m.l, 80), (m.r, 80), (m.t, 100), (m.b, 80))]
    out = {}
    for t in fig.data:
        xref, yref = t.xaxis or "x", t.yaxis or "y"
        if (xref, yref) in out:
            continue
        xa, ya = lay[_axis_key(xref, "x")], lay[_axis_key(yref, "y")]
        pts = [np.asarray(tr.x, dtype=np.float64) for tr in fig.data if (tr.xaxis or "x") == xref and tr.x is not None]
        pys = [np.asarray(tr.y, dtype=np.float64) for tr in fig.data if (tr.yaxis or "y") == yref and tr.y is not None]
        xr = tuple(xa.range) if xa.range else _span(pts)
        yr = tuple(ya.range) if ya.range else _span(pys)
        dx, dy = xa.domain or (0.0, 1.0), ya.domain or (0.0, 1.0)
        pw, ph = w - ml - mr, h - mt - mb
        l, r = ml + dx[0] * pw, ml + dx[1] * pw
        t_, b = mt + (1 - dy[1]) * ph, mt + (1 - dy[0]) * ph
        if ya.scaleanchor:
            ppu = min((r - l) / (xr[1] - xr[0]), (b - t_) / (yr[1] - yr[0])) * (ya.scaleratio or 1)
            nw, nh = ppu * (xr[1] - xr[0]), ppu * (yr[1] - yr[0])
            toward = xa.constraintoward or "center"
            l = {"left": l, "right": r - nw}.get(toward, (l + r - nw) / 2)
            r = l + nw
            t_ = t_ if (ya.constraintoward or "middle") == "top" else (t_ + b - nh) / 2
            b = t_ + nh
        out[(xref, yref)] = _Panel(xref, yref, xr, yr, (l, t_, r, b))
    return out


def _span(arrays) -> tuple[float, float]:
    v = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return -1.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    pad = 0.05 * (hi - lo) if hi > lo else 1.0
    return lo - pad, hi + pad


def _segments(px: np.ndarray, py: np.ndarray) -> list[list[tuple[float, float]]]:
    """A NaN-separated polyline as runs of finite vertices."""
    ok = np.isfinite(px) & np.isfinite(py)
    runs, cur = [], []
    for a, b, good in zip(px.tolist(), py.tolist(), ok.tolist()):
        if good:
            cur.append((a, b))
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return runs


@dataclass
class Animation:
    """An animated plotly figure, ready to draw: its frames' (x, y) per trace and their labels."""

    fig: go.Figure
    labels: list[str]
    frame_xy: list[dict[int, tuple[np.ndarray, np.ndarray]]]
    duration_ms: int

    @classmethod
    def of(cls, fig: go.Figure, max_frames: int = MAX_FRAMES) -> Animation:
        if not fig.frames:
            raise ValueError("the figure has no frames: not an animation")
        idx = frame_indices(len(fig.frames), max_frames)
        frames = [fig.frames[i] for i in idx]
        slider = fig.layout.sliders[0] if fig.layout.sliders else None
        prefix = (slider.currentvalue.prefix or "") if slider is not None else ""
        by_name = {st.args[0][0]: st.label for st in slider.steps} if slider is not None else {}
        labels = [prefix + plain_text(by_name.get(f.name, f.name or str(i))) for i, f in zip(idx, frames)]
        xy = []
        for f in frames:
            traces = list(f.traces) if f.traces is not None else list(range(len(f.data)))
            xy.append({i: (np.asarray(d.x, dtype=np.float64), np.asarray(d.y, dtype=np.float64))
                       for i, d in zip(traces, f.data)})
        duration = 120
        for m in fig.layout.updatemenus:
            for b in m.buttons:
                if b.args and b.args[0] is None and len(b.args) > 1:
                    duration = int(b.args[1].get("frame", {}).get("duration", duration))
        return cls(fig, labels, xy, max(20, duration))

    @property
    def n_frames(self) -> int:
        return len(self.labels)

    @property
    def fps(self) -> float:
        return 1000.0 / self.duration_ms


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    w, h = int(size[0]), int(size[1])
    if not (16 <= w <= MAX_SIZE[0] and 16 <= h <= MAX_SIZE[1]):
        raise ValueError(f"frame size {w}×{h} outside 16×16 … {MAX_SIZE[0]}×{MAX_SIZE[1]}")
    return w - w % 2, h - h % 2  # even: yuv420p video needs it


def render_frames(anim: Animation, size: tuple[int, int] = SIZE, progress: Progress | None = None) -> list[Image.Image]:
    """Every frame of `anim` as an RGB image of `size` (width, height)."""
    w, h = _check_size(size)
    fig, lay = anim.fig, anim.fig.layout
    s = h / float(lay.height or 450)  # figure pixels → export pixels: the figure's proportions at the slide's height
    fw = w / s  # the figure's width in its own pixels
    panels = _panels(fig, fw, lay.height or 450, 1.0)
    fs = (lay.font.size or 14) * s
    font, small, big = _font(round(fs)), _font(round(0.8 * fs)), _font(round(1.15 * fs))

    # Static background: title, subplot titles, panel frames, ticks; drawn once.
    base = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(base)
    title = plain_text(lay.title.text)
    if title:
        d.text((w / 2, 0.6 * fs), title, fill=PALETTE["ink"], font=big, anchor="mt")
    sp = {k: tuple(v * s for v in p.box) for k, p in panels.items()}
    for a in lay.annotations:
        xref = str(a.xref or "")
        key = next((k for k in panels if xref.startswith(k[0] + " ")), None)
        if key is None or a.y != 1.0:
            continue
        l, t, r, _ = sp[key]
        d.text(((l + r) / 2, t - 4 * s), plain_text(a.text), fill=PALETTE["ink"], font=font, anchor="md")
    for key, p in panels.items():
        l, t, r, b = sp[key]
        d.rectangle((l, t, r, b), outline="#BBBBBB", width=max(1, round(s)))
        for v in _nice_ticks(*p.xr):
            x = l + (v - p.xr[0]) / (p.xr[1] - p.xr[0]) * (r - l)
            d.line((x, b, x, b + 5 * s), fill="#BBBBBB", width=max(1, round(s)))
            d.text((x, b + 7 * s), f"{v:g}", fill=PALETTE["guide"], font=small, anchor="mt")
        for v in _nice_ticks(*p.yr):
            y = b - (v - p.yr[0]) / (p.yr[1] - p.yr[0]) * (b - t)
            d.line((l - 5 * s, y, l, y), fill="#BBBBBB", width=max(1, round(s)))
            d.text((l - 7 * s, y), f"{v:g}", fill=PALETTE["guide"], font=small, anchor="rm")

    frames = []
    for n, moving in enumerate(anim.frame_xy):
        img = base.copy()
        for key, p in panels.items():
            l, t, r, b = (round(v) for v in sp[key])
            layer = Image.new("RGBA", (max(1, r - l), max(1, b - t)), (255, 255, 255, 0))
            for i, tr in enumerate(fig.data):
                if (tr.xaxis or "x", tr.yaxis or "y") != key or tr.visible is False:
                    continue
                x, y = moving.get(i, (tr.x, tr.y))
                x, y = np.asarray(x if x is not None else [], dtype=np.float64), np.asarray(y if y is not None else [],
                                                                                               dtype=np.float64)
                px, py = p.to_px(x, y)
                px, py = px * s - l, py * s - t
                _draw_trace(layer, tr, px, py, s)
            img.paste(layer, (l, t), layer)
        ImageDraw.Draw(img).text((0.5 * fs, h - 0.5 * fs), anim.labels[n], fill=PALETTE["ink"], font=big, anchor="ld")
        frames.append(img)
        if progress is not None:
            progress(n + 1, anim.n_frames)
    return frames


def _draw_trace(layer: Image.Image, tr, px: np.ndarray, py: np.ndarray, s: float) -> None:
    """A scatter trace on its panel's layer: lines first, then markers (plotly's order)."""
    mode = tr.mode or "markers"
    opacity = 1.0 if tr.opacity is None else float(tr.opacity)
    over = Image.new("RGBA", layer.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(over)
    if "lines" in mode:
        col = _rgba(tr.line.color or PALETTE["model"], 1.0)
        width = max(1, round((tr.line.width if tr.line.width is not None else 2.0) * s))
        for run in _segments(px, py):
            if len(run) > 1:
                d.line(run, fill=col, width=width, joint="curve")
    if "markers" in mode:
        m = tr.marker
        size = m.size if m.size is not None else 6
        sizes = np.broadcast_to(np.asarray(size, dtype=np.float64), px.shape) * s / 2
        m_op = 1.0 if m.opacity is None or not np.isscalar(m.opacity) else float(m.opacity)
        colors = m.color if m.color is not None else PALETTE["model"]
        per_point = not isinstance(colors, str)
        fill = None if per_point else _rgba(colors, m_op)
        ring = m.line.width if m.line is not None and m.line.width else 0
        ring_col = _rgba(m.line.color, 1.0) if ring and isinstance(m.line.color, str) else None
        for j, (a, b, rad) in enumerate(zip(px.tolist(), py.tolist(), sizes.tolist())):
            if not (math.isfinite(a) and math.isfinite(b)):
                continue
            c = _rgba(colors[j], m_op) if per_point else fill
            d.ellipse((a - rad, b - rad, a + rad, b + rad), fill=c, outline=ring_col,
                      width=max(1, round(ring * s)) if ring_col else 0)
    if opacity < 1.0:
        alpha = over.getchannel("A").point(lambda v: int(v * opacity))
        over.putalpha(alpha)
    layer.alpha_composite(over)


def _bounded(data: bytes, what: str) -> bytes:
    if len(data) > MAX_BYTES:
        raise ExportTooLarge(f"the {what} would be {len(data) / 2**20:.1f} MB, more than the "
                             f"{MAX_BYTES / 2**20:.0f} MB limit: export fewer points or frames")
    return data


def gif_bytes(frames: list[Image.Image], duration_ms: int) -> bytes:
    """An endlessly looping GIF, one image per frame (Pillow; a palette of its own per frame, by the fast octree:
    10× faster than median cut on these frames, benchmarks/bench_export.py)."""
    if not frames:
        raise ValueError("no frames")
    pal = [f.quantize(colors=255, method=Image.Quantize.FASTOCTREE) for f in frames]
    buf = io.BytesIO()
    pal[0].save(buf, format="GIF", save_all=True, append_images=pal[1:], duration=int(duration_ms), loop=0,
                optimize=False, disposal=1)
    return _bounded(buf.getvalue(), "GIF")


def mp4_bytes(frames: list[Image.Image], fps: float) -> bytes:
    """An H.264 MP4 (yuv420p: plays in browsers and slide software), one video frame per frame (imageio-ffmpeg)."""
    import imageio_ffmpeg

    if not frames:
        raise ValueError("no frames")
    w, h = frames[0].size
    fd, path = tempfile.mkstemp(suffix=".mp4", prefix="gendemo-export-")
    os.close(fd)
    try:
        writer = imageio_ffmpeg.write_frames(path, (w, h), fps=float(fps), codec="libx264", pix_fmt_out="yuv420p",
                                             macro_block_size=2, quality=7, ffmpeg_log_level="error",
                                             output_params=["-movflags", "+faststart"])
        writer.send(None)
        for f in frames:
            writer.send(np.ascontiguousarray(np.asarray(f.convert("RGB"), dtype=np.uint8)))
        writer.close()
        with open(path, "rb") as fh:
            return _bounded(fh.read(), "MP4")
    finally:
        os.unlink(path)


def html_bytes(fig: go.Figure, title: str = "gendemo animation") -> bytes:
    """A standalone HTML page of the figure, plotly.js inlined (no network), its ▶ Play and slider working."""
    page = fig.to_html(include_plotlyjs=True, full_html=True, auto_play=False,
                       config={"displaylogo": False, "responsive": True})
    page = page.replace("<head>", f"<head><title>{title}</title>", 1)
    return _bounded(page.encode("utf-8"), "HTML page")
