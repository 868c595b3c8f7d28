"""Live training in the browser: Play / Pause / Step / Reset over `gendemo.training.train_steps`.

Design (measured: benchmarks/bench_live.py). Training runs in one background thread per run, in chunks
of ~CHUNK_S seconds; the page shows it through a fragment that reruns every TICK seconds while playing
and only *reads* the run (metrics, loss curve, a sample snapshot now and then). So the browser's round
trip and the redraw never stall training, and Pause takes effect within one chunk: the thread re-reads
`run.playing` between chunks.

- Buttons sit outside the fragment and act through `on_click` callbacks (GUIDE §4).
- A server-wide FIFO of SLOTS (one per core) caps how many trainings compute at once: the CPU is shared
  by every student. A trainer holds its slot for at most SLICE_S seconds, then queues again, so more
  sessions than cores take turns; a session that waits says so.
- A closed tab stops its training: the fragment's ticks are the run's heartbeat, and a trainer that has
  not been seen for ABSENT_S seconds stops (leaving `playing` set, so coming back to the page resumes).
- Pages that read a model while it may train (Reverse, Bound, Coupling, checkpoint download) take
  `run.lock`, which the trainer holds for one chunk at a time: they never see a half-updated model.
"""

from __future__ import annotations

import atexit
import collections
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.app_session import AppSessionState
from streamlit.runtime.scriptrunner import get_script_run_ctx

from gendemo import viz
from gendemo.config import DDPMConfig, FlowConfig, ModelConfig
from gendemo.training import TrainingDiverged, TrainState, make_state, train_steps
from gendemo.training import snapshot as training_snapshot
from ui.data import Dataset

TICK = 0.2  # seconds between live redraws while playing: 5/s, so jitter keeps it above 4/s (see crowding())
MAX_TICK = 2.0  # the slowest redraw when many sessions train at once
CHUNK_S = 0.05  # seconds of training between two looks at `playing` (and two releases of run.lock)
SLICE_S = 0.5  # seconds a trainer computes before it lets a queued session have its turn
ABSENT_S = 5.0  # a trainer whose page has not ticked for this long stops (closed tab, other page)
REVIVE_EVERY_S = 30.0  # at most one server-side rerun of a playing run's silent page per this many seconds (_watch)
STEP_CHUNK = 100  # steps run by one press of "Step"
MAX_CONCURRENT = max(1, os.cpu_count() or 1)

ADVICE = {
    "ddpm": f"Lower the learning rate (the default is {DDPMConfig().lr:g}) or check the β-schedule, then press Reset.",
    "flow": f"Lower the learning rate (the default is {FlowConfig().lr:g}), use fewer layers or a smaller width, "
            "then press Reset.",
}
QUEUED = (f"Queued: {MAX_CONCURRENT} trainings are running on this server; yours starts by itself as soon as "
          "one finishes.")


class Slots:
    """A counting semaphore that serves waiters first come, first served (threading's may let a releaser
    take its slot straight back, starving the queue)."""

    def __init__(self, n: int):
        self.n, self.busy = n, 0
        self._cv = threading.Condition()
        self._queue: collections.deque[object] = collections.deque()

    def acquire(self, timeout: float) -> bool:
        ticket = object()
        with self._cv:
            self._queue.append(ticket)
            try:
                ok = self._cv.wait_for(lambda: self._queue[0] is ticket and self.busy < self.n, timeout)
                if ok:
                    self.busy += 1
                return ok
            finally:
                self._queue.remove(ticket)
                self._cv.notify_all()

    def release(self) -> None:
        with self._cv:
            self.busy -= 1
            self._cv.notify_all()


SLOTS = Slots(MAX_CONCURRENT)
_trainers = 0  # trainer threads alive in this server (every session's)
_trainers_lock = threading.Lock()


def crowding() -> float:
    """How many sessions want each core: max(1, trainers alive / MAX_CONCURRENT).

    Every redraw is Python work in the one server process (and every fragment rerun holds the GIL that the
    trainers need between their torch calls), so when more sessions train than there are cores, pages redraw
    and resample proportionally less often: 30 students get a picture every ~2 s, and their trainings the CPU.
    """
    return max(1.0, _trainers / MAX_CONCURRENT)


def period(base: float = TICK) -> float:
    """Seconds between redraws of a live panel whose period alone is `base`: stretched by crowding(), at most
    MAX_TICK / TICK times."""
    return base * min(crowding(), MAX_TICK / TICK)


