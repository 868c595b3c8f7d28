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


@pytest.mark.parametrize("content", ["text", "pickle"])
def test_a_file_that_is_not_a_checkpoint_gets_one_clear_message_not_torchs(content):
    import io

    import torch

    if content == "text":
        raw = b"x,y\n1,2\n"
    else:  # a torch file the safe loader refuses: torch's message says to re-run with weights_only=False
        buf = io.BytesIO()
        torch.save({"model": np.random.default_rng(0).standard_normal(3)}, buf)
        raw = buf.getvalue()
    at = _page("pages/ddpm-training.py")
    at.file_uploader(key="ddpm_upload").upload("notes.pt", raw, "application/octet-stream").run()
    assert not at.exception, [e.message for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    assert "notes.pt is not a gendemo checkpoint" in errors[0] and "Download model" in errors[0], errors
    assert "weights_only" not in errors[0] and "torch.load" not in errors[0], errors
