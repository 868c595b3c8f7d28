"""Bad input in the app gets exactly one clear message, never an exception, and loses nothing (issue: classroom)."""

import gzip
import io
import json
import math
import pickle

import numpy as np
import pytest
import torch
from crafted import Evil
from test_app import SMALL_DDPM, SMALL_FLOW, _app, _data, _goto, _set, _spec, _stored, _title, _train
from test_app import _fresh_caches  # noqa: F401  (autouse: trainings in threads, a store of the test's own)

from gendemo import checkpoints


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


def test_a_good_csv_becomes_the_dataset_and_a_flow_trains_on_it(app_env):
    at = _goto(_app(), "pages/data.py")
    _upload_csv(at, "mine.csv", GOOD.encode())
    assert at.subheader[0].value.startswith("your data (mine.csv") and "pts" in at.query_params
    assert not at.error
    _set(at, SMALL_FLOW)
    _goto(at, "pages/flows.py")
    _train(at, "flow")
    assert not at.exception
    (entry,) = _stored(app_env).values()
    assert entry.step == 300 and set(entry.data) == {"points"}, entry.data  # the job's data: the points' hash
    from ui.data import _upload_cached

    ds = _upload_cached(at.query_params["pts"])
    assert ds.choice.upload and "mine.csv" in ds.choice.upload
    assert len(ds.train) + len(ds.heldout) + len(ds.reference) == 300
    # the flow's density is in the data's own coordinates: its standardization holds the data's mean/std
    std = entry.model_at().layers[-1].scale.numpy()
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


def _default_entry(slot: str):
    """The shipped model of the default settings (gendemo/pretrained, the store's fallback)."""
    from gendemo import jobs, pretrain
    from gendemo.store import ModelStore

    return ModelStore().get(jobs.job_key(pretrain.default_spec("moons", slot)))


def _weights(entry) -> dict:
    return {k: v.clone() for k, v in entry.final.items()}


def test_a_crafted_checkpoint_is_refused_even_with_weights_only_disabled_by_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    torch.save({"format": checkpoints.FORMAT, "version": 1, "config": {}, "step": 0, "state_dict": Evil(str(marker))},
               buf)
    at = _goto(_app(), "pages/ddpm-training.py")  # the default DDPM, shipped: on screen at once
    shown = _data(_spec(at, "ddpm_samples"))
    at.file_uploader(key="ddpm_upload").upload("evil.pt", buf.getvalue()).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "current model stays" in errors[0], errors
    assert not marker.exists()
    assert "d_ck" not in at.query_params and _data(_spec(at, "ddpm_samples")) == shown
    raw_pickle = pickle.dumps({"x": Evil(str(marker))})
    at.file_uploader(key="ddpm_upload").set_value(("evil2.pt", raw_pickle, "application/octet-stream")).run()
    assert not marker.exists() and len(at.error) == 1
    assert "d_ck" not in at.query_params and _data(_spec(at, "ddpm_samples")) == shown


def test_a_checkpoint_round_trips_through_download_and_upload_into_a_new_session(app_env):
    entry = _default_entry("flow")
    blob = checkpoints.to_bytes(entry.config, entry.model_at(), entry.step)
    other = _app()
    _set(other, {"f_seed": 5})  # settings whose model is not trained: the checkpoint is all there is to show
    _goto(other, "pages/flows.py")
    assert "flow_train" in [b.key for b in other.button]
    other.file_uploader(key="flow_upload").upload("flow.pt", blob).run()
    assert not other.exception and not other.error, [e.value for e in other.error]
    key = other.query_params["f_ck"]
    assert any("loaded checkpoint" in i.value for i in other.info), [i.value for i in other.info]
    loaded = _stored(app_env)[key]
    assert loaded.step == entry.step and loaded.config == entry.config
    for k, v in entry.final.items():
        assert torch.equal(loaded.final[k], v)
    assert _title(_spec(other, "flow_density")).endswith(f"step {entry.step:,}")
    _goto(other, "pages/coupling.py")  # every page uses it
    assert any("coupling_view" in el.proto.id for el in other.get("plotly_chart"))
    _goto(other, "pages/flows.py")
    other.button(key="flow_unload").click().run()  # back to the settings' model: not trained
    assert "f_ck" not in other.query_params and "flow_train" in [b.key for b in other.button]


