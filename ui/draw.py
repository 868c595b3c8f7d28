"""Draw your own data (Data page): a canvas over the data's axes, its brushes and limits, and the drawn set as the
dataset, kept like an upload (ui/points_store.py, by its hash; the URL's `pts` names it).

The canvas is a Streamlit custom component v2 (st.components.v2.component, public API) written here: ~150 lines
of plain JavaScript on an HTML canvas, no package. It was chosen over streamlit-drawable-canvas 0.13 (which works on
Streamlit 1.67 in Chromium, tried) and over st.plotly_chart's lasso selection (which returns the lasso's path in
data coordinates, tried) because only it has a spray brush whose density follows how long you spray, speaks in
the data's coordinates (drawable-canvas returns Fabric.js paths of quadratic curves in pixels over a background
image we would have to render), and draws an open stroke as a stroke (a lasso closes and fills it, and replaces the
previous selection). The browser sends one stroke at a time (a trigger value): its kind and its vertices (pen) or
dabs (spray, one every TICK_MS while the button is held) in data coordinates; the strokes live in the session, and
gendemo.drawing turns them into points.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from gendemo import drawing, jobs
from ui import data, points_store, settings, style

KEY = "draw_canvas"
STROKES = "draw_strokes"  # the session's strokes: a list of (kind, [[x, y], …]), oldest first
ERROR = "draw_error"
LO, HI = -3.0, 3.0  # the canvas covers [LO, HI]² in data units (the built-in datasets live within about ±3)
TICK_MS = 25  # the spray's dab interval
MIN_STEP = 0.01  # the pen keeps a vertex when it moved this far (data units)
SEED = 0  # the drawing's points are a function of (strokes, n, spread, spray radius): one fixed seed
MAX_SHOWN = drawing.MAX_POINTS
BRUSHES = {"line": "Pen", "spray": "Spray"}
SPREAD_MAX = 0.5
N_MIN = 500  # the number-of-points slider's least (gendemo.drawing allows fewer)
SPRAY_MAX = 1.0
DAB_INK = 0.02  # a dab weighs like 0.02 units of pen stroke (module doc of gendemo/drawing.py)
NAME = "drawing"

_HTML = '<canvas class="gd-draw" role="img" aria-label="drawing canvas"></canvas>'
_CSS = """
.gd-draw { display: block; width: 100%; aspect-ratio: 1 / 1; touch-action: none; cursor: crosshair;
           max-width: min(560px, calc(100vh - 200px));  /* the toolbar and the whole canvas on one screen */
           color: var(--st-text-color, #31333f); border-radius: 4px; }
"""
_JS = """
// margins around the axes, px, larger in presenter mode (d.scale); the test reads them from data-*
const margins = (d) => ({l: 44 * d.scale, r: 12, t: 12, b: 34 * d.scale});
const MAXV = @MAXV@, TICK = @TICK@, STEP = @STEP@;

function draw(cv) {
  const d = cv.gd.data, W = cv.clientWidth, H = cv.clientHeight, M = margins(d), k = d.scale;
  if (!W || !H) return;
  const dpr = window.devicePixelRatio || 1;
  if (cv.width !== Math.round(W * dpr) || cv.height !== Math.round(H * dpr)) {
    cv.width = Math.round(W * dpr); cv.height = Math.round(H * dpr);
  }
  Object.assign(cv.dataset, {lo: d.lo, hi: d.hi, ml: M.l, mr: M.r, mt: M.t, mb: M.b,
                             n: d.points.length, strokes: d.strokes.length});
  const g = cv.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, W, H);
  const span = d.hi - d.lo, pw = W - M.l - M.r, ph = H - M.t - M.b;
  const px = (x) => M.l + (x - d.lo) / span * pw, py = (y) => M.t + (d.hi - y) / span * ph;
  const fg = getComputedStyle(cv).color;
  g.lineWidth = 1; g.font = `${Math.round(12 * k)}px sans-serif`; g.fillStyle = fg; g.textAlign = 'center';
  for (let t = Math.ceil(d.lo); t <= d.hi; t++) {
    g.strokeStyle = t === 0 ? 'rgba(128,128,128,0.6)' : 'rgba(128,128,128,0.25)';
    g.beginPath(); g.moveTo(px(t), M.t); g.lineTo(px(t), M.t + ph); g.moveTo(M.l, py(t)); g.lineTo(M.l + pw, py(t));
    g.stroke();
    g.fillText(String(t), px(t), M.t + ph + 14 * k);
    g.textAlign = 'right'; g.fillText(String(t), M.l - 6, py(t) + 4 * k); g.textAlign = 'center';
  }
  g.fillText('x₁', M.l + pw / 2, H - 4);
  g.save(); g.translate(12 * k, M.t + ph / 2); g.rotate(-Math.PI / 2); g.fillText('x₂', 0, 0); g.restore();
  g.strokeStyle = 'rgba(128,128,128,0.8)'; g.strokeRect(M.l, M.t, pw, ph);
  g.save(); g.beginPath(); g.rect(M.l, M.t, pw, ph); g.clip();
  g.fillStyle = 'rgba(31,119,180,0.55)';
  const q = 3 * k;
  for (const p of d.points) g.fillRect(px(p[0]) - q / 2, py(p[1]) - q / 2, q, q);
  const strokes = d.strokes.concat(cv.gd.live ? [cv.gd.live] : [], cv.gd.pending ? [cv.gd.pending] : []);
  strokes.forEach((s, i) => {
    const now = i >= d.strokes.length;
    g.strokeStyle = now ? 'rgba(214,39,40,0.9)' : 'rgba(128,128,128,0.7)';
    g.fillStyle = now ? 'rgba(214,39,40,0.35)' : 'rgba(128,128,128,0.25)';
    if (s.kind === 'line') {
      g.lineWidth = (now ? 2.5 : 1.5) * k; g.beginPath();
      s.xy.forEach((p, j) => (j ? g.lineTo(px(p[0]), py(p[1])) : g.moveTo(px(p[0]), py(p[1]))));
      g.stroke();
    } else {
      for (const p of s.xy) { g.beginPath(); g.arc(px(p[0]), py(p[1]), 3 * k, 0, 2 * Math.PI); g.fill(); }
    }
  });
  g.restore();
}

function setup(cv) {
  let timer = null, last = null;
  const toData = (ev) => {
    const r = cv.getBoundingClientRect(), d = cv.gd.data, span = d.hi - d.lo, M = margins(d);
    const u = (ev.clientX - r.left - M.l) / (r.width - M.l - M.r);
    const v = (ev.clientY - r.top - M.t) / (r.height - M.t - M.b);
    const clamp = (z) => Math.min(d.hi, Math.max(d.lo, z));
    return [clamp(d.lo + u * span), clamp(d.hi - v * span)];
  };
  cv.addEventListener('pointerdown', (ev) => {
    if (ev.button !== 0 || cv.gd.data.disabled) return;
    ev.preventDefault();
    cv.setPointerCapture(ev.pointerId);
    last = toData(ev);
    cv.gd.live = {kind: cv.gd.data.brush, xy: [last]};
    if (cv.gd.live.kind === 'spray') {
      timer = setInterval(() => {
        const s = cv.gd.live;
        if (s && s.xy.length < MAXV) { s.xy.push(last); draw(cv); }
      }, TICK);
    }
    draw(cv);
  });
  cv.addEventListener('pointermove', (ev) => {
    const s = cv.gd.live;
    if (!s) return;
    last = toData(ev);
    if (s.kind === 'line' && s.xy.length < MAXV) {
      const q = s.xy[s.xy.length - 1];
      if (Math.hypot(last[0] - q[0], last[1] - q[1]) >= STEP) { s.xy.push(last); draw(cv); }
    }
  });
  const end = () => {
    const s = cv.gd.live;
    if (!s) return;
    clearInterval(timer); timer = null;
    cv.gd.live = null;
    const r4 = (z) => Math.round(z * 1e4) / 1e4;
    cv.gd.pending = s;  // shown until Python answers with the strokes (the next data)
    draw(cv);
    cv.gd.send('stroke', {kind: s.kind, xy: s.xy.map((p) => [r4(p[0]), r4(p[1])])});
  };
  cv.addEventListener('pointerup', end);
  cv.addEventListener('pointercancel', end);
  new ResizeObserver(() => draw(cv)).observe(cv);
}

export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  const cv = parentElement.querySelector('canvas.gd-draw');
  if (!cv.gd) { cv.gd = {live: null, pending: null}; setup(cv); }
  cv.gd.data = data; cv.gd.send = setTriggerValue; cv.gd.pending = null;
  draw(cv);
}
""".replace("@MAXV@", str(drawing.MAX_VERTICES)).replace("@TICK@", str(TICK_MS)).replace("@STEP@", str(MIN_STEP))

_canvas = st.components.v2.component("gendemo_draw", html=_HTML, css=_CSS, js=_JS)


def strokes() -> list[tuple[str, list]]:
    return st.session_state.setdefault(STROKES, [])


def _on_stroke() -> None:
    """A stroke arrived from the browser (its trigger value): keep it, unless it is a pen's dot or too many."""
    ev = st.session_state[KEY].get("stroke")
    if not ev:
        return
    st.session_state.pop(ERROR, None)
    try:
        s = drawing.stroke(ev.get("kind"), ev.get("xy"))
    except (ValueError, AttributeError) as exc:
        st.session_state[ERROR] = f"That stroke was not kept: {exc}"
        return
    if s.kind == "line" and drawing.arc_length(s.xy)[-1] < MIN_STEP:
        return  # a click with the pen: no length, no points
    if len(strokes()) >= drawing.MAX_STROKES:
        st.session_state[ERROR] = f"A drawing has at most {drawing.MAX_STROKES} strokes: undo or clear some."
        return
    strokes().append((s.kind, s.xy.tolist()))