def tick() -> float:
    """Seconds between the live redraws of a playing page's fast panels (metrics, loss curve), now."""
    return period(TICK)


@dataclass(eq=False)
class Run:
    """One session's training run of one family ("ddpm" or "flow")."""

    state: TrainState
    dataset: Dataset
    playing: bool = False
    message: tuple[str, str] | None = None  # (level, text): "info" | "warning" | "error"
    version: int = 0  # bumps whenever the weights change: a cache key for derived plots
    extras: dict = field(default_factory=dict)
    queued: bool = False  # playing, but waiting for a free slot
    seen: float = field(default_factory=time.monotonic)  # the page's last tick (heartbeat)
    thread: threading.Thread | None = field(default=None, repr=False)
    # Held while the weights change (one chunk) and by readers that need a consistent model.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _start_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def training(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


def get(slot: str) -> Run | None:
    return st.session_state.get(f"run_{slot}")


def stop(run: Run | None, timeout: float = 5.0) -> None:
    """Pause a run and wait until its trainer has finished its chunk."""
    if run is None:
        return
    run.playing = False
    thread = run.thread
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout)


def hold(run: Run | None, timeout: float = 5.0) -> None:
    """Let the trainer stop (it resumes when its page ticks again) and wait for it: for pages that read the model."""
    if run is None:
        return
    run.seen = float("-inf")
    thread = run.thread
    if thread is not None:
        thread.join(timeout)


def install(slot: str, run: Run) -> Run:
    """Make `run` the session's run of this slot; the one it replaces stops training."""
    old = get(slot)
    if old is not None and old is not run:
        old.playing = False
        old.extras["_replaced"] = True  # no page draws it any more: nothing to revive (_watch)
    st.session_state[f"run_{slot}"] = run
    return run


def reset(slot: str, config: ModelConfig, dataset: Dataset) -> Run:
    """A fresh run (raises ValueError on a config the engine refuses; nothing changes then)."""
    return install(slot, Run(make_state(config, dataset.train), dataset))


def _stopped(run: Run, level: str, text: str) -> None:
    """Stop the run with a message for its page. The message goes first: a panel that sees `playing` false
    reruns the page at once, and must find the message there."""
    run.message = (level, text)
    run.playing = False


def _diverged(run: Run, exc: TrainingDiverged) -> None:
    _stopped(run, "error", f"Training stopped: {exc}. The model keeps its last finite weights "
                           f"(step {run.state.step}). {ADVICE[run.state.family]}")


def _present(run: Run) -> bool:
    return time.monotonic() - run.seen < ABSENT_S


def _trainer(run: Run) -> None:
    """The background loop: slices of at most SLICE_S in a slot, chunks of ~CHUNK_S under run.lock."""
    global _trainers
    state, planned, chunk = run.state, run.state.config.steps, 5
    with _trainers_lock:
        _trainers += 1
    try:
        while run.playing and _present(run):
            if not SLOTS.acquire(timeout=0.5):
                run.queued = True
                continue
            run.queued = False
            try:
                end = time.monotonic() + SLICE_S
                while run.playing and _present(run) and time.monotonic() < end:
                    with run.lock:
                        if not run.playing:
                            break
                        n = min(chunk, planned - state.step) if state.step < planned else chunk
                        t0 = time.perf_counter()
                        train_steps(state, n)
                        dt = time.perf_counter() - t0
                        run.version += 1
                    if state.step - n < planned <= state.step:  # crossed the planned budget just now
                        _stopped(run, "info", f"Reached the planned {planned:,} steps (the learning rate has "
                                              "decayed). Press Play to go on training.")
                    chunk = max(1, min(1000, round(n * CHUNK_S / dt))) if dt > 0 else chunk
            finally:
                SLOTS.release()
            time.sleep(0)  # let a queued trainer take the slot first
        if run.playing:  # the page stopped ticking: a closed tab, another page, or a browser that lost its timers
            _watch(run)
    except TrainingDiverged as exc:
        _diverged(run, exc)
    except Exception as exc:  # noqa: BLE001 - a trainer must never die silently: the page shows what happened
        _stopped(run, "error", f"Training stopped by an unexpected error: {type(exc).__name__}: {exc}. "
                               "The model keeps its last weights; press Reset to start over.")
    finally:
        run.queued = False
        with _trainers_lock:
            _trainers -= 1
        if not run.playing:  # stopped: the page must now redraw Play (and the message), for sure: _watch
            _watch_later(run)


