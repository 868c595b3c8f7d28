"""Projector and laptop sizes (issue 14, part 1): every page in presenter mode at 1280×720 and 1920×1080, and in
normal mode at 1366×768 (a student laptop), checked in Chromium:

* nothing wider than the viewport: no horizontal scroll, no element of the main block past the right edge;
* every KaTeX block fits its container (a long equation wraps or scales, it is not clipped or scrolled);
* in each plotly chart, no two of the title, legend, colour bar and annotations (subplot titles) overlap, no
  title or annotation sticks out of the chart (the svg clips it), the modebar does not cover the title, and every
  plot area is at least MIN_PLOT_PX in both directions (a chart squeezed into a narrow column collapses to a line);
* no metric label is cut off ("L (nats /…");
* in presenter mode the metrics are larger than in normal mode (font size of the values);
* on the training pages the status, the loss curve and the samples fit one screen, for a trained model and
  while a training runs (the live SVG panels).

Screenshots of every page (the first screen, as a projector shows it) go to SHOTS_DIR/<viewport>/.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import DEFAULT_TIMEOUT_MS, open_page
from routed_pages import PAGES  # every routed page: (sidebar label, url_path, st.title), as in ui/router.py

pytestmark = pytest.mark.browser

SHOTS_DIR = Path(os.environ.get("GENDEMO_SHOTS", "/tmp/shots"))
MIN_PLOT_PX = 60  # and an area of at least MIN_PLOT_AREA: a collapsed chart (2 × 225 px) or a thumbnail (47 × 25)
MIN_PLOT_AREA = 100 * 100
OVERLAP_PX = 2.0  # boxes overlapping by less than this (antialiasing, rounding) do not count

VIEWPORTS = [  # (name, width, height, presenter)
    ("presenter-1280x720", 1280, 720, True),
    ("presenter-1920x1080", 1920, 1080, True),
    ("normal-1366x768", 1366, 768, False),
]
# A training page's status, loss curve and samples: one screen (the plotly charts of a finished training, or
# the SVGs a live one draws).
ONE_SCREEN = {
    "ddpm-training": (".gd-status", [".st-key-ddpm_loss, .st-key-ddpm_loss_live",
                                     ".st-key-ddpm_samples, .st-key-ddpm_samples_live"]),
    "flows": (".gd-status", [".st-key-flow_loss, .st-key-flow_loss_live",
                             ".st-key-flow_samples, .st-key-flow_samples_live"]),
    "flow-matching": (".gd-status", [".st-key-fm_loss, .st-key-fm_loss_live",
                                     ".st-key-fm_samples, .st-key-fm_samples_live"]),
}

CHECK_JS = """([minPlot, minArea, overlapPx]) => {
  const W = window.innerWidth, problems = [];
  const name = (el) => {
    const key = el.closest('[class*="st-key-"]');
    const k = key ? Array.from(key.classList).find((c) => c.startsWith('st-key-')) : '';
    const tid = el.closest('[data-testid]');
    return (k || (tid ? tid.getAttribute('data-testid') : el.tagName)) + ' ' + el.tagName.toLowerCase()
      + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '');
  };
  const sw = document.documentElement.scrollWidth;
  if (sw > W) problems.push(`the page scrolls sideways: scrollWidth ${sw} > ${W}`);
  const main = document.querySelector('[data-testid="stMain"]');
  const past = (e) => { const r = e.getBoundingClientRect();
                         return r.width > 0 && r.height > 0 && (r.width > W + 0.5 || r.right > W + 0.5); };
  for (const el of main.querySelectorAll('*')) {
    if (el.closest('.katex-mathml')) continue;  // KaTeX's MathML copy for screen readers: clipped to 1 px
    if (el instanceof SVGElement && el.tagName !== 'svg' && el.closest('.katex')) continue;  // clipped by its svg
    if (past(el) && !(el.parentElement && el.parentElement !== main && past(el.parentElement))) {
      const r = el.getBoundingClientRect();  // the outermost element past the edge, not each of its children
      problems.push(`${name(el)}: ${Math.round(r.left)}…${Math.round(r.right)} px, past the viewport's ${W}`);
    }
  }
  for (const d of main.querySelectorAll('.katex-display')) {
    // the formula's glyphs (.base runs), not KaTeX's empty 2 px spacers nor the clipped SVG paths of roots
    const box = d.getBoundingClientRect();
    let lo = box.left, hi = box.right;
    for (const b of d.querySelectorAll('.katex-html .base')) {
      const r = b.getBoundingClientRect();
      if (r.width > 0) { lo = Math.min(lo, r.left); hi = Math.max(hi, r.right); }
    }
    const over = Math.max(hi - box.right, box.left - lo);
    if (over > 1) problems.push(`KaTeX overflows its container by ${Math.round(over)} px: "${d.innerText.replace(/\\s+/g, ' ').slice(0, 60)}"`);
  }
  for (const l of main.querySelectorAll('[data-testid="stMetricLabel"], .gd-metric-label')) {
    for (const e of [l, ...l.querySelectorAll('*')]) {  // Streamlit cuts a long label with an ellipsis, deep inside
      const cs = getComputedStyle(e);
      if (e.scrollWidth > e.clientWidth + 1 && (cs.overflow !== 'visible' || cs.textOverflow === 'ellipsis')) {
        problems.push(`metric label cut off: "${l.innerText.trim()}"`);
        break;
      }
    }
  }
  const inter = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > overlapPx
                       && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > overlapPx;
  for (const g of main.querySelectorAll('.js-plotly-plot')) {
    const chart = name(g).split(' ')[0];
    const boxes = [];
    for (const [sel, what] of [['.gtitle', 'title'], ['.legend', 'legend'], ['.colorbar', 'colour bar'],
                               ['.annotation', 'annotation']]) {
      for (const e of g.querySelectorAll(sel)) {
        const r = e.getBoundingClientRect();
        if (r.width > 0 && r.height > 0) boxes.push([what + ' "' + (e.textContent || '').slice(0, 30) + '"', r]);
      }
    }
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++)
        if (inter(boxes[i][1], boxes[j][1])) problems.push(`${chart}: ${boxes[i][0]} overlaps ${boxes[j][0]}`);
    const svg = g.querySelector('.main-svg').getBoundingClientRect();
    for (const t of g.querySelectorAll('.gtitle, .annotation')) {  // the svg clips what sticks out of it
      const r = t.getBoundingClientRect();
      if (r.width > 0 && (r.left < svg.left - 1 || r.right > svg.right + 1))
        problems.push(`${chart}: the title "${t.textContent.slice(0, 40)}" is cut off at the chart's edge`);
      if (r.height > 0 && (r.top < svg.top - 1 || r.bottom > svg.bottom + 1))  // e.g. a wrapped title plotly lifted
        problems.push(`${chart}: the title "${t.textContent.slice(0, 40)}" is cut off at the chart's top or bottom`);
    }
    const mb = g.querySelector('.modebar');
    if (mb) {
      const m = mb.getBoundingClientRect();
      for (const t of g.querySelectorAll('.gtitle'))
        if (m.width > 0 && inter(m, t.getBoundingClientRect())) problems.push(`${chart}: the modebar covers the title`);
    }
    for (const d of g.querySelectorAll('.draglayer .nsewdrag')) {
      const r = d.getBoundingClientRect();
      if (r.width < minPlot || r.height < minPlot || r.width * r.height < minArea)
        problems.push(`${chart}: a plot area of ${Math.round(r.width)} × ${Math.round(r.height)} px`);
    }
  }
  return problems;
}"""

METRIC_SIZE_JS = """() => Array.from(document.querySelectorAll(
  '[data-testid="stMain"] [data-testid="stMetricValue"], [data-testid="stMain"] .gd-metric-value'))
  .map((e) => parseFloat(getComputedStyle(e).fontSize))"""

SPAN_JS = """([top, parts]) => {
  const t = document.querySelector(top);
  if (!t) return null;
  let bottom = -Infinity;
  for (const sel of parts) {
    const e = document.querySelector(sel);
    if (!e) return null;
    bottom = Math.max(bottom, e.getBoundingClientRect().bottom);
  }
  return bottom - t.getBoundingClientRect().top;
}"""

SCROLL_JS = """(n) => {  // scroll the main area to its n-th screen; false when the page is shorter than that
  const m = document.querySelector('[data-testid="stMain"]');
  const el = m && m.scrollHeight > m.clientHeight + 1 ? m : document.scrollingElement;
  const y = n * (el.clientHeight - 40);
  if (n > 0 && y >= el.scrollHeight - el.clientHeight + el.clientHeight - 40) return false;
  el.scrollTop = y;
  return true;
}"""


def _visit_all(app, page, presenter: bool, shots: Path | None) -> tuple[list[str], dict[str, list[float]]]:
    """Open Home (presenter mode from the URL), then click every page; the checks' problems and metric sizes."""
    from conftest import AppDriver  # noqa: F401 - the driver type of `app`

    page.goto(app.url + "/" + ("?presenter=true" if presenter else ""))
    app.wait_title(PAGES[0][2])
    app.wait_idle()
    problems: list[str] = []
    sizes: dict[str, list[float]] = {}
    for i, (label, url_path, title) in enumerate(PAGES[1:] + PAGES[:1], start=1):
        try:
            app.navigate(label, url_path, title)
        except Exception as exc:  # noqa: BLE001 - one broken page must not hide the rest
            problems.append(f"{label}: did not load: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            continue
        problems += [f"{label}: {m}" for m in app.crash_messages()]
        page.mouse.move(2, 2)  # no hover on a chart: the modebar's own visibility must not matter
        problems += [f"{label}: {p}" for p in page.evaluate(CHECK_JS, [MIN_PLOT_PX, MIN_PLOT_AREA, OVERLAP_PX])]
        sizes[url_path] = page.evaluate(METRIC_SIZE_JS)
        if url_path in ONE_SCREEN:
            top, parts = ONE_SCREEN[url_path]
            span = page.evaluate(SPAN_JS, [top, parts])
            h = page.viewport_size["height"]
            if span is None:
                problems.append(f"{label}: status, loss curve or samples not found")
            elif span > h:
                problems.append(f"{label}: status to samples span {span:.0f} px, more than the screen's {h}")
        if shots is not None:  # the first screen, then the next two (Streamlit scrolls its main area)
            page.screenshot(path=str(shots / f"{i:02d}-{url_path or 'home'}.png"))
            for screen in (2, 3):
                if not page.evaluate(SCROLL_JS, screen - 1):
                    break
                page.wait_for_timeout(300)
                page.screenshot(path=str(shots / f"{i:02d}-{url_path or 'home'}-screen{screen}.png"))
            page.evaluate(SCROLL_JS, 0)
    return problems, sizes


@pytest.mark.parametrize("name,width,height,presenter", VIEWPORTS, ids=[v[0] for v in VIEWPORTS])
def test_every_page_fits_the_screen(browser, app, page, name, width, height, presenter):
    page.set_viewport_size({"width": width, "height": height})
    shots = SHOTS_DIR / name
    shots.mkdir(parents=True, exist_ok=True)
    problems, _ = _visit_all(app, page, presenter, shots)
    assert not problems, f"{name}:\n" + "\n".join(problems)
    page.console.assert_clean()


def test_presenter_metrics_are_larger(browser, app_url):
    """The same pages at the same size: every metric value is larger in presenter mode than in normal mode."""
    from conftest import AppDriver

    got = {}
    for presenter in (False, True):
        with open_page(browser, app_url) as pg:
            pg.set_viewport_size({"width": 1366, "height": 768})
            pg.set_default_timeout(DEFAULT_TIMEOUT_MS)
            drv = AppDriver(pg, app_url)
            pg.goto(app_url + "/" + ("?presenter=true" if presenter else ""))
            drv.wait_title(PAGES[0][2])
            drv.wait_idle()
            got[presenter] = {}
            for label, url_path, title in [p for p in PAGES if p[1] in ("forward", "ddpm-training", "bound", "flows")]:
                drv.navigate(label, url_path, title)
                got[presenter][url_path] = pg.evaluate(METRIC_SIZE_JS)
    for url_path, normal in got[False].items():
        big = got[True][url_path]
        assert normal and big, f"{url_path}: no metric found ({normal}, {big})"
        assert min(big) > max(normal), f"{url_path}: presenter metric values {big} px, normal {normal} px"


# While a training runs, the pages draw light SVGs (gendemo.viz.live_svg) in place of the plotly charts.
LIVE = [  # (url_path, page title, query of a long training of its own, the status→samples selectors)
    ("ddpm-training", "DDPM training", "d_seed=41&d_steps=50000&d_width=256&d_batch=512",
     (".gd-status", [".st-key-ddpm_loss_live", ".st-key-ddpm_samples_live"])),
    ("flows", "Normalizing flows", "f_seed=41&f_steps=20000&f_width=128&f_K=8&f_batch=512",
     (".gd-status", [".st-key-flow_loss_live", ".st-key-flow_samples_live"])),
]
LIVE_START_S = 180.0  # Train → the live panels: a worker's start-up and the first snapshot


@pytest.mark.parametrize("url_path,title,query,sel", LIVE, ids=[v[0] for v in LIVE])
def test_live_training_fits_one_screen(app, page, url_path, title, query, sel):
    """Presenter mode at 1280×720 while a training runs: the status, the live loss curve and the live samples
    span at most one screen, and nothing overflows."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{app.url}/{url_path}?presenter=true&{query}")
    app.wait_title(title)
    app.wait_idle()
    app.click_button("Train")
    top, parts = sel
    deadline = time.monotonic() + LIVE_START_S
    while (span := page.evaluate(SPAN_JS, [top, parts])) is None:
        app.assert_no_crash(f"{title}: training")
        assert time.monotonic() < deadline, f"{title}: no live status, loss and samples after {LIVE_START_S:.0f} s"
        time.sleep(0.25)
    time.sleep(1.5)  # a few redraws of the live panels
    span = page.evaluate(SPAN_JS, [top, parts])
    problems = [p for p in page.evaluate(CHECK_JS, [MIN_PLOT_PX, MIN_PLOT_AREA, OVERLAP_PX]) if "modebar" not in p]
    shots = SHOTS_DIR / "presenter-1280x720"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"live-{url_path}.png"))
    for screen in (1, 2):
        if page.evaluate(SCROLL_JS, screen):
            page.screenshot(path=str(shots / f"live-{url_path}-screen{screen + 1}.png"))
    page.evaluate(SCROLL_JS, 0)
    assert app.status()["note"] in ("training", "queued"), app.status()
    app.click_button("Stop")
    assert span is not None and span <= 720, f"{title}: live status to samples span {span} px, more than 720"
    assert not problems, "\n".join(problems)
