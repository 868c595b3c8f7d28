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


def _schedule_page(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/forward.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_the_beta_sliders_constrain_each_other_instead_of_blanking_the_page():
    """Main: β₁ > β_N blanked the page's right side with an error, and cosine kept it while the sliders were off."""
    at = _schedule_page()
    at.select_slider(key="b1").set_value(0.1).run()  # above the default β_N = 0.05: β_N follows
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.select_slider(key="bN").value == 0.1 and at.query_params["bN"] == "0.1"
    assert at.get("plotly_chart"), "the page draws the schedule"
    at.select_slider(key="bN").set_value(0.01).run()  # below β₁ = 0.1: β₁ follows down
    assert not at.error and at.select_slider(key="b1").value == 0.01
    at.selectbox(key="sched").set_value("cosine").run()
    assert not at.error and at.select_slider(key="b1").disabled and at.get("plotly_chart")
    assert any("ignored" in c.value for c in at.sidebar.caption), [c.value for c in at.sidebar.caption]


def test_cosine_ignores_the_beta_settings_even_when_they_contradict_each_other():
    at = _schedule_page(sched="cosine")
    at.session_state["b1"] = 0.1
    at.session_state["bN"] = 0.01
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.get("plotly_chart")
    at.switch_page("pages/ddpm-training.py")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]


def test_a_link_with_beta_1_above_beta_N_gets_one_warning_and_the_default_beta_1():
    at = _schedule_page(b1="0.1", bN="0.01")
    warnings = [w.value for w in at.warning if "larger than" in w.value]
    assert len(warnings) == 1 and "using the default β₁ = 0.0001" in warnings[0], [w.value for w in at.warning]
    assert not at.error, [e.value for e in at.error]
    assert at.select_slider(key="b1").value == 1e-4 and at.select_slider(key="bN").value == 0.01
    assert "b1" not in at.query_params and at.query_params["bN"] == "0.01"
    assert at.get("plotly_chart")
