"""Client-side plotly animations (gendemo/viz/_player.py): the chart's own ▶ Play changes the displayed frame,
its ❚❚ Pause stops it."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.browser

MOVE_S = 30.0  # Play → a new frame on screen (frames are 120 ms apart; a busy machine drops many)
FORWARD_READY_S = 120.0  # the page's run plus plotly.js's lazy load (~20 s for the first chart on 2 cores)
REVERSE_READY_S = 120.0  # the default DDPM ships with the app (gendemo/pretrained): the page shows it at once


def play_animation(app, chart_key: str, what: str, ready_s: float) -> None:
    sel = f".st-key-{chart_key} .js-plotly-plot"
    start = app.wait_plot(sel, lambda s: s["frames"] > 1 and s["menus"] >= 1, ready_s,
                          f"{what}: an animated chart (frames and a Play button)")
    assert start["active"] is not None, f"{what}: no slider"
    buttons = app.page.locator(f"{sel} .updatemenu-button")
    play = buttons.filter(has_text="Play")
    assert play.count() == 1, f"{what}: Play buttons: {play.count()} of {buttons.count()} updatemenu buttons"
    play.click()
    moved = app.wait_plot(
        sel, lambda s: s["active"] != start["active"] and s["moving_heads"] != start["moving_heads"], MOVE_S,
        f"{what}: the frame to change after Play (slider step {start['active']})")
    print(f"{what}: {start['frames']} frames, slider step {start['active']} → {moved['active']}")

    pause = buttons.filter(has_text="Pause")
    assert pause.count() == 1, f"{what}: no Pause button"
    pause.click()
    time.sleep(0.5)  # the frame in flight lands
    a = app.plot(sel)
    time.sleep(1.5)
    b = app.plot(sel)
    assert (a["active"], a["moving_heads"]) == (b["active"], b["moving_heads"]), f"{what}: still moving after Pause"
    app.assert_no_crash(what)
    app.page.console.assert_clean()


def test_forward_animation_plays(app):
    app.open_home()
    app.navigate("Forward process & β-schedules", "forward", "Forward process & β-schedules")
    app.assert_no_crash("Forward")
    play_animation(app, "forward_anim", "forward process", ready_s=FORWARD_READY_S)


def test_reverse_animation_plays(app):
    app.open_home()
    app.navigate("Reverse sampling", "reverse", "Reverse sampling")
    app.assert_no_crash("Reverse")
    assert app.button("Train this DDPM now").count() == 0, "the default DDPM is shipped: nothing to train"
    play_animation(app, "rev_anim", "reverse sampling", ready_s=REVERSE_READY_S)
