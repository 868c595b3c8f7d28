"""The app in AppTest: every page renders on defaults; key widgets change what is shown; state carries over."""

import base64
import json
import os
import threading

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app.py")
PAGES = ["pages/home.py", "pages/data.py", "pages/forward.py", "pages/ddpm-training.py", "pages/reverse.py",
         "pages/bound.py", "pages/flows.py", "pages/coupling.py"]
# Sidebar settings (ui/settings.py: their keys are the URL parameters)
SMALL_DDPM = {"N": 50, "d_width": 32, "d_depth": 2, "d_batch": 128}
SMALL_FLOW = {"f_K": 4, "f_width": 32}


@pytest.fixture(autouse=True)
def _fresh_caches(tmp_path, monkeypatch):
    """Fresh caches, and uploads kept in a store of the test's own (ui/points_store.py), never in ~/.cache."""
    monkeypatch.setenv("GENDEMO_STORE", str(tmp_path / "store"))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def _goto(at: AppTest, page: str) -> AppTest:
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _charts(at: AppTest) -> dict[str, dict]:
    """The page's plotly charts as JSON specs, by element id suffix (their key)."""
    out = {}
    for i, el in enumerate(at.get("plotly_chart")):
        spec = json.loads(el.proto.spec)
        out[el.proto.id.rsplit("-", 1)[-1] if el.proto.id else str(i)] = spec
    return out


def _spec(at: AppTest, key: str) -> dict:
    for el in at.get("plotly_chart"):
        if key in el.proto.id:
            return json.loads(el.proto.spec)
    raise AssertionError(f"no chart with key {key}; ids: {[el.proto.id for el in at.get('plotly_chart')]}")


def _set(at: AppTest, values: dict) -> None:
    for k, v in values.items():
        at.session_state[k] = v


@pytest.mark.parametrize("page", ["pages/home.py", "pages/data.py", "pages/forward.py", "pages/ddpm-training.py",
                                  "pages/flows.py"])
def test_page_renders_on_defaults(page):
    at = _goto(_app(), page)
    assert at.title, "every page has a title"
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("page", ["pages/reverse.py", "pages/bound.py", "pages/coupling.py"])
def test_model_pages_explain_what_is_missing_and_offer_a_quick_training(page):
    at = _goto(_app(), page)
    assert any("none is trained yet" in i.value or "no flow" in i.value.lower() for i in at.info), \
        [i.value for i in at.info]
    assert len(at.button) >= 1


def test_the_data_scatter_says_how_many_of_the_training_points_it_shows():
    at = _goto(_app(), "pages/data.py")
    spec = _spec(at, "data_scatter")
    n = 10_000  # datasets.DEFAULT_N
    assert at.metric[0].value == f"{n:,}"
    assert f"(2,000 of {n:,} shown)" in spec["layout"]["title"]["text"], spec["layout"]["title"]
    x = spec["data"][0]["x"]
    drawn = len(base64.b64decode(x["bdata"])) // 4 if isinstance(x, dict) else len(x)  # a typed array: float32
    assert drawn == 2000, drawn


def test_the_schedule_slider_changes_the_schedule_plot_and_the_readouts():
    at = _goto(_app(), "pages/forward.py")
    before = _spec(at, "forward_schedule")
    abar_before = [m.value for m in at.metric]
    at.slider(key="N").set_value(100).run()
    at.select_slider(key="bN").set_value(0.02).run()
    assert not at.exception
    after = _spec(at, "forward_schedule")
    assert json.dumps(before["data"]) != json.dumps(after["data"])
    assert [m.value for m in at.metric] != abar_before
    # N = 100 with the linear 1e-4..0.02 schedule leaves ᾱ_N ≈ 0.36: the page must warn
    assert any("far from N(0, I)" in w.value for w in at.warning), [w.value for w in at.warning]


def test_an_invalid_schedule_gets_one_clear_error_and_no_exception():
    at = _goto(_app(), "pages/forward.py")
    at.select_slider(key="b1").set_value(0.1).run()
    at.select_slider(key="bN").set_value(0.01).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "beta_1" in errors[0], errors


def _trained_ddpm_app() -> AppTest:
    at = _app()
    _set(at, SMALL_DDPM)
    _goto(at, "pages/ddpm-training.py")
    at.button(key="ddpm_step").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_a_short_training_through_step_changes_the_model_and_the_charts():
    at = _trained_ddpm_app()
    run = at.session_state["run_ddpm"]
    assert run.state.step == 100 and run.state.config.N == 50
    loss = _spec(at, "ddpm_loss")
    assert len(loss["data"][0]["x"]["bdata"] if isinstance(loss["data"][0]["x"], dict) else loss["data"][0]["x"])
    w_before = {k: v.clone() for k, v in run.state.model.state_dict().items()}
    samples_before = json.dumps(_spec(at, "ddpm_samples")["data"])
    at.button(key="ddpm_step").click().run()
    assert at.session_state["run_ddpm"].state.step == 200
    changed = [k for k, v in at.session_state["run_ddpm"].state.model.state_dict().items()
               if not (v == w_before[k]).all()]
    assert changed
    assert json.dumps(_spec(at, "ddpm_samples")["data"]) != samples_before