def _undo() -> None:
    if strokes():
        strokes().pop()
    st.session_state.pop(ERROR, None)


def _clear() -> None:
    strokes().clear()
    st.session_state.pop(ERROR, None)


def points() -> np.ndarray | None:
    """The drawing's points under the current brush settings (None when nothing is drawn yet)."""
    if not strokes():
        return None
    ss = st.session_state
    return drawing.sample([drawing.Stroke(k, np.asarray(xy, dtype=np.float64)) for k, xy in strokes()],
                          int(ss.get("draw_n", 2000)), float(ss.get("draw_spread", 0.08)), SEED,
                          spray_radius=float(ss.get("draw_spray", 0.25)), dab_ink=DAB_INK)


def _use() -> None:
    """Keep the drawing's points like an upload, under their hash, and train on them (the URL names them)."""
    st.session_state.pop(ERROR, None)
    try:
        x = points()
        if x is None:
            raise ValueError("nothing drawn yet")
        settings.use_upload(points_store.save(x, NAME, jobs.points_digest(x)))
    except ValueError as exc:
        st.session_state[ERROR] = f"Could not use this drawing: {exc}."
    except OSError as exc:
        st.session_state[ERROR] = f"The server could not keep the drawing ({exc.strerror or exc})."


def controls() -> None:
    """What the brushes do, and the limits (the Data page's left column)."""
    st.markdown("Draw on the canvas, over the data's axes: the **pen** puts points along your stroke, uniformly by length, "
                "jittered by the spread; the **spray** scatters points where you hold it, more the longer you "
                "spray. The points are then the dataset, like an upload (`pts=…` in the address).")
    st.caption(f"Limits: the canvas covers [{LO:g}, {HI:g}]² · {N_MIN:,}–{drawing.MAX_POINTS:,} "
               f"points · pen spread ≤ {SPREAD_MAX:g}, spray radius ≤ {SPRAY_MAX:g} · at most "
               f"{drawing.MAX_STROKES} strokes of {drawing.MAX_VERTICES:,} vertices (or spray dabs, one every "
               f"{TICK_MS} ms) each. Like an upload, 60 % of the points are trained on and 20 % held out for the "
               "metrics.")


