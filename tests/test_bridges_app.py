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


def test_flow_matching_model_saves_loads_and_exports_its_numbers(app_env):
    """Flow matching has what the DDPM and flow pages have: "Download model" gives a checkpoint (family
    "flow_matching") that another session loads through the page's uploader and shows, loss history included; the
    CSV export has one row per trained step. The download buttons build their files when clicked
    (ui/ckpt.download_bytes, ui/export.training_csv_bytes): the test calls the same functions on the page's view."""
    from gendemo import checkpoints
    from gendemo import jobs as engine_jobs
    from gendemo.jobtable import Job
    from gendemo.store import ModelStore
    from ui import ckpt, export, live

    at = _goto(_app(SMALL), "pages/flow-matching.py")
    assert "fm_download" not in [b.key for b in at.get("download_button")]  # nothing trained: nothing to save
    _click_and_wait(at, "fm_train")
    assert {"fm_download", "fm_csv"} <= {b.proto.id.rsplit("-", 1)[-1] for b in at.get("download_button")}
    assert at.file_uploader(key="fm_upload") is not None

    store = ModelStore(app_env, fallback=())
    (entry,) = [e for e in (store.get(p.stem) for p in app_env.glob("*.pt")) if e.config.family == "flow_matching"]
    assert entry.step == SMALL["fm_steps"] and len(entry.losses) == entry.step
    job = Job.stored(engine_jobs.JobSpec.of(entry.data, entry.config), entry)
    view = live.View(fm.SLOT, job, None, entry.step, False)

    # CSV: a comment, the header, then one row per step 1..steps with its loss
    data = export.training_csv_bytes(fm.SLOT, view)
    lines = data.decode().splitlines()
    assert lines[0].startswith("# gendemo fm training") and "flow-matching loss" in lines[0]
    header = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    assert lines[header] == "step,loss,loss_mean_last_100"
    rows = np.array([[float(c) for c in line.split(",")] for line in lines[header + 1:]])
    assert rows.shape == (entry.step, 3)
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, entry.step + 1))
    np.testing.assert_array_equal(rows[:, 1].astype(np.float32), entry.losses)

    # The checkpoint: a flow_matching model with its loss history, which a new session loads and shows
    blob = ckpt.download_bytes(view)
    ck = checkpoints.from_bytes(blob)
    assert ck.config == entry.config and ck.config.family == "flow_matching" and ck.step == entry.step
    np.testing.assert_array_equal(ck.losses, entry.losses)
    other = _app({**SMALL, "fm_seed": 5})  # settings whose model is not trained: the checkpoint is all there is
    _goto(other, "pages/flow-matching.py")
    assert "fm_train" in [b.key for b in other.button]
    other.file_uploader(key="fm_upload").upload("fm.pt", blob).run()
    _ok(other)
    assert not other.error, [e.value for e in other.error]
    key = other.query_params["fm_ck"]
    assert any("loaded checkpoint" in i.value for i in other.info), [i.value for i in other.info]
    loaded = _table().store.get(key)
    assert loaded.step == entry.step and loaded.config == entry.config
    np.testing.assert_array_equal(loaded.losses, entry.losses)
    for k, v in entry.final.items():
        assert torch.equal(loaded.final[k], v)
    curve = _spec(other, "fm_loss")["data"][0]
    assert len(_arr(curve["y"])) == entry.step, "the loaded model's loss curve is its history"
    assert _spec(other, "fm_samples")["layout"]["title"]["text"].endswith(f"step {entry.step:,}")
    other.button(key="fm_unload").click().run()
    _ok(other)
    assert "fm_ck" not in other.query_params and "fm_train" in [b.key for b in other.button]

    # A checkpoint of another family is refused on this page, and nothing changes
    flow = checkpoints.to_bytes(*(lambda s: (s.config, s.model, s.step))(_small_flow()))
    other.file_uploader(key="fm_upload").upload("flow.pt", flow).run()
    _ok(other)
    assert len(other.error) == 1 and "not a flow_matching" in other.error[0].value
    assert "fm_ck" not in other.query_params


def _small_flow():
    from gendemo.config import FlowConfig
    from gendemo.training import make_state, train_steps

    state = make_state(FlowConfig(K=2, width=8), datasets.load("moons", 300, seed=0))
    train_steps(state, 3)
    return state