def _sidebar(at: AppTest) -> str:
    return " | ".join(c.value for c in at.sidebar.caption)


def _status(at: AppTest) -> str:
    """The live status block of a training page (ui/status.py: one markdown element)."""
    blocks = [m.value for m in at.markdown if 'class="gd-status"' in m.value]
    assert len(blocks) == 1, blocks
    return blocks[0]


def test_the_activation_radio_defaults_to_hardswish_and_reset_trains_with_the_choice():
    at = _trained_ddpm_app()
    radio = at.radio(key="d_act")
    assert radio.value == "hardswish" and list(radio.options) == ["SiLU", "ReLU", "Hardswish"]
    run = at.session_state["run_ddpm"]
    assert run.state.config.activation == "hardswish"
    assert type(run.state.model.eps_theta.net[1]).__name__ == "Hardswish"
    radio.set_value("silu").run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("press Reset to apply them" in i.value for i in at.info), [i.value for i in at.info]
    at.button(key="ddpm_reset").click().run()
    assert not at.exception, [e.message for e in at.exception]
    run = at.session_state["run_ddpm"]
    assert run.state.config.activation == "silu" and run.state.step == 0
    assert type(run.state.model.eps_theta.net[1]).__name__ == "SiLU"


def test_the_status_block_and_the_sidebar_show_the_step_and_never_a_stale_one_while_training():
    at = _trained_ddpm_app()
    assert "DDPM:** step 100" in _sidebar(at), _sidebar(at)
    block = _status(at)
    run = at.session_state["run_ddpm"]
    planned = run.state.config.steps
    assert ">step</div>" in block and f">100 / {planned:,}</div>" in block, block
    assert f'aria-valuenow="{100 * 100 / planned:.0f}"' in block, block
    # A playing run whose trainer is alive: its step changes under the sidebar, which full runs alone redraw.
    done = threading.Event()
    run.thread = threading.Thread(target=done.wait, daemon=True)
    run.thread.start()
    run.playing = True
    try:
        at.run()  # (AppTest drops the sidebar after switch_page: stay on the page)
        assert not at.exception, [e.message for e in at.exception]
        assert "DDPM:** training… (live on its page)" in _sidebar(at), _sidebar(at)
        assert "step" not in _sidebar(at).split("|")[0]
    finally:
        run.playing = False
        done.set()
        run.thread.join()


def test_the_trained_ddpm_carries_over_to_reverse_sampling_and_the_bound_and_back():
    at = _trained_ddpm_app()
    model = at.session_state["run_ddpm"].state.model
    _goto(at, "pages/reverse.py")
    assert at.session_state["run_ddpm"].state.model is model
    assert _spec(at, "rev_anim")["frames"]
    _goto(at, "pages/bound.py")
    beta_ledger = json.dumps(_spec(at, "bound_ledger")["data"])
    total_beta = at.metric[0].value
    at.radio(key="bound_sigma2").set_value("beta_tilde").run()
    assert not at.exception
    assert at.metric[0].value != total_beta  # σ² changes the ledger
    assert json.dumps(_spec(at, "bound_ledger")["data"]) != beta_ledger
    _goto(at, "pages/ddpm-training.py")
    assert at.session_state["run_ddpm"].state.step == 100  # survived the page switches


def _trained_flow_app(K: int = 4, kind: str = "realnvp") -> AppTest:
    at = _app()
    _set(at, {**SMALL_FLOW, "f_K": K, "f_kind": kind})
    _goto(at, "pages/flows.py")
    at.button(key="flow_step").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_a_short_flow_training_through_step_changes_the_model_and_the_density():
    at = _trained_flow_app()
    run = at.session_state["run_flow"]
    assert run.state.step == 100 and run.state.config.K == 4
    density = json.dumps(_spec(at, "flow_density")["data"])
    at.button(key="flow_step").click().run()
    assert not at.exception
    assert at.session_state["run_flow"].state.step == 200
    assert json.dumps(_spec(at, "flow_density")["data"]) != density


def test_K_changes_the_coupling_view_and_the_flow_carries_over():
    at = _trained_flow_app(K=4)
    _goto(at, "pages/coupling.py")
    assert at.slider(key="coupling_layer").max == 4
    view_1 = json.dumps(_spec(at, "coupling_view")["data"])
    at.slider(key="coupling_layer").set_value(2).run()
    assert not at.exception
    assert json.dumps(_spec(at, "coupling_view")["data"]) != view_1  # another layer, another picture
    _goto(at, "pages/flows.py")
    _set(at, {"f_K": 6})
    at.button(key="flow_reset").click().run()
    at.button(key="flow_step").click().run()
    assert at.session_state["run_flow"].state.config.K == 6
    _goto(at, "pages/coupling.py")
    assert at.slider(key="coupling_layer").max == 6


def test_nice_layers_preserve_area_and_say_so():
    at = _trained_flow_app(K=2, kind="nice")
    _goto(at, "pages/coupling.py")
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "exactly 0" in text
