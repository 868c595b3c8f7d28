"""The app with its defaults, in AppTest: the bytes of every animation figure it sends, and each page's run time.

A page's time is one AppTest script run (the router app.py + the page), measured on a second visit in the same
session ("warm": imports, caches and plotly templates loaded), and also on the first visit after the model
it shows was loaded (what a lecturer waits for when switching pages). The model pages show the default DDPM and
flow as the repository ships them (gendemo/pretrained/, found through the model store): no training here.
"""

from __future__ import annotations

import json
import statistics
import time

from common import ROOT, Report
from streamlit.testing.v1 import AppTest

PAYLOAD_MB = 1.5
PAGE_S = 3.0
ANIMATIONS = {"pages/forward.py": "forward_anim", "pages/reverse.py": "rev_anim", "pages/coupling.py": "coupling_anim"}
PAGES = ["pages/home.py", "pages/data.py", "pages/forward.py", "pages/ddpm-training.py", "pages/reverse.py",
         "pages/bound.py", "pages/flows.py", "pages/coupling.py"]


def _run(at: AppTest) -> float:
    t0 = time.perf_counter()
    at.run()
    dt = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(f"app exception: {[e.message for e in at.exception]}")
    return dt


def _goto(at: AppTest, page: str) -> float:
    at.switch_page(page)
    return _run(at)


def _chart_bytes(at: AppTest, key: str) -> int:
    for el in at.get("plotly_chart"):
        if el.proto.id and el.proto.id.endswith(key):
            json.loads(el.proto.spec)  # a valid figure
            return len(el.proto.spec.encode())
    raise RuntimeError(f"no chart {key!r} on the page")


def run(report: Report, quick: bool) -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    _run(at)

    repeats = 2 if quick else 3
    first, warm = {}, {}
    for page in PAGES:
        first[page] = _goto(at, page)
        warm[page] = [_goto(at, page) for _ in range(repeats)]
        if page in ANIMATIONS:
            nbytes = _chart_bytes(at, ANIMATIONS[page])
            report.add("payload", f"{page}: animation figure '{ANIMATIONS[page]}' (MB)", f"{nbytes / 1e6:.2f}",
                       f"≤ {PAYLOAD_MB}", nbytes / 1e6 <= PAYLOAD_MB, "JSON the browser receives (typed arrays)")
        if page == "pages/coupling.py":  # the other direction of the layer animation
            at.radio(key="coupling_anim_dir").set_value("up")
            _run(at)
            nbytes = _chart_bytes(at, "coupling_anim")
            report.add("payload", "pages/coupling.py: animation 'coupling_anim', latent → data (MB)",
                       f"{nbytes / 1e6:.2f}", f"≤ {PAYLOAD_MB}", nbytes / 1e6 <= PAYLOAD_MB)
            at.radio(key="coupling_anim_dir").set_value("down")
            _run(at)
    for page in PAGES:
        w = statistics.median(warm[page])
        report.add("page", f"{page}: script run, warm (s)", f"{w:.2f} (first visit {first[page]:.2f})",
                   f"≤ {PAGE_S}", w <= PAGE_S, f"{repeats} warm runs: " + ", ".join(f"{x:.2f}" for x in warm[page]))
