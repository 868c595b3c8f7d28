"""Presenter mode: larger fonts and markers, explanations collapsed, for a projector."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from gendemo.viz import Style
from ui import screen

ANIMATION_HEIGHT = 560  # px, presenter mode: a 1280×720 projector shows the chart, its slider and its title

PRESENTER_CSS = """
<style>
html, body, [class*="stMarkdown"], .stMarkdown p { font-size: 1.25rem !important; }
h1 { font-size: 2.6rem !important; } h2 { font-size: 2.0rem !important; } h3 { font-size: 1.6rem !important; }
.katex-display > .katex { font-size: 1.45em !important; } .katex { font-size: 1.15em; }
[data-testid="stMetricValue"] { font-size: 2.4rem !important; }
[data-testid="stMetricValue"] * { font-size: inherit !important; line-height: 1.2 !important; }
</style>
"""


def presenter() -> bool:
    return bool(st.session_state.get("presenter", False))


def figure_style() -> Style:
    return Style.presenter() if presenter() else Style.default()


def animation_style() -> Style:
    """The style of an animated chart: in presenter mode taller than the others (ANIMATION_HEIGHT), since its
    slider and buttons take ~130 px and two panels side by side are height-bound."""
    s = figure_style()
    return replace(s, height=ANIMATION_HEIGHT) if presenter() else s


def apply_page_style() -> None:
    if presenter():
        st.html(PRESENTER_CSS)
    screen.apply(presenter())  # equations and columns fitted to the screen (ui/screen.py)


def explain(title: str, body_md: str) -> None:
    """An explanation that is open for students and collapsed in presenter mode."""
    with st.expander(title, expanded=not presenter()):
        st.markdown(body_md)
