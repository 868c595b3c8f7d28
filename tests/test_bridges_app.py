"""The three pages of issue 15 in AppTest: Flow matching, Samplers, Likelihood.

On the default settings each runs without an exception and says what it lacks; with small models (trained here, as
jobs in threads of this process: tests/conftest.py `app_env`) each shows its figures, and a control changes them.
"""

import base64
import json
import math
import os

import numpy as np
import pytest
import torch
from jobhelpers import wait_jobs
from streamlit.testing.v1 import AppTest

from gendemo import datasets, exact
from ui import fm

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app.py")
PAGES = ["pages/flow-matching.py", "pages/samplers.py", "pages/likelihood.py"]
# Small, and none a default: each page must train these.
SMALL = {"n": 1000, "N": 50, "d_width": 32, "d_depth": 2, "d_batch": 128, "d_steps": 500,
         "fm_width": 32, "fm_steps": 300, "f_K": 4, "f_width": 32, "f_steps": 300}
TRAIN_S = 300.0


@pytest.fixture(autouse=True)
def _fresh(app_env):
    yield app_env


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def _goto(at: AppTest, page: str) -> AppTest:
    at.switch_page(page)
    at.run()
    return _ok(at)


def _app(settings: dict | None = None) -> AppTest:
    at = _ok(AppTest.from_file(APP, default_timeout=300).run())
    for k, v in (settings or {}).items():
        at.session_state[k] = v
    return at


def _table():
    from ui import jobs

    return jobs.table()


