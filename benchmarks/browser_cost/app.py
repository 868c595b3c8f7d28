"""What one live panel costs the browser, by how it is built: a bare app for benchmarks/browser_cost/measure.py.

COST_MODE (each at 5 redraws a second, the live pages' TICK):
  A  status (3 st.metric in st.columns + st.progress) and the loss SVG in two fragments (the pages now)
  B  the same two in one fragment
  C  status as one HTML block (st.markdown) + the loss SVG, two fragments
  D  C in one fragment
  E  status alone;  F  loss SVG alone;  G  a fragment with one short st.markdown (Streamlit's per-run cost)
"""
import os
import time

import numpy as np
import streamlit as st

from gendemo import viz

MODE = os.environ.get("COST_MODE", "A")
t = time.monotonic()
step = int((t * 500) % 100000)
steps = list(range(1, step + 2, max(1, step // 400)))
losses = list(np.exp(-np.arange(len(steps)) / 200.0) + 0.3)

def status_metrics():
    c1, c2, c3 = st.columns(3)
    c1.metric("step", f"{int(time.monotonic()*500):,}"); c2.metric("loss", "0.412"); c3.metric("steps/s", "512")
    st.progress((time.monotonic() % 10) / 10)

def status_html():
    s = int(time.monotonic()*500)
    st.markdown(f"<div class='gd-row'><div><small>step</small><br><b style='font-size:2rem'>{s:,}</b></div>"
                f"<div><small>loss</small><br><b style='font-size:2rem'>0.412</b></div>"
                f"<div><small>steps/s</small><br><b style='font-size:2rem'>512</b></div>"
                f"<progress value='{(time.monotonic() % 10) / 10:.3f}' max='1' style='width:100%'></progress></div>",
                unsafe_allow_html=True)

def loss():
    st.container(key="loss_live").markdown(f"<div>{viz.loss_svg(steps, losses)}</div>", unsafe_allow_html=True)

status = status_html if MODE in ("C", "D") else status_metrics
st.title("cost")
if MODE in ("A", "C"):
    with st.container():
        st.fragment(run_every=0.2)(status)()
    a, b = st.columns(2)
    with a, st.container():
        st.fragment(run_every=0.2)(loss)()
elif MODE in ("B", "D"):
    def both():
        status()
        a, _ = st.columns(2)
        with a:
            loss()
    with st.container():
        st.fragment(run_every=0.2)(both)()
elif MODE == "E":  # status only
    with st.container():
        st.fragment(run_every=0.2)(status)()
elif MODE == "F":  # loss only
    with st.container():
        st.fragment(run_every=0.2)(loss)()
elif MODE == "G":  # an empty fragment: lifecycle only
    with st.container():
        st.fragment(run_every=0.2)(lambda: st.markdown("x"))()
