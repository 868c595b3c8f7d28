"""Fit every page to the screen it is shown on: a projector (1280×720, 1920×1080) or a student's laptop (1366×768).

* **Equations** (`FIT_KATEX_JS`, every mode): a KaTeX block wider than its column is scaled down to fit (its font
  size, so it stays sharp and keeps its line height), at most to `MIN_KATEX_SCALE`; a block that would need
  more is written on several lines in the page itself. It re-fits when the page or the window changes.
* **Columns** (`layout_css`): columns wrap onto a row of their own rather than shrink below a readable width
  (`MIN_COLUMN_PX`; a column of metrics only: `MIN_METRIC_COLUMN_PX`; a training page's live panels, status and
  loss beside the samples: `MIN_PANEL_COLUMN_PX`; smaller `…_NORMAL` widths in normal mode). Presenter mode also
  has less padding around the page and a narrower gap between the page's two main columns. At 1280×720 (and
  1366×768) a page's narrow left column (controls, metrics) then sits above its charts, and the charts get the
  full width; at 1920×1080 both stay side by side.

Checked by tests/browser/test_viewports.py at the three sizes.
"""

from __future__ import annotations

import streamlit as st

MIN_KATEX_SCALE = 0.6
MIN_COLUMN_PX = 480
MIN_METRIC_COLUMN_PX = 280  # "bits/dim, data units" at 20 px, whole
MIN_PANEL_COLUMN_PX = 380  # a training page's status and loss beside its samples: one screen at 1280×720
MIN_COLUMN_PX_NORMAL = 360  # normal mode (a laptop): smaller text, narrower columns still read
MIN_METRIC_COLUMN_PX_NORMAL = 150
MIN_PANEL_COLUMN_PX_NORMAL = 300

FIT_KATEX_JS = """<script>
(() => {
  if (window.__gdFitKatex) return;
  window.__gdFitKatex = true;
  const MIN = __MIN__;
  // The formula's own width: its runs of glyphs (.base), not KaTeX's empty 2 px spacers (.vlist-s) nor the
  // wide clipped SVG paths of roots and braces.
  const width = (k) => {
    let lo = Infinity, hi = -Infinity;
    for (const b of k.querySelectorAll('.katex-html .base')) {
      const r = b.getBoundingClientRect();
      if (r.width > 0) { lo = Math.min(lo, r.left); hi = Math.max(hi, r.right); }
    }
    return hi > lo ? hi - lo : 0;
  };
  const fit = () => {
    for (const d of document.querySelectorAll('[data-testid="stMain"] .katex-display')) {
      const k = d.querySelector(':scope > .katex');
      if (!k) continue;
      if (k.style.fontSize) k.style.fontSize = '';
      const avail = d.clientWidth;
      if (avail <= 0 || width(k) <= avail) continue;
      const base = parseFloat(getComputedStyle(k).fontSize);
      let scale = 1;  // a few steps: struts and rules do not all scale with the font
      for (let i = 0; i < 4 && width(k) > avail && scale > MIN; i++) {
        scale = Math.max(MIN, scale * 0.99 * avail / width(k));
        k.style.fontSize = (base * scale).toFixed(2) + 'px';
      }
    }
  };
  let queued = false;
  const later = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; fit(); });
  };
  new MutationObserver(later).observe(document.body, {childList: true, subtree: true, characterData: true});
  window.addEventListener('resize', later);
  later();
})();
</script>""".replace("__MIN__", str(MIN_KATEX_SCALE))

_TOP = '[data-testid="stHorizontalBlock"]:not([data-testid="stHorizontalBlock"] [data-testid="stHorizontalBlock"])'


def layout_css(presenter: bool) -> str:
    """Columns that wrap onto a row of their own rather than shrink below a readable width (every mode); in
    presenter mode, larger minimum widths, less padding around the page and a narrower gap between the main
    columns."""
    col, panel, metric = (MIN_COLUMN_PX, MIN_PANEL_COLUMN_PX, MIN_METRIC_COLUMN_PX) if presenter else \
        (MIN_COLUMN_PX_NORMAL, MIN_PANEL_COLUMN_PX_NORMAL, MIN_METRIC_COLUMN_PX_NORMAL)
    css = f"""
[data-testid="stMain"] [data-testid="stHorizontalBlock"] {{ flex-wrap: wrap !important; }}
[data-testid="stMain"] [data-testid="stColumn"] {{ min-width: min(100%, {col}px) !important; }}
[data-testid="stMain"] [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] .gd-status) > [data-testid="stColumn"]
  {{ min-width: min(100%, {panel}px) !important; }}
[data-testid="stMain"] [data-testid="stColumn"]:has([data-testid="stMetric"]):not(:has(.stPlotlyChart, .katex-display,
  [data-testid="stHorizontalBlock"])) {{ min-width: min(100%, {metric}px) !important; }}
"""
    if presenter:
        css += f"""
[data-testid="stMainBlockContainer"] {{ padding: 2.2rem 1.2rem 4rem 1.2rem !important; max-width: none !important; }}
{_TOP} {{ column-gap: 1.6rem !important; }}
"""
    return "<style>" + css + "</style>"


def apply(presenter: bool) -> None:
    """Once per run, from app.py (via ui.style.apply_page_style): the equation fitting, and the presenter layout.
    In the sidebar, so that the script's element adds no gap to the page."""
    with st.sidebar:
        st.html(FIT_KATEX_JS, unsafe_allow_javascript=True)
    st.html(layout_css(presenter))