def _click_and_wait(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    _ok(at)
    wait_jobs(_table(), TRAIN_S)
    at.run()
    return _ok(at)


def _spec(at: AppTest, key: str) -> dict:
    for el in at.get("plotly_chart"):
        if el.proto.id.endswith(f"-{key}"):
            return json.loads(el.proto.spec)
    raise AssertionError(f"no chart {key}: {[el.proto.id for el in at.get('plotly_chart')]}")


def _arr(v) -> np.ndarray:
    """A plotly array from the figure's JSON: a list, or a typed array {"dtype", "bdata": base64}."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).astype(float)
    return np.array(v, dtype=float)


def _keys(at: AppTest) -> list[str]:
    return [el.proto.id.rsplit("-", 1)[-1] for el in at.get("plotly_chart")]


@pytest.mark.parametrize("page", PAGES)
def test_each_page_runs_on_the_default_settings(page):
    at = _goto(_app(), page)
    assert [t.value for t in at.title] == [{"pages/flow-matching.py": "Flow matching", "pages/samplers.py": "Samplers",
                                            "pages/likelihood.py": "Likelihood"}[page]]
    if _table().trainings_started == 0 and not at.get("plotly_chart"):
        # A model the page needs is not trained: the page says so and offers to train it (never a blank page).
        assert at.info and at.button, "the page says what is missing and offers a Train button"


def test_flow_matching_trains_live_and_its_controls_change_the_figures():
    at = _goto(_app(SMALL), "pages/flow-matching.py")
    assert "fm_train" in [b.key for b in at.button] and not at.get("plotly_chart")
    _click_and_wait(at, "fm_train")
    assert {"fm_loss", "fm_samples", "fm_paths", "fm_field", "fm_traj"} <= set(_keys(at)), _keys(at)
    # The floor of this training set, computed here on its own: min over u of E|u(X_t, t) − (X_1 − X_0)|²
    train = torch.from_numpy(datasets.load("moons", SMALL["n"], 0, datasets.DEFAULT_NOISE["moons"]))
    floor, se = exact.fm_loss_floor(((train - train.mean(0)) / train.std(0)).double(),
                                    torch.Generator().manual_seed(fm.FLOOR_SEED), n_mc=fm.FLOOR_MC)
    assert 0 < floor and se < 0.1 * floor
    loss = _spec(at, "fm_loss")
    assert [s["y0"] for s in loss["layout"]["shapes"]] == [pytest.approx(floor)], "the floor is a line on the curve"
    paths = _spec(at, "fm_paths")
    assert len(paths["frames"]) > 10
    # Eq. (1): the conditional paths are straight lines: every point of a path lies on the chord of its ends
    x, y = _arr(paths["data"][1]["x"]), _arr(paths["data"][1]["y"])
    cut = np.flatnonzero(np.isnan(x))[0]
    px, py = x[:cut], y[:cut]
    cross = (px - px[0]) * (py[-1] - py[0]) - (py - py[0]) * (px[-1] - px[0])
    assert np.abs(cross).max() < 1e-3 * (1 + np.hypot(px[-1] - px[0], py[-1] - py[0])) ** 2

    before = json.dumps(_spec(at, "fm_field")["data"])
    at.slider(key="fm_t").set_value(0.9).run()
    _ok(at)
    assert json.dumps(_spec(at, "fm_field")["data"]) != before, "the t slider changes the field"

    n_metrics = len(at.metric)
    at.checkbox(key="fm_exact").check().run()
    _ok(at)
    assert "fm_traj_exact" in _keys(at) and len(at.metric) == n_metrics + 1, "the exact field adds a panel"
    net, ex = (float(m.value.rstrip("%")) for m in at.metric[-2:])
    assert ex >= 90 and net < 50, (net, ex)  # u* of the training set memorises it; the network does not


def test_samplers_and_likelihood_with_small_models():
    at = _app(SMALL)
    _click_and_wait(_goto(at, "pages/ddpm-training.py"), "ddpm_train")
    _click_and_wait(_goto(at, "pages/flow-matching.py"), "fm_train")
    _click_and_wait(_goto(at, "pages/flows.py"), "flow_train")

    _goto(at, "pages/samplers.py")
    assert {"race", "quality_curve"} <= set(_keys(at)), _keys(at)
    race = _spec(at, "race")
    names = [t.get("name") for t in race["data"]]
    assert sum((n or "").startswith("DDIM") and not n.endswith("(end)") for n in names) == 1 and any("flow matching" in (n or "") for n in names)
    curve = _spec(at, "quality_curve")
    by = {t["name"]: t for t in curve["data"]}
    assert len([n for n in by if "floor" not in n]) == 4 and max(by["flow matching ODE (Heun)"]["x"]) == 1000
    assert max(by["DDIM"]["x"]) <= SMALL["N"], "the DDPM's samplers stop at its N steps"

    def ddim_and_pf(spec):
        d = {t["name"]: json.dumps([t["x"], t["y"]]) for t in spec["data"] if t.get("name")}
        return next(v for k, v in d.items() if k.startswith("DDIM")), d["DDPM PF-ODE (Heun)"]

    d0, pf0 = ddim_and_pf(race)
    at.slider(key="race_eta").set_value(1.0).run()
    _ok(at)
    d1, pf1 = ddim_and_pf(_spec(at, "race"))
    assert d1 != d0 and pf1 == pf0, "η changes DDIM's trajectories only"

    _goto(at, "pages/likelihood.py")
    assert "offer_flow_nice" in [b.key for b in at.button]  # the sidebar's flow is RealNVP: NICE is offered
    _click_and_wait(at, "offer_flow_nice")
    table = at.table[0].value
    assert len(table) == 6 and "not trained" not in set(table["NLL (nats / point)"]), table
    H = float(table["NLL (nats / point)"].iloc[-1])
    for nll, se in zip(table["NLL (nats / point)"].iloc[:-1], table["± se"].iloc[:-1]):
        assert float(nll) > H - 3 * float(se), "no model gets below the data's entropy (D_KL ≥ 0)"
    assert "lik_chart" in _keys(at)
    at.checkbox(key="lik_tilde").check().run()
    _ok(at)
    assert len(at.table[0].value) == 7, "the β̃ bound adds a row"
    assert not math.isnan(float(at.table[0].value["NLL (nats / point)"].iloc[3]))
