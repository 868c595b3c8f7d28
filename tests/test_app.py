"""The app in AppTest: every page renders on defaults; key widgets change what is shown; trainings are shared jobs.

Trainings run as jobs of the server's job table (gendemo/jobtable.py), here in threads of this process
(GENDEMO_WORKERS=thread) with a model store of the test's own (tests/conftest.py `app_env`); the shipped models of
gendemo/pretrained stay a read-only fallback, so the default settings are trained already. AppTest does not run a
fragment's timer, so a test that trains waits for the table, then reruns the page.
"""

import base64
import json
import os
import re
import time

import numpy as np
import pytest
from jobhelpers import wait_jobs
from streamlit.testing.v1 import AppTest

from gendemo.store import ModelStore

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app.py")
PAGES = ["pages/home.py", "pages/data.py", "pages/forward.py", "pages/ddpm-training.py", "pages/reverse.py",
         "pages/bound.py", "pages/flows.py", "pages/coupling.py"]
# Sidebar settings (ui/settings.py: their keys are the URL parameters). Small, short, and not the defaults, so that
# nothing shipped matches them: a page with these settings must train.
SMALL_DDPM = {"N": 50, "d_width": 32, "d_depth": 2, "d_batch": 128, "d_steps": 500}
SMALL_FLOW = {"f_K": 4, "f_width": 32, "f_steps": 300}
TRAIN_S = 300.0  # a small job on a loaded 2-core machine


@pytest.fixture(autouse=True)
def _fresh_caches(app_env):
    """Trainings in threads, a store of the test's own (uploads too), fresh caches (tests/conftest.py)."""
    yield app_env


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
        if el.proto.id.endswith(f"-{key}"):
            return json.loads(el.proto.spec)
    raise AssertionError(f"no chart with key {key}; ids: {[el.proto.id for el in at.get('plotly_chart')]}")


def _set(at: AppTest, values: dict) -> None:
    for k, v in values.items():
        at.session_state[k] = v


def table():
    """The server's job table, as the pages see it (a cache_resource of this process)."""
    from ui import jobs

    return jobs.table()


def _wait_and_rerun(at: AppTest) -> AppTest:
    wait_jobs(table(), TRAIN_S)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _train(at: AppTest, slot: str) -> AppTest:
    """Press Train on the training page and wait for the job; the page then shows its end."""
    at.button(key=f"{slot}_train").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return _wait_and_rerun(at)


def _stored(store) -> dict:
    """The entries of the test's store directory, by key (what the jobs wrote)."""
    s = ModelStore(store, fallback=())
    return {p.stem: s.get(p.stem) for p in sorted(store.glob("*.pt"))}


def _sidebar(at: AppTest) -> str:
    return " | ".join(c.value for c in at.sidebar.caption)


def _status(at: AppTest) -> str:
    """The status block of a training page (ui/status.py: one markdown element)."""
    blocks = [m.value for m in at.markdown if 'class="gd-status"' in m.value]
    assert len(blocks) == 1, blocks
    return blocks[0]


def _metric(block: str, label: str) -> tuple[str, str | None]:
    """(value, note) of a status metric."""
    m = re.search(rf'gd-metric-label"[^>]*>{re.escape(label)}</div><div class="gd-metric-value"[^>]*>(.*?)</div>'
                  r'(?:<div class="gd-metric-note"[^>]*>(.*?)</div>)?', block)
    assert m, f"no metric {label!r} in {block}"
    return m.group(1), m.group(2)


def _data(spec: dict) -> str:
    return json.dumps(spec["data"])


def _xs(trace: dict) -> list[float]:
    """A trace's x values (plotly sends numeric arrays base64-encoded with their dtype)."""
    x = trace["x"]
    if isinstance(x, dict):
        return np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"]).tolist()
    return list(x)


def _title(spec: dict) -> str:
    return spec["layout"]["title"]["text"]


def _buttons(at: AppTest) -> list[str]:
    return [b.key for b in at.button if b.key]


# ---------------------------------------------------------------------------------------------------------
# Defaults: every page at once, from the shipped models, with no training.


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_defaults_without_training(page):
    at = _goto(_app(), page)
    assert at.title, "every page has a title"
    assert not at.error, [e.value for e in at.error]
    assert not any("No DDPM" in i.value or "No flow" in i.value for i in at.info), [i.value for i in at.info]
    assert table().trainings_started == 0, "the default settings' models ship with the app"


