"""Shared look of every figure: sizes (default vs presenter), palette, margins, robust axis ranges.

Colours are Okabe–Ito (colour-blind safe): data in grey, the model in a strong blue, a second
model quantity in vermillion. A minimal template keeps each figure's JSON small.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

PALETTE: dict[str, str] = {
    "data": "#9A9A9A",  # grey: the dataset / reference cloud
    "model": "#0072B2",  # blue: samples, model output
    "accent": "#D55E00",  # vermillion: a second model quantity, trajectories
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "purple": "#CC79A7",
    "ink": "#222222",  # text, arrows
    "guide": "#6E6E6E",  # reference lines and circles
}
SERIES: tuple[str, ...] = (PALETTE["model"], PALETTE["accent"], PALETTE["green"], PALETTE["orange"],
                           PALETTE["purple"], PALETTE["sky"])
HIDDEN = "rgba(0,0,0,0)"
FONT_FAMILY = "Open Sans, Verdana, Arial, sans-serif"
_TEMPLATE = go.layout.Template(layout=dict(
    paper_bgcolor="white", plot_bgcolor="white", colorway=list(SERIES),
    xaxis=dict(showgrid=True, gridcolor="#EBEBEB", zeroline=False, linecolor="#BBBBBB", ticks="outside",
               tickcolor="#BBBBBB", showline=True),
    yaxis=dict(showgrid=True, gridcolor="#EBEBEB", zeroline=False, linecolor="#BBBBBB", ticks="outside",
               tickcolor="#BBBBBB", showline=True),
    hovermode="closest",
))


@dataclass(frozen=True)
class Style:
    """Sizes of text, markers and lines; ``presenter()`` is for the projector."""

    font_size: int = 14
    marker_size: float = 4.0
    line_width: float = 2.0
    height: int = 460
    title_chars: int = 40  # a longer title wraps (wrap_title): a half-width chart on a laptop or a projector
    modebar_h: int = 28  # room at the top for plotly's modebar (ui/export.config hides it in presenter mode)

    @classmethod
    def default(cls) -> Style:
        return cls()

    @classmethod
    def presenter(cls) -> Style:
        # 420 px: a training page's status (two rows of metrics) and a chart, plotly or live SVG (which scales
        # with its column: ~460 px at 1280×720), fit a 1280×720 projector (tests/browser/test_viewports.py)
        return cls(font_size=22, marker_size=7.0, line_width=3.5, height=420, title_chars=32, modebar_h=0)


def apply_style(fig: go.Figure, style: Style = Style.default()) -> go.Figure:
    """Apply ``style`` to a finished figure: fonts, height, template, margins, title/legend rows, slider.

    Top rows, in pixels from the top: title; then the legend (and a horizontal colour bar) in a row of
    their own; then subplot titles. Equal-aspect figures (point clouds) centre these over the plot,
    which plotly centres when it shrinks a domain to keep the aspect; other figures align them left.
    """
    fs, lay = style.font_size, fig.layout
    equal = any(lay[k].scaleanchor for k in _axes(fig, "yaxis"))
    title_h = 1.8 * fs if lay.title.text else 0.0
    n_lines = 0  # further lines of a wrapped title
    if lay.title.text:
        wrapped = wrap_title(lay.title.text, style.title_chars)
        if wrapped != lay.title.text:
            lay.title.text = wrapped
            title_h += 1.35 * fs * wrapped.count("<br>")  # each further line (title font 1.15·fs)
        n_lines = lay.title.text.count("<br>")
    if lay.title.subtitle.text:  # plotly draws it under the title: the rows below move down by a line
        title_h += 1.4 * fs
    legend = _top_legend(fig)
    hbars = [t for t in fig.data if t.type == "heatmap" and t.colorbar.orientation == "h"]
    row_h = max(2.0 * fs + 6 if legend else 0.0, 2.6 * fs + 10 if hbars else 0.0)  # a legend row is ~1.9·fs high
    subtitles = any(_is_subtitle(a) for a in lay.annotations)
    sub_chars = style.title_chars - 6  # a subplot title has a panel's width, not the figure's
    sub_lines = max((wrap_title(a.text or "", sub_chars).count("<br>") for a in lay.annotations if _is_subtitle(a)),
                    default=0)
    mb = style.modebar_h  # the title, legend and subplot titles start below the modebar
    top = mb + 10 + title_h + row_h + (1.75 * fs + 4 + 1.3 * fs * sub_lines if subtitles else 0.0)
    x_titled = any(lay[k].title.text for k in _axes(fig, "xaxis"))
    bottom = 1.8 * fs + 14 + (1.5 * fs if x_titled else 0.0)
    row_y = 1.0 - (mb + 10 + title_h) / style.height
    fig.update_layout(
        template=_TEMPLATE, height=style.height,
        font=dict(size=fs, family=FONT_FAMILY, color=PALETTE["ink"]),
        title=dict(font=dict(size=round(1.15 * fs)), xref="paper", x=0.5 if equal else 0.0,
                   xanchor="center" if equal else "left", yref="container", y=1.0, yanchor="top",
                   # plotly lifts a title of several lines by 0.8·fs, however many (measured in Chromium at
                   # fs = 14 and 22): pad it down as much, so its first line sits where a one-line title does,
                   # inside the figure (the svg clipped it) and below the modebar
                   pad=dict(t=round(8 + mb + (0.8 * fs if n_lines else 0)))),
        hoverlabel=dict(font=dict(size=fs)),
        margin=dict(l=round(3.6 * fs + 10), r=round(fs + 10), t=round(top), b=round(bottom)),
    )
    if legend:
        x = (0.49 if hbars else 0.5) if equal else 0.0
        fig.update_layout(legend=dict(orientation="h", xref="paper", x=x, yref="container", y=row_y,
                                      xanchor=("right" if hbars else "center") if equal else "left",
                                      yanchor="top", font=dict(size=fs), bgcolor="rgba(0,0,0,0)"))
    for t in hbars:
        t.colorbar.update(x=0.51 if legend else 0.5, xanchor="left" if legend else "center", yref="container",
                          y=row_y - 4 / style.height, yanchor="top", lenmode="pixels", len=14 * fs,
                          thickness=round(0.8 * fs), title=dict(side="right", font=dict(size=fs)),
                          tickfont=dict(size=round(0.85 * fs)))
    if lay.annotations:  # re-assigned as plain dicts: one cheap update (setting each font costs ~0.1 s/13)
        notes = [a.to_plotly_json() for a in lay.annotations]
        for a, d in zip(lay.annotations, notes):
            d["font"] = {**d.get("font", {}), "size": round((1.05 if _is_subtitle(a) else 0.9) * fs)}
            if _is_subtitle(a) and d.get("text"):
                d["text"] = wrap_title(d["text"], sub_chars)
        fig.update_layout(annotations=notes)
    if lay.sliders:  # layout from _player: [k = …  ······  ▶ Play ❚❚ Pause] over the slider rail
        pad_t = round(bottom - 6)
        offset = round(0.5 * fs + 8)
        labels = any(s.font.color != HIDDEN for s in lay.sliders)
        fig.update_layout(margin=dict(b=round(pad_t + 1.3 * fs + offset + 34 + (1.1 * fs if labels else 0))))
        for s in lay.sliders:
            s.pad = dict(t=pad_t, b=0)
            s.currentvalue.font = dict(size=round(1.1 * fs), color=PALETTE["ink"])
            s.currentvalue.offset = offset
            if s.font.color != HIDDEN:
                s.font = dict(size=round(0.8 * fs))
        for m in lay.updatemenus:
            m.font = dict(size=round(0.9 * fs))
            m.pad = dict(t=pad_t - 4, r=0)
    return fig


def wrap_title(text: str, max_chars: int) -> str:
    """A title longer than `max_chars` visible characters on as many lines as it needs, each at most
    `max_chars` where a space allows, broken at spaces outside tags and parentheses, preferring one after ':'
    or ','; a title that already has a line break stays as it is."""
    visible = re.sub(r"<[^>]+>", "", text)
    if "<br" in text or len(visible) <= max_chars:
        return text
    breaks = []  # (index in text, visible characters before it, after ':' or ',')
    depth, paren, seen = 0, 0, 0
    for i, ch in enumerate(text):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0:
            paren += (ch == "(") - (ch == ")")
            if ch == " " and paren == 0 and 0 < i < len(text) - 1 and text[i + 1] != " ":
                breaks.append((i, seen, text[:i].rstrip()[-1:] in ":,"))
            seen += 1
    lines, start, start_seen = [], 0, 0
    while len(visible) - start_seen > max_chars:
        fits = [b for b in breaks if start < b[0] and b[1] - start_seen <= max_chars]
        if not fits:
            fits = [b for b in breaks if start < b[0]][:1]
            if not fits:
                break
        # the last break that fits, or a break after ':' / ',' not much earlier
        last = fits[-1]
        punct = [b for b in fits if b[2] and b[1] - start_seen >= 0.6 * max_chars]
        i, seen_i, _ = punct[-1] if punct else last
        lines.append(text[start:i].rstrip())
        start, start_seen = i + 1, seen_i + 1
    lines.append(text[start:])
    return "<br>".join(lines)


def _is_subtitle(a) -> bool:
    """A subplot title: an annotation sitting on top of a subplot (make_subplots' or panel_titles')."""
    return a.y == 1.0 and a.yanchor == "bottom" and (a.yref == "paper" or str(a.yref).endswith("domain"))


def _axes(fig: go.Figure, kind: str) -> list[str]:
    """Layout keys of all axes of a kind ('xaxis', 'yaxis', 'xaxis2', …)."""
    return [k for k in fig.layout.to_plotly_json() if k.startswith(kind)] or [kind]


def _top_legend(fig: go.Figure) -> bool:
    """Whether a legend shows and the builder did not place it itself (yref='paper')."""
    shown = any(t.showlegend is not False and t.name for t in fig.data) and fig.layout.showlegend is not False
    return shown and fig.layout.legend.yref != "paper"


def figure_nbytes(fig: go.Figure) -> int:
    """Size of the JSON the browser receives, ``len(fig.to_json())`` (typed arrays are base64)."""
    return len(fig.to_json())


def robust_range(points, pad: float = 0.1, lo: float = 0.5, hi: float = 99.5) -> tuple[tuple[float, float],
                                                                                         tuple[float, float]]:
    """((x_min, x_max), (y_min, y_max)) from the lo–hi percentiles of all points (..., 2), padded by pad·span.

    Non-finite points are ignored; one outlier does not squash the view. A degenerate span becomes 1.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    out = []
    for c in (0, 1):
        v = p[:, c]
        v = v[np.isfinite(v)]
        if v.size == 0:
            out.append((-1.0, 1.0))
            continue
        a, b = np.percentile(v, [lo, hi])
        span = b - a if b > a else 1.0
        out.append((float(a - pad * span), float(b + pad * span)))
    return out[0], out[1]


def union_range(*ranges: tuple[tuple[float, float], tuple[float, float]]):
    """The smallest ((x0, x1), (y0, y1)) containing all given ranges."""
    xs = [r[0] for r in ranges]
    ys = [r[1] for r in ranges]
    return ((min(a for a, _ in xs), max(b for _, b in xs)), (min(a for a, _ in ys), max(b for _, b in ys)))
