"""Bad input in the app gets exactly one clear message, never an exception, and loses nothing (issue: classroom)."""

import gzip
import io
import json
import math
import pickle

import numpy as np
import pytest
import torch

from gendemo import checkpoints
from test_app import SMALL_DDPM, SMALL_FLOW, _app, _goto, _set, _spec  # noqa: F401  (fixture below)
from test_app import _fresh_caches  # noqa: F401
from crafted import Evil


def _upload_csv(at, name: str, content: bytes):
    at.file_uploader(key="data_upload").upload(name, content, "text/csv").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


GOOD = "x;y\n" + "\n".join(f"{a:.3f};{b:.3f}" for a, b in np.random.default_rng(0).normal(size=(300, 2)))
BAD = {
    "empty": b"",
    "binary garbage": bytes(range(256)) * 4,
    "gzip renamed .csv": gzip.compress(GOOD.encode()),
    "constant column": ("x,y\n" + "\n".join(f"{i},1.0" for i in range(50))).encode(),
    "huge magnitudes": ("x,y\n" + "\n".join(f"{i}e300,{i}" for i in range(1, 50))).encode(),
    "three columns": ("a,b,c\n" + "\n".join("1,2,3" for _ in range(50))).encode(),
    "not a number": ("x,y\n1,2\n3,four\n5,6\n").encode(),
    "NaN": ("x,y\n1,2\nnan,3\n4,5\n").encode(),
}


def test_a_good_csv_becomes_the_dataset_and_a_flow_trains_on_it():
    at = _goto(_app(), "pages/data.py")
    _upload_csv(at, "mine.csv", GOOD.encode())
    assert at.subheader[0].value.startswith("your data (mine.csv") and "pts" in at.query_params
    assert not at.error
    _set(at, SMALL_FLOW)
    _goto(at, "pages/flows.py")
    at.button(key="flow_step").click().run()
    assert not at.exception
    run = at.session_state["run_flow"]
    ds = run.dataset
    assert run.state.step == 100 and ds.choice.upload and "mine.csv" in ds.choice.upload
    assert len(ds.train) + len(ds.heldout) + len(ds.reference) == 300
    # the flow's density is in the data's own coordinates: its standardization holds the data's mean/std
    std = run.state.model.layers[-1].scale.numpy()
    np.testing.assert_allclose(std, ds.train.std(0, ddof=1), rtol=1e-4)


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_csv_gets_one_clear_error_and_the_dataset_stays(case):
    at = _goto(_app(), "pages/data.py")
    before = at.subheader[0].value
    _upload_csv(at, f"{case}.csv", BAD[case])
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    assert "previous dataset stays" in errors[0]
    assert at.subheader[0].value == before and "pts" not in at.query_params


def _trained(at, slot):
    _set(at, SMALL_DDPM if slot == "ddpm" else SMALL_FLOW)
    _goto(at, "pages/ddpm-training.py" if slot == "ddpm" else "pages/flows.py")
    at.button(key=f"{slot}_step").click().run()
    return at.session_state[f"run_{slot}"]


def test_a_crafted_checkpoint_is_refused_even_with_weights_only_disabled_by_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    torch.save({"format": checkpoints.FORMAT, "version": 1, "config": {}, "step": 0, "state_dict": Evil(str(marker))},
               buf)
    at = _app()
    run = _trained(at, "ddpm")
    weights = {k: v.clone() for k, v in run.state.model.state_dict().items()}
    at.file_uploader(key="ddpm_upload").upload("evil.pt", buf.getvalue()).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "current model stays" in errors[0], errors
    assert not marker.exists()
    assert at.session_state["run_ddpm"] is run
    assert all(torch.equal(v, weights[k]) for k, v in run.state.model.state_dict().items())
    raw_pickle = pickle.dumps({"x": Evil(str(marker))})
    at.file_uploader(key="ddpm_upload").set_value(("evil2.pt", raw_pickle, "application/octet-stream")).run()
    assert not marker.exists() and len(at.error) == 1


