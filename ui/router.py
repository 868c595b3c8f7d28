"""Every page runs inside app.py: its page config, sidebar and `st.navigation`, whatever URL the browser opened.

Streamlit 1.67 treats an app with a `pages/` folder as a v1 multipage app until some session has run the main
script's `st.navigation` (`PagesManager.uses_pages_directory`, class-wide, set from the folder's existence when
the server starts). On a fresh server, a deep link such as /flows therefore ran pages/flows.py on its own: no
wide layout, no presenter toggle, a sidebar listing the raw file names, and no `torch.set_num_threads(1)` before
its training. Seen in a real browser (session 7): the first visits to /flows after a restart looked like that,
/ddpm-training did not (its URL matches no v1 file name, so Streamlit fell back to app.py).
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def inside_app() -> None:
    """Call first in every page. When Streamlit ran this page as a v1 page (app.py never ran), switch it to v2
    and rerun: the rerun runs app.py, whose `st.navigation` opens the page the URL names (v1 and v2 pages of the
    same url_path have the same script hash)."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
