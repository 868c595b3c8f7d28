"""The URL is the state (issue 17): a link's query parameters set the data, the β-schedule and both model configs;
a bad value gets one clear warning and its default; an upload is named by its content hash (`pts`).

The configs are read by a small script that draws the sidebar like app.py and prints what ui.settings returns;
the pages are driven through app.py itself. Streamlit's own handling of bound widgets is the reference: every
value ui/urlspec.py calls bad must be one Streamlit drops (the widget shows its default), and every other value
must be one Streamlit keeps.
"""

import os
import re

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gendemo import datasets
from gendemo.config import DDPMConfig, FlowConfig
from ui import urlspec

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(os.path.dirname(HERE), "app.py")
CONFIGS = os.path.join(HERE, "links_app.py")


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch):
    """Fresh caches (they outlive an AppTest), and uploads kept in a store of the test's own."""
    monkeypatch.setenv("GENDEMO_STORE", str(tmp_path / "store"))
    st.cache_data.clear()
    st.cache_resource.clear()


def _goto(at: AppTest, page: str) -> AppTest:
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _configs(params: dict) -> tuple[AppTest, dict]:
    """Run the settings script with these query parameters; returns it and what ui.settings returned."""
    at = AppTest.from_file(CONFIGS, default_timeout=60)
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    out = {}
    for block in at.code:
        name, _, value = block.value.partition(" = ")
        out[name] = eval(value, {"DDPMConfig": DDPMConfig, "FlowConfig": FlowConfig, "DataChoice": _data_choice(),
                                 "None": None})
    return at, out


def _data_choice():
    from ui.data import DataChoice

    return DataChoice


def test_without_parameters_every_setting_is_its_default():
    at, out = _configs({})
    assert out["ddpm"] == (DDPMConfig(), None) and out["flow"] == (FlowConfig(), None)
    assert out["data"] == _data_choice()(noise=datasets.DEFAULT_NOISE["moons"])
    assert not at.warning and at.query_params == {}


def test_url_parameters_set_the_dataset_the_schedule_and_both_configs():
    params = {"ds": "circles", "n": "2000", "noise": "0.1", "dseed": "3",
              "sched": "cosine", "N": "100", "b1": "0.001", "bN": "0.2",
              "d_width": "128", "d_depth": "4", "d_lr": "0.003", "d_batch": "512", "d_steps": "2000",
              "d_wt": "the bound's β²/(2σ²α(1−ᾱ))", "d_act": "SiLU", "d_seed": "7",
              "f_kind": "NICE (additive)", "f_K": "4", "f_width": "64", "f_depth": "3", "f_lr": "0.001",
              "f_batch": "256", "f_steps": "500", "f_scale": "true", "f_seed": "9", "presenter": "true"}
    at, out = _configs(params)
    assert not at.warning, [w.value for w in at.warning]
    assert out["data"] == _data_choice()("circles", 2000, 0.1, 3)
    assert out["schedule"] == {"schedule": "cosine", "N": 100, "beta_1": 0.001, "beta_N": 0.2}
    assert out["ddpm"] == (DDPMConfig(schedule="cosine", N=100, beta_1=0.001, beta_N=0.2, width=128, depth=4, lr=0.003,
                                      batch=512, steps=2000, weighting="bound", activation="silu", seed=7), None)
    assert out["flow"] == (FlowConfig(kind="nice", K=4, width=64, depth=3, lr=0.001, batch=256, steps=500,
                                      scaling=True, seed=9), None)
    assert at.session_state["presenter"] is True
    assert at.query_params == params  # none is a default, so all stay in the URL


def test_values_equal_to_the_default_leave_the_url():
    at, out = _configs({"N": "200", "d_lr": "0.01", "ds": "circles", "noise": "0.08"})  # 0.08: circles' own noise
    assert at.query_params == {"ds": "circles"}
    assert out["data"].noise == 0.08 and out["ddpm"][0] == DDPMConfig()


def test_a_bad_value_gets_one_warning_and_its_default():
    at, out = _configs({"d_lr": "abc", "N": "5000", "ds": "nosuch", "dseed": "inf", "f_scale": "yes", "b1": "1e-5"})
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1, warnings
    text = warnings[0]
    assert ("`d_lr=abc` is not a valid learning rate (choose one of 0.0001 … 100): using the default 0.01."
            in text), text
    for key in ("N=5000", "ds=nosuch", "dseed=inf", "f_scale=yes", "b1=1e-5"):
        assert f"`{key}`" in text, (key, text)
    assert out["ddpm"] == (DDPMConfig(), None) and out["flow"] == (FlowConfig(), None)
    assert out["data"].name == "moons" and out["data"].seed == 0
    assert at.query_params == {}  # Streamlit dropped them (and the infinite seed was dropped before it crashed)
    at.run()  # a rerun with the same settings: the warning stays
    assert len(at.warning) == 1
    at.slider(key="N").set_value(100).run()  # a setting changed: it goes (the browser writes the URL: tests/browser)
    assert not at.warning


def test_one_bad_value_reads_as_one_sentence():
    at, _ = _configs({"d_lr": "abc"})
    assert [w.value for w in at.warning] == [
        "This link's `d_lr=abc` is not a valid learning rate (choose one of 0.0001 … 100): using the default 0.01."]


