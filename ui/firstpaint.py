"""A plotly chart with an SVG first paint: the trained model is on screen before plotly.js has loaded.

Streamlit loads plotly.js (~4 MB) only when a page's first plotly chart mounts, and a fresh browser context parses
it before anything is drawn: on this 2-core machine the default DDPM's samples appeared 1.5 s after the page said
"trained" (benchmarks/bench_jobs.py, fresh Chromium context), and 0.5 s after it with plotly.js in the HTTP cache.
So the chart's picture is also drawn as light SVG (gendemo.viz.live_svg, the live view's figures), at once and at
the chart's height, and CSS swaps the plotly chart in as soon as it has drawn: the chart renders meanwhile, hidden
and out of the flow at the box's width, so the swap does not move the page.
"""

from __future__ import annotations

import streamlit as st

BOX = "gdpv-"  # the key prefix of the box: CSS class st-key-gdpv-{chart key}
PREVIEW = "gd-preview"  # the SVG's wrapper

# A box holds the preview's element and the chart's element. Until the chart has drawn (its .main-svg exists),
# the chart's element is taken out of the flow and hidden (it keeps the box's width, so plotly lays out at its real
# size); from then on, the preview is gone.
CSS = f"""<style>
[class*="st-key-{BOX}"] {{ position: relative; }}
[class*="st-key-{BOX}"]:has(.js-plotly-plot .main-svg) [data-testid="stElementContainer"]:has(.{PREVIEW}) {{
  display: none; }}
[class*="st-key-{BOX}"]:not(:has(.js-plotly-plot .main-svg))
  > [data-testid="stElementContainer"]:not(:has(.{PREVIEW})) {{
  position: absolute; top: 0; left: 0; right: 0; visibility: hidden; }}
.{PREVIEW} {{ margin-bottom: 1rem; }}  /* Streamlit's markdown ends 1rem short: the box is the chart's height */
.{PREVIEW} svg {{ width: 100%; height: 100%; }}
</style>"""


def plotly_chart(fig, svg: str, *, key: str, config: dict | None = None, where=st) -> None:
    """`where.plotly_chart(fig, key=key, config=config)`, with `svg` (the same picture from gendemo.viz.live_svg) in
    its place until plotly.js has drawn it. The preview is as tall as the figure (its layout height).

    The swap's CSS comes in the preview's own element: a page-wide `st.html` style arrived after the chart in a
    fresh browser context (Chromium, tests/browser/test_first_paint.py), which showed the undrawn chart below it."""
    height = fig.layout.height or 450
    with where.container(key=BOX + key, gap=None):
        st.markdown(f'{CSS}<div class="{PREVIEW}" style="height:{int(height)}px">{svg}</div>',
                    unsafe_allow_html=True)
        st.plotly_chart(fig, key=key, config=config)
