"""Deep links (slide links, bookmarks) open their page inside the app, also as the first visit of a fresh server.

Until some session has run app.py's `st.navigation`, Streamlit treats the app as a v1 pages-folder app: a deep link
runs the page file alone (no wide layout, no presenter toggle, a sidebar of raw file names) or, for a URL that names
no file, shows a "Page not found" modal. ui/router.py hands such a run over to app.py (`router.inside_app()`).

Each visit is watched from the first byte (a MutationObserver installed before the page's scripts, plus a 50 ms
poll) so that nothing of a v1 run can flash by unseen: no dialog, no "Page not found", no file-name sidebar, ever.
Two fresh servers, each first visited by a deep link; the other pages are then opened in new browser contexts (new
sessions) of the same server. Every link carries settings (non-default values of the sidebar's URL-bound widgets,
ui/settings.py), and the URL must still carry them once the page is up: the hand-over's rerun must not lose them.
"""

from __future__ import annotations

import re
import time

import pytest
from conftest import ARTIFACTS, RUN_TIMEOUT_MS, AppDriver, open_page

pytestmark = pytest.mark.browser

# url_path → the page's st.title (as routed by ui/router.pages())
TITLES = {
    "": "DDPMs and normalizing flows, live",
    "data": "Data",
    "forward": "Forward process & β-schedules",
    "ddpm-training": "DDPM training",
    "reverse": "Reverse sampling",
    "bound": "Variational bound",
    "flows": "Normalizing flows",
    "coupling": "Coupling layers",
}
# The app's sidebar labels (app.py); a v1 run labels its links by file name instead.
APP_NAV = ["Home", "Data", "Forward process & β-schedules", "DDPM training", "Reverse sampling",
           "Variational bound", "Normalizing flows", "Coupling layers"]
# (its innerText also holds the app's Material icon names, "home" among them, so "home" is not a sign of v1)
V1_LABEL = re.compile(r"(?m)^\s*(app|data|forward|ddpm[- _]training|reverse|bound|flows|coupling)\s*$")

WATCH_JS = r"""
(() => {
  const t0 = performance.now();
  const seen = [];
  window.__gdWatch = seen;
  let last = '';
  const snap = () => {
    if (!document.body) return;
    const bar = document.querySelector('[data-testid="stSidebar"]');
    const nav = document.querySelector('[data-testid="stSidebarNav"]');
    const h1 = document.querySelector('[data-testid="stMain"] h1');
    const s = {
      dialog: !!document.querySelector('[data-testid="stDialog"]'),
      not_found: document.body.innerText.includes('Page not found'),
      nav: nav ? nav.innerText : null,
      presenter: !!bar && bar.innerText.includes('Presenter mode'),
      h1: h1 ? h1.innerText : null,
    };
    const key = JSON.stringify(s);
    if (key !== last) { last = key; seen.push(Object.assign({t_ms: Math.round(performance.now() - t0)}, s)); }
  };
  new MutationObserver(snap).observe(document, {subtree: true, childList: true, characterData: true,
                                                attributes: true});
  setInterval(snap, 50);
})();
"""


def _first(seen: list[dict], cond) -> int | None:
    return next((s["t_ms"] for s in seen if cond(s)), None)


def _visit(browser, base: str, url_path: str, query: str) -> dict:
    """Open base/url_path?query in a new browser context and check the whole load; returns its timings and the final
    URL."""
    with open_page(browser, base) as page:
        page.add_init_script(WATCH_JS)
        app = AppDriver(page, base)
        target = f"{base}/{url_path}" + (f"?{query}" if query else "")
        t0 = time.monotonic()
        try:
            page.goto(target)
            app.wait_title(TITLES[url_path])
            page.locator('[data-testid="stSidebar"]').get_by_text("Presenter mode").first.wait_for(
                timeout=RUN_TIMEOUT_MS)
            app.wait_idle()
            settled_s = time.monotonic() - t0
            page.wait_for_timeout(500)  # anything a late message would still show
            seen = page.evaluate("window.__gdWatch")

            assert not any(s["dialog"] for s in seen), f"{target}: a dialog appeared: {seen}"
            assert not any(s["not_found"] for s in seen), f"{target}: 'Page not found' appeared: {seen}"
            navs = [s["nav"] for s in seen if s["nav"]]
            assert navs, f"{target}: no sidebar navigation seen"
            for nav in navs:  # the app's sections and pages as they render, never a file name
                assert not V1_LABEL.search(nav), f"{target}: v1 file-name sidebar seen: {nav!r}"
            assert all(label in navs[-1] for label in APP_NAV), f"{target}: sidebar nav {navs[-1]!r}"
            h1s = {s["h1"] for s in seen if s["h1"]}
            assert h1s == {TITLES[url_path]}, f"{target}: titles seen during the load: {h1s}"

            want = re.escape(f"/{url_path}" if url_path else "/") + "/?" + (re.escape(f"?{query}") if query else "")
            final_url = page.url
            assert re.search(want + "$", final_url), f"{target}: the URL became {final_url}"
            main_w = page.evaluate(
                "() => document.querySelector('[data-testid=\"stMainBlockContainer\"]').getBoundingClientRect().width")
            assert main_w > 900, f"{target}: main column {main_w:.0f} px: not app.py's wide layout"
            app.assert_no_crash(target)
            page.console.assert_clean()
        except Exception:
            print(f"{target}: seen during the load:")
            for snap in page.evaluate("window.__gdWatch"):
                print("  ", {k: (v.replace(chr(10), " ")[:120] if isinstance(v, str) else v) for k, v in snap.items()})
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"deep-link-{url_path or 'home'}.png"))
            raise
    timings = {"title_ms": _first(seen, lambda s: s["h1"]), "presenter_ms": _first(seen, lambda s: s["presenter"]),
               "settled_s": round(settled_s, 1)}
    print(f"{target}: {timings}")
    return {**timings, "url": final_url}


@pytest.mark.parametrize(("first", "others"), [
    (("flows", "f_K=4&ds=rings"), [("data", "ds=rings"), ("forward", "N=50"), ("", "ds=circles")]),
    (("ddpm-training", "ds=rings&N=50"), [("reverse", "ds=8gaussians"), ("bound", "N=100"), ("coupling", "f_K=4")]),
], ids=["flows-first", "ddpm-training-first"])
def test_deep_links_open_their_page_inside_the_app_from_the_first_visit_of_a_fresh_server(
        browser, fresh_app_url, first, others):
    url = _visit(browser, fresh_app_url, *first)["url"]  # the server's first session: Streamlit still in v1 mode
    # The same link on the now warm server (v2 from the start) ends on the same URL: the hand-over changed nothing.
    assert _visit(browser, fresh_app_url, *first)["url"] == url
    for url_path, query in others:  # later sessions of the same server
        _visit(browser, fresh_app_url, url_path, query)