def _watch(run: Run, tries: int = 24) -> None:
    """After a trainer stopped: make sure its page gets one clean full run, retrying every ABSENT_S while the
    session is busy (at most `tries` times).

    Normally the panel's next tick reruns the page, which draws Play and the message. But the server cannot know
    what the browser shows. The load test caught a full run that drew Play and whose tail, `script_finished`
    included, never reached the browser: fragment ticks queued during it started before it was flushed
    (websocket log: the page kept Pause, with no timer left). So the page is rerun once, ABSENT_S after every
    stop, whatever the server thinks it drew; when nothing went wrong, that run redraws the same page."""
    if (run.training and run.thread is not threading.current_thread()) or run.extras.get("_replaced", False):
        return  # a tick restarted training (the page is alive), or Reset replaced the run
    # A silent page of a playing run is revived at most every REVIVE_EVERY_S; a stop, once each time.
    if _revive(run, REVIVE_EVERY_S if run.playing else 0.0, tries) == "retry" and tries > 1:
        _watch_later(run, tries - 1)


def _watch_later(run: Run, tries: int = 24) -> None:
    """`_watch(run, tries)` ABSENT_S from now, in a daemon timer thread (cancelled at exit: _cancel_watches)."""

    def fire() -> None:
        with _watches_lock:
            _watches.discard(later)
        _watch(run, tries)

    later = threading.Timer(ABSENT_S, fire)
    later.daemon = True
    with _watches_lock:
        _watches.add(later)
    later.start()


_watches: set[threading.Timer] = set()  # pending _watch_later timers
_watches_lock = threading.Lock()


@atexit.register
def _cancel_watches() -> None:
    """Cancel and join the pending watch timers while the interpreter is still whole, so that none fires while
    Python finalizes. Measured: `pytest tests/test_live.py` alone, which ends with a timer pending, exited with
    status 134 ("terminate called without an active exception") in 6 of 8 runs without this, 0 of 11 with it."""
    with _watches_lock:
        pending = list(_watches)
        _watches.clear()
    for t in pending:
        t.cancel()
    for t in pending:
        t.join(1.0)


def _revive(run: Run, every_s: float = REVIVE_EVERY_S, tries: int = 1) -> str:
    """Rerun, from the server, the page that last drew this run, if its browser is still connected to that page:
    "asked" if so, "retry" if not now (its script is running, or it was revived less than `every_s` ago),
    "gone" if there is nothing to revive.

    The browser drives a playing page: its fragment timers ask for every redraw, and the page's state (Pause or
    Play, the final message) changes only when one of them finds the run changed. The load test showed that a
    browser can lose those timers while its websocket stays open (Pause on screen, no request at all, the
    trainer stopped by the heartbeat at 491 of 500 steps; reproduced at will by clearing the page's timers in
    tests/browser/test_live_training.py), and that a full run's end can be lost (see `_watch`). Here the server
    starts the rerun itself, as Streamlit does for a changed source file (`request_rerun` with the session's last
    client state: the same page, no widget changes). The full run draws the panels, which set fresh timers, and
    their first, inline execution restarts the trainer of a playing run.

    Not for a closed tab (no active session), a session that moved to another page (it no longer shows the
    run), or a session whose script is running (retry: that run may not be the page's last). `_watch` revives a
    playing run's page at most once per REVIVE_EVERY_S, so a page that cannot keep up (a throttled background
    tab) trains in bursts instead of rerunning forever. `tries`: how many more looks `_watch` may take if a run
    starts before the rerun is asked. Uses Streamlit internals (pinned 1.67; tests/test_live.py checks they
    exist)."""
    where = run.extras.get("_page")  # (session id, page script hash) of the full run that last drew the panels
    if where is None or not Runtime.exists():
        return "gone"
    session = Runtime.instance().get_app_session(where[0])  # None once the tab has closed; thread-safe
    if session is None or session.page_script_hash != where[1]:
        return "gone"
    if session._state != AppSessionState.APP_NOT_RUNNING or not _once_per(run, "_revived", every_s):
        return "retry"

    def rerun_if_idle() -> None:  # on the session's event loop, where AppSession may be used
        if session._state == AppSessionState.APP_NOT_RUNNING:
            session.request_rerun(session._client_state)
        else:  # a run started meanwhile: look again later
            run.extras["_revived"] = float("-inf")
            if tries > 1:
                _watch_later(run, tries - 1)

    session._call_soon_on_event_loop(rerun_if_idle)
    return "asked"


