"""The app's server: `streamlit run server.py` serves app.py, with its imports done before the first visitor.

`streamlit run app.py` works too, but there the first session of a fresh server pays for the imports (torch,
plotly, pandas and the app's modules: ~2.5 s on a 2-core machine) before its page can draw. Here they run in the
server's lifespan hook (`st.App(..., lifespan=...)`, Streamlit's public ASGI entry point), which Streamlit runs
before it accepts a connection, so the first page a lecturer opens is as quick as every later one.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
SKIP = {"__main__", "cli", "worker"}  # the command line and the worker processes' entry: not the pages'


def warm_imports() -> list[str]:
    """Import every module of gendemo and ui (ui.warm builds and serialises one figure of each kind, so plotly's
    lazy submodules come in too). Returns their names."""
    import torch

    torch.set_num_threads(1)  # as app.py: measured, two threads on two busy cores trained 5-10x slower
    names = []
    for package in ("gendemo", "ui"):
        for module in pkgutil.walk_packages([str(ROOT / package)], prefix=package + "."):
            if module.name.rsplit(".", 1)[-1] not in SKIP:
                importlib.import_module(module.name)
                names.append(module.name)
    return names


@asynccontextmanager
async def lifespan(app):
    start = time.perf_counter()
    names = warm_imports()
    print(f"gendemo: {len(names)} modules imported in {time.perf_counter() - start:.1f} s, before the first visitor",
          flush=True)
    yield


app = st.App("app.py", lifespan=lifespan)
