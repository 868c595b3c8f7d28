"""gendemo: the lecture companion app. Run with `streamlit run app.py`.

The router: shared page config and sidebar, then `st.navigation` over the pages in `pages/`.
"""

from pathlib import Path

import torch

torch.set_num_threads(1)  # measured: two threads on two busy cores trained 5-10x slower

import streamlit as st  # noqa: E402

# The favicon is a local file, served by the app itself: without one, Streamlit shows each page's Material
# icon as the favicon, fetched from a Google CDN, and pages must call no outside host.
st.set_page_config(page_title="gendemo: DDPMs and normalizing flows", layout="wide",
                   page_icon=str(Path(__file__).parent / "assets" / "favicon.png"))

from ui import data, live, settings, style  # noqa: E402

PAGES = {
    "Start": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/data.py", title="Data", icon=":material/scatter_plot:", url_path="data"),
    ],
    "Diffusion (DDPM)": [
        st.Page("pages/forward.py", title="Forward process & β-schedules", icon=":material/blur_on:", url_path="forward"),
        st.Page("pages/ddpm-training.py", title="DDPM training", icon=":material/model_training:", url_path="ddpm-training"),
        st.Page("pages/reverse.py", title="Reverse sampling", icon=":material/fast_rewind:", url_path="reverse"),
        st.Page("pages/bound.py", title="Variational bound", icon=":material/receipt_long:", url_path="bound"),
    ],
    "Normalizing flows": [
        st.Page("pages/flows.py", title="Normalizing flows", icon=":material/waves:", url_path="flows"),
        st.Page("pages/coupling.py", title="Coupling layers", icon=":material/link:", url_path="coupling"),
    ],
}

nav = st.navigation(PAGES)

settings.check_url()  # the link's bad values, before the widgets drop them silently
settings.draw_sidebar()  # every setting, bound to the URL: drawn by app.py, they keep their URL on every page
with st.sidebar:
    st.caption(f"**Data:** {data.current().choice.label}")
    for slot, name in (("ddpm", "DDPM"), ("flow", "Flow")):
        run = live.get(slot)
        # The sidebar is drawn by full runs only: a training run's step would be stale here at once, so it says
        # where to watch instead (its page's live status).
        status = ("not trained yet" if run is None else "training… (live on its page)" if run.playing and run.training
                  else f"step {run.state.step:,}" + (" · on hold: Play resumes on its page" if run.playing else ""))
        st.caption(f"**{name}:** {status}")

style.apply_page_style()
nav.run()