def _ensure_trainer(run: Run) -> None:
    with run._start_lock:
        if run.playing and not run.training:
            run.thread = threading.Thread(target=_trainer, args=(run,), name="gendemo-trainer", daemon=True)
            run.thread.start()


def train_with_progress(run: Run, n_steps: int, chunk: int = 50) -> None:
    """Train n_steps more in the foreground with an honest progress bar (waiting for a free slot first)."""
    stop(run)
    note = st.empty()
    while not SLOTS.acquire(timeout=1.0):
        note.info(QUEUED)
    note.empty()
    bar = st.progress(0.0, text="Training…")
    t0, start = time.perf_counter(), run.state.step
    try:
        while run.state.step - start < n_steps:
            with run.lock:
                metrics = train_steps(run.state, min(chunk, n_steps - (run.state.step - start)))
                run.version += 1
            done = run.state.step - start
            bar.progress(done / n_steps, text=f"Training: step {done:,} / {n_steps:,}, loss {metrics['last_loss']:.3f} "
                                              f"({time.perf_counter() - t0:.1f} s)")
    except TrainingDiverged as exc:
        _diverged(run, exc)
    finally:
        SLOTS.release()
        bar.empty()


def play(slot: str) -> None:
    run = get(slot)
    if run is not None:
        run.playing = True
        run.seen = time.monotonic()
        if run.message and run.message[0] == "info":
            run.message = None
        _ensure_trainer(run)  # now, in the click's callback: training starts before the page redraws


def pause(slot: str) -> None:
    """Stop training and wait for the trainer's chunk to end (≤ ~CHUNK_S): the rerun then draws the final step."""
    stop(get(slot), timeout=2.0)


def step(slot: str, n: int = STEP_CHUNK) -> None:
    """Train n steps now (in the click's own script run), after stopping the background trainer."""
    run = get(slot)
    if run is None:
        return
    stop(run)
    if not SLOTS.acquire(timeout=5.0):
        run.message = ("info", QUEUED)
        return
    try:
        with run.lock:
            train_steps(run.state, n)
            run.version += 1
    except TrainingDiverged as exc:
        _diverged(run, exc)
    finally:
        SLOTS.release()


def controls(slot: str, make_config: Callable[[], ModelConfig], dataset: Dataset) -> Run | None:
    """Play / Pause / Step / Reset; creates the run on first use. Returns the current run."""
    run = get(slot)

    def _reset() -> None:
        try:
            reset(slot, make_config(), dataset)
        except ValueError as exc:
            st.session_state[f"run_{slot}_error"] = str(exc)

    def _ensure_then(action: Callable[[str], None]) -> Callable[[], None]:
        def cb() -> None:
            if get(slot) is None:
                _reset()
            if get(slot) is not None:
                action(slot)
        return cb

    playing = bool(run and run.playing)
    if run is not None:
        run.extras["_drawn_playing"] = playing  # what this script run drew (Pause or Play): see live()
    row = st.container(horizontal=True, gap="small")  # wraps instead of truncating in a narrow column
    if playing:
        row.button("Pause", icon=":material/pause:", key=f"{slot}_pause", on_click=pause, args=(slot,))
    else:
        row.button("Play", icon=":material/play_arrow:", key=f"{slot}_play", on_click=_ensure_then(play),
                   type="primary")
    row.button("Step", icon=":material/skip_next:", key=f"{slot}_step", on_click=_ensure_then(step),
               help=f"Train {STEP_CHUNK} more steps, then pause.")
    row.button("Reset", icon=":material/restart_alt:", key=f"{slot}_reset", on_click=_reset,
               help="Start over with the current settings and dataset.")
    err = st.session_state.pop(f"run_{slot}_error", None)
    if err:
        st.error(f"Cannot start training: {err}")
    return get(slot)