def test_a_checkpoint_of_the_other_family_is_refused():
    entry = _default_entry("flow")
    blob = checkpoints.to_bytes(entry.config, entry.model_at(), entry.step)
    at = _goto(_app(), "pages/ddpm-training.py")
    at.file_uploader(key="ddpm_upload").upload("flow.pt", blob).run()
    assert not at.exception
    assert len(at.error) == 1 and "not a ddpm" in at.error[0].value
    assert "d_ck" not in at.query_params


def _finite_chart(spec: dict) -> bool:
    for trace in spec["data"]:
        for axis in ("x", "y"):
            v = trace.get(axis)
            if isinstance(v, list) and any(isinstance(a, float) and not math.isfinite(a) for a in v if a is not None):
                return False
    return True


def _diverged(at):
    _set(at, {**SMALL_DDPM, "d_lr": 100.0})
    _goto(at, "pages/ddpm-training.py")
    return _train(at, "ddpm")


def test_a_diverging_training_stores_nothing_and_no_page_shows_an_exception(app_env):
    at = _diverged(_app())
    assert not at.exception
    assert "ddpm_train" in [b.key for b in at.button], "the settings can be trained again (after a change)"
    assert not list(app_env.glob("*.pt")), "a failed job stores nothing"
    for chart in at.get("plotly_chart"):
        assert _finite_chart(json.loads(chart.proto.spec))
    for page in ("pages/reverse.py", "pages/bound.py"):
        _goto(at, page)  # asserts no exception


def test_divergence_says_where_it_stopped_and_what_to_change():
    at = _diverged(_app())
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "diverged at step" in errors[0] and "learning rate" in errors[0].lower(), errors
    _goto(at, "pages/reverse.py")
    assert any("stopped" in e.value for e in at.error), [e.value for e in at.error]


def test_a_schedule_that_destroys_the_signal_is_flagged():
    at = _goto(_app(), "pages/forward.py")
    at.select_slider(key="bN").set_value(0.999).run()
    assert not at.exception
    assert any("destroyed" in w.value for w in at.warning), [w.value for w in at.warning]


def test_odd_but_valid_requests_work_N_1_and_K_1():
    at = _app()
    _set(at, {**SMALL_DDPM, "N": 1})
    _goto(at, "pages/ddpm-training.py")
    _train(at, "ddpm")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _title(_spec(at, "ddpm_samples")).endswith("step 500")
    _goto(at, "pages/reverse.py")
    _goto(at, "pages/bound.py")
    assert not at.error, [e.value for e in at.error]
    _set(at, {**SMALL_FLOW, "f_K": 1})
    _goto(at, "pages/flows.py")
    _train(at, "flow")
    assert not at.exception and not at.error, [e.value for e in at.error]
    _goto(at, "pages/coupling.py")
    assert not at.error


def test_batch_larger_than_the_data(app_env):
    at = _goto(_app(), "pages/data.py")
    _upload_csv(at, "tiny.csv", ("x,y\n" + "\n".join(f"{i},{i * i % 7}" for i in range(20))).encode())
    _set(at, {**SMALL_DDPM, "d_batch": 1024})
    _goto(at, "pages/ddpm-training.py")
    _train(at, "ddpm")
    assert not at.exception and not at.error, [e.value for e in at.error]
    (entry,) = _stored(app_env).values()
    assert entry.step == 500 and entry.config.batch == 1024
    assert json.dumps(_spec(at, "ddpm_samples"))
