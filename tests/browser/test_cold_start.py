"""A class arriving at once on a freshly started server: 8 sessions load pages and press their first primary button in
the same moment, and no page may die.

Every session's script runs in a thread of the one server process, and on a fresh server every library still has
its first (lazy) imports ahead of it. 8 sessions pressing "Train the default DDPM now" on /bound killed a page with
`AttributeError: partially initialized module 'pandas' has no attribute 'Series'`: plotly's validators look pandas
up in sys.modules while another session's first st.table is still importing it (ui/warm.py now imports it first).

Each wave is a fresh server and 8 browser contexts (8 sessions), spread over a few pages so that all pages are
covered across the waves: all load at once, then each presses the first primary button of the main area if its
page has one (Train, Train this DDPM now…), all within a few milliseconds. The test then waits until every page is idle
or the wave's budget is spent (a live training never idles), and fails on any exception box or any Traceback in the
server's log.
"""

from __future__ import annotations

import time

import pytest
from conftest import ARTIFACTS, RUN_TIMEOUT_MS, VIEWPORT, AppDriver, _serve

pytestmark = pytest.mark.browser

SESSIONS = 8
# url_path → the page's st.title
TITLES = {"": "DDPMs and normalizing flows, live", "data": "Data", "forward": "Forward process & β-schedules",
          "ddpm-training": "DDPM training", "reverse": "Reverse sampling", "bound": "Variational bound",
          "flows": "Normalizing flows", "coupling": "Coupling layers"}
WAVES = {
    # the pages that offer a quick training: the reported crash was 8 × "Train the default DDPM now" on /bound
    "model-pages": ["bound", "bound", "bound", "bound", "reverse", "reverse", "coupling", "coupling"],
    # the live training pages (Play) with the pages that draw figures at once
    "other-pages": ["ddpm-training", "flows", "data", "forward", "", "ddpm-training", "flows", "data"],
}
assert set(TITLES) == {p for pages in WAVES.values() for p in pages}, "every page in some wave"
# Settings with no shipped (pretrained) model, so that every model page has a training to offer; the same for all 8
# sessions, which then share their trainings (the job table) and draw the results in the same instant.
SETTINGS = "d_seed=1&d_steps=500&f_seed=1&f_steps=300"
BUDGET_S = 60.0  # after the clicks: trainings queue for the 2 cores, and a live training never ends by itself
PRIMARY = '[data-testid="stMain"] [data-testid="stBaseButton-primary"]'


def _exceptions(page) -> list[str]:
    return [t.strip()[:300] for t in page.locator('[data-testid="stException"]').all_inner_texts()]


# (wave, entry): every wave on the README's server.py, which imports everything before its first visitor; the
# reported crash's wave also on a plain `streamlit run app.py`, where the first sessions race for the imports.
CASES = [(wave, "server.py") for wave in WAVES] + [("model-pages", "app.py")]


@pytest.mark.parametrize(("wave", "entry"), CASES, ids=[f"{w}-{e}" for w, e in CASES])
def test_eight_sessions_at_once_on_a_fresh_server_never_crash(browser, wave, entry, tmp_path, monkeypatch):
    # An empty model store of its own (the server inherits the environment): a model trained by an earlier wave or
    # run must not take a page's Train button away.
    monkeypatch.setenv("GENDEMO_STORE", str(tmp_path / "store"))
    log_path = ARTIFACTS / f"streamlit-cold-start-{wave}-{entry}.log"
    paths = WAVES[wave]
    assert len(paths) == SESSIONS
    with _serve(log_path.name, script=entry) as url:
        t0 = time.monotonic()
        contexts = [browser.new_context(viewport=VIEWPORT) for _ in paths]
        try:
            pages = [ctx.new_page() for ctx in contexts]
            for page, path in zip(pages, paths):  # "commit": do not wait for one page before opening the next
                page.set_default_timeout(RUN_TIMEOUT_MS)
                page.goto(f"{url}/{path}?{SETTINGS}", wait_until="commit")
            apps = [AppDriver(page, url) for page in pages]
            for app, path in zip(apps, paths):
                app.wait_title(TITLES[path])
                app.wait_idle()
            loaded_s = time.monotonic() - t0

            # The same moment: one synchronous click per page, no waiting in between.
            clicked = [page.evaluate(f"""() => {{ const b = document.querySelector('{PRIMARY}');
                                                  if (!b) return null; b.click(); return b.innerText.trim(); }}""")
                       for page in pages]
            t_click = time.monotonic()

            quiet_since, busy, crashed = None, [], False
            while time.monotonic() - t_click < BUDGET_S:
                busy = [f"/{p}: {why}" for p, why in zip(paths, (a.busy() for a in apps)) if why]
                crashed = any(page.locator('[data-testid="stException"]').count() for page in pages)
                if crashed:
                    break
                quiet_since = (quiet_since or time.monotonic()) if not busy else None
                if quiet_since is not None and time.monotonic() - quiet_since >= 2.0:
                    break
                time.sleep(0.5)
            time.sleep(1.0)  # a run that failed in the last instant: its exception box is drawn
            problems = [f"/{p}: {e}" for p, page in zip(paths, pages) for e in _exceptions(page)]
            print(f"\n{wave}: {len(paths)} sessions loaded in {loaded_s:.1f} s; pressed {clicked}; "
                  f"{time.monotonic() - t_click:.1f} s after the clicks, still busy: {busy or 'none'}")
            if problems:
                for i, page in enumerate(pages):
                    page.screenshot(path=str(ARTIFACTS / f"cold-start-{wave}-{i}.png"))
            # The log of the runs, read before the server stops (what a job's worker says at shutdown is not a run).
            log = log_path.read_text(errors="replace")
        finally:
            for ctx in contexts:
                ctx.close()
    assert not problems, "exception boxes:\n" + "\n".join(problems) + "\n" + log[-4000:]
    assert "Traceback" not in log, f"the server logged a traceback ({log_path}):\n{log[-6000:]}"
