"""Stress repro of "Cannot set a node at a delta path" (Streamlit 1.67): the live panels' layout of
pages/ddpm_training.py, three `run_every` fragments, and a run that stops and restarts every 0.5-3 s.

Environment: WRAP=1 puts each fragment alone in a container (the fix in ui/live.py); RERUN=0 stops the
fragments from rerunning the page when the run stops; SHAPE=0 keeps the SVG when stopped (no element change);
RESTART=1 restarts the run without a full rerun; RACE_MODE=new lets only the status panel rerun the page.
Driven by repro.py; see ui.live.live's docstring for the cause.
"""
import os
import random
import threading
import time

import streamlit as st

MODE = os.environ.get("RACE_MODE", "old")
RERUN = os.environ.get("RERUN", "1") == "1"
SHAPE = os.environ.get("SHAPE", "1") == "1"
WRAP = os.environ.get("WRAP", "0") == "1"
RESTART = os.environ.get("RESTART", "0") == "1"
if "S" not in st.session_state:
    st.session_state.S = {"playing": False, "step": 0, "crowd": 1.0, "thread": None}
S = st.session_state.S

def trainer(S):
    end = time.monotonic() + random.uniform(0.5, 3.0)
    while time.monotonic() < end:
        S["step"] += 1
        if random.random() < 0.02:
            S["crowd"] = random.choice([1.0, 1.0, 2.0, 3.0])
        time.sleep(0.01)
    S["playing"] = False
    if RESTART:
        time.sleep(random.uniform(0.1, 1.0)); S["playing"] = True; trainer(S)

# a full run when stopped: restart at once (as if Play were clicked)
if not S["playing"]:
    S["playing"] = True
    S["thread"] = threading.Thread(target=trainer, args=(S,), daemon=True)
    S["thread"].start()

st.title("race")
left, right = st.columns([1, 2.2], gap="large")
with left:
    row = st.container(horizontal=True)
    row.button("Pause" if S["playing"] else "Play")
    row.button("Step")
    with st.expander("x"):
        st.slider("w", 1, 5, 2)

def live(render, base=0.2, messages=True):
    every = base * S["crowd"] if S["playing"] else None
    ticks = S.setdefault("ticks", {})
    ticks[base] = (every, time.monotonic())
    @st.fragment(run_every=every)
    def _panel():
        if S["playing"]:
            since = time.monotonic() - ticks[base][1]
            if every is not None and since > 1.0 and base * S["crowd"] != every:
                if RERUN and (MODE == "old" or messages):
                    st.rerun()
        elif every is not None:
            if RERUN and (MODE == "old" or messages):
                st.rerun()
        if messages and S["step"] % 7 == 0:
            st.info("message")
        render()
    if WRAP:
        with st.container():
            _panel()
    else:
        _panel()

def status():
    c1, c2, c3 = st.columns(3)
    c1.metric("step", S["step"]); c2.metric("a", 1); c3.metric("b", 2)
    st.progress(min(S["step"] / 1000, 1.0))

def svg(key):
    if MODE == "old":
        st.container(key=key).markdown(f"<div><svg data-n='{S['step']}' width=100 height=50></svg></div>", unsafe_allow_html=True)
    else:
        st.markdown(f"<div class='st-key-{key}'><svg data-n='{S['step']}' width=100 height=50></svg></div>", unsafe_allow_html=True)

def loss():
    if S["playing"] or not SHAPE:
        svg("loss_live")
    else:
        st.line_chart([1, 2, 3])

def picture():
    if S["playing"] or not SHAPE:
        svg("pic_live")
    else:
        st.line_chart([3, 2, 1])
    st.caption("samples")

with right:
    live(status)
    a, b = st.columns(2)
    with a:
        live(loss, messages=False)
    with b:
        live(picture, base=1.0, messages=False)