@pytest.mark.parametrize(("page", "slot", "seed"), [("pages/reverse.py", "ddpm", "d_seed"),
                                                    ("pages/bound.py", "ddpm", "d_seed"),
                                                    ("pages/coupling.py", "flow", "f_seed")])
def test_model_pages_explain_what_is_missing_and_show_it_once_trained(page, slot, seed):
    at = _app()
    _set(at, {**(SMALL_DDPM if slot == "ddpm" else SMALL_FLOW), seed: 1})
    _goto(at, page)
    name = "DDPM" if slot == "ddpm" else "flow"
    assert any(f"No {name} is trained for these settings yet" in i.value for i in at.info), [i.value for i in at.info]
    assert f"quick_{slot}" in _buttons(at) and not at.get("plotly_chart")
    # (AppTest cannot press that button: a plain `if st.button(...)` in a page returns False after switch_page,
    # though the browser presses it fine. So train on the training page, as most students will.)
    _goto(at, "pages/ddpm-training.py" if slot == "ddpm" else "pages/flows.py")
    _train(at, slot)
    _goto(at, page)
    assert not any(f"No {name}" in i.value for i in at.info), [i.value for i in at.info]
    assert at.get("plotly_chart"), "the page shows the trained model"
    assert table().trainings_started == 1


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


# ---------------------------------------------------------------------------------------------------------
# The training page: Train, the timeline, Step, Pause / Follow / Stop, Train 1,000 more.


def _trained_ddpm_app(**settings) -> AppTest:
    at = _app()
    _set(at, {**SMALL_DDPM, **settings})
    _goto(at, "pages/ddpm-training.py")
    assert "ddpm_train" in _buttons(at), _buttons(at)
    return _train(at, "ddpm")


def test_train_runs_one_job_and_the_page_shows_its_end_and_its_timeline(app_env):
    at = _trained_ddpm_app()
    stored = _stored(app_env)
    assert len(stored) == 1 and table().trainings_started == 1
    entry = next(iter(stored.values()))
    assert entry.step == 500 and entry.config.N == 50 and entry.config.width == 32
    block = _status(at)
    assert _metric(block, "step") == ("500 / 500", "trained"), block
    assert 'aria-valuenow="100"' in block
    xs = _xs(_spec(at, "ddpm_loss")["data"][0])
    assert xs[0] == 1 and xs[-1] == 500 and len(xs) == 500, (len(xs), xs[:3], xs[-3:])
    assert _title(_spec(at, "ddpm_samples")).endswith("step 500")
    timeline = at.select_slider(key="ddpm_timeline")
    assert list(timeline.options) == [f"{s:,}" for s in entry.snapshot_steps] and timeline.value == 500
    assert "ddpm_train" not in _buttons(at) and "ddpm_longer" in _buttons(at)
    assert "DDPM:** trained, 500 steps" in _sidebar(at).replace("Ddpm", "DDPM"), _sidebar(at)


def test_the_timeline_and_step_show_the_model_of_that_step_and_the_end_comes_back():
    at = _trained_ddpm_app()
    end_samples = _data(_spec(at, "ddpm_samples"))
    at.select_slider(key="ddpm_timeline").set_value(250).run()
    assert not at.exception
    assert at.query_params["d_at"] == "250"
    assert _title(_spec(at, "ddpm_samples")).endswith("step 250")
    assert _data(_spec(at, "ddpm_samples")) != end_samples
    assert _metric(_status(at), "step")[0] == "250 (of 500)"
    at.button(key="ddpm_step").click().run()  # the next snapshot
    assert not at.exception
    assert at.query_params["d_at"] == "260" and at.select_slider(key="ddpm_timeline").value == 260
    assert _title(_spec(at, "ddpm_samples")).endswith("step 260")
    at.select_slider(key="ddpm_timeline").set_value(500).run()
    assert _title(_spec(at, "ddpm_samples")).endswith("step 500")
    assert _data(_spec(at, "ddpm_samples")) == end_samples
    assert "ddpm_step" not in _buttons(at), "no Step at the end of the timeline"
    assert table().trainings_started == 1, "rewinding never trains"


