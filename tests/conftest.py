import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    """The environment of an AppTest run: trainings run in threads of this process (GENDEMO_WORKERS=thread) and
    go to a store of the test's own (GENDEMO_STORE; the shipped gendemo/pretrained stays a read-only fallback),
    uploads too (ui/points_store.py); fresh Streamlit caches, so a fresh job table. Yields the store directory.
    At the end, the test's job table is cancelled and closed."""
    import streamlit as st

    store = tmp_path / "store"
    monkeypatch.setenv("GENDEMO_WORKERS", "thread")
    monkeypatch.setenv("GENDEMO_STORE", str(store))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield store
    from jobhelpers import shutdown_jobs

    from ui import jobs

    shutdown_jobs(jobs.table())  # the test's table (a cache hit), or a new idle one
    st.cache_data.clear()
    st.cache_resource.clear()
