"""ui/firstpaint.py in AppTest: a trained model's charts come with their SVG first paint, and nothing is lost.

(The swap itself is CSS, checked in a real browser: tests/browser/test_first_paint.py.)
"""

import pytest
from apphelpers import open_page

from ui import firstpaint

# page → the keys of its charts that have a first paint (the default settings: the shipped models)
PAGES = {"pages/ddpm-training.py": ["ddpm_samples"],
         "pages/flows.py": ["flow_density", "flow_samples", "flow_latent"]}


def _previews(at) -> list[str]:
    return [m.value for m in at.markdown if f'class="{firstpaint.PREVIEW}"' in m.value]


@pytest.mark.parametrize("page", sorted(PAGES))
def test_each_chart_of_a_trained_model_comes_with_its_svg_first_paint(page):
    at = open_page(page)
    keys = PAGES[page]
    charts = [c for c in at.get("plotly_chart")]
    assert len(charts) >= len(keys)
    previews = _previews(at)
    assert len(previews) == len(keys), f"{len(previews)} previews for {keys}"
    for markup in previews:
        assert "<svg" in markup and "height:" in markup
    if page == "pages/ddpm-training.py":  # the readout computed after the picture is still there
        assert any("Sample quality: energy distance" in c.value for c in at.caption)