def _running_ddpm_app() -> AppTest:
    """A page that follows a long job (50,000 planned steps) that has published a few snapshots."""
    at = _app()
    _set(at, {**SMALL_DDPM, "d_steps": 50_000})
    _goto(at, "pages/ddpm-training.py")
    at.button(key="ddpm_train").click().run()
    assert not at.exception, [e.message for e in at.exception]
    (job,) = table()._active.values()
    deadline = time.monotonic() + TRAIN_S
    while len(job.snapshot_steps) < 3:
        assert job.active and time.monotonic() < deadline, (job.status, job.step, job.error)
        time.sleep(0.05)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_pause_freezes_the_view_follow_follows_again_and_stop_cancels_the_job(app_env):
    at = _running_ddpm_app()
    assert "ddpm_pause" in _buttons(at) and "ddpm_stop" in _buttons(at), _buttons(at)
    value, note = _metric(_status(at), "step")
    assert note == "training" and re.fullmatch(r"[\d,]+(?: \(of [\d,]+\)| / 50,000)", value), (value, note)
    assert "running… (live on its page)" in _sidebar(at), _sidebar(at)
    assert not at.get("plotly_chart"), "a followed job is drawn as light SVG, not plotly"

    at.button(key="ddpm_pause").click().run()
    assert not at.exception
    frozen = int(at.query_params["d_at"])
    (job,) = table()._active.values()
    assert frozen in job.snapshot_steps
    assert _title(_spec(at, "ddpm_samples")).endswith(f"step {frozen:,}")
    assert "ddpm_follow" in _buttons(at) and "ddpm_pause" not in _buttons(at), _buttons(at)
    at.run()  # the job goes on; the frozen view does not
    assert at.query_params["d_at"] == str(frozen)
    assert _title(_spec(at, "ddpm_samples")).endswith(f"step {frozen:,}")

    at.button(key="ddpm_follow").click().run()
    assert "d_at" not in at.query_params and "ddpm_pause" in _buttons(at), _buttons(at)

    at.button(key="ddpm_stop").click().run()  # only this tab watches it: cancelled
    assert not at.exception
    wait_jobs(table(), 60)
    assert job.status == "cancelled"
    at.run()
    assert "ddpm_train" in _buttons(at), _buttons(at)
    assert not list(app_env.glob("*.pt")), "a cancelled job stores nothing"


def test_sessions_that_press_train_on_the_same_settings_share_one_job_and_stop_spares_the_others():
    a, b = _app(), _app()
    for at in (a, b):
        _set(at, {**SMALL_DDPM, "d_steps": 50_000})
        _goto(at, "pages/ddpm-training.py")
    a.button(key="ddpm_train").click().run()
    b.button(key="ddpm_train").click().run()  # b's page still showed Train: the same job
    assert not a.exception and not b.exception
    (job,) = table()._active.values()
    assert table().trainings_started == 1 and len(job.watchers) == 2
    a.button(key="ddpm_stop").click().run()
    assert not a.exception
    assert any("Other tabs watch this training too" in i.value for i in a.info), [i.value for i in a.info]
    assert job.active, "another session watches it: it goes on"
    c = _app()  # a third session opens the same settings: it follows the job, and cannot stop it either
    _set(c, {**SMALL_DDPM, "d_steps": 50_000})
    _goto(c, "pages/ddpm-training.py")
    assert "ddpm_train" not in _buttons(c) and "ddpm_stop" in _buttons(c), _buttons(c)
    c.button(key="ddpm_stop").click().run()
    assert any("Other tabs watch this training too" in i.value for i in c.info), [i.value for i in c.info]
    assert job.active and table().trainings_started == 1


def test_train_1000_more_continues_the_stored_run(app_env):
    at = _trained_ddpm_app()
    at.button(key="ddpm_longer").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.query_params["d_more"] == "1"
    _wait_and_rerun(at)
    assert _metric(_status(at), "step") == ("1,500 / 1,500", "trained")
    assert at.select_slider(key="ddpm_timeline").value == 1500
    assert any("500 planned steps + 1,000 more" in c.value for c in at.caption), [c.value for c in at.caption]
    stored = _stored(app_env)
    assert sorted(e.step for e in stored.values()) == [500, 1500] and table().trainings_started == 2
    at.button(key="ddpm_plan").click().run()  # back to the planned steps: the stored 500-step model, at once
    assert "d_more" not in at.query_params
    assert _metric(_status(at), "step") == ("500 / 500", "trained") and table().trainings_started == 2


