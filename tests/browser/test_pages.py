"""Every page, reached by clicking the sidebar: it renders its title, finishes its run, shows no exception box
and no error alert; a screenshot of each goes to test-artifacts/pages/ (kept on success)."""

from __future__ import annotations

import pytest
from routed_pages import PAGES  # (sidebar label, url_path, st.title), as routed by ui/router.py

pytestmark = pytest.mark.browser


def test_every_page_via_sidebar(app, page, artifacts):
    shots = artifacts / "pages"
    shots.mkdir(parents=True, exist_ok=True)
    app.open_home()
    links = page.locator('[data-testid="stSidebarNavLink"]')
    assert links.count() == len(PAGES), f"sidebar has {links.count()} page links: {links.all_inner_texts()}"

    problems: list[str] = []
    # Start on Home (served at "/"), click every other page, then click back to Home: every link is clicked.
    for i, (label, url_path, title) in enumerate(PAGES[1:] + PAGES[:1], start=1):
        try:
            seconds = app.navigate(label, url_path, title)
            print(f"{label}: {seconds:.1f} s")
        except Exception as exc:  # noqa: BLE001 - playwright or assertion errors: one broken page must not hide the rest
            problems.append(f"{label}: did not load: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        for msg in app.crash_messages():
            problems.append(f"{label}: {msg}")
        page.screenshot(path=str(shots / f"{i:02d}-{url_path or 'home'}.png"))
    assert not problems, "\n".join(problems)
    page.console.assert_clean()
