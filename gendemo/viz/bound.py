"""The variational bound's ledger: L = L_N + Σ_{k=2..N} L_{k−1} + L_0, term by term, in nats per point."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gendemo.viz.style import PALETTE, Style, apply_style

_MAX_BARS = 60  # more steps than this: a line reads better than a comb of bars
_DECADES = 2.0  # log-y when the positive terms span more than this many decades


def _fmt(v: float) -> str:
    return (f"{v:.3g}" if np.isfinite(v) else str(v)).replace("-", "−")


def bound_ledger(L_N: float, L_terms, L_0: float, total: float, *, L_simple: float | None = None,
                 style: Style = Style.default()) -> go.Figure:
    """Bars for L_0 and L_N, the series L_{k−1} against k = 2..N between them; the total L in the title.

    L_terms[i] is L_{k−1} for k = i + 2. L_N has no θ in it (grey). Ref: Eq. (6), Eq. (10)
    """
    terms = np.asarray(L_terms, dtype=np.float64).ravel()
    k = np.arange(2, terms.size + 2, dtype=np.int32)
    n = terms.size + 1
    fig = make_subplots(rows=1, cols=3, column_widths=[0.12, 0.76, 0.12], horizontal_spacing=0.05,
                        subplot_titles=[f"L<sub>0</sub> = {_fmt(L_0)}",
                                        f"Σ<sub>k=2..N</sub> L<sub>k−1</sub> = {_fmt(float(np.nansum(terms)))}",
                                        f"L<sub>N</sub> = {_fmt(L_N)}"])
    bar = dict(marker=dict(color=PALETTE["model"], line=dict(width=0)), showlegend=False)
    fig.add_trace(go.Bar(x=["L<sub>0</sub>"], y=[L_0], hovertemplate="L<sub>0</sub> = %{y:.4g}<extra></extra>",
                         **bar), row=1, col=1)
    hover = "L<sub>k−1</sub> = %{y:.4g}<extra>k = %{x}</extra>"
    if terms.size <= _MAX_BARS:
        fig.add_trace(go.Bar(x=k, y=terms.astype(np.float32), hovertemplate=hover, **bar), row=1, col=2)
    else:
        fig.add_trace(go.Scatter(x=k, y=terms.astype(np.float32), mode="lines", showlegend=False,
                                 line=dict(color=PALETTE["model"], width=style.line_width), hovertemplate=hover),
                      row=1, col=2)
    fig.add_trace(go.Bar(x=["L<sub>N</sub>"], y=[L_N], hovertemplate="L<sub>N</sub> = %{y:.4g}<extra></extra>",
                         marker=dict(color=PALETTE["data"], line=dict(width=0)), showlegend=False), row=1, col=3)
    pos = terms[np.isfinite(terms) & (terms > 0)]
    log_y = (pos.size == terms.size and pos.size > 1
             and np.log10(pos.max()) - np.log10(pos.min()) > _DECADES)
    fig.update_yaxes(type="log" if log_y else "linear", exponentformat="power", row=1, col=2,
                     ticklabelposition="inside",  # not over the L_0 bar: the gap between panels is narrow
                     **(dict(dtick=1) if log_y else {}))  # log: label powers of ten only
    fig.update_yaxes(side="right", row=1, col=3)  # L_N has its own scale: ticks outside, not between panels
    fig.update_yaxes(title=dict(text="nats per point"), row=1, col=1)
    fig.update_xaxes(title=dict(text="step k"), range=[1.5, n + 0.5], row=1, col=2)
    if L_simple is not None:
        fig.add_annotation(text=f"L<sub>simple</sub> = {_fmt(float(L_simple))}  (Eq. 10)", xref="x2 domain",
                           yref="y2 domain", x=0.99, y=0.98, xanchor="right", yanchor="top", showarrow=False,
                           bgcolor="rgba(255,255,255,0.8)")
    fig.update_layout(title=dict(text=f"bound of Eq. (6) by the Proposition:  L = L<sub>N</sub> + Σ L<sub>k−1</sub> "
                                      f"+ L<sub>0</sub> = {_fmt(total)} nats per point"), bargap=0.15)
    apply_style(fig, style)
    fig.update_layout(margin=dict(r=round(3.6 * style.font_size + 10)))
    return fig
