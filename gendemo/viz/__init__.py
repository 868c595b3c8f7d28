"""Plotly figure builders for the lecture's figures: plain numpy arrays in, ``go.Figure`` out.

The only part of gendemo that imports plotly. Pages compute arrays with the engine, call a builder
and render it with ``st.plotly_chart(fig)``; builders never see a torch model or streamlit.
Animations play client-side (SVG scatter, ``redraw: False``, fixed axes, float32 frames).
"""

from gendemo.viz.animation import forward_animation, layer_animation, reverse_animation
from gendemo.viz.bound import bound_ledger
from gendemo.viz.coupling import conditioner_curves, coupling_view, logdet_heatmaps
from gendemo.viz.density import density_heatmap, latent_view
from gendemo.viz.field import arrow_field
from gendemo.viz.live_svg import density_svg, loss_svg, scatter_svg
from gendemo.viz.points import loss_curve, loss_curve_xy, scatter
from gendemo.viz.schedule import schedule_curves, snr_curve
from gendemo.viz.style import PALETTE, Style, apply_style, figure_nbytes, robust_range

__all__ = [
    "PALETTE", "Style", "apply_style", "arrow_field", "bound_ledger", "conditioner_curves", "coupling_view",
    "density_heatmap", "density_svg", "figure_nbytes", "forward_animation", "latent_view", "layer_animation", "logdet_heatmaps",
    "loss_curve", "loss_curve_xy", "loss_svg", "reverse_animation", "robust_range", "scatter", "scatter_svg",
    "schedule_curves", "snr_curve",
]
