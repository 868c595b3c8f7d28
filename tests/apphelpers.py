"""AppTest helpers shared by the page tests (issue 14's defect tests): the app's path and a page opened on it."""

import os

from streamlit.testing.v1 import AppTest

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app.py")


def open_page(page: str, **state) -> AppTest:
    """`page` (a path under pages/) run inside app.py, after setting `state` in the session; no exception."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    for k, v in state.items():
        at.session_state[k] = v
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at