def test_a_second_session_with_the_same_settings_shows_the_model_without_training():
    at = _trained_ddpm_app()
    samples = _data(_spec(at, "ddpm_samples"))
    other = _app()
    _set(other, SMALL_DDPM)
    _goto(other, "pages/ddpm-training.py")
    assert _metric(_status(other), "step") == ("500 / 500", "trained")
    assert _data(_spec(other, "ddpm_samples")) == samples
    assert table().trainings_started == 1


def test_the_activation_radio_defaults_to_hardswish_and_a_new_choice_is_a_new_model(app_env):
    at = _app()
    _set(at, SMALL_DDPM)
    _goto(at, "pages/ddpm-training.py")
    radio = at.radio(key="d_act")
    assert radio.value == "hardswish" and list(radio.options) == ["SiLU", "ReLU", "Hardswish"]
    radio.set_value("silu").run()
    assert not at.exception, [e.message for e in at.exception]
    _train(at, "ddpm")
    (entry,) = _stored(app_env).values()
    assert entry.config.activation == "silu"
    assert type(entry.model_at().eps_theta.net[1]).__name__ == "SiLU"


def test_the_status_and_the_sidebar_say_queued_or_training_while_a_job_runs():
    at = _running_ddpm_app()
    assert re.search(r"DDPM:\*\* (running|queued)… \(live on its page\)", _sidebar(at).replace("Ddpm", "DDPM")), \
        _sidebar(at)
    value, note = _metric(_status(at), "step")
    m = re.fullmatch(r"([\d,]+)(?: \(of ([\d,]+)\)| / 50,000)", value)
    assert m and note == "training", (value, note)


def test_the_trained_ddpm_carries_over_to_reverse_sampling_and_the_bound_and_back():
    at = _trained_ddpm_app()
    _goto(at, "pages/reverse.py")
    assert _spec(at, "rev_anim")["frames"]
    _goto(at, "pages/bound.py")
    beta_ledger = json.dumps(_spec(at, "bound_ledger")["data"])
    total_beta = at.metric[0].value
    at.radio(key="bound_sigma2").set_value("beta_tilde").run()
    assert not at.exception
    assert at.metric[0].value != total_beta  # σ² changes the ledger
    assert json.dumps(_spec(at, "bound_ledger")["data"]) != beta_ledger
    _goto(at, "pages/ddpm-training.py")
    assert _metric(_status(at), "step") == ("500 / 500", "trained")
    assert table().trainings_started == 1, "the other pages use the trained model, they do not train"


# ---------------------------------------------------------------------------------------------------------
# Flows.


def _trained_flow_app(**settings) -> AppTest:
    at = _app()
    _set(at, {**SMALL_FLOW, **settings})
    _goto(at, "pages/flows.py")
    return _train(at, "flow")


def test_a_short_flow_training_shows_its_density_and_the_timeline_rewinds_it():
    at = _trained_flow_app()
    assert _metric(_status(at), "step") == ("300 / 300", "trained")
    density = _data(_spec(at, "flow_density"))
    assert _title(_spec(at, "flow_density")).endswith("step 300")
    at.select_slider(key="flow_timeline").set_value(0).run()
    assert not at.exception
    assert _title(_spec(at, "flow_density")).endswith("step 0")
    assert _data(_spec(at, "flow_density")) != density


def test_K_changes_the_coupling_view_and_the_flow_carries_over():
    at = _trained_flow_app(f_K=4)
    _goto(at, "pages/coupling.py")
    assert at.slider(key="coupling_layer").max == 4
    view_1 = json.dumps(_spec(at, "coupling_view")["data"])
    at.slider(key="coupling_layer").set_value(2).run()
    assert not at.exception
    assert json.dumps(_spec(at, "coupling_view")["data"]) != view_1  # another layer, another picture
    _goto(at, "pages/flows.py")
    _set(at, {"f_K": 6})
    at.run()
    assert "flow_train" in _buttons(at), "K = 6 is another model: not trained yet"
    _train(at, "flow")
    _goto(at, "pages/coupling.py")
    assert at.slider(key="coupling_layer").max == 6


def test_nice_layers_preserve_area_and_say_so():
    at = _trained_flow_app(f_K=2, f_kind="nice")
    _goto(at, "pages/coupling.py")
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "exactly 0" in text
