"""The first view of a trained model does not wait for plotly.js (ui/firstpaint.py).

Streamlit loads plotly.js only when a page's first chart mounts. Here its chunk is held back (a route that never
answers), as a slow first load would: the shipped default models must still be on screen, as SVG, in the chart's
place, with the plotly chart hidden out of the flow. Then, with plotly.js let through, the chart replaces the
preview in the same place.
"""

from __future__ import annotations

import pytest
from conftest import RUN_TIMEOUT_MS, open_page

pytestmark = pytest.mark.browser

# page → the keys of its charts drawn with a preview (the default settings: the shipped models)
PAGES = {"ddpm-training": ["ddpm_samples"], "flows": ["flow_density", "flow_samples", "flow_latent"]}

_BOX = """(key) => {
  const box = document.querySelector('.st-key-gdpv-' + key);
  if (!box) return null;
  const rect = (e) => { const r = e.getBoundingClientRect(); return {top: r.top, height: r.height, width: r.width}; };
  const preview = box.querySelector('.gd-preview');
  const chart = box.querySelector('.st-key-' + key);
  const shown = (e) => !!e && e.closest('[data-testid="stElementContainer"]').getBoundingClientRect().height > 0
                       && getComputedStyle(e).visibility !== 'hidden';
  return {box: rect(box), preview: preview && shown(preview) ? rect(preview) : null,
          marks: preview ? preview.querySelectorAll('svg circle, svg path, svg image').length : 0,
          chart: chart && shown(chart) ? rect(chart) : null, drawn: !!box.querySelector('.js-plotly-plot .main-svg')};
}"""


def _trained(page, base: str, path: str) -> None:
    page.goto(f"{base}/{path}")
    page.locator(".gd-metric-note", has_text="trained").first.wait_for(timeout=RUN_TIMEOUT_MS)


@pytest.mark.parametrize("path", sorted(PAGES))
def test_the_trained_model_is_on_screen_before_plotly_js_has_loaded(browser, app_url, path):
    with open_page(browser, app_url) as page:
        page.route("**/*PlotlyChart*", lambda route: None)  # plotly.js's chunk never arrives
        _trained(page, app_url, path)
        for key in PAGES[path]:
            page.wait_for_function(f"() => ({_BOX})({key!r})?.preview?.height > 300", timeout=RUN_TIMEOUT_MS)
            box = page.evaluate(_BOX, key)
            assert not box["drawn"] and box["chart"] is None, f"{key}: the undrawn chart is on screen: {box}"
            assert box["marks"] > 0, f"{key}: the preview draws nothing"
            assert abs(box["box"]["height"] - box["preview"]["height"]) <= 1, f"{key}: box and preview differ: {box}"


@pytest.mark.parametrize("path", sorted(PAGES))
def test_the_plotly_chart_takes_the_previews_place_once_drawn(browser, app_url, path):
    with open_page(browser, app_url) as page:
        _trained(page, app_url, path)
        for key in PAGES[path]:
            page.wait_for_function(f"() => ({_BOX})({key!r})?.drawn", timeout=RUN_TIMEOUT_MS)
            page.wait_for_function(f"() => ({_BOX})({key!r}).preview === null", timeout=RUN_TIMEOUT_MS)
            box = page.evaluate(_BOX, key)
            assert box["chart"] is not None, f"{key}: the drawn chart is hidden: {box}"
            assert abs(box["box"]["top"] - box["chart"]["top"]) <= 1, f"{key}: the chart is not where the box is"
            assert abs(box["box"]["height"] - box["chart"]["height"]) <= 1, box
        page.console.assert_clean()
