"""The URL is the state, in a real browser (issue 17): what AppTest cannot see, because the browser writes the URL.

* Settings chosen in the sidebar (dataset, N, presenter mode) go into the address, stay there across a page
  switch, come back after a reload (F5: a new session), and the copied address opens the same view in a fresh
  browser context.
* A link with bad values shows one warning that names them, and the pages work on the defaults.
* A slide's link, the first visit of a fresh server, opens its page with its settings.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import RUN_TIMEOUT_MS, AppDriver, open_page

pytestmark = pytest.mark.browser

FORWARD = "Forward process & β-schedules"
PRESENTER_H1 = "52px"  # ui/style.py's presenter CSS: html 1.25rem = 20px, h1 2.6rem


def _url(page) -> str:
    """The address bar, read in the page (`page.url` is only updated while Playwright processes its events)."""
    return page.evaluate("() => location.href")


def _params(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(_url(page)).query, keep_blank_values=True).items()}


def _wait_params(page, want: dict[str, str], timeout_s: float = 60.0) -> None:
    """Until the address carries these parameters (the browser writes a bound widget's value after a change)."""
    deadline = time.monotonic() + timeout_s
    while not want.items() <= _params(page).items():
        assert time.monotonic() < deadline, f"the URL {_url(page)} does not carry {want}"
        page.wait_for_timeout(200)


def _sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def _open_group(page, title: str) -> None:
    """Open a sidebar expander (its widgets are in the page only while it is open)."""
    group = _sidebar(page).locator('[data-testid="stExpander"]').filter(
        has=page.locator("summary").filter(has_text=title))
    if not group.locator("details").evaluate("d => d.open"):
        group.locator("summary").click()
    group.locator('[data-testid="stExpanderDetails"]').wait_for(state="visible")


def _settings(page) -> dict[str, object]:
    """What the sidebar shows for the settings this test moves, and what the page looks like."""
    _open_group(page, "Data")
    _open_group(page, "β-schedule")
    sb = _sidebar(page)
    captions = sb.locator('[data-testid="stCaptionContainer"]').all_inner_texts()
    return {
        "ds": sb.locator(".st-key-ds input").input_value(),
        "N": sb.locator(".st-key-N input[type=range]").get_attribute("aria-valuetext"),
        "presenter": sb.locator(".st-key-presenter input").is_checked(),
        "data": next((t for t in captions if t.startswith("Data:")), None),
        "h1": page.evaluate("() => getComputedStyle(document.querySelector('[data-testid=\"stMain\"] h1')).fontSize"),
    }


def _choose(page, key: str, option: str) -> None:
    """Pick an option of a sidebar selectbox (its list opens on a click; a click during a rerun can miss)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    box = _sidebar(page).locator(f".st-key-{key}").get_by_role("combobox")
    for _ in range(5):
        box.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=5_000)
            return
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
    raise AssertionError(f"could not choose {option!r} in {key}")


def _wait_page(app: AppDriver, title: str) -> None:
    app.wait_title(title)
    app.wait_idle()


def _navigate(app: AppDriver, label: str, url_path: str, title: str) -> None:
    """Click a sidebar link (one session); wait for the page's path, whatever the query, and its title."""
    app.nav_link(label).click(timeout=RUN_TIMEOUT_MS)
    app.page.wait_for_url(lambda u: urlsplit(u).path.rstrip("/").endswith("/" + url_path), timeout=RUN_TIMEOUT_MS)
    _wait_page(app, title)


def test_sidebar_settings_go_into_the_url_and_survive_a_reload_and_a_fresh_browser(app, page, browser, app_url):
    app.open_home()
    _open_group(page, "Data")
    _choose(page, "ds", "circles")
    _wait_params(page, {"ds": "circles"})
    app.wait_idle()
    _open_group(page, "β-schedule")
    n = _sidebar(page).locator(".st-key-N input[type=range]")
    n.focus()
    n.press("End")  # N = 1000
    _wait_params(page, {"N": "1000"})
    app.wait_idle()
    h1_default = _settings(page)["h1"]
    assert h1_default != PRESENTER_H1
    _sidebar(page).locator(".st-key-presenter").get_by_text("Presenter mode").click()
    _wait_params(page, {"presenter": "true"})
    app.wait_idle()

    _navigate(app, FORWARD, "forward", "Forward process")  # a page switch keeps the sidebar's parameters
    want = {"ds": "circles", "N": "1000", "presenter": "true"}
    assert _params(page) == want, _url(page)
    shown = _settings(page)
    assert shown == {"ds": "circles", "N": "1000", "presenter": True,
                     "data": "Data: circles (n = 10000, noise = 0.08, seed = 0)", "h1": PRESENTER_H1}, shown
    url = _url(page)

    page.reload()  # F5: a new session, from the URL alone
    _wait_page(app, "Forward process")
    assert _params(page) == want and urlsplit(_url(page)).path.rstrip("/").endswith("/forward"), _url(page)
    assert _settings(page) == shown
    app.assert_no_crash("after the reload")
    page.console.assert_clean()

    with open_page(browser, app_url) as other:  # the copied address, in a browser that never saw the app
        other.goto(url)
        _wait_page(AppDriver(other, app_url), "Forward process")
        assert _params(other) == want, _url(other)
        assert _settings(other) == shown
        AppDriver(other, app_url).assert_no_crash("the copied address")
        other.console.assert_clean()


def test_a_link_with_bad_values_shows_one_warning_and_the_pages_work(app, page):
    page.goto(app.url + "/?ds=nosuch&d_lr=abc&dseed=inf&N=200")
    _wait_page(app, "DDPMs and normalizing flows")
    warnings = page.locator('[data-testid="stMain"] [data-testid="stAlertContentWarning"]').all_inner_texts()
    assert len(warnings) == 1, warnings
    text = warnings[0]
    for part in ("ds=nosuch is not a valid dataset", "using the default moons",
                 "d_lr=abc is not a valid learning rate (choose one of 0.0001 … 100): using the default 0.01",
                 "dseed=inf is not a valid data seed"):
        assert part in text, (part, text)
    assert "N=" not in text  # N=200 is valid (and the default)
    assert _params(page) == {}, _url(page)  # dropped, the default left out
    assert _settings(page)["data"] == "Data: moons (n = 10000, noise = 0.05, seed = 0)"
    _navigate(app, "Data", "data", "Data")  # the pages work on the defaults
    assert page.locator('[data-testid="stMain"] h3').first.inner_text().startswith("moons")
    _navigate(app, "DDPM training", "ddpm-training", "DDPM training")
    app.assert_no_crash("a page after a bad link")
    page.console.assert_clean()


def test_a_slide_link_as_the_first_visit_of_a_fresh_server_opens_its_page_with_its_settings(browser, fresh_app_url):
    with open_page(browser, fresh_app_url) as page:
        page.goto(f"{fresh_app_url}/forward?N=100&presenter=true&sched=cosine")
        app = AppDriver(page, fresh_app_url)
        _wait_page(app, "Forward process")
        nav = page.locator('[data-testid="stSidebarNav"]')
        nav.get_by_text("Coupling layers", exact=True).wait_for(timeout=RUN_TIMEOUT_MS)  # app.py's navigation
        assert _params(page) == {"N": "100", "presenter": "true", "sched": "cosine"}, _url(page)
        assert urlsplit(_url(page)).path.rstrip("/").endswith("/forward"), _url(page)
        shown = _settings(page)
        assert shown["N"] == "100" and shown["presenter"] and shown["h1"] == PRESENTER_H1, shown
        assert _sidebar(page).locator(".st-key-sched input").input_value() == "cosine"
        app.assert_no_crash("a slide link on a fresh server")
        page.console.assert_clean()


def _csv(rows: int = 240) -> bytes:
    return ("x,y\n" + "\n".join(f"{(i % 13) * 0.4 - 2:.2f},{(i * 7 % 17) * 0.3 - 2:.2f}" for i in range(rows))).encode()


def test_an_upload_is_in_the_url_across_a_page_switch_a_reload_and_a_fresh_browser(app, page, browser, app_url):
    app.open_home()
    _navigate(app, "Data", "data", "Data")
    page.get_by_role("tab", name="Your own points (CSV)").click()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[{"name": "slide.csv", "mimeType": "text/csv", "buffer": _csv()}])
    page.wait_for_function("() => new URLSearchParams(location.search).has('pts')", timeout=RUN_TIMEOUT_MS)
    app.wait_idle()
    key = _params(page)["pts"]
    label = page.locator('[data-testid="stMain"] h3').first.inner_text()
    assert label.startswith("your data (slide.csv") and "n = 144" in label, label  # 60 % of 240 rows

    _navigate(app, FORWARD, "forward", "Forward process")  # a page switch keeps it
    assert _params(page) == {"pts": key}, _url(page)
    assert _settings(page)["data"] == f"Data: {label}"
    _navigate(app, "Data", "data", "Data")
    page.reload()  # a new session: the points come from the server's store
    _wait_page(app, "Data")
    assert _params(page) == {"pts": key} and page.locator('[data-testid="stMain"] h3').first.inner_text() == label
    url = _url(page)
    page.console.assert_clean()

    with open_page(browser, app_url) as other:
        other.goto(url)
        _wait_page(AppDriver(other, app_url), "Data")
        assert other.locator('[data-testid="stMain"] h3').first.inner_text() == label
        other.console.assert_clean()