def canvas() -> None:
    """The brush, undo / clear / use, the brushes' settings, and the canvas with the strokes and their points (the
    Data page's right column)."""
    try:
        x = points()  # the sliders' values from the session (their defaults on the first run), drawn below
        problem = None
    except ValueError as exc:  # e.g. the points of a horizontal line with no spread lie on a line
        x, problem = None, exc
    key = None if x is None else jobs.points_digest(x)
    in_use = key is not None and data.upload_key() == key
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.segmented_control("Brush", list(BRUSHES), format_func=BRUSHES.get, default="line", required=True,
                             key="draw_brush")
        st.button("Undo", key="draw_undo", icon=":material/undo:", on_click=_undo, disabled=not strokes())
        st.button("Clear", key="draw_clear", icon=":material/delete:", on_click=_clear, disabled=not strokes())
        st.button("Use this drawing as the data", key="draw_use", type="primary", on_click=_use,
                  disabled=x is None or in_use, help="In use." if in_use else None)
    with st.container(horizontal=True):
        st.slider("Pen spread (std)", 0.01, SPREAD_MAX, 0.08, step=0.01, key="draw_spread", width=200,
                  help="Each pen point is its place on the stroke plus Gaussian noise of this standard deviation "
                       "(data units).")
        st.slider("Spray radius (std)", 0.05, SPRAY_MAX, 0.25, step=0.05, key="draw_spray", width=200,
                  help="A spray's points are Gaussian around the spray can, with this standard deviation (data "
                       "units).")
        st.slider("Number of points", N_MIN, drawing.MAX_POINTS, 2000, step=100, key="draw_n", width=200,
                  help="Shared between the strokes by their ink: a pen stroke by its length, a spray by how long "
                       "it was held.")
    if st.session_state.get(ERROR):
        st.error(st.session_state[ERROR])
    if problem is not None:
        st.error(f"These strokes give no points: {problem}")
    shown = [] if x is None else np.round(x[:MAX_SHOWN].astype(np.float64), 3).tolist()
    spec = {"lo": LO, "hi": HI, "brush": st.session_state.get("draw_brush") or "line", "points": shown,
            "strokes": [{"kind": k, "xy": xy} for k, xy in strokes()], "disabled": False,
            "scale": 1.4 if style.presenter() else 1.0}  # presenter mode: larger labels, points and lines
    _canvas(data=spec, key=KEY, on_stroke_change=_on_stroke, width="stretch")
    n = 0 if x is None else len(x)
    st.caption(f"{len(strokes())} stroke(s), {n:,} points" + (
        f": in use as the data (`pts={key}`)" if in_use else ": not the data yet" if n
        else ": draw with the mouse (or a finger)"))
