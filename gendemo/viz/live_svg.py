"""Light figures for the live view while training: plain SVG text, redrawn by the browser in ~1 ms.

Measured (benchmarks/bench_live.py, headless Chromium on this 2-core machine): re-rendering a plotly chart costs
the browser ~140 ms of CPU each time, even for a 500-point line, because Streamlit's chart re-plots it from its
JSON; four redraws a second of the loss curve took a whole core away from the training it shows. The same curve
as inline SVG costs about nothing. So a playing page draws its loss curve and sample cloud with these, and the
interactive plotly figures (`loss_curve`, `scatter`) come back as soon as training pauses.

Same look as the plotly figures: the palette, the font, a title, ticked axes with a grid.
"""

from __future__ import annotations

import html
import math

import numpy as np

from gendemo.viz._common import SUBSCRIPT, as_points, follow_data, n_off_screen
from gendemo.viz.points import loss_curve_xy
from gendemo.viz.style import FONT_FAMILY, PALETTE, Style, robust_range, union_range, wrap_title

GRID = "#EBEBEB"
AXIS = "#BBBBBB"
WIDTH = 420  # viewBox width: the SVG scales to its column (~320-480 px at 1440 px), text with it


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """About `target` round ticks (1, 2 or 5 × 10^k apart) inside [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(1, target)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 5.0, 10.0) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    n = int(math.floor((hi - first) / step + 1e-9)) + 1
    return [round(first + i * step, 12) for i in range(n)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks for a log axis over [lo, hi] (lo > 0): the powers of ten inside, with 2× and 5× (then more) if fewer
    than 3, or linear round ticks if the range is narrower than that."""
    if not (lo > 0 and hi > lo and math.isfinite(hi)):
        return []
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for mults in ((1.0,), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)):
        ticks = [round(m * 10.0 ** k, 12) for k in decades for m in mults if lo <= m * 10.0 ** k <= hi]
        if len(ticks) >= 3:
            return ticks
    return ticks if len(ticks) >= 2 else [t for t in nice_ticks(lo, hi) if t > 0]  # a narrow range: round values


def _label(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}"


class _Frame:
    """Plot area inside a WIDTH × height viewBox, with data → pixel maps (y up; optionally log)."""

    def __init__(self, style: Style, xr, yr, *, log_y: bool = False, title: bool | str = True, x_title: bool = True,
                 legend: bool = False, height: int | None = None):
        fs = style.font_size
        self.style, self.log_y, self.height = style, log_y, height or style.height
        self.left, self.right = 3.6 * fs + 10, WIDTH - (fs + 10)
        n = len(_title_lines(title, style)) if isinstance(title, str) else int(bool(title))
        title_h = 1.8 * fs + 1.35 * fs * (n - 1) if n else 0.0  # a long title wraps (_title_lines)
        self.legend_y = 10 + title_h + 1.1 * fs  # baseline of the legend's row
        self.top = 10 + title_h + (1.7 * fs if legend else 0.0) + 0.6 * fs
        self.bottom = self.height - (1.8 * fs + 14 + (1.5 * fs if x_title else 0.0))
        self.xr = xr
        self.yr = tuple(math.log10(v) for v in yr) if log_y else yr

    def px(self, x):
        (a, b) = self.xr
        return self.left + (np.asarray(x, dtype=np.float64) - a) / (b - a) * (self.right - self.left)

    def py(self, y):
        (a, b) = self.yr
        y = np.asarray(y, dtype=np.float64)
        y = np.log10(y) if self.log_y else y
        return self.bottom - (y - a) / (b - a) * (self.bottom - self.top)


def _svg_text(s: str) -> str:
    """Lecture notation to SVG text, as `sub` does for plotly: 'p_θ' → p with a subscript θ."""
    parts, last = [], 0
    for m in SUBSCRIPT.finditer(s):
        parts.append(html.escape(s[last:m.start()]))
        parts.append(f'<tspan baseline-shift="sub" font-size="75%">{html.escape(m.group(1).strip("{}"))}</tspan>')
        last = m.end()
    return "".join(parts) + html.escape(s[last:])


def _text(x: float, y: float, s: str, size: float, *, anchor: str = "middle", color: str = PALETTE["ink"],
          extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:.0f}" text-anchor="{anchor}" fill="{color}"{extra}>'
            f"{_svg_text(s)}</text>")