def live(slot: str, render: Callable[[Run | None], None], base: float = TICK, messages: bool = True) -> None:
    """Render `render(run)` in a fragment that redraws every period(base) s while the run plays (its ticks keep
    the trainer alive).

    A page splits its live view into panels by how fast they change (see `panels`): the metrics and the loss
    curve every TICK, pictures that are resampled about once a second in a panel of their own with a larger
    `base`. The browser then redraws (and the server serializes) each figure only when it is new; before, every
    tick re-sent every figure. `messages`: this panel shows the run's messages (one panel per page does).

    Each fragment sits alone in a container that the full run draws (a "holder"). Streamlit 1.67 drops the
    not-yet-sent output of a fragment when a rerun of that fragment starts (`AppSession._clear_queue`), even if
    the output came from a full run that has finished. When a full run (Pause, a setting, the end of the plan)
    is followed at once by a queued tick of a panel, and the server is too busy to flush in between, the
    browser gets the full run's "finished" without the panel and prunes it; its later siblings then move up
    one place, and the next tick of a panel below writes to a path that no longer exists ("Cannot set a node
    at a delta path": the page dies). Reproduced about once a minute with 4 tabs (websocket frames recorded
    with Playwright); with the holder, the pruned panel is the holder's only child, nothing moves, and the
    next tick draws it again.
    """
    run = get(slot)
    # Tick while the run plays, and also when it stopped after `controls` drew Pause in this same script run
    # (the trainer reached its planned steps in between): one tick then finds it stopped and reruns the page,
    # which draws Play. Without that tick the page kept showing Pause, with no timer left to correct it.
    playing = run is not None and (run.playing or run.extras.get("_drawn_playing", False))
    every = period(base) if playing else None
    if run is not None:
        run.extras.setdefault("_ticks", {})[base] = (every, time.monotonic())
        ctx = get_script_run_ctx()
        if ctx is not None:
            run.extras["_page"] = (ctx.session_id, ctx.page_script_hash)  # where to rerun the page from: _revive

    runs = [0]  # executions of this registration: the first is inline in the page's full run, later ones are ticks

    @st.fragment(run_every=every)
    def _panel() -> None:
        runs[0] += 1
        r = get(slot)
        if r is not None:
            r.seen = time.monotonic()
            if r.playing:
                _ensure_trainer(r)
                since = r.seen - r.extras.get("_ticks", {}).get(base, (None, 0.0))[1]
                if every is not None and since > 5.0 and not 0.5 <= period(base) / every <= 2.0:
                    st.rerun()  # the server got much busier or quieter: a full rerun sets the new redraw rate
            elif every is not None:  # stopped by itself (divergence, end of the plan): a full rerun drops the timer
                st.rerun()
            elif runs[0] > 1 and _once_per(r, "_forced_rerun", 2.0):
                # A tick although this registration has no timer: the browser kept one from an earlier run. Seen
                # in the load test about once in 50 sessions (websocket log: Pause still shown, ticks every 0.5 s,
                # no full run); cause not found yet. A full rerun redraws the controls and resets the timers.
                st.rerun()
        if messages and r is not None and r.message:
            level, text = r.message
            {"info": st.info, "warning": st.warning, "error": st.error}[level](text)
        if messages and r is not None and r.playing and r.queued:
            st.info(QUEUED)
        render(r)

    # The fragment goes in a container of its own, drawn by the full run (the holder: see the docstring).
    with st.container():
        _panel()


def _once_per(run: Run, what: str, every_s: float) -> bool:
    """True at most once per `every_s` seconds per run and `what` (the time of the last True is kept in
    run.extras[what]): bounds the full reruns a stray timer ("_forced_rerun") or `_revive` ("_revived") cause."""
    now = time.monotonic()
    if now - run.extras.get(what, float("-inf")) < every_s:
        return False
    run.extras[what] = now
    return True


def panels(slot: str, status: Callable[[Run | None], None], loss: Callable[[Run | None], None],
           picture: Callable[[Run | None], None], picture_every: float) -> None:
    """A training page's live view, two panels side by side: `status` (metrics, with the run's messages) above
    the loss curve, redrawn every tick, and a picture, redrawn every period(picture_every).

    Status and loss share one fragment: every fragment run costs the browser ~40 ms whatever it draws (Streamlit's
    run lifecycle re-renders the app), so at 5 ticks a second each extra fast fragment took ~0.2 of a core that
    the trainer needs on a lecture laptop (benchmarks/browser_cost, tuning.md). The status is then one HTML
    block (ui/status.py) rather than a dozen st.metric / st.progress elements.
    """
    left, right = st.columns(2)
    with left:
        live(slot, lambda run: (status(run), loss(run)))
    with right:
        live(slot, picture, base=picture_every, messages=False)