# Each (key, raw value): urlspec must call it bad exactly when Streamlit drops it.
CASES = [("N", "100"), ("N", "100.5"), ("N", "0"), ("N", "abc"), ("N", "nan"), ("N", ""), ("N", "1e400"),
         ("n", "2000"), ("n", "1234"), ("n", "199"), ("noise", "0.3"), ("noise", "0.6"), ("noise", "-0.1"),
         ("dseed", "12"), ("dseed", "12.7"), ("dseed", "-1"), ("dseed", "2147483648"), ("dseed", "nan"),
         ("dseed", "-inf"), ("ds", "rings"), ("ds", "Rings"), ("sched", "cosine"), ("sched", "exp"),
         ("b1", "0.001"), ("b1", "1e-05"), ("b1", "0.00001"), ("bN", "0.999"), ("d_lr", "100"), ("d_lr", "1e-4"),
         ("d_width", "128"), ("d_width", "100"), ("d_act", "SiLU"), ("d_act", "silu"), ("d_wt", "simple"),
         ("f_kind", "NICE (additive)"), ("f_kind", "nice"), ("f_K", "16"), ("f_K", "17"), ("f_scale", "TRUE"),
         ("f_scale", "1"), ("presenter", "true"), ("presenter", "on"), ("f_steps", "20000"), ("f_steps", "20,000")]


@pytest.mark.parametrize("key,raw", CASES, ids=[f"{k}={v}" for k, v in CASES])
def test_urlspec_calls_a_value_bad_exactly_when_streamlit_drops_it(key, raw):
    spec = urlspec.SPECS[key]
    at, _ = _configs({key: raw})
    bad = any(k == key for k, _ in urlspec.problems({key: [raw]}))
    value = at.session_state[key]
    default = datasets.DEFAULT_NOISE["moons"] if key == "noise" else spec.default
    if bad:
        assert value == default and key not in at.query_params, (value, at.query_params)
        assert len(at.warning) == 1 and f"`{key}={raw}`" in at.warning[0].value
    else:
        want = spec.parse([raw])
        want = int(want) if isinstance(value, int) and not isinstance(value, bool) else want  # N=100.5 → 100
        assert value == want and not at.warning, (value, [w.value for w in at.warning])


def test_an_invalid_combination_gets_one_warning_and_a_fallback_on_every_page():
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"b1": "0.1", "bN": "0.01"})  # each valid, together refused: β₁ > β_N
    at.run()
    assert not at.exception and len(at.warning) == 1 and "larger than β_N" in at.warning[0].value
    for page in ("pages/forward.py", "pages/ddpm-training.py"):
        _goto(at, page)
        assert not at.error, [e.value for e in at.error]
    assert at.query_params == {"bN": "0.01"}  # β₁ fell back to its default, kept across the page switches


def test_the_pages_show_the_data_and_schedule_of_the_url():
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"ds": "circles", "n": "2000", "dseed": "3", "N": "100", "bN": "0.02"})
    at.run()
    _goto(at, "pages/data.py")
    assert at.subheader[0].value == "circles (n = 2000, noise = 0.08, seed = 3)"
    assert at.metric[0].value == "2,000"
    _goto(at, "pages/forward.py")
    # N = 100 with the linear 1e-4..0.02 schedule leaves ᾱ_N ≈ 0.36: the page says so
    assert any("far from N(0, I)" in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.metric[0].value == "0.364", at.metric[0].value
    assert at.query_params == {"ds": "circles", "n": "2000", "dseed": "3", "N": "100", "bN": "0.02"}


GOOD = ("x,y\n" + "\n".join(f"{i % 17 * 0.3:.2f},{(i * 7) % 23 * 0.2:.2f}" for i in range(300))).encode()


def test_an_upload_is_named_by_its_hash_and_the_link_opens_it_in_a_new_session(tmp_path):
    at = _goto(AppTest.from_file(APP, default_timeout=180).run(), "pages/data.py")
    at.file_uploader(key="data_upload").upload("mine.csv", GOOD, "text/csv").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    key = at.query_params["pts"]
    assert re.fullmatch(r"[0-9a-f]{16}", key), key
    assert at.subheader[0].value.startswith("your data (mine.csv")
    assert (tmp_path / "store" / "points" / f"{key}.npy").is_file()  # GENDEMO_STORE (the autouse fixture)

    other = AppTest.from_file(APP, default_timeout=180)
    other.query_params["pts"] = key
    other.run()
    _goto(other, "pages/data.py")
    assert other.subheader[0].value == at.subheader[0].value and not other.warning
    assert other.query_params == {"pts": key}
    other.button(key="data_back").click().run()  # back to the built-in dataset: `pts` leaves the URL
    assert other.subheader[0].value.startswith("moons") and other.query_params == {}


def test_a_pts_that_names_no_saved_points_gets_a_message_and_the_builtin_dataset():
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"pts": "0123456789abcdef", "ds": "rings"})
    at.run()
    assert [w.value for w in at.warning] == ["This link's `pts=0123456789abcdef` names no uploaded points on this "
                                             "server: using the built-in dataset."]
    _goto(at, "pages/data.py")
    assert at.subheader[0].value.startswith("rings") and at.query_params == {"ds": "rings"}
    for bad in ("../../etc/passwd", "0123456789ABCDEF", ""):  # not 16 lowercase hex digits: never a path
        at = AppTest.from_file(APP, default_timeout=180)
        at.query_params["pts"] = bad
        at.run()
        assert not at.exception and len(at.warning) == 1 and "pts" not in at.query_params
