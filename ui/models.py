"""Pages that show a trained model (Reverse, Bound, Coupling) get the one the settings describe, at its end."""

from __future__ import annotations

import streamlit as st

from ui import jobs, live

PAGES = {"ddpm": "DDPM training", "flow": "Normalizing flows", "fm": "Flow matching"}


def _progress(slot: str) -> None:
    """While the settings' model trains: its progress, and a rerun of the page when it is done."""
    job = jobs.find(jobs.target(slot))

    @st.fragment(run_every=0.5 if job is not None and job.active else None)
    def progress() -> None:
        j = jobs.find(jobs.target(slot))
        if j is None or not j.active:
            st.rerun()
        where = jobs.table().position(j)
        text = (f"Queued ({'next' if not where else f'{where} ahead'})" if j.status == "queued"
                else f"Training the {jobs.NAMES[slot]}: step {j.step:,} / {j.total:,}")
        st.progress(j.step / j.total if j.total else 0.0, text=text)

    progress()


def require(slot: str) -> live.View:
    """The trained model of the settings (at the end of its training); otherwise explain, offer to train, stop."""
    t = jobs.target(slot)
    if t.spec is None:
        st.error(f"These settings cannot be trained: {t.error}. Change them in the sidebar.")
        st.stop()
    job = jobs.find(t)
    if job is not None and job.status == "done":
        return live.View(slot, job, t.dataset, job.step, False)
    name = jobs.NAMES[slot]
    if job is not None and job.active:
        st.info(f"The {name} of these settings is training now; this page shows it when it is done "
                f"(watch it live on **{PAGES[slot]}**).")
        _progress(slot)
        st.stop()
    if job is not None and job.status == "failed":
        st.error(f"The last training of these settings stopped: {job.error}")
    st.info(f"No {name} is trained for these settings yet ({t.spec.total:,} steps on {t.dataset.choice.label}).")
    if st.button(f"Train this {name} now", key=f"quick_{slot}", type="primary"):
        jobs.start(t)
        st.rerun()
    st.stop()
