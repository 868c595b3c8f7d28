"""The Data page's drawing (ui/draw.py) in AppTest: strokes in the session become the points shown, Undo and Clear
change them, and "Use this drawing as the data" keeps them like an upload: in the store under their hash, named by
`pts`, the dataset every page trains on, whose job data spec is the points' hash (gendemo.jobs.points_spec). The
browser side (mouse strokes, the spray, training on a drawing) is tests/browser/test_draw.py."""

from __future__ import annotations

import os

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from gendemo import drawing, jobs

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app.py")
L_SHAPE = [[-2.0, 2.0], [-2.0, -2.0], [1.0, -2.0]]  # an L: 4 down, 3 across


@pytest.fixture(autouse=True)
def _env(app_env):
    yield app_env


def _data_page_drawing(strokes) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("pages/data.py")
    at.session_state["data_tab"] = "Draw your own"
    at.session_state["draw_strokes"] = strokes
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if "stroke(s)" in c.value)


def test_use_the_drawing_stores_it_by_hash_as_the_dataset(app_env):
    at = _data_page_drawing([("line", L_SHAPE), ("spray", [[1.0, 1.0]] * 40)])
    assert _caption(at) == "2 stroke(s), 2,000 points: not the data yet"
    at.button(key="draw_undo").click().run()
    assert _caption(at) == "1 stroke(s), 2,000 points: not the data yet"
    at.button(key="draw_use").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]

    from ui import data, points_store
    from ui import jobs as ui_jobs

    key = at.session_state["pts"]
    assert _caption(at) == f"1 stroke(s), 2,000 points: in use as the data (`pts={key}`)"
    assert at.button(key="draw_use").disabled
    at.slider(key="draw_n").set_value(1000).run()  # other points: no longer the data in use, until Use again
    assert _caption(at) == "1 stroke(s), 1,000 points: not the data yet" and not at.button(key="draw_use").disabled
    assert at.session_state["pts"] == key
    at.slider(key="draw_n").set_value(2000).run()
    assert points_store.exists(key) and (app_env / "points" / f"{key}.npy").is_file()
    stored, name = points_store.load(key)
    want = drawing.sample([drawing.stroke("line", L_SHAPE)], 2000, 0.08, 0, spray_radius=0.25,
                          dab_ink=0.02)
    np.testing.assert_array_equal(stored, want)  # the points shown are the points kept, bit for bit
    assert name == "drawing" and key == jobs.points_digest(want)
    # the dataset of every page: the upload path's 60/20/20 split, and a job keyed by the training points' hash
    ds = data.from_points(stored, name, key)
    assert len(ds.train) == 1200 and ds.choice.upload.startswith("drawing, ")
    assert ui_jobs.data_spec(ds) == jobs.points_spec(ds.train)
    at.session_state["data_tab"] = "Built-in dataset"  # the plot's view of the data in use
    at.run()
    assert any(c.value.startswith("Your drawing has 2,000 points: n = 1,200 (60 %)") for c in at.caption)
    at.switch_page("pages/flows.py")
    at.run()
    assert not at.exception
    assert any(f"drawing, {key[:8]}" in c.value for c in at.sidebar.caption)


def test_clear_and_the_limits_on_screen(app_env):
    at = _data_page_drawing([("line", L_SHAPE)])
    limits = next(c.value for c in at.caption if c.value.startswith("Limits"))
    assert f"{drawing.MAX_POINTS:,} points" in limits and f"{drawing.MAX_STROKES} strokes" in limits
    at.button(key="draw_clear").click().run()
    assert _caption(at).startswith("0 stroke(s), 0 points")
    assert at.button(key="draw_use").disabled and at.button(key="draw_undo").disabled
