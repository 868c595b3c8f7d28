"""Issue 14, "students' rough edges": what a student meets first says what it means, in the app's words.

Each test failed on main at 50da3e7 (checked before the fix).
"""

import os

import numpy as np
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


def test_an_upload_of_500_points_says_why_300_are_trained_on():
    from ui import points_store

    rng = np.random.default_rng(0)
    key = points_store.save(rng.standard_normal((500, 2)).astype(np.float32), "mine.csv", "ab" * 32)
    at = _page("pages/data.py", pts=key)
    assert at.metric[0].value == "300"
    captions = " ".join(c.value for c in at.caption)
    assert "Your file has 500 points: n = 300 (60 %) are trained on" in captions, captions
    assert "100 (20 %) are held out" in captions and "100 (20 %) are the reference sample" in captions, captions
