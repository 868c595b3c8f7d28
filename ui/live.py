"""A training page is a view of a job: Train starts (or finds) it, the page follows it live, the timeline rewinds it.

- **Train** submits the job of the current settings (the URL). If the store has it, nothing trains: it is shown.
- While the job trains the page follows it: fast panels (status, loss curve) every TICK seconds, slow panels
  (samples, density) every `slow` seconds, each a `st.fragment(run_every=…)` that only *reads* the job.
- **Pause** freezes the view at the newest snapshot; the job goes on for whoever else watches it. The frozen
  step is the URL's `d_at` / `f_at`, so a link or a reload shows the same moment of training.
- The **timeline** slider shows the model at any stored snapshot: the model the job had after exactly that step.
- **Stop** cancels a job that only this tab watches; **Train longer** asks for the job with 1,000 more steps
  (continued from the stored run, deterministically).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
from torch import nn

from gendemo import jobs as engine_jobs
from gendemo.jobtable import Job
from ui import jobs
from ui.data import Dataset

TICK = 0.25  # seconds between redraws of the fast panels while a job trains (4/s)
QUEUED_TICK = 1.0  # seconds between redraws while the job waits for a worker: only its place in the queue changes
AT = {"ddpm": "d_at", "flow": "f_at", "fm": "fm_at"}  # URL: the timeline step the view is frozen at


@dataclass(frozen=True)
class View:
    """What a page draws: `job` at `step` (a snapshot), on `dataset`; `live` while following a running job."""

    slot: str
    job: Job
    dataset: Dataset
    step: int
    live: bool

    @property
    def model(self) -> nn.Module:
        return jobs.model(self.job, self.step)

    @property
    def version(self) -> tuple[str, int]:
        """A cache key of the model shown."""
        return self.job.key, self.step

    @property
    def config(self):
        return self.job.spec.config

    def history(self) -> tuple[list[int], list[float]]:
        """The loss of every step so far (or up to the frozen step)."""
        losses = self.job.losses[: (len(self.job.losses) if self.live else self.step)]
        return list(range(1, len(losses) + 1)), losses


FOLLOW = -1  # in the session's record: following (not frozen)


def frozen_at(slot: str) -> int | None:
    """The step the view is frozen at: the session's record once it paused or followed, else the URL's.

    The session's record wins because a timer's fragment run carries the query string the browser had when the
    timer fired: one that fires while Pause or Follow reruns the page brings the old `d_at` back with it.
    """
    held = st.session_state.get(f"{slot}_frozen")
    if held is not None:
        return None if held == FOLLOW else held
    raw = st.query_params.get(AT[slot], "")
    return int(raw) if raw.isdigit() else None


def _freeze(slot: str, step: int | None) -> None:
    st.session_state[f"{slot}_frozen"] = FOLLOW if step is None else step
    _show_in_url(slot)


def follow(slot: str) -> None:
    """Unfreeze the view: it shows the newest step (and follows the job while it trains)."""
    _freeze(slot, None)


def _show_in_url(slot: str) -> None:
    """The URL says what the session's record says (a reload or a copied link shows the same moment)."""
    at = frozen_at(slot)
    if at is None:
        st.query_params.pop(AT[slot], None)
    elif st.query_params.get(AT[slot]) != str(at):
        st.query_params[AT[slot]] = str(at)


def view(slot: str) -> View | None:
    """The view the URL describes: the job of the settings, at the frozen step or following it; None if no job."""
    t = jobs.target(slot)
    job = jobs.find(t)
    if job is None or not job.timeline():
        return None
    steps = job.timeline()
    at = frozen_at(slot)
    if at is not None and at in steps:
        return View(slot, job, t.dataset, at, False)
    return View(slot, job, t.dataset, steps[-1], job.active)


def _train(slot: str) -> None:
    t = jobs.target(slot)
    if t.spec is not None:
        jobs.start(t)
        _freeze(slot, None)


def _rebuild(slot: str) -> None:
    t = jobs.target(slot)
    if t.spec is not None:
        jobs.table().submit(t.spec, t.dataset.train, jobs.watcher(), timeline=True)
        _freeze(slot, None)