def _axes(fr: _Frame, xticks, yticks, ylabels, *, x_title: str | None, y_title: str | None) -> list[str]:
    fs, out = fr.style.font_size, []
    for t in xticks:
        x = float(fr.px(t))
        out.append(f'<line x1="{x:.1f}" y1="{fr.top:.1f}" x2="{x:.1f}" y2="{fr.bottom:.1f}" stroke="{GRID}"/>')
        out.append(_text(x, fr.bottom + 1.3 * fs, _label(t), fs))
    for t, lab in zip(yticks, ylabels):
        y = float(fr.py(t))
        out.append(f'<line x1="{fr.left:.1f}" y1="{y:.1f}" x2="{fr.right:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(_text(fr.left - 0.5 * fs, y + 0.35 * fs, lab, fs, anchor="end"))
    out.append(f'<polyline fill="none" stroke="{AXIS}" points="{fr.left:.1f},{fr.top:.1f} {fr.left:.1f},'
               f'{fr.bottom:.1f} {fr.right:.1f},{fr.bottom:.1f}"/>')
    if x_title:
        out.append(_text((fr.left + fr.right) / 2, fr.bottom + 2.9 * fs, x_title, fs))
    if y_title:
        cy = (fr.top + fr.bottom) / 2
        out.append(_text(0.9 * fs, cy, y_title, fs, extra=f' transform="rotate(-90 {0.9 * fs:.1f} {cy:.1f})"'))
    return out


def _svg(fr: _Frame, body: list[str], title: str, attrs: dict[str, str]) -> str:
    fs = fr.style.font_size
    data = "".join(f' data-{k}="{html.escape(str(v))}"' for k, v in attrs.items())
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {fr.height}" width="100%" '
            f'font-family="{FONT_FAMILY}" role="img" aria-label="{html.escape(title)}"{data}>')
    t = "".join(_text(fr.left, 10 + 1.15 * fs + 1.35 * fs * i, line, 1.15 * fs, anchor="start")
                for i, line in enumerate(_title_lines(title, fr.style)))
    return head + t + "".join(body) + "</svg>"


def _title_lines(title: str, style: Style) -> list[str]:
    """The title's lines: as many as it needs to stay inside the viewBox at its font size (gendemo.viz.style's
    wrap_title; ~0.55 em a character)."""
    if not title:
        return []
    fs = style.font_size
    max_chars = max(12, int((WIDTH - (3.6 * fs + 10) - 6) / (0.55 * 1.15 * fs)))
    return wrap_title(title, max_chars).split("<br>")


def loss_svg(steps, losses, *, title: str = "loss", floor: float | None = None, floor_label: str = "floor",
             log_y: bool = False, max_points: int = 400, y_title: str = "loss", style: Style = Style.default(),
             test_id: str = "live-loss") -> str:
    """`loss_curve` as SVG: the same points (`loss_curve_xy`, block-averaged to ≤ max_points), axes and floor.

    The root carries data-n (points drawn) and data-last-step (the last step drawn) for tests.
    """
    x, y = loss_curve_xy(steps, losses, log_y=log_y, max_points=max_points)
    ys = y if floor is None or not math.isfinite(floor) or (log_y and floor <= 0) else np.append(y, floor)
    if x.size:
        xr = (0.0, max(float(x[-1]), 1.0))
        lo, hi = float(ys.min()), float(ys.max())
        if log_y:
            lo, hi = (lo / 1.15, hi * 1.15) if hi > lo else (lo / 2, hi * 2)
        else:
            pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.5
            lo, hi = lo - pad, hi + pad
    else:
        xr, (lo, hi) = (0.0, 1.0), ((0.1, 10.0) if log_y else (0.0, 1.0))
    fr = _Frame(style, xr, (lo, hi), log_y=log_y, title=title)
    yt = log_ticks(lo, hi) if log_y else nice_ticks(lo, hi)
    body = _axes(fr, nice_ticks(*xr), yt, [_label(v) for v in yt], x_title="training step", y_title=y_title)
    if floor is not None and math.isfinite(floor) and lo <= floor <= hi:
        fy = float(fr.py(floor))
        body.append(f'<line x1="{fr.left:.1f}" y1="{fy:.1f}" x2="{fr.right:.1f}" y2="{fy:.1f}" '
                    f'stroke="{PALETTE["guide"]}" stroke-dasharray="8 5" stroke-width="{0.8 * style.line_width:.1f}"/>')
        body.append(_text(fr.right - 4, fy - 0.4 * style.font_size, floor_label, 0.9 * style.font_size,
                          anchor="end", color=PALETTE["guide"]))
    if x.size:
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(fr.px(x), fr.py(y)))
        body.append(f'<polyline fill="none" stroke="{PALETTE["model"]}" stroke-width="{style.line_width:.1f}" '
                    f'stroke-linejoin="round" points="{pts}"/>')
    else:
        body.append(_text((fr.left + fr.right) / 2, (fr.top + fr.bottom) / 2, "no finite values yet",
                          style.font_size, color=PALETTE["guide"]))
    attrs = {"testid": test_id, "n": x.size, "last-step": int(x[-1]) if x.size else -1}
    return _svg(fr, body, title, attrs)


