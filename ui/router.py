"""Every page runs inside app.py: its page config, sidebar and `st.navigation`, whatever URL the browser opened.

Streamlit 1.67 treats an app with a `pages/` folder as a v1 multipage app until some session has run
`st.navigation` (its docstring: "As soon as any session of your app executes the st.navigation command, your app
will ignore the pages/ directory (across all sessions)."). On a fresh server, a deep link such as
/flows therefore ran pages/flows.py on its own: no wide layout, no presenter toggle, a sidebar listing the raw
file names, and no `torch.set_num_threads(1)` before its training.

The hand-over, by public API only:

* app.py builds its navigation with `navigation()` and calls `app_runs_page()` right before `nav.run()`: a mark in
  `st.session_state` that says "this script run went through app.py".
* Every page calls `inside_app()` first, before its own imports (on a fresh server, importing torch & co. takes
  seconds, and a v1 run would show the raw file-name sidebar all that time). It pops the mark. Without one, the page
  runs on its own (v1): it calls `navigation()` — whose `st.navigation` switches Streamlit to v2 and replaces the v1
  sidebar with the app's — and `st.rerun()`. The rerun keeps the URL's page and query string; in v2 it runs
  app.py, whose `st.navigation` opens the page the URL names (a v1 page and the app's `st.Page` of the same
  url_path have the same page hash: every file in pages/ is named after its url_path).
* Streamlit sends a v1 run's sidebar (the raw file names) before the page's first line runs, and the browser showed
  it for a frame or two (~30 ms, 1 first visit in 6) before the app's replaced it. `.streamlit/config.toml` sets
  `client.showSidebarNavigation = false`, which hides that v1 sidebar; in 1.67 it also hides an `st.navigation` in
  the sidebar, so `navigation()` turns the option back on (`st.set_option`, process-wide) before its
  `st.navigation`. Only a v1 run that starts in the same instant as another session's first app.py run can still
  show its file names briefly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from streamlit.navigation.page import StreamlitPage

_IN_APP = "_router_in_app"  # set by app.py for the page it is about to run; popped by that page
_HANDED_OVER = "_router_handed_over"  # this session reran once to get inside app.py


def pages() -> dict[str, list[StreamlitPage]]:
    """The app's pages by sidebar section. Each url_path equals its file's name in pages/ (see above).

    Titles, no icons: a Material icon is a ligature whose name ("model_training", "scatter_plot") shows as text
    until the icon font has loaded (~1.5 s on a fresh server), which looked like a sidebar of raw file names.
    """
    return {
        "Start": [
            st.Page("pages/home.py", title="Home", default=True),
            st.Page("pages/data.py", title="Data", url_path="data"),
        ],
        "Diffusion (DDPM)": [
            st.Page("pages/forward.py", title="Forward process & β-schedules",
                    url_path="forward"),
            st.Page("pages/ddpm-training.py", title="DDPM training",
                    url_path="ddpm-training"),
            st.Page("pages/reverse.py", title="Reverse sampling", url_path="reverse"),
            st.Page("pages/bound.py", title="Variational bound", url_path="bound"),
        ],
        "Normalizing flows": [
            st.Page("pages/flows.py", title="Normalizing flows", url_path="flows"),
            st.Page("pages/coupling.py", title="Coupling layers", url_path="coupling"),
        ],
        "Bridges": [
            st.Page("pages/flow-matching.py", title="Flow matching", url_path="flow-matching"),
            st.Page("pages/samplers.py", title="Samplers", url_path="samplers"),
            st.Page("pages/likelihood.py", title="Likelihood", url_path="likelihood"),
        ],
    }


def navigation() -> StreamlitPage:
    """app.py's `st.navigation` over `pages()`, with the sidebar navigation shown (see the module docstring)."""
    st.set_option("client.showSidebarNavigation", True)
    return st.navigation(pages())


def app_runs_page() -> None:
    """Call in app.py right before `nav.run()`."""
    st.session_state[_IN_APP] = True


def inside_app() -> None:
    """Call first in every page, before its other imports. A page that app.py did not run hands over to app.py
    (module docstring) and does not come back; a page app.py ran returns at once."""
    if st.session_state.pop(_IN_APP, False):
        st.session_state.pop(_HANDED_OVER, None)
        return
    if st.session_state.get(_HANDED_OVER):
        # The rerun came back without app.py: the page is the main script itself (`streamlit run pages/x.py`,
        # an AppTest of the file). Rerunning again would loop forever; let it run as it is.
        return
    st.session_state[_HANDED_OVER] = True
    navigation()
    st.rerun()