def test_a_checkpoint_round_trips_through_download_and_upload_into_a_new_session():
    at = _app()
    run = _trained(at, "flow")
    blob = checkpoints.to_bytes(run.state.config, run.state.model, run.state.step)
    other = _goto(_app(), "pages/flows.py")
    other.file_uploader(key="flow_upload").upload("flow.pt", blob).run()
    assert not other.exception and not other.error, [e.value for e in other.error]
    loaded = other.session_state["run_flow"]
    assert loaded.state.step == run.state.step and loaded.state.config == run.state.config
    for k, v in run.state.model.state_dict().items():
        assert torch.equal(loaded.state.model.state_dict()[k], v)
    other.button(key="flow_step").click().run()  # and it trains on from there
    assert other.session_state["run_flow"].state.step == run.state.step + 100


def test_a_checkpoint_of_the_other_family_is_refused():
    at = _app()
    run = _trained(at, "flow")
    blob = checkpoints.to_bytes(run.state.config, run.state.model, run.state.step)
    _goto(at, "pages/ddpm-training.py")
    at.file_uploader(key="ddpm_upload").upload("flow.pt", blob).run()
    assert not at.exception
    assert len(at.error) == 1 and "not a ddpm" in at.error[0].value


def _finite_chart(spec: dict) -> bool:
    for trace in spec["data"]:
        for axis in ("x", "y"):
            v = trace.get(axis)
            if isinstance(v, list) and any(isinstance(a, float) and not math.isfinite(a) for a in v if a is not None):
                return False
    return True


def test_divergence_stops_keeps_the_last_finite_weights_and_says_what_to_change():
    at = _app()
    _set(at, {**SMALL_DDPM, "d_lr": 100.0})
    _goto(at, "pages/ddpm-training.py")
    at.button(key="ddpm_step").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "diverged at step" in errors[0] and "learning rate" in errors[0], errors
    run = at.session_state["run_ddpm"]
    assert all(torch.isfinite(p).all() for p in run.state.model.parameters())
    assert not run.playing
    assert all(math.isfinite(v) for v in run.state.history_loss)
    assert _finite_chart(_spec(at, "ddpm_loss"))


def test_a_schedule_that_destroys_the_signal_is_flagged():
    at = _goto(_app(), "pages/forward.py")
    at.select_slider(key="bN").set_value(0.999).run()
    assert not at.exception
    assert any("destroyed" in w.value for w in at.warning), [w.value for w in at.warning]


def test_odd_but_valid_requests_work_N_1_and_K_1():
    at = _app()
    _set(at, {**SMALL_DDPM, "N": 1})
    _goto(at, "pages/ddpm-training.py")
    at.button(key="ddpm_step").click().run()
    assert not at.exception and at.session_state["run_ddpm"].state.config.N == 1
    _goto(at, "pages/reverse.py")
    _goto(at, "pages/bound.py")
    _set(at, {**SMALL_FLOW, "f_K": 1})
    _goto(at, "pages/flows.py")
    at.button(key="flow_step").click().run()
    assert not at.exception
    _goto(at, "pages/coupling.py")
    assert not at.error


def test_batch_larger_than_the_data():
    at = _goto(_app(), "pages/data.py")
    _upload_csv(at, "tiny.csv", ("x,y\n" + "\n".join(f"{i},{i * i % 7}" for i in range(20))).encode())
    _set(at, {**SMALL_DDPM, "d_batch": 1024})
    _goto(at, "pages/ddpm-training.py")
    at.button(key="ddpm_step").click().run()
    assert not at.exception and at.session_state["run_ddpm"].state.step == 100
    assert json.dumps(_spec(at, "ddpm_samples"))


def test_pages_after_a_divergence_show_no_exception():
    at = _app()
    _set(at, {**SMALL_DDPM, "d_lr": 100.0})
    _goto(at, "pages/ddpm-training.py")
    at.button(key="ddpm_step").click().run()
    for page in ("pages/reverse.py", "pages/bound.py"):
        _goto(at, page)
