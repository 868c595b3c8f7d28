"""Imported by app.py before any page runs: everything the pages' figures and tables import lazily, imported fully.

Every session's script runs in a thread of one process. plotly's validators and its JSON encoder (and narwhals,
which plotly asks what an array is) look optional libraries up in `sys.modules` without importing them
(`_plotly_utils.optional_imports.get_module(name, should_load=False)`, `narwhals.dependencies.get_pandas()`). The
first `st.table` imports pandas (and pyarrow) lazily; while that import runs in one session's thread, `sys.modules`
already holds the half-initialised module, and a figure built in another thread at that moment failed with
`AttributeError: partially initialized module 'pandas' has no attribute 'Series'` (8 sessions pressing "Train" on
/bound on a fresh server: 1 page in 8 died, 3 runs out of 3). A plain `import` waits for a module that another
thread is initialising; a `sys.modules` look-up does not.

So this module imports those libraries outright, and builds and serialises one tiny figure with every trace type
and layout feature gendemo.viz uses, the way `st.plotly_chart` does, so that plotly's lazily loaded submodules
(graph_objs, validators, the subplot and template code) are imported once too. It runs at the first app.py run,
under Python's import lock: a concurrent session's `import ui.warm` waits until it is done.
"""

from __future__ import annotations

import numpy as np
import pandas  # noqa: F401 - looked up in sys.modules by plotly and narwhals
import plotly.graph_objects as go
import plotly.io
import plotly.tools
import pyarrow  # noqa: F401 - looked up in sys.modules by narwhals; st.table converts to Arrow
from plotly.subplots import make_subplots

for _optional in ("PIL.Image",):  # plotly.io's JSON encoder looks it up too (a Streamlit dependency)
    try:
        __import__(_optional)
    except ImportError:
        pass


def _figure() -> go.Figure:
    x = np.linspace(0.0, 1.0, 4, dtype=np.float32)
    fig = make_subplots(rows=1, cols=3, subplot_titles=("a", "b", "c"))
    fig.add_trace(go.Scatter(x=x, y=x, mode="markers", marker={"color": x, "coloraxis": "coloraxis"}), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=x[::-1], mode="lines", line={"dash": "dot"}), row=1, col=1)
    fig.add_trace(go.Heatmap(z=np.outer(x, x), x=x, y=x, colorbar={"title": "z"}), row=1, col=2)
    fig.add_trace(go.Bar(x=["a", "b"], y=[1.0, 2.0]), row=1, col=3)
    fig.add_hline(y=0.5, row=1, col=1)
    fig.add_vline(x=0.5, row=1, col=1)
    fig.add_annotation(text="a", x=0.5, y=0.5, row=1, col=1)
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1], scaleanchor="x")
    fig.update_traces(selector={"type": "scatter"}, marker_size=4)
    fig.frames = [go.Frame(data=[go.Scatter(x=x, y=x * k)], name=str(k), traces=[0]) for k in (0, 1)]
    fig.update_layout(
        template=go.layout.Template(layout={"font": {"size": 12}}),
        coloraxis={"colorscale": "Viridis"},
        updatemenus=[{"type": "buttons", "buttons": [{"label": "Play", "method": "animate", "args": [None]}]}],
        sliders=[{"steps": [{"label": str(k), "method": "animate", "args": [[str(k)]]} for k in (0, 1)]}],
    )
    return fig


def warm() -> None:
    """Build one figure and serialise it as `st.plotly_chart` does (validated, then plotly.io.to_json)."""
    fig = plotly.tools.return_figure_from_figure_or_data(_figure(), validate_figure=True)
    plotly.io.to_json(fig, validate=False)
    pyarrow.Table.from_pandas(pandas.DataFrame({"term": ["a"], "value": [1.0]}))  # st.table's conversion


warm()
