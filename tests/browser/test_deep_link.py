"""A bookmarked page opened first on a freshly started server: it must come up inside the app (ui/router.py).

Before the fix, Streamlit ran pages/flows.py on its own until some session had run app.py: no wide layout, no
presenter toggle, and a sidebar listing the raw file names ("ddpm training", "flows", …) instead of the app's
navigation. Only a server that no session has visited shows it, hence a server of the test's own.
"""

import re

from conftest import open_page


def test_a_deep_link_as_the_first_visit_of_a_fresh_server_opens_the_page_inside_the_app(browser, fresh_app_url):
    with open_page(browser, fresh_app_url) as page:
        page.goto(f"{fresh_app_url}/flows")
        page.locator("h1").filter(has_text="Normalizing flows").first.wait_for()
        nav = page.locator('[data-testid="stSidebarNav"]')
        nav.get_by_text("Coupling layers", exact=True).wait_for()  # app.py's page titles, so app.py ran
        labels = nav.inner_text()
        assert "Forward process & β-schedules" in labels, labels
        assert not re.search(r"(?m)^\s*(ddpm training|flows|app)\s*$", labels), labels  # v1 file-name labels
        page.locator('[data-testid="stSidebar"]').get_by_text("Presenter mode").first.wait_for()  # app.py's sidebar
        assert re.search(r"/flows/?$", page.url), page.url
        page.console.assert_clean()  # page errors, and console errors but the known sub-page 404s
