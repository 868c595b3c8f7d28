"""tests/test_links.py's app: the sidebar as app.py draws it, then what ui.settings returns, as `name = repr`."""

import streamlit as st

from ui import settings

settings.check_url()
settings.draw_sidebar()
st.code(f"data = {settings.data_choice()!r}")
st.code(f"schedule = {settings.schedule_values()!r}")
st.code(f"ddpm = {settings.ddpm_config()!r}")
st.code(f"flow = {settings.flow_config()!r}")