def _pause(slot: str) -> None:
    v = view(slot)
    if v is not None:
        _freeze(slot, v.step)  # (a job without a snapshot yet has nothing to freeze at: it starts at once)


STOP_WAIT_S = 5.0  # how long Stop waits for the worker to confirm (it checks between steps: well under 1 s)


def _stop(slot: str) -> None:
    """Cancel the job, and wait until its worker confirms: the rerun that follows then draws Train, not Stop.

    (A paused view runs no timer that would redraw the buttons later; this keeps it so.)"""
    job = jobs.find(jobs.target(slot))
    if job is None:
        return
    if not jobs.table().cancel(job, jobs.watcher()):
        st.session_state[f"{slot}_note"] = "Other tabs watch this training too: it goes on for them."
        return
    deadline = time.monotonic() + STOP_WAIT_S
    while job.active and time.monotonic() < deadline:
        time.sleep(0.05)


def _longer(slot: str, extra: int) -> None:
    jobs.set_more(slot, extra)
    _freeze(slot, None)
    _train(slot)


def _unload(slot: str) -> None:
    st.session_state[jobs.CK[slot]] = ""
    _freeze(slot, None)


def _step_timeline(slot: str, direction: int) -> None:
    v = view(slot)
    if v is not None and not v.live:  # (a stale click, sent before the view followed the job again: ignored)
        steps = v.job.timeline()
        i = min(max(steps.index(v.step) + direction, 0), len(steps) - 1)
        _freeze(slot, steps[i])


def _moved(slot: str) -> None:
    """The timeline slider moved. It is shown on a frozen or finished view only: while the view follows the job,
    a change is a stale one (the browser sent the hidden slider's last value with a later request) and is ignored."""
    if not following(slot):
        _freeze(slot, st.session_state[f"{slot}_timeline"])


def controls(slot: str) -> View | None:
    """Train / Pause / Follow / Stop / Train longer and the timeline; returns the view they leave."""
    t = jobs.target(slot)
    if t.spec is None:
        st.error(f"These settings cannot be trained: {t.error}. Change them in the sidebar.")
        return None
    job, v = jobs.find(t), view(slot)
    _show_in_url(slot)
    if "checkpoint" in t.spec.data_dict:
        st.info(f"Showing a loaded checkpoint ({v.step if v else 0:,} steps): every page uses it until you go back.")
        st.button("Back to the settings' model", key=f"{slot}_unload", on_click=_unload, args=(slot,))
        return v
    row = st.container(horizontal=True, gap="small")
    if job is None or job.status in ("failed", "cancelled"):
        row.button("Train", icon=":material/play_arrow:", key=f"{slot}_train", type="primary", on_click=_train,
                   args=(slot,), help=f"Train for the planned {t.spec.config.steps:,} steps (at most "
                                      f"{engine_jobs.MAX_STEPS:,}). Settings trained before are shown at once.")
    elif job.active and following(slot):
        row.button("Pause", icon=":material/pause:", key=f"{slot}_pause", on_click=_pause, args=(slot,),
                   help="Freeze this view; the training goes on.")
    elif job.active:
        row.button("Follow", icon=":material/play_arrow:", key=f"{slot}_follow", type="primary",
                   on_click=_freeze, args=(slot, None), help="Follow the training live again.")
    if job is not None and job.active:
        row.button("Stop", icon=":material/stop:", key=f"{slot}_stop", on_click=_stop, args=(slot,),
                   help="Cancel this training (unless other tabs watch it too).")
    if v is not None and not v.live and v.step < v.job.timeline()[-1]:
        row.button("Step", icon=":material/skip_next:", key=f"{slot}_step", on_click=_step_timeline,
                   args=(slot, 1), help="Show the next snapshot of the timeline.")
    extra = t.spec.extra
    if job is not None and job.status == "done" and t.spec.total + engine_jobs.LONGER <= engine_jobs.MAX_STEPS:
        row.button(f"Train {engine_jobs.LONGER:,} more", icon=":material/add:", key=f"{slot}_longer",
                   on_click=_longer, args=(slot, extra + engine_jobs.LONGER),
                   help="Go on from the end of this run at the plan's final learning rate: the same result "
                        "every time, and every tab that asks for it shares it.")
    if extra:
        st.caption(f"{t.spec.config.steps:,} planned steps + {extra:,} more at the final learning rate.")
        st.button("Back to the planned steps", key=f"{slot}_plan", on_click=jobs.set_more, args=(slot, 0))
    note = st.session_state.pop(f"{slot}_note", None)
    if note:
        st.info(note)
        if st.session_state.get(jobs.CK[slot]):
            st.button("Forget the link's checkpoint", key=f"{slot}_forget", on_click=_unload, args=(slot,))
    if job is not None and job.status == "failed":
        st.error(f"Training stopped: {job.error}. Lower the learning rate or change the settings in the sidebar.")
    if job is not None and job.status == "done" and not job.snapshot_steps:
        st.button("Show its training timeline", key=f"{slot}_rebuild", on_click=_rebuild, args=(slot,),
                  help="This model came ready-made (shipped or pretrained) without its snapshots. Training it again "
                       "gives the very same weights, and keeps ~50 snapshots to rewind.")
    if v is not None and not v.live and len(v.job.timeline()) > 1:  # while following, the newest step is shown
        steps = v.job.timeline()
        st.session_state[f"{slot}_timeline"] = v.step
        st.select_slider("training timeline (step)", steps, key=f"{slot}_timeline", on_change=_moved, args=(slot,),
                         format_func=lambda s: f"{s:,}", help="The model exactly as it was after this step.")
    return v


