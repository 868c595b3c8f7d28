"""Live training in the browser: Play / Pause / Step / Reset over `gendemo.training.train_steps`.

Pattern (GUIDE §4): the buttons sit outside a fragment and act through `on_click` callbacks; the
fragment reruns every TICK seconds while playing, trains for at most BUDGET seconds, then redraws.
So Pause takes effect within one update. Every session's run lives in its own
`st.session_state`; a server-wide semaphore caps how many trainings compute at once (the CPU is
shared by every student), and a session that finds no free slot shows that it is queued and
tries again on its next tick.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import streamlit as st

from gendemo.config import DDPMConfig, FlowConfig, ModelConfig
from gendemo.training import TrainingDiverged, TrainState, make_state, train_steps
from ui.data import Dataset

TICK = 0.25  # seconds between live updates while playing
BUDGET = 0.2  # seconds of training per update
STEP_CHUNK = 100  # steps run by one press of "Step"
MAX_CONCURRENT = max(1, os.cpu_count() or 1)
_slots = threading.BoundedSemaphore(MAX_CONCURRENT)

ADVICE = {
    "ddpm": f"Lower the learning rate (the default is {DDPMConfig().lr:g}) or check the β-schedule, then press Reset.",
    "flow": f"Lower the learning rate (the default is {FlowConfig().lr:g}), use fewer layers or a smaller width, "
            "then press Reset.",
}


@dataclass(eq=False)
class Run:
    """One session's training run of one family ("ddpm" or "flow")."""

    state: TrainState
    dataset: Dataset
    playing: bool = False
    message: tuple[str, str] | None = None  # (level, text): "info" | "warning" | "error"
    version: int = 0  # bumps whenever the weights change: a cache key for derived plots
    extras: dict = field(default_factory=dict)
    # One trainer at a time per run: a Pause or Step rerun can start while the previous tick's thread is
    # still finishing its chunk (Streamlit starts a new script thread when the old one is slow to stop).
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def get(slot: str) -> Run | None:
    return st.session_state.get(f"run_{slot}")


def reset(slot: str, config: ModelConfig, dataset: Dataset) -> Run:
    """A fresh run (raises ValueError on a config the engine refuses; nothing changes then)."""
    run = Run(make_state(config, dataset.train), dataset)
    st.session_state[f"run_{slot}"] = run
    return run


def _acquire(blocking: bool) -> bool:
    return _slots.acquire(timeout=5.0) if blocking else _slots.acquire(blocking=False)


QUEUED = (f"Queued: {MAX_CONCURRENT} trainings are running on this server; yours starts by itself as soon as "
          "one finishes.")


def _diverged(run: Run, exc: TrainingDiverged) -> None:
    run.playing = False
    run.message = ("error", f"Training stopped: {exc}. The model keeps its last finite weights "
                            f"(step {run.state.step}). {ADVICE[run.state.family]}")


def _train_for(run: Run, budget: float, max_steps: int | None = None) -> None:
    """Train until the time budget (ticks, while playing) or max_steps (Step) is used up.

    A tick re-reads `run.playing` between chunks, so Pause stops training within one chunk even
    when it lands while a tick is running; a divergence pauses with advice.
    """
    ticking = max_steps is None
    got = run.lock.acquire(blocking=False) if ticking else run.lock.acquire(timeout=5.0)
    if not got:
        return  # another thread is training this run right now: this tick has nothing to do
    try:
        if not _acquire(blocking=not ticking):
            run.message = ("info", QUEUED)
            return
        try:
            _train_chunks(run, budget, max_steps)
        finally:
            _slots.release()
    finally:
        run.lock.release()


def _train_chunks(run: Run, budget: float, max_steps: int | None) -> None:
    ticking = max_steps is None
    run.message = None if run.message and run.message[0] == "info" else run.message
    state, t0, done, chunk = run.state, time.perf_counter(), 0, 10
    planned = state.config.steps
    try:
        while not ticking or run.playing:
            n = chunk if not ticking else min(chunk, max(planned - state.step, 0) or chunk)
            n = n if ticking else min(n, max_steps - done)
            if n <= 0:
                break
            train_steps(state, n)
            done += n
            run.version += 1
            elapsed = time.perf_counter() - t0
            if ticking and state.step - n < planned <= state.step:  # crossed the planned budget just now
                run.playing = False
                run.message = ("info", f"Reached the planned {planned:,} steps (the learning rate has decayed). "
                                       "Press Play to go on training.")
                break
            if ticking and elapsed > budget:
                break
            chunk = max(1, min(200, int(chunk * 1.5))) if elapsed < budget / 2 else chunk
    except TrainingDiverged as exc:
        _diverged(run, exc)


def train_with_progress(run: Run, n_steps: int, chunk: int = 50) -> None:
    """Train n_steps more in the foreground with an honest progress bar (waiting for a free slot first)."""
    note = st.empty()
    while not _acquire(blocking=True):
        note.info(QUEUED)
    note.empty()
    bar = st.progress(0.0, text="Training…")
    t0, start = time.perf_counter(), run.state.step
    try:
        while run.state.step - start < n_steps:
            metrics = train_steps(run.state, min(chunk, n_steps - (run.state.step - start)))
            run.version += 1
            done = run.state.step - start
            bar.progress(done / n_steps, text=f"Training: step {done:,} / {n_steps:,}, loss {metrics['last_loss']:.3f} "
                                              f"({time.perf_counter() - t0:.1f} s)")
    except TrainingDiverged as exc:
        _diverged(run, exc)
    finally:
        _slots.release()
        bar.empty()


def play(slot: str) -> None:
    run = get(slot)
    if run is not None:
        run.playing = True
        if run.message and run.message[0] == "info":
            run.message = None


def pause(slot: str) -> None:
    run = get(slot)
    if run is not None:
        run.playing = False


def step(slot: str, n: int = STEP_CHUNK) -> None:
    run = get(slot)
    if run is not None:
        run.playing = False
        _train_for(run, budget=float("inf"), max_steps=n)


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


def live(slot: str, render: Callable[[Run | None], None]) -> None:
    """Render `render(run)` in a fragment that trains and redraws every TICK s while playing."""
    run = get(slot)
    every = TICK if run is not None and run.playing else None

    @st.fragment(run_every=every)
    def _panel() -> None:
        r = get(slot)
        if r is not None and r.playing:
            _train_for(r, BUDGET)
            if not r.playing:  # paused by divergence or the end of the budget: stop the timer
                st.rerun()
        if r is not None and r.message:
            level, text = r.message
            {"info": st.info, "warning": st.warning, "error": st.error}[level](text)
        render(r)

    _panel()


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