def _equal_frame(style: Style, xr, yr, *, title: bool | str, legend: bool = False) -> _Frame:
    """A frame whose x and y have the same data units per pixel, covering at least xr × yr, centred."""
    fr = _Frame(style, xr, yr, title=title, x_title=False, legend=legend)
    w, h = fr.right - fr.left, fr.bottom - fr.top
    scale = max((xr[1] - xr[0]) / w, (yr[1] - yr[0]) / h)
    cx, cy = sum(xr) / 2, sum(yr) / 2
    fr.xr, fr.yr = (cx - scale * w / 2, cx + scale * w / 2), (cy - scale * h / 2, cy + scale * h / 2)
    return fr


def _cloud(fr: _Frame, q: np.ndarray, color: str, opacity: float, diameter: float) -> str:
    """Points as one path of zero-length round-capped strokes (one element, however many points); points
    outside the fixed view are not drawn, as in plotly."""
    keep = (np.isfinite(q).all(axis=1) & (q[:, 0] >= fr.xr[0]) & (q[:, 0] <= fr.xr[1])
            & (q[:, 1] >= fr.yr[0]) & (q[:, 1] <= fr.yr[1]))
    d = "".join(f"M{a:.1f} {b:.1f}h0" for a, b in zip(fr.px(q[keep, 0]), fr.py(q[keep, 1])))
    return (f'<path d="{d}" stroke="{color}" stroke-opacity="{opacity}" stroke-width="{diameter:.1f}" '
            f'stroke-linecap="round" fill="none"/>')


def _legend(fr: _Frame, entries) -> list[str]:
    """The row under the title: ● name for each (name, colour), from the left; smaller type if the row would
    run past the viewBox (~0.6 em a character)."""
    fs, out, x = fr.style.font_size, [], fr.left
    entries = list(entries)
    need = sum(0.6 * fs * len(name) + 2.2 * fs for name, _ in entries) - 1.2 * fs
    fs *= min(1.0, (WIDTH - fr.left - 4) / need) if need > 0 else 1.0
    for name, color in entries:
        out.append(f'<circle cx="{x + 0.35 * fs:.1f}" cy="{fr.legend_y - 0.35 * fs:.1f}" r="{0.35 * fs:.1f}" '
                   f'fill="{color}"/>')
        out.append(_text(x + fs, fr.legend_y, name, fs, anchor="start"))
        x += 0.6 * fs * len(name) + 2.2 * fs
    return out


def _points(a, name: str, max_points: int) -> np.ndarray:
    """The first max_points points of an (n, 2) array (`as_points`, as the plotly figures cut them), finite ones."""
    p = as_points(a, name, n=max_points).astype(np.float64)
    return p[np.isfinite(p).all(axis=1)]


def scatter_svg(points, *, title: str = "", reference=None, style: Style = Style.default(), name: str = "model",
                reference_name: str = "data", circles: tuple[float, ...] = (), min_range=None,
                max_points: int = 1000, test_id: str = "live-scatter") -> str:
    """`scatter` as SVG: model points in blue over the grey reference cloud, equal aspect, robust ranges.

    circles: radii of N(0, I) contours to draw (as `latent_view`); min_range: ((x0, x1), (y0, y1)) always shown.
    """
    p = _points(points, "points", max_points)
    rng = robust_range(p) if len(p) else ((-1.0, 1.0), (-1.0, 1.0))
    r = None if reference is None else _points(reference, "reference", max_points)
    if r is not None and len(r):
        rng = follow_data(robust_range(r), p) if len(p) else robust_range(r)  # as `scatter`: the data's range
    if min_range is not None:
        rng = union_range(rng, min_range)
    n_off = n_off_screen(p, rng) if r is not None and len(r) else 0
    if n_off:
        title = f"{title} ({n_off:,} of {len(p):,} off-screen)"
    fr = _equal_frame(style, *rng, title=title, legend=r is not None or bool(circles))
    yt = nice_ticks(*fr.yr)
    body = _axes(fr, nice_ticks(*fr.xr), yt, [_label(v) for v in yt], x_title=None, y_title=None)
    entries = []
    for radius in circles:
        cx, cy, rx, ry = float(fr.px(0.0)), float(fr.py(0.0)), float(fr.px(radius) - fr.px(0.0)), \
            float(fr.py(0.0) - fr.py(radius))
        body.append(f'<ellipse cx="{cx:.1f}" cy="{cy:.1f}" rx="{rx:.1f}" ry="{ry:.1f}" fill="none" '
                    f'stroke="{PALETTE["guide"]}" stroke-dasharray="4 4"/>')
    if circles:
        entries.append((", ".join(f"{c:g}" for c in circles) + " σ of N(0, I)", PALETTE["guide"]))
    if r is not None:
        body.append(_cloud(fr, r, PALETTE["data"], 0.45, style.marker_size))
        entries.append((reference_name, PALETTE["data"]))
    body.append(_cloud(fr, p, PALETTE["model"], 0.85, style.marker_size))
    if r is not None or circles:
        entries.append((name, PALETTE["model"]))
        body += _legend(fr, entries)
    return _svg(fr, body, title, {"testid": test_id, "n": len(p)})


