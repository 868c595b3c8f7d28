"""The three pages of issue 15 in a real browser: each trains what it needs from its own buttons, then a control
changes its picture: the t slider the velocity field (Flow matching), the η slider DDIM's trajectories and nothing
else (Samplers), a checkbox adds a row to the likelihood table (Likelihood).

Small models through the URL (a few hundred steps, N = 50, 1,000 points), so each test trains in seconds; the
models are shared by the tests through the session's server store.
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.browser

SMALL = ("n=1000&N=50&d_width=32&d_depth=2&d_batch=128&d_steps=500&fm_width=32&fm_steps=300"
         "&f_K=4&f_width=32&f_steps=300")
TRAIN_S = 300.0  # a few small trainings on a loaded 2-core machine
SETTLE_S = 180.0


def _open(app, path: str, query: str, title: str) -> None:
    app.page.goto(f"{app.url}/{path}?{SMALL}&{query}")
    app.wait_title(title)
    app.wait_idle()
    app.assert_no_crash(title)


def _wait(app, read, what: str, timeout_s: float = SETTLE_S):
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if value:
            return value
        app.assert_no_crash(what)
        assert time.monotonic() < deadline, f"timed out after {timeout_s:.0f} s waiting for {what}"
        time.sleep(0.5)


def _train_what_is_offered(app, labels: list[str]) -> None:
    """Press each of these Train buttons the page shows (the page never blocks on a missing model)."""
    for label in labels:
        b = app.button(label)
        if b.count():
            b.first.click()
            app.page.wait_for_timeout(500)


def _slider(app, key: str):
    return app.page.locator(f".st-key-{key}").get_by_role("slider").first


def _press(app, key: str, keys: str, times: int = 1) -> None:
    s = _slider(app, key)
    s.focus()
    for _ in range(times):
        s.press(keys)
    app.page.wait_for_timeout(300)


def test_flow_matching_t_slider_changes_the_field(app):
    _open(app, "flow-matching", "fm_seed=41", "Flow matching")
    app.click_button("Train")
    app.wait_trained(TRAIN_S)
    # traces: data and u_θ's arrows (left), data and u*'s arrows (middle), the error heatmap (right)
    field = _wait(app, lambda: app.chart("fm_field"), "the velocity field")
    assert all(app.chart(k) for k in ("fm_loss", "fm_paths", "fm_traj"))
    _press(app, "fm_t", "ArrowRight", 4)  # t: 0.50 → 0.70
    moved = _wait(app, lambda: (c := app.chart("fm_field")) and c["traces"][1]["x"] != field["traces"][1]["x"]
                  and not app.busy() and c, "the field at the new t")
    assert moved["traces"][3]["x"] != field["traces"][3]["x"], "the exact field u* changes with t too"
    assert "0.70" in app.page.locator(".st-key-fm_t").inner_text()
    app.page.console.assert_clean()


def test_samplers_eta_slider_changes_ddim_only(app):
    _open(app, "samplers", "race_S=10", "Samplers")
    _train_what_is_offered(app, ["Train this DDPM now"])
    _wait(app, lambda: app.button("Train the flow-matching model").count() or app.chart("race"),
          "the DDPM trained", TRAIN_S)
    _train_what_is_offered(app, ["Train the flow-matching model"])

    def traces(c):
        return {t["name"]: (t["x"], t["y"]) for t in c["traces"] if t["name"]}

    def ready():
        c = app.chart("race")
        return c if c and app.chart("quality_curve") and any("flow matching" in n for n in traces(c)) \
            and not app.busy() else None

    race = _wait(app, ready, "the race with all four samplers and the quality curve", TRAIN_S)
    before = traces(race)
    ddim = next(n for n in before if n.startswith("DDIM") and not n.endswith("(end)"))
    _press(app, "race_eta", "ArrowRight", 5)  # η: 0 → 0.5
    after = _wait(app, lambda: (c := ready()) and any(n.startswith("DDIM, η = 0.5") for n in traces(c))
                  and traces(c), "DDIM at η = 0.5")
    new = next(n for n in after if n.startswith("DDIM") and not n.endswith("(end)"))
    assert after[new] != before[ddim], "η changes DDIM's trajectories"
    for name in ("DDPM PF-ODE (Heun)", "flow matching ODE (Heun)", "DDPM ancestral (Eq. 9)"):
        assert after[name] == before[name], f"η must not change {name}"
    curve = app.chart("quality_curve")
    assert sum(1 for t in curve["traces"] if "floor" not in t["name"]) == 4
    app.page.console.assert_clean()


def test_likelihood_checkbox_adds_a_row(app):
    _open(app, "likelihood", "lik_n=100", "Likelihood")
    offers = ["Train the RealNVP flow", "Train the NICE flow", "Train the DDPM", "Train the flow-matching model"]
    _train_what_is_offered(app, offers)
    rows = app.page.locator('[data-testid="stMain"] [data-testid="stTable"] tbody tr')

    def all_rows():
        if any(app.button(o).count() for o in offers) or app.busy():
            return None
        texts = rows.all_inner_texts()
        return texts if len(texts) == 6 and not any("not trained" in t for t in texts) else None

    before = _wait(app, all_rows, "five models and H(q₀) in the table", TRAIN_S)
    assert app.chart("lik_chart") is not None
    app.page.locator(".st-key-lik_tilde label").first.click()
    after = _wait(app, lambda: (t := rows.all_inner_texts()) and len(t) == 7 and not app.busy() and t,
                  "the β̃ bound's row")
    assert any("β̃" in t for t in after) and not any("β̃" in t for t in before)
    app.page.console.assert_clean()
