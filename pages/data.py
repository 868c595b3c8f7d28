"""Data: choose the 2D dataset every other page trains on, or upload your own points."""

import hashlib

import numpy as np
import streamlit as st

from gendemo import datasets, viz
from ui import data, router, style

router.inside_app()  # a deep link on a fresh server must still run inside app.py

SHOWN = 2000  # points drawn in the scatter (plotly draws each as an SVG element); the title says when there are more

st.title("Data")
st.markdown("The dataset chosen here, q₀(x), is the one every other page trains on.")

ds = data.current()
left, right = st.columns([1, 2], gap="large")

with left:
    tab_builtin, tab_upload = st.tabs(["Built-in dataset", "Your own points (CSV)"])
    with tab_builtin:
        def _apply_builtin() -> None:
            ss = st.session_state
            name = ss["data_name"]
            choice = data.DataChoice(name=name, n=int(ss["data_n"]),
                                     noise=float(ss.get(f"data_noise_{name}", datasets.DEFAULT_NOISE[name])),
                                     seed=int(ss["data_seed"]))
            try:
                data.choose_builtin(choice)
            except ValueError as exc:
                ss["data_error"] = f"Cannot use these settings: {exc}. The previous dataset stays in place."

        name = st.selectbox("Dataset", datasets.NAMES, key="data_name", persist_state="session",
                            index=datasets.NAMES.index("moons"), on_change=_apply_builtin)
        st.slider("Number of points n", 200, 20_000, data.DEFAULT_N, step=200, key="data_n",
                  persist_state="session", on_change=_apply_builtin)
        st.slider("Noise (std, data units)", 0.0, 0.5, float(datasets.DEFAULT_NOISE[name]), step=0.01,
                  key=f"data_noise_{name}", persist_state="session", on_change=_apply_builtin,
                  help="Isotropic Gaussian noise added to the points (each dataset has its own default).")
        st.number_input("Seed", 0, 2**31 - 1, 0, step=1, key="data_seed", persist_state="session",
                        on_change=_apply_builtin)
        if ds.choice.upload:
            st.button("Use this built-in dataset", key="data_back", on_click=_apply_builtin)
        err = st.session_state.pop("data_error", None)
        if err:
            st.error(err)
        ds = data.current()
    with tab_upload:
        st.markdown("A CSV of 2D points: exactly two numeric columns (x, y), comma or semicolon separated, "
                    f"header optional, at most {datasets.MAX_POINTS:,} rows and "
                    f"{datasets.MAX_FILE_BYTES // 2**20} MiB. 60 % is trained on, 20 % held out for the metrics.")
        def _apply_upload() -> None:
            """In the upload's callback, i.e. before this run draws anything (the sidebar names the new data)."""
            ss = st.session_state
            upload = ss.get("data_upload")
            if upload is None:
                return
            raw = upload.getvalue()
            digest = hashlib.sha256(raw).hexdigest()
            ss["data_upload_digest"] = digest
            ss.pop("data_upload_error", None)
            try:
                data.choose_upload(data.from_points(datasets.parse_csv_bytes(raw), upload.name, digest))
            except ValueError as exc:
                ss["data_upload_error"] = f"{upload.name}: {exc}"

        upload = st.file_uploader("Upload a CSV", type=["csv", "txt"], key="data_upload", on_change=_apply_upload)
        if upload is not None and st.session_state.get("data_upload_error"):
            st.error(f"Could not use this file — {st.session_state['data_upload_error']}. "
                     "The previous dataset stays in place.")
        ds = data.current()

with right:
    st.subheader(ds.choice.label)
    shown = min(len(ds.train), SHOWN)
    title = "q₀: the training points" + (f" ({shown:,} of {len(ds.train):,} shown)" if shown < len(ds.train) else "")
    fig = viz.scatter(ds.train, title=title, style=style.figure_style(), name="data", max_points=SHOWN)
    st.plotly_chart(fig, key="data_scatter")
    x = ds.train.astype(np.float64)
    cols = st.columns(3)
    cols[0].metric("points", f"{len(x):,}")
    cols[1].metric("mean", f"({x[:, 0].mean():.2f}, {x[:, 1].mean():.2f})")
    cols[2].metric("std", f"({x[:, 0].std():.2f}, {x[:, 1].std():.2f})")
    h = data.true_entropy(ds.choice)
    if h is not None:
        st.caption(f"True entropy H(q₀) ≈ {h:.3f} nats (Monte Carlo, 50,000 points): the lowest NLL any "
                   "flow can reach on this data, since NLL − H = D_KL(q₀ ‖ p_θ) ≥ 0.")

style.explain("What the models see", """
Models train on **standardised** data, x⁽⁰⁾ = (x − mean) / std per coordinate, so that one β-schedule
and one learning rate work for every dataset. Plots on this page and the flow pages speak in the data's
own coordinates; the diffusion pages show x⁽⁰⁾, so that x⁽ᴺ⁾ ≈ N(0, I) can be compared with the data.
""")
