"""Data: choose the 2D dataset every other page trains on, or upload your own points."""

from ui import router

router.inside_app()  # first, before the page's imports: a deep link on a fresh server must run inside app.py

import hashlib

import numpy as np
import streamlit as st

from gendemo import datasets, viz
from ui import data, draw, export, points_store, settings, style

DRAW_TAB = "Draw your own"
SHOWN = 2000  # points drawn in the scatter (plotly draws each as an SVG element); the title says when there are more

st.title("Data")
st.markdown("The dataset chosen in the sidebar (**Data**), q₀(x), is the one every other page trains on. Or "
            "upload your own points here: the address then names them (`pts=…`), for a reload or a link.")


def _apply_upload() -> None:
    """In the upload's callback, i.e. before this run draws anything (the sidebar names the new data): keep the
    points on the server under their content hash and name that hash in the URL."""
    ss = st.session_state
    upload = ss.get("data_upload")
    if upload is None:
        return
    raw = upload.getvalue()
    ss.pop("data_upload_error", None)
    try:
        key = points_store.save(datasets.parse_csv_bytes(raw), upload.name, hashlib.sha256(raw).hexdigest())
    except ValueError as exc:
        ss["data_upload_error"] = f"{upload.name}: {exc}"
        return
    except OSError as exc:
        ss["data_upload_error"] = f"{upload.name}: the server could not keep it ({exc.strerror or exc})"
        return
    settings.use_upload(key)


ds = data.current()
left, right = st.columns([1, 2], gap="large")

with left:
    tab_builtin, tab_upload, tab_draw = st.tabs(["Built-in dataset", "Your own points (CSV)", DRAW_TAB],
                                                key="data_tab", on_change="rerun")
    with tab_builtin:
        st.markdown("Nine 2D datasets with a known density: choose one, its number of points n, its noise and its "
                    "seed in the sidebar, under **Data**. The address carries them (`ds`, `n`, `noise`, `dseed`).")
        if ds.choice.upload:
            st.button("Use the built-in dataset of the sidebar", key="data_back", on_click=settings.use_builtin)
    with tab_upload:
        st.markdown("A CSV of 2D points: exactly two numeric columns (x, y), comma or semicolon separated, "
                    f"header optional, at most {datasets.MAX_POINTS:,} rows and "
                    f"{datasets.MAX_FILE_BYTES // 2**20} MiB. 60 % is trained on, 20 % held out for the metrics.")
        upload = st.file_uploader("Upload a CSV", type=["csv", "txt"], key="data_upload", on_change=_apply_upload)
        if upload is not None and st.session_state.get("data_upload_error"):
            st.error(f"Could not use this file — {st.session_state['data_upload_error']}. "
                     "The previous dataset stays in place.")
    with tab_draw:
        draw.controls()
    ds = data.current()

with right:
    if st.session_state.get("data_tab") == DRAW_TAB:  # the canvas takes the plot's place while you draw
        st.subheader("Your drawing" + (f" · in use: {ds.choice.label}" if ds.choice.upload else ""))
        draw.canvas()
        st.stop()
    st.subheader(ds.choice.label)
    shown = min(len(ds.train), SHOWN)
    title = "q₀: the training points" + (f" ({shown:,} of {len(ds.train):,} shown)" if shown < len(ds.train) else "")
    fig = viz.scatter(ds.train, title=title, style=style.figure_style(), name="data", max_points=SHOWN)
    st.plotly_chart(fig, key="data_scatter", config=export.config("data_scatter"))
    x = ds.train.astype(np.float64)
    cols = st.columns(3)
    cols[0].metric("points", f"{len(x):,}")
    cols[1].metric("mean", f"({x[:, 0].mean():.2f}, {x[:, 1].mean():.2f})")
    cols[2].metric("std", f"({x[:, 0].std():.2f}, {x[:, 1].std():.2f})")
    if ds.choice.upload:
        total = len(ds.train) + len(ds.heldout) + len(ds.reference)
        drawn = ds.choice.upload.startswith(f"{draw.NAME}, ")
        st.caption(f"Your {'drawing' if drawn else 'file'} has {total:,} points: n = {len(ds.train):,} (60 %) are "
                   "trained on, "
                   f"{len(ds.heldout):,} (20 %) are held out for the metrics (held-out NLL, the bound) and "
                   f"{len(ds.reference):,} (20 %) are the reference sample of the sample-quality floor. The split "
                   "is a fixed shuffle, the same on every visit.")
    h = data.true_entropy(ds.choice)
    if h is not None:
        st.caption(f"True entropy H(q₀) ≈ {h:.3f} nats (Monte Carlo, 50,000 points): the lowest NLL any "
                   "flow can reach on this data, since NLL − H = D_KL(q₀ ‖ p_θ) ≥ 0.")
    elif data.on_curves(ds.choice):
        st.caption(f"With noise {ds.choice.noise:g} the points lie exactly on curves or points: q₀ has no density, "
                   "so there is no entropy H(q₀) to compare an NLL with (a flow's NLL can fall without bound). "
                   f"Noise ≥ {datasets.MIN_DENSITY_NOISE:g} gives q₀ a density.")

style.explain("What the models see", """
Models train on **standardised** data, x⁽⁰⁾ = (x − mean) / std per coordinate, so that one β-schedule
and one learning rate work for every dataset. Plots on this page and the flow pages speak in the data's
own coordinates; the diffusion pages show x⁽⁰⁾, so that x⁽ᴺ⁾ ≈ N(0, I) can be compared with the data.
""")
