"""gendemo: the lecture companion app. Run with `streamlit run server.py` (it serves this file), or `streamlit run
app.py`.

The router: shared page config and sidebar, then `st.navigation` over the pages in `pages/`.
"""

from pathlib import Path

import streamlit as st

# The favicon is a local file, served by the app itself: without one, Streamlit shows each page's Material
# icon as the favicon, fetched from a Google CDN, and pages must call no outside host.
st.set_page_config(page_title="gendemo: DDPMs and normalizing flows", layout="wide",
                   page_icon=str(Path(__file__).parent / "assets" / "favicon.png"))

from ui import router  # noqa: E402 - streamlit only: cheap

# The sidebar's navigation first, before the seconds of imports below on a fresh server: the browser shows the
# pages by their titles at once, not an empty (or, in v1, a file-name) sidebar while torch and plotly load.
nav = router.navigation()  # st.navigation over the pages of ui/router.py

import torch  # noqa: E402

torch.set_num_threads(1)  # measured: two threads on two busy cores trained 5-10x slower

import ui.warm  # noqa: E402,F401 - before any page runs: the lazy imports of the figures, once (ui/warm.py)
from ui import data, jobs, settings, style  # noqa: E402

settings.check_url()  # the link's bad values, before the widgets drop them silently
settings.draw_sidebar()  # every setting, bound to the URL: drawn by app.py, they keep their URL on every page
with st.sidebar:
    st.caption(f"**Data:** {data.current().choice.label}")
    for slot, name in (("ddpm", "DDPM"), ("flow", "Flow"), ("fm", "Flow matching")):
        st.caption(f"**{name}:** {jobs.summary(slot)}")

style.apply_page_style()
router.app_runs_page()  # the page's router.inside_app() checks that app.py ran it
nav.run()
