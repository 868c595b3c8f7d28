"""The noise schedule: β_k, β̃_k, ᾱ_k, √ᾱ_k, √(1−ᾱ_k) and the signal-to-noise ratio against k."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gendemo.viz.style import PALETTE, Style, apply_style

ALPHA_BAR = "ᾱ<sub>k</sub>"
BETA = "β<sub>k</sub>"
BETA_TILDE = "β̃<sub>k</sub>"


def _vec(a, name: str) -> np.ndarray:
    v = np.asarray(a, dtype=np.float64).ravel()
    if v.size < 2:
        raise ValueError(f"{name} must have length N+1 ≥ 2 (sentinel at index 0), got {v.size}")
    return v


def _line(k, v, name, color, style, dash="solid", legend="legend") -> go.Scatter:
    return go.Scatter(x=k, y=np.asarray(v, dtype=np.float32), mode="lines", name=name, legend=legend,
                      line=dict(color=color, width=style.line_width, dash=dash),
                      hovertemplate=name + " = %{y:.4g}<extra>k = %{x}</extra>")


def schedule_curves(beta, alpha_bar, beta_tilde, style: Style = Style.default()) -> go.Figure:
    """Top: β_k and β̃_k = (1 − ᾱ_{k−1})/(1 − ᾱ_k)·β_k; bottom: ᾱ_k, √ᾱ_k, √(1 − ᾱ_k); k = 1..N.

    Arrays have length N+1 with the sentinel at index 0 (not drawn). Ref: Eq. (7), Eq. (8)
    """
    b, ab, bt = _vec(beta, "beta"), _vec(alpha_bar, "alpha_bar"), _vec(beta_tilde, "beta_tilde")
    if not b.size == ab.size == bt.size:
        raise ValueError(f"lengths differ: beta {b.size}, alpha_bar {ab.size}, beta_tilde {bt.size}")
    n = b.size - 1
    k = np.arange(1, n + 1, dtype=np.int32)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    fig.add_trace(_line(k, b[1:], BETA, PALETTE["model"], style), row=1, col=1)
    fig.add_trace(_line(k, bt[1:], BETA_TILDE, PALETTE["accent"], style, dash="dash"), row=1, col=1)
    fig.add_trace(_line(k, ab[1:], ALPHA_BAR, PALETTE["model"], style, legend="legend2"), row=2, col=1)
    fig.add_trace(_line(k, np.sqrt(ab[1:]), "√ᾱ<sub>k</sub> (signal)", PALETTE["green"], style, dash="dash",
                        legend="legend2"), row=2, col=1)
    fig.add_trace(_line(k, np.sqrt(1 - ab[1:]), "√(1 − ᾱ<sub>k</sub>) (noise)", PALETTE["accent"], style,
                        dash="dot", legend="legend2"), row=2, col=1)
    fig.update_yaxes(range=[0, 1.02], row=2, col=1, title=dict(text="ᾱ"))
    fig.update_yaxes(rangemode="tozero", row=1, col=1, title=dict(text="β"), exponentformat="power")
    fig.update_xaxes(range=[0.5, n + 0.5], title=dict(text="step k"), row=2, col=1)
    fig.update_layout(title=dict(text=f"noise schedule, N = {n}:  ᾱ<sub>N</sub> = {ab[-1]:.2g}"
                                      f"{'  (far from pure noise!)' if ab[-1] > 0.05 else ''}"))
    d1, d2 = fig.layout.yaxis.domain, fig.layout.yaxis2.domain
    side = dict(xref="paper", yref="paper", x=1.02, xanchor="left", yanchor="top", orientation="v",
                font=dict(size=style.font_size))
    fig.update_layout(legend=dict(side, y=d1[1]), legend2=dict(side, y=d2[1]))  # one legend beside each panel
    apply_style(fig, style)
    fig.update_layout(margin=dict(r=round(11 * style.font_size + 20)))
    return fig


def snr_curve(snr, style: Style = Style.default()) -> go.Figure:
    """log10 SNR_k, SNR_k = ᾱ_k/(1 − ᾱ_k), against k = 1..N (index 0 dropped), with the 0 dB line SNR = 1.

    Ref: Eq. (7)
    """
    s = _vec(snr, "snr")[1:]
    k = np.arange(1, s.size + 1, dtype=np.int32)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log10(s)
    ok = np.isfinite(y)
    fig = go.Figure(go.Scatter(x=k[ok], y=y[ok].astype(np.float32), mode="lines", showlegend=False,
                               line=dict(color=PALETTE["model"], width=style.line_width),
                               hovertemplate="log<sub>10</sub> SNR = %{y:.3g}<extra>k = %{x}</extra>"))
    fig.add_hline(y=0, line=dict(color=PALETTE["guide"], dash="dash", width=0.8 * style.line_width),
                  annotation=dict(text="SNR = 1 (0 dB)", font=dict(color=PALETTE["guide"])),
                  annotation_position="top right")
    title = "signal-to-noise ratio SNR<sub>k</sub> = ᾱ<sub>k</sub> / (1 − ᾱ<sub>k</sub>)"
    cross = np.flatnonzero(ok & (y < 0))
    if cross.size and cross[0] > 0:
        kc = int(k[cross[0]])
        fig.add_vline(x=kc, line=dict(color=PALETTE["guide"], dash="dot", width=0.8 * style.line_width))
        title += f":  noise dominates from k = {kc}"
    fig.update_layout(title=dict(text=title), xaxis=dict(title=dict(text="step k"), range=[0.5, s.size + 0.5]),
                      yaxis=dict(title=dict(text="log<sub>10</sub> SNR<sub>k</sub>")))
    return apply_style(fig, style)
