"""Issue 14, "dead ends and blow-ups": no setting a slider or a link allows blanks a page or draws nonsense.

Each test failed on main at 50da3e7 (checked before the fix).
"""

import os

import pytest
from streamlit.testing.v1 import AppTest

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app.py")


@pytest.fixture(autouse=True)
def _env(app_env):
    yield app_env


def _page(page: str, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    for k, v in state.items():
        at.session_state[k] = v
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_noise_zero_is_a_setting_every_page_survives_and_the_data_page_explains():
    from ui.data import DataChoice, true_entropy

    assert true_entropy(DataChoice("moons", noise=0.0)) is None
    assert true_entropy(DataChoice("checkerboard", noise=0.0)) is not None  # uniform on squares: a density
    at = _page("pages/data.py", noise=0.0)
    assert not at.error, [e.value for e in at.error]
    captions = " ".join(c.value for c in at.caption)
    assert "q₀ has no density" in captions, captions
    for page in ("pages/bound.py", "pages/flows.py"):
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, [e.message for e in at.exception])