# plotly's "Viridis" colour scale (the plotly density figure's), as 0..1 stops
_VIRIDIS = np.array([[68, 1, 84], [72, 40, 120], [62, 73, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137],
                     [53, 183, 121], [110, 206, 88], [181, 222, 43], [253, 231, 37]], dtype=np.float64)


def _png(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB image (h, w, 3) as PNG bytes (no filter, zlib; enough for an 80 × 80 grid)."""
    import struct
    import zlib

    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[i].astype(np.uint8).tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def density_svg(xs, ys, log_p, *, points=None, title: str = "model density p(x)", style: Style = Style.default(),
                max_points: int = 1000, test_id: str = "live-density") -> str:
    """`density_heatmap` as SVG: p(x) = exp(log p(x)) on the grid in Viridis from 0 to its maximum (an embedded
    PNG, one pixel per grid cell, smoothed by the browser), the data points on top. log_p: (len(ys), len(xs))."""
    import base64

    xs, ys = np.asarray(xs, dtype=np.float64).ravel(), np.asarray(ys, dtype=np.float64).ravel()
    lp = np.asarray(log_p, dtype=np.float64)
    if lp.shape != (ys.size, xs.size):
        raise ValueError(f"log_p must have shape (len(ys), len(xs)) = ({ys.size}, {xs.size}), got {lp.shape}")
    lp = np.where(np.isnan(lp), -np.inf, lp)
    top = float(np.max(lp[np.isfinite(lp)])) if np.isfinite(lp).any() else 0.0
    with np.errstate(over="ignore", under="ignore"):
        t = np.clip(np.exp(lp - top), 0.0, 1.0)  # p / max p
    pos = t * (len(_VIRIDIS) - 1)
    i0 = np.minimum(pos.astype(int), len(_VIRIDIS) - 2)
    rgb = _VIRIDIS[i0] + (pos - i0)[..., None] * (_VIRIDIS[i0 + 1] - _VIRIDIS[i0])
    dx = (xs[1] - xs[0]) / 2 if xs.size > 1 else 0.5
    dy = (ys[1] - ys[0]) / 2 if ys.size > 1 else 0.5
    x0, x1, y0, y1 = xs.min() - dx, xs.max() + dx, ys.min() - dy, ys.max() + dy
    fr = _equal_frame(style, (x0, x1), (y0, y1), title=title, legend=True)
    png = base64.b64encode(_png(np.round(rgb[::-1]))).decode()  # image rows top-down: highest y first
    px0, px1, py1, py0 = float(fr.px(x0)), float(fr.px(x1)), float(fr.py(y1)), float(fr.py(y0))
    body = [f'<image x="{px0:.1f}" y="{py1:.1f}" width="{px1 - px0:.1f}" height="{py0 - py1:.1f}" '
            f'preserveAspectRatio="none" href="data:image/png;base64,{png}"/>']
    yt = nice_ticks(*fr.yr)
    body = _axes(fr, nice_ticks(*fr.xr), yt, [_label(v) for v in yt], x_title=None, y_title=None) + body
    if points is not None:
        body.append(_cloud(fr, _points(points, "points", max_points), "#E0E0E0", 0.7, 0.8 * style.marker_size))
    fs = style.font_size
    body.append(_text(fr.left, fr.legend_y, f"colour: p(x) from 0 to {math.exp(top):.3g}"
                      + ("; dots: data" if points is not None else ""), 0.9 * fs, anchor="start"))
    return _svg(fr, body, title, {"testid": test_id, "max": f"{math.exp(top):.6g}"})
