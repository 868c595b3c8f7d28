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

from gendemo.viz._common import _SUB
from gendemo.viz.points import loss_curve_xy
from gendemo.viz.style import _FONT, PALETTE, Style, robust_range, union_range

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

    def __init__(self, style: Style, xr, yr, *, log_y: bool = False, title: bool = True, x_title: bool = True,
                 height: int | None = None):
        fs = style.font_size
        self.style, self.log_y, self.height = style, log_y, height or style.height
        self.left, self.right = 3.6 * fs + 10, WIDTH - (fs + 10)
        self.top = 10 + (1.8 * fs if title else 0.0) + 0.6 * fs
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
    for m in _SUB.finditer(s):
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
            f'font-family="{_FONT}" role="img" aria-label="{html.escape(title)}"{data}>')
    t = _text(fr.left, 10 + 1.15 * fs, title, 1.15 * fs, anchor="start") if title else ""
    return head + t + "".join(body) + "</svg>"


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
    fr = _Frame(style, xr, (lo, hi), log_y=log_y, title=bool(title))
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


def scatter_svg(points, *, title: str = "", reference=None, style: Style = Style.default(),
                max_points: int = 1000, test_id: str = "live-scatter") -> str:
    """`scatter` as SVG: model points in blue over the grey reference cloud, equal aspect, robust ranges."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)[:max_points]
    p = p[np.isfinite(p).all(axis=1)]
    xr, yr = robust_range(p) if len(p) else ((-1.0, 1.0), (-1.0, 1.0))
    r = None
    if reference is not None:
        r = np.asarray(reference, dtype=np.float64).reshape(-1, 2)[:max_points]
        (xr, yr) = union_range((xr, yr), robust_range(r))
    fr = _Frame(style, xr, yr, title=bool(title), x_title=False)
    # equal aspect: widen the range of the axis with fewer data units per pixel
    w, h = fr.right - fr.left, fr.bottom - fr.top
    scale = max((xr[1] - xr[0]) / w, (yr[1] - yr[0]) / h)
    cx, cy = sum(xr) / 2, sum(yr) / 2
    fr.xr, fr.yr = (cx - scale * w / 2, cx + scale * w / 2), (cy - scale * h / 2, cy + scale * h / 2)
    body = _axes(fr, nice_ticks(*fr.xr), nice_ticks(*fr.yr), [_label(v) for v in nice_ticks(*fr.yr)],
                 x_title=None, y_title=None)
    rad = style.marker_size / 2

    def cloud(q: np.ndarray, color: str, opacity: float) -> str:
        keep = (np.isfinite(q).all(axis=1) & (q[:, 0] >= fr.xr[0]) & (q[:, 0] <= fr.xr[1])
                & (q[:, 1] >= fr.yr[0]) & (q[:, 1] <= fr.yr[1]))  # outside the fixed view: not drawn (as plotly)
        d = "".join(f"M{a:.1f} {b:.1f}h0" for a, b in zip(fr.px(q[keep, 0]), fr.py(q[keep, 1])))
        return (f'<path d="{d}" stroke="{color}" stroke-opacity="{opacity}" stroke-width="{2 * rad:.1f}" '
                f'stroke-linecap="round" fill="none"/>')

    if r is not None:
        body.append(cloud(r, PALETTE["data"], 0.45))
        fs = style.font_size  # legend, top right: ● data ● model
        for i, (name, color) in enumerate((("data", PALETTE["data"]), ("model", PALETTE["model"]))):
            x = fr.right - (1 - i) * 5.5 * fs - 4.2 * fs
            body.append(f'<circle cx="{x:.1f}" cy="{10 + 0.8 * fs:.1f}" r="{0.35 * fs:.1f}" fill="{color}"/>')
            body.append(_text(x + 0.6 * fs, 10 + 1.15 * fs, name, fs, anchor="start"))
    body.append(cloud(p, PALETTE["model"], 0.85))
    return _svg(fr, body, title, {"testid": test_id, "n": len(p)})
