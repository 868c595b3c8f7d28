"""ui/live.py's background trainer: Pause, heartbeat, planned end, divergence, the server-wide cap, fairness.

These drive the trainer directly (no Streamlit session needed); the browser tests drive it through the page.
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar

import numpy as np
import pytest
import torch

from gendemo import datasets
from gendemo.config import DDPMConfig
from gendemo.training import make_state
from ui import live
from ui.data import DataChoice, Dataset

TINY = dict(width=16, depth=1, N=20, batch=64, steps=100_000)


def _dataset() -> Dataset:
    x = datasets.load("moons", 500, seed=0)
    return Dataset(DataChoice("moons"), x, x[:200], x[200:400])


def _run(cls: type[live.Run] = live.Run, **overrides) -> live.Run:
    ds = _dataset()
    run = cls(make_state(DDPMConfig(**{**TINY, **overrides}), ds.train), ds)
    run.playing, run.seen = True, time.monotonic()
    return run


def _wait(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def _own_slots(monkeypatch):
    monkeypatch.setattr(live, "SLOTS", live.Slots(2))


def test_pause_stops_the_trainer_within_one_chunk_and_nothing_trains_after():
    run = _run()
    live._ensure_trainer(run)
    _wait(lambda: run.state.step > 50)
    run.playing = False  # what the Pause callback does (no session here: act on the run itself)
    run.thread.join(2.0)
    assert not run.training
    frozen = run.state.step
    time.sleep(0.3)
    assert run.state.step == frozen
    assert run.state.history_step[-1] == frozen and len(run.state.history_loss) == frozen


def test_one_trainer_per_run_even_when_started_twice_at_once():
    run = _run()
    starters = [threading.Thread(target=live._ensure_trainer, args=(run,)) for _ in range(8)]
    for t in starters:
        t.start()
    for t in starters:
        t.join()
    trainers = [t for t in threading.enumerate() if t.name == "gendemo-trainer"]
    assert len(trainers) == 1
    live.stop(run)
    assert not run.training


def test_a_closed_tab_stops_its_training_within_seconds(monkeypatch):
    monkeypatch.setattr(live, "ABSENT_S", 0.5)
    run = _run()
    live._ensure_trainer(run)
    _wait(lambda: run.state.step > 0)
    t0 = time.monotonic()  # no more heartbeats from here on: the page is gone
    _wait(lambda: not run.training, timeout=5.0)
    assert time.monotonic() - t0 < 2.0
    assert run.playing, "the run still wants to play: coming back to the page resumes it"
    frozen = run.state.step
    run.seen = time.monotonic()  # the page ticks again
    live._ensure_trainer(run)
    _wait(lambda: run.state.step > frozen)
    live.stop(run)


def test_the_trainer_stops_exactly_at_the_planned_steps_and_says_so():
    run = _run(steps=120)
    live._ensure_trainer(run)
    _wait(lambda: not run.training)
    assert run.state.step == 120 and not run.playing
    assert run.message[0] == "info" and "planned 120 steps" in run.message[1]


def test_divergence_in_the_trainer_pauses_with_advice_and_keeps_finite_weights():
    run = _run(lr=100.0)
    live._ensure_trainer(run)
    _wait(lambda: not run.training)
    assert not run.playing
    level, text = run.message
    assert level == "error" and "diverged at step" in text and "learning rate" in text.lower()
    assert all(torch.isfinite(p).all() for p in run.state.model.parameters())
    assert all(np.isfinite(run.state.history_loss))


def _boom(state, n):
    raise RuntimeError("disk on fire")


def test_an_unexpected_error_is_reported_not_swallowed(monkeypatch):
    monkeypatch.setattr(live, "train_steps", _boom)
    run = _run()
    live._ensure_trainer(run)
    _wait(lambda: not run.training)
    assert not run.playing and run.message[0] == "error" and "disk on fire" in run.message[1]


class _OrderRun(live.Run):
    """A Run that records which message it held at each moment `playing` was set to False."""

    def __setattr__(self, name, value):
        if name == "playing" and value is False and "state" in self.__dict__:
            self.__dict__.setdefault("messages_when_stopped", []).append(self.__dict__.get("message"))
        super().__setattr__(name, value)


@pytest.mark.parametrize("why", ["planned end", "divergence", "unexpected error"])
def test_a_stopping_trainer_posts_its_message_before_it_clears_playing(why, monkeypatch):
    """A panel that sees `playing` false reruns the page at once; the message must already be there, else the
    page showed Play with no word of why (the CI load test: a session at 500/500 never showed "Reached")."""
    if why == "unexpected error":
        monkeypatch.setattr(live, "train_steps", _boom)
    run = _run(_OrderRun, steps=60, **({"lr": 100.0} if why == "divergence" else {}))
    live._ensure_trainer(run)
    _wait(lambda: not run.training)
    assert run.messages_when_stopped and run.messages_when_stopped[-1] is not None, run.messages_when_stopped
    assert run.messages_when_stopped[-1] == run.message


def test_slots_serve_waiters_first_come_first_served():
    slots = live.Slots(1)
    assert slots.acquire(timeout=1.0)
    order: list[str] = []

    def waiter(name: str) -> None:
        assert slots.acquire(timeout=5.0)
        order.append(name)
        slots.release()

    a = threading.Thread(target=waiter, args=("a",))
    a.start()
    _wait(lambda: len(slots._queue) == 1)
    b = threading.Thread(target=waiter, args=("b",))
    b.start()
    _wait(lambda: len(slots._queue) == 2)
    slots.release()
    # the releaser asks again at once: it must queue behind a and b
    assert slots.acquire(timeout=5.0)
    order.append("releaser")
    slots.release()
    a.join()
    b.join()
    assert order == ["a", "b", "releaser"]
    assert slots.busy == 0


def test_at_most_the_cap_train_at_once_and_every_run_gets_turns(monkeypatch):
    monkeypatch.setattr(live, "SLOTS", live.Slots(1))
    monkeypatch.setattr(live, "SLICE_S", 0.1)
    active, peak, lock = 0, 0, threading.Lock()
    real = live.train_steps

    def counted(state, n):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            return real(state, n)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(live, "train_steps", counted)
    runs = [_run(seed=s) for s in range(3)]
    for r in runs:
        live._ensure_trainer(r)
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        for r in runs:
            r.seen = time.monotonic()
        time.sleep(0.05)
    for r in runs:
        live.stop(r)
    assert peak == 1
    assert all(r.state.step > 0 for r in runs), [r.state.step for r in runs]


def test_a_seeded_run_ends_the_same_alone_or_beside_others():
    def train(run: live.Run) -> None:
        live._ensure_trainer(run)

    solo = _run(steps=300, seed=7)
    train(solo)
    _wait(lambda: not solo.training, timeout=60)
    crowd = [_run(steps=300, seed=7)] + [_run(steps=300, seed=s) for s in range(3)]
    for r in crowd:
        train(r)
    _wait(lambda: not any(r.training for r in crowd), timeout=120)
    assert crowd[0].state.step == solo.state.step == 300
    for p, q in zip(solo.state.model.parameters(), crowd[0].state.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert solo.state.history_loss == crowd[0].state.history_loss


def test_the_cached_loss_figure_draws_what_a_fresh_one_would():
    from gendemo import viz

    run = _run()
    run.state.history_step[:] = list(range(1, 11))
    run.state.history_loss[:] = [float(v) for v in np.linspace(2.0, 1.0, 10)]
    first = live.loss_figure(run, "k", title="t", log_y=True)
    run.state.history_step.extend(range(11, 5001))
    run.state.history_loss.extend(float(v) for v in np.linspace(1.0, 0.5, 4990))
    updated = live.loss_figure(run, "k", title="t", log_y=True)
    assert updated is first  # fed, not rebuilt
    fresh = viz.loss_curve(run.state.history_step, run.state.history_loss, title="t", log_y=True)
    np.testing.assert_array_equal(updated.data[0].x, fresh.data[0].x)
    np.testing.assert_array_equal(updated.data[0].y, fresh.data[0].y)
    assert updated.layout == fresh.layout
    assert live.loss_figure(run, "k", title="other", log_y=True) is not first  # new options: rebuilt


def test_pages_redraw_less_often_when_more_sessions_train_than_there_are_cores(monkeypatch):
    monkeypatch.setattr(live, "MAX_CONCURRENT", 1)
    assert live.crowding() == 1.0 and live.tick() == live.TICK
    runs = [_run(seed=s) for s in range(3)]
    for r in runs:
        live._ensure_trainer(r)
    try:
        _wait(lambda: all(r.training for r in runs))
        assert live.crowding() == 3.0 and live.tick() == pytest.approx(3 * live.TICK)
        assert live.period(1.0) == pytest.approx(3.0)  # slow panels (samples) stretch by the same factor
        monkeypatch.setattr(live, "MAX_TICK", 0.5)
        assert live.tick() == 0.5
        assert live.period(1.0) == pytest.approx(0.5 / live.TICK)  # …and are capped in proportion
    finally:
        for r in runs:
            live.stop(r)
    assert live.crowding() == 1.0


def test_the_live_quality_readout_equals_metrics_with_floor_and_reuses_the_floor():
    from gendemo import metrics
    from ui import quality

    ds = _dataset()
    samples = datasets.load("moons", 300, seed=9)
    want = metrics.with_floor(metrics.energy_distance, samples[:200], ds.heldout[:200], ds.reference)
    assert quality.energy_vs_floor(samples, ds) == pytest.approx(want)
    quality._floors[(ds.choice, 200)] = 123.0  # a cached floor is used as is
    assert quality.energy_vs_floor(samples, ds)["floor"] == 123.0
    quality._floors.clear()


def _live_panel_page():
    import streamlit as st

    from ui import live as live_

    st.title("before")
    live_.live("nothing", lambda run: st.markdown("panel content"))
    st.markdown("after")


def _path_to(node, text, path=()):
    """The chain of blocks from `node` down to the markdown element whose value is `text` (None if absent)."""
    for child in getattr(node, "children", {}).values():
        if getattr(child, "type", None) == "markdown" and child.value == text:
            return (*path, node)
        found = _path_to(child, text, (*path, node))
        if found:
            return found
    return None


def test_each_live_panel_sits_alone_in_a_holder_so_a_pruned_panel_moves_nothing():
    """Regression for "Cannot set a node at a delta path" (see live()'s docstring): when the browser prunes a
    panel's fragment container, the elements after it must keep their places. So the fragment's container must
    be the only child of a container drawn by the full run, never a direct child of the page with siblings."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_live_panel_page).run()
    assert not at.exception
    chain = _path_to(at._tree, "panel content")
    assert chain is not None, "the panel's content was not drawn"
    fragment_container, holder = chain[-1], chain[-2]
    assert holder is not at.main, "the panel's fragment container is a direct child of the page"
    assert len(holder.children) == 1
    assert next(iter(fragment_container.children.values())).value == "panel content"
    assert [m.value for m in at.markdown] == ["panel content", "after"]


def _page_where_the_run_stops_between_controls_and_panels():
    import streamlit as st

    from ui import live as live_

    run = st.session_state["run_race"]
    live_.controls("race", lambda: run.state.config, run.dataset)
    run.playing = False  # the trainer reaches its planned steps right now, after the controls drew Pause
    live_.live("race", lambda r: st.markdown(f"panel at step {r.state.step}"))


def test_a_run_that_stops_while_the_page_is_drawn_still_ends_with_play_not_a_stuck_pause():
    """Found by the load test (a session at 500/500 steps still showed Pause after 500 s): if the trainer stopped
    between the Play/Pause row and the live panels of one script run, the panels got no timer, so nothing ever
    redrew the row. Now the panels see that Pause was drawn and rerun the page, which draws Play."""
    from streamlit.testing.v1 import AppTest

    run = _run()  # playing, no trainer thread needed
    at = AppTest.from_function(_page_where_the_run_stops_between_controls_and_panels)
    at.session_state["run_race"] = run
    at.run()
    assert not at.exception
    labels = [b.label for b in at.button]
    assert "Play" in labels and "Pause" not in labels, labels
    assert [m.value for m in at.markdown] == ["panel at step 0"]


def test_a_stray_timer_can_force_at_most_one_full_rerun_every_two_seconds(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(live.time, "monotonic", lambda: now[0])
    run = _run()
    assert live._once_per(run, "_forced_rerun", 2.0)
    now[0] += 1.9
    assert not live._once_per(run, "_forced_rerun", 2.0)
    now[0] += 0.2
    assert live._once_per(run, "_forced_rerun", 2.0)


# -- A page whose browser stopped asking is rerun from the server (live._revive) ---------------------------


class _Session:
    """The parts of Streamlit's AppSession that _revive uses; the event loop runs callbacks at once."""

    def __init__(self, page: str = "ddpm", state=live.AppSessionState.APP_NOT_RUNNING):
        self.page_script_hash, self._state, self._client_state = page, state, object()
        self.reruns: list[object] = []

    def request_rerun(self, client_state) -> None:
        self.reruns.append(client_state)

    def _call_soon_on_event_loop(self, callback) -> None:
        callback()


class _Runtime:
    sessions: ClassVar[dict[str, _Session]] = {}

    @classmethod
    def exists(cls) -> bool:
        return True

    @classmethod
    def instance(cls):
        return cls

    @classmethod
    def get_app_session(cls, session_id: str):
        return cls.sessions.get(session_id)


@pytest.fixture
def sessions(monkeypatch) -> dict[str, _Session]:
    monkeypatch.setattr(_Runtime, "sessions", {})
    monkeypatch.setattr(live, "Runtime", _Runtime)
    return _Runtime.sessions


def _drawn(run: live.Run, session: str = "s1", page: str = "ddpm") -> live.Run:
    run.extras["_page"] = (session, page)  # what live() records in a full run
    run.extras["_drawn_playing"] = run.playing  # what controls() records
    return run


def test_a_connected_page_that_went_silent_is_rerun_with_its_own_client_state(sessions):
    sessions["s1"] = s = _Session()
    assert live._revive(_drawn(_run())) == "asked"
    assert s.reruns == [s._client_state], "one rerun, of the same page with no widget changes"


@pytest.mark.parametrize("case", ["closed tab", "another page", "script running", "never drawn"])
def test_no_rerun_for_a_closed_tab_another_page_a_running_script_or_an_undrawn_run(sessions, case):
    run = _run()
    if case != "never drawn":
        _drawn(run)
    if case == "another page":
        sessions["s1"] = _Session(page="reverse")
    elif case == "script running":
        sessions["s1"] = _Session(state=live.AppSessionState.APP_IS_RUNNING)
    elif case == "never drawn":
        sessions["s1"] = _Session()
    live._revive(run)
    assert all(not s.reruns for s in sessions.values())


def test_a_page_is_revived_at_most_once_per_interval(sessions, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(live.time, "monotonic", lambda: now[0])
    sessions["s1"] = s = _Session()
    run = _drawn(_run())
    assert live._revive(run) == "asked"
    now[0] += live.REVIVE_EVERY_S - 1
    assert live._revive(run) == "retry"
    now[0] += 2
    assert live._revive(run) == "asked"
    assert len(s.reruns) == 2


def test_a_trainer_whose_page_went_silent_while_playing_revives_it(sessions, monkeypatch):
    monkeypatch.setattr(live, "ABSENT_S", 0.3)
    sessions["s1"] = s = _Session()
    run = _drawn(_run())
    live._ensure_trainer(run)
    _wait(lambda: run.state.step > 0)
    _wait(lambda: not run.training, timeout=5.0)  # no heartbeat: the trainer stops…
    assert run.playing and len(s.reruns) == 1  # …and asks for the page to be redrawn, which restarts it


@pytest.mark.parametrize("drew_play", [False, True])
def test_a_stopped_run_gets_one_full_rerun_even_if_the_server_drew_play(sessions, monkeypatch, drew_play):
    """The server cannot know what the browser shows: the load test caught a full run that drew Play and whose
    end never reached the browser (live._watch). So every stop is followed by one rerun, ABSENT_S later."""
    monkeypatch.setattr(live, "ABSENT_S", 0.3)
    sessions["s1"] = s = _Session()
    run = _drawn(_run(steps=40))  # the page drew Pause
    live._ensure_trainer(run)
    _wait(lambda: not run.training)
    assert not run.playing and run.message[0] == "info"
    if drew_play:
        run.extras["_drawn_playing"] = False  # a tick reran the page, whose full run drew Play
    time.sleep(0.1)
    assert not s.reruns, "not at once: the page's own tick comes first"
    _wait(lambda: len(s.reruns) == 1, timeout=3.0)
    time.sleep(1.0)
    assert len(s.reruns) == 1, "once per stop"


def test_a_busy_session_is_revived_when_its_script_run_ends(sessions, monkeypatch):
    monkeypatch.setattr(live, "ABSENT_S", 0.2)
    sessions["s1"] = s = _Session(state=live.AppSessionState.APP_IS_RUNNING)
    run = _drawn(_run())
    run.playing = False
    live._watch(run)
    time.sleep(0.5)
    assert not s.reruns  # its script is running (that run may not be the page's last): not now…
    s._state = live.AppSessionState.APP_NOT_RUNNING
    _wait(lambda: len(s.reruns) == 1, timeout=3.0)  # …but once it ends


def test_a_replaced_or_training_run_is_not_revived(sessions, monkeypatch):
    monkeypatch.setattr(live, "st", type("st", (), {"session_state": {}}))
    sessions["s1"] = s = _Session()
    old = live.install("ddpm", _drawn(_run()))
    live.install("ddpm", _run())  # Reset
    live._watch(old)
    alive = _drawn(_run())
    live._ensure_trainer(alive)  # a tick restarted its trainer: its page is alive
    live._watch(alive)
    live.stop(alive)
    assert not s.reruns


def test_the_streamlit_internals_revive_uses_still_exist():
    """_revive reaches into Streamlit (pinned 1.67); an upgrade that renames these must fail here, not silently."""
    import inspect

    from streamlit.runtime import Runtime
    from streamlit.runtime.app_session import AppSession

    assert callable(Runtime.exists) and callable(Runtime.get_app_session)
    assert callable(AppSession.request_rerun) and callable(AppSession._call_soon_on_event_loop)
    assert isinstance(AppSession.page_script_hash, property)
    init = inspect.getsource(AppSession.__init__)
    assert "self._client_state = " in init and "self._state = " in init
    assert "client_state: ClientState | None" in inspect.getsource(AppSession.request_rerun)
