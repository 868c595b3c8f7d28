"""Issue 14, "students' rough edges": what a student meets first says what it means, in the app's words.

Each test failed on main at 50da3e7 (checked before the fix).
"""

import os

import numpy as np
import pytest
from apphelpers import APP
from apphelpers import open_page as _page


@pytest.fixture(autouse=True)
def _env(app_env):
    yield app_env


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


def test_the_sidebar_lists_the_pages_by_title_without_icon_ligatures():
    """Main gave each page a Material icon: until the icon font loaded (~1.5 s on a fresh server) the sidebar read
    "scatter_plot Data", "model_training DDPM training", … like a list of raw file names."""
    import ast

    router = os.path.join(os.path.dirname(APP), "ui", "router.py")
    calls = [n for n in ast.walk(ast.parse(open(router, encoding="utf-8").read()))
             if isinstance(n, ast.Call) and ast.unparse(n.func) == "st.Page"]  # st.Page needs a running app
    assert len(calls) >= 8  # every page of the app
    for call in calls:
        kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        assert kw.get("title"), kw  # set, not inferred from the file name
        assert not kw.get("icon"), kw


def test_app_py_draws_the_navigation_before_its_slow_imports():
    """Main imported torch and the figure libraries (seconds on a fresh server) before `st.navigation`: the sidebar
    stayed empty, or showed v1's file names, all that time."""
    import ast

    tree = ast.parse(open(APP, encoding="utf-8").read())
    order = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            order += [("import", n) for n in names]
        elif "navigation()" in ast.unparse(node):
            order.append(("navigation", ""))
    nav = order.index(("navigation", ""))
    assert order.index(("import", "torch")) > nav and order.index(("import", "ui.warm")) > nav, order


def test_a_tiny_upload_gets_no_quality_floor_rather_than_an_error():
    from gendemo import datasets
    from ui import quality
    from ui.data import from_points

    ds = from_points(datasets.load("moons", 5, 0), "tiny.csv", "cd" * 32)  # 3 / 1 / 1 points
    q = quality.energy_vs_floor(datasets.load("moons", 500, 1), ds)
    assert np.isnan(q["ratio"]) and "too few data points" in quality.describe(q)