def stale_notice(run: Run | None, make_config: Callable[[], ModelConfig], dataset: Dataset, noun: str) -> None:
    """Say when the widgets or the dataset no longer match what the session's model was trained with."""
    if run is None:
        return
    try:
        changed = make_config() != run.state.config
    except ValueError:
        changed = True
    if changed:
        st.info(f"The settings differ from the ones this {noun} was trained with: press Reset to apply them.")
    if run.dataset.choice != dataset.choice:
        st.info(f"This {noun} was trained on {run.dataset.choice.label}; press Reset to train on the current dataset.")


def snapshot(run: Run):
    """A frozen copy of the run's model at its current version (cached): safe to read while training goes on."""
    cached = run.extras.get("_snapshot")
    if cached is not None and cached[0] == run.version:
        return cached[1]
    with run.lock:
        version, frozen = run.version, training_snapshot(run.state.model)
    run.extras["_snapshot"] = (version, frozen)
    return frozen


def needs_refresh(run: Run, cache: dict, style, every: float) -> bool:
    """Whether derived plots cached in `cache` (keys version, style, t) are due: new weights or a new style, but
    while training at most about every period(every) seconds (rebuilding them costs ~0.1-0.2 s of CPU). The
    slack (a refresh 3/4 of a period after the last) lets a panel ticking every period(every) refresh on each
    tick despite timer jitter."""
    if cache.get("version") == run.version and cache.get("style") == style:
        return False
    return not (run.playing and cache.get("style") == style
                and time.monotonic() - cache.get("t", 0.0) < 0.75 * period(every))


def figure(cache: dict, name: str, build: Callable[[], object]):
    """The plotly figure `name` for the data in `cache` (derived plots, see needs_refresh), built on first use.

    A refresh resets cache["figures"] = {}. Playing pages draw light SVG instead, so the plotly figures (each
    ~0.1 s of CPU) are built only when a paused page shows them.
    """
    figures = cache["figures"]
    if name not in figures:
        figures[name] = build()
    return figures[name]


def history(run: Run) -> tuple[list[int], list[float]]:
    """The loss history (steps, losses) as two lists of equal length (the trainer may be appending)."""
    steps, losses = run.state.history_step, run.state.history_loss
    n = min(len(steps), len(losses))
    return steps[:n], losses[:n]


def svg(markup: str, key: str) -> None:
    """Show a `gendemo.viz.live_svg` figure inline, in a container with CSS class st-key-{key} (for tests).

    (The <div> makes it one raw HTML block for the markdown renderer: nothing inside is parsed as markdown.)
    """
    st.container(key=key).markdown(f"<div>{markup}</div>", unsafe_allow_html=True)


def loss_chart(run: Run, key: str, **kwargs) -> None:
    """The run's loss curve: light SVG while playing (redrawn every tick), the interactive plotly figure otherwise.

    `key`: the plotly chart's key; the SVG's container is `{key}_live`. kwargs: `viz.loss_curve`'s options.
    """
    if run.playing:
        svg(viz.loss_svg(*history(run), **kwargs), f"{key}_live")
    else:
        st.plotly_chart(loss_figure(run, key, **kwargs), key=key)


def loss_figure(run: Run, key: str, **kwargs):
    """`viz.loss_curve` of the run's history, built once per (key, options) and then only fed new points.

    A redraw then costs ~1 ms of Python instead of ~20 ms (most of it plotly's layout validation), which
    the trainer thread would otherwise wait for (the GIL) four times a second.
    """
    steps, losses = history(run)
    cache = run.extras.setdefault("_loss_figures", {})
    signature = tuple(sorted((k, repr(v)) for k, v in kwargs.items()))
    x, y = viz.loss_curve_xy(steps, losses, log_y=kwargs.get("log_y", False),
                             max_points=kwargs.get("max_points", 2000))
    entry = cache.get(key)
    if entry is None or entry[0] != signature or entry[2] == 0 or x.size == 0:  # new options, or "no values" note
        fig = viz.loss_curve(steps, losses, **kwargs)
        cache[key] = (signature, fig, x.size)
        return fig
    fig = entry[1]
    with fig.batch_update():
        fig.data[0].x, fig.data[0].y = x, y
    return fig
