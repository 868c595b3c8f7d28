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

from ui import data, live, router, settings, style  # noqa: E402

nav = router.navigation()  # st.navigation over the pages of ui/router.py

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
router.app_runs_page()  # the page's router.inside_app() checks that app.py ran it
nav.run()