def _buttons_state(slot: str) -> tuple:
    """What the control buttons depend on: the job's status, and whether the view follows it."""
    job = jobs.find(jobs.target(slot))
    return (None if job is None else job.status), following(slot)


def status_line(job: Job | None, position: int | None) -> str | None:
    """A queued job's place, for the status panel."""
    if job is not None and job.status == "queued":
        ahead = "next" if not position else f"{position} ahead of you"
        return f"Queued ({ahead}): {jobs.table().n_workers} trainings run at once on this server."
    return None


def following(slot: str) -> bool:
    """Whether the page follows a queued or running job (not frozen at one of its snapshots)."""
    job = jobs.find(jobs.target(slot))
    return job is not None and job.active and frozen_at(slot) not in job.timeline()


def live(slot: str, render: Callable[[View | None], None], every: float = TICK) -> None:
    """`render(view)` in a fragment that redraws every `every` seconds while the page follows a job (every
    QUEUED_TICK seconds at most while the job waits in the queue).

    When the job ends, moves from queued to running, or the view is frozen, the next tick reruns the whole page,
    which redraws the controls and the interactive figures. The fragment sits alone in a container of its own, so a
    dropped fragment output cannot shift the panels below it.
    """
    was_following, drawn = following(slot), _buttons_state(slot)
    if drawn[0] == "queued":  # 28 of 30 students with 30 seeds wait in the queue: their redraws cost the trainers
        every = max(every, QUEUED_TICK)

    @st.fragment(run_every=every if was_following else None)
    def panel() -> None:
        if was_following and (not following(slot) or _buttons_state(slot) != drawn):
            st.rerun()  # the job ended or the view froze, or its status moved on: redraw the buttons too
        job, v = jobs.find(jobs.target(slot)), view(slot)
        line = status_line(job, jobs.table().position(job) if job is not None else None)
        if line:
            st.info(line)
        elif job is not None and job.active and v is None:
            st.info("Starting the training: the worker builds the model…")
        if v is not None or job is None or not job.active:
            render(v)

    with st.container():
        panel()


def panels(slot: str, fast: Callable[[View | None], None], slow: Callable[[View | None], None],
           slow_every: float) -> None:
    """Status and loss curve (fast) beside the picture (slow), side by side."""
    left, right = st.columns(2)
    with left:
        live(slot, fast)
    with right:
        live(slot, slow, every=slow_every)
