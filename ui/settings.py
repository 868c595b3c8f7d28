"""The experiment's settings and their URL: presenter mode, the data, the β-schedule, the DDPM and the flow.

app.py draws these widgets in the sidebar on every page, each with `bind="query-params"`: its key is the URL
parameter (ui/urlspec.py lists them), a value equal to its default is left out of the URL, and Streamlit keeps
the parameters of the main script's widgets across page switches. So the URL is the persistence: a reload, a copied
address and a slide's link all open the same data and the same models. Pages read the settings through
`data_choice`, `schedule_values`, `ddpm_config` and `flow_config`, which fall back to the defaults on a run where
the sidebar was not drawn (yet).
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from gendemo import datasets
from gendemo.config import DDPMConfig, FlowConfig, FMConfig
from gendemo.schedules import make_schedule
from ui import points_store, urlspec
from ui.data import DataChoice
from ui.urlspec import PTS, SIDEBAR, SPECS

BIND = "query-params"
_LOG = logging.getLogger(__name__)
WARNING = "url_warning"  # session state: ({key: sentence}, the settings it was first shown with)


def get(key: str) -> Any:
    """A setting's current value: its widget's, else its default."""
    value = st.session_state.get(key)
    if value is not None:
        return value
    if key == "noise":
        return datasets.DEFAULT_NOISE[get("ds")]
    return SPECS[key].default


# ------------------------------------------------------------------ what the pages read
def data_choice() -> DataChoice:
    """The built-in dataset the settings describe (an upload, named by `pts`, is ui/data.current()'s business)."""
    return DataChoice(name=get("ds"), n=int(get("n")), noise=float(get("noise")), seed=int(get("dseed")))


def schedule_values() -> dict:
    """The β-schedule's settings. The sliders keep β₁ ≤ β_N, and a link with β₁ > β_N loses its β₁ (`check_url`); a
    session state set by hand could still hold it: cosine, which derives β_k from ᾱ(t) and ignores β₁ and β_N, then
    takes the defaults, and the other kinds take β_N = β₁."""
    kind, b1, bN = get("sched"), float(get("b1")), float(get("bN"))
    if b1 > bN:
        b1, bN = (SPECS["b1"].default, SPECS["bN"].default) if kind == "cosine" else (b1, b1)
    return {"schedule": kind, "N": int(get("N")), "beta_1": b1, "beta_N": bN}


def ddpm_config() -> tuple[DDPMConfig | None, str | None]:
    """The DDPM the settings describe, or (None, the engine's message) for a combination it refuses (β₁ > β_N)."""
    v = schedule_values()
    try:
        make_schedule(v["schedule"], v["N"], v["beta_1"], v["beta_N"])
        return DDPMConfig(**v, width=int(get("d_width")), depth=int(get("d_depth")), lr=float(get("d_lr")),
                          batch=int(get("d_batch")), steps=int(get("d_steps")), weighting=get("d_wt"),
                          activation=get("d_act"), seed=int(get("d_seed"))), None
    except ValueError as exc:
        return None, str(exc)


def flow_config() -> tuple[FlowConfig | None, str | None]:
    try:
        return FlowConfig(kind=get("f_kind"), K=int(get("f_K")), width=int(get("f_width")), depth=int(get("f_depth")),
                          lr=float(get("f_lr")), batch=int(get("f_batch")), steps=int(get("f_steps")),
                          scaling=bool(get("f_scale")), seed=int(get("f_seed"))), None
    except ValueError as exc:
        return None, str(exc)


def fm_config() -> tuple[FMConfig | None, str | None]:
    """The flow-matching model the settings describe (Eq. (1)-(2)); the rest of FMConfig keeps its defaults."""
    try:
        return FMConfig(width=int(get("fm_width")), depth=int(get("fm_depth")), lr=float(get("fm_lr")),
                        batch=int(get("fm_batch")), steps=int(get("fm_steps")), seed=int(get("fm_seed"))), None
    except ValueError as exc:
        return None, str(exc)


# ------------------------------------------------------------------ the link's values
def _snapshot() -> tuple:
    return tuple(st.session_state.get(k) for k in [*SIDEBAR, PTS])


def check_url() -> None:
    """Before the widgets: one warning for every parameter of the link that its widget would drop silently (and
    for a `pts` that names no saved points), kept on screen until a setting changes. Never raises."""
    try:
        _check(st.query_params)
    except Exception:  # noqa: BLE001 - a bad link must never break the page (st.rerun's exception passes: no Exception)
        _LOG.exception("checking the URL's settings failed")
    shown = st.session_state.get(WARNING)
    if shown is None:
        return
    found, seen = shown
    if seen is not None and seen != _snapshot():
        del st.session_state[WARNING]
        return
    lines = list(found.values())
    st.warning("This link's " + lines[0] if len(lines) == 1 else
               "This link has settings the app cannot use:\n\n" + "\n".join(f"- {t}" for t in lines),
               icon=":material/link_off:")


def _check(query) -> None:
    params = {k: query.get_all(k) for k in query}
    found = dict(urlspec.problems(params))
    conflicts = dict(urlspec.conflicts(params))
    found.update(conflicts)
    pts = params.get(PTS)
    if pts and not points_store.exists(pts[-1]):
        found[PTS] = (f"`{PTS}={urlspec.quote(pts)}` names no uploaded points on this server: using the built-in "
                      "dataset.")
    if not found:
        return
    pending = st.session_state.get(WARNING)
    if pending is not None and pending[1] is None:  # from the run that reran below
        found = {**pending[0], **found}
    found = {k: found[k] for k in [*SPECS, PTS] if k in found}  # in the sidebar's order
    st.session_state[WARNING] = (found, None)
    # A `pts` naming nothing would stay in its text box, and an infinite number-input value would crash Streamlit's
    # seeding of that widget: drop them while they are unbound (a link's first run) and run again, since this run's
    # widgets are seeded from the query string it started with.
    rerun = False
    for key in found:
        if key in params and (key == PTS or key in conflicts or urlspec.crashes_streamlit(SPECS[key], params[key])):
            try:
                del query[key]
                rerun = True
            except (KeyError, StreamlitAPIException):
                pass
    if rerun:
        st.rerun()


def _record_warning_state() -> None:
    """After the widgets: the settings the warning was first shown with (a change of any of them dismisses it)."""
    shown = st.session_state.get(WARNING)
    if shown is not None and shown[1] is None:
        st.session_state[WARNING] = (shown[0], _snapshot())


# ------------------------------------------------------------------ the sidebar
def use_upload(key: str) -> None:
    """In a callback: train on the uploaded points saved under `key` (ui/points_store.py)."""
    st.session_state[PTS] = key


def use_builtin() -> None:
    """In a callback (a data widget moved): the built-in dataset the sidebar describes replaces an upload."""
    st.session_state[PTS] = ""


def _dataset_changed() -> None:
    st.session_state["noise"] = datasets.DEFAULT_NOISE[st.session_state["ds"]]  # each dataset has its own default
    use_builtin()


def _select_slider(label: str, key: str, **kw) -> None:
    spec = SPECS[key]
    st.select_slider(label, spec.options, value=spec.default, key=key, bind=BIND, format_func=spec.label, **kw)


def _radio(label: str, key: str, **kw) -> None:
    spec = SPECS[key]
    st.radio(label, spec.options, index=spec.options.index(spec.default), key=key, bind=BIND,
             format_func=spec.label, horizontal=True, **kw)


def draw_sidebar() -> None:
    """Every setting, in the sidebar, bound to the URL. Call once a run, from app.py, after `check_url`."""
    with st.sidebar:
        st.toggle("Presenter mode", key="presenter", bind=BIND,
                  help="Larger fonts and markers, explanations collapsed: for a projector in a lecture hall.")
        with st.expander("Data"):
            _data()
        with st.expander("β-schedule"):
            _schedule()
        with st.expander("DDPM network and optimiser"):
            _ddpm()
        with st.expander("Flow"):
            _flow()
        with st.expander("Flow matching"):
            _fm()
    _record_warning_state()


def _data() -> None:
    ds = SPECS["ds"]
    name = st.selectbox("Dataset", ds.options, index=ds.options.index(ds.default), key="ds", bind=BIND,
                        on_change=_dataset_changed)
    st.slider("Number of points n", 200, 20_000, SPECS["n"].default, step=200, key="n", bind=BIND,
              on_change=use_builtin)
    st.slider("Noise (std, data units)", 0.0, 0.5, float(datasets.DEFAULT_NOISE[name]), step=0.01, key="noise",
              bind=BIND, on_change=use_builtin,
              help="Isotropic Gaussian noise added to the points (each dataset has its own default).")
    st.number_input("Seed", 0, urlspec.MAX_SEED, 0, step=1, key="dseed", bind=BIND, on_change=use_builtin)
    # The upload in use, by its hash (Data page). Bound to a widget of app.py, since Streamlit's page switch keeps only
    # the URL parameters of widgets; disabled, since only an upload (or a link) names points.
    upload = st.text_input("Uploaded points (their hash)", key=PTS, bind=BIND, disabled=True,
                           placeholder="none: the built-in dataset above",
                           help="Set by an upload on the Data page: the server keeps the points under this hash.")
    if upload:
        st.caption("In use: your uploaded points. The settings above describe the built-in datasets.")
        st.button("Use the built-in dataset", key="data_builtin_sidebar", on_click=use_builtin)


def _beta_1_moved() -> None:
    """β₁ above β_N: β_N follows up to the nearest choice ≥ β₁ (the sliders constrain each other)."""
    ss = st.session_state
    if ss["b1"] > ss.get("bN", SPECS["bN"].default):
        ss["bN"] = min(b for b in urlspec.BETA_N_CHOICES if b >= ss["b1"])


def _beta_N_moved() -> None:
    """β_N below β₁: β₁ follows down to the nearest choice ≤ β_N."""
    ss = st.session_state
    if ss["bN"] < ss.get("b1", SPECS["b1"].default):
        ss["b1"] = max(b for b in urlspec.BETA_1_CHOICES if b <= ss["bN"])


def _schedule() -> None:
    st.caption("Shared by the Forward-process page and DDPM training.")
    kind = st.selectbox("Schedule kind", SPECS["sched"].options, key="sched", bind=BIND,
                        index=SPECS["sched"].options.index(SPECS["sched"].default),
                        help="cosine (Nichol & Dhariwal 2021) derives β_k from ᾱ(t) = cos²(…): β_1 and β_N are then "
                             "ignored.")
    st.slider("Number of steps N", 1, urlspec.N_MAX_UI, SPECS["N"].default, key="N", bind=BIND)
    cosine = kind == "cosine"
    _select_slider("β₁ (first step)", "b1", disabled=cosine, on_change=_beta_1_moved,
                   help="β₁ ≤ β_N: moving one past the other moves the other along.")
    _select_slider("β_N (last step)", "bN", disabled=cosine, on_change=_beta_N_moved)
    if cosine:
        st.caption("cosine derives every β_k from ᾱ(t): the β₁ and β_N sliders are ignored.")


def _ddpm() -> None:
    _select_slider("width", "d_width")
    st.slider("depth (hidden layers)", 1, 5, SPECS["d_depth"].default, key="d_depth", bind=BIND)
    _select_slider("learning rate", "d_lr")
    _select_slider("batch", "d_batch")
    _select_slider("planned steps", "d_steps", help="The learning rate decays over them.")
    _radio("loss weighting", "d_wt")
    _radio("activation", "d_act",
           help="The hidden layers' nonlinearity. Hardswish, x·min(max(x + 3, 0), 6)/6, is the default: it needs no "
                "exp, so a sampling step costs about a third less than with SiLU, x·sigmoid(x), and trains as well "
                "(benchmarks/tuning.md).")
    st.number_input("seed", 0, urlspec.MAX_SEED, SPECS["d_seed"].default, key="d_seed", bind=BIND)
    _more_and_checkpoint("d")


def _flow() -> None:
    _radio("coupling", "f_kind")
    st.slider("K coupling layers", 1, 16, SPECS["f_K"].default, key="f_K", bind=BIND,
              help="Consecutive couplings keep alternate coordinates (the kept one: first, second, first, …).")
    _select_slider("width (conditioner μ_θ, σ_θ)", "f_width")
    st.slider("depth (hidden layers)", 1, 4, SPECS["f_depth"].default, key="f_depth", bind=BIND)
    _select_slider("learning rate", "f_lr")
    _select_slider("batch", "f_batch")
    _select_slider("planned steps", "f_steps", help="The learning rate decays over them.")
    st.checkbox("NICE paper's diagonal scaling layer", value=SPECS["f_scale"].default, key="f_scale", bind=BIND,
                help="Off by default: the slides' NICE is additive coupling only, det J = 1, so it cannot change "
                     "volume. The NICE paper adds a learned scaling x = exp(s) ⊙ z (log|det J| = Σ s_j).")
    st.number_input("seed", 0, urlspec.MAX_SEED, SPECS["f_seed"].default, key="f_seed", bind=BIND)
    _more_and_checkpoint("f")


def _fm() -> None:
    _select_slider("width (velocity net u_θ)", "fm_width")
    st.slider("depth (hidden layers)", 1, 5, SPECS["fm_depth"].default, key="fm_depth", bind=BIND)
    _select_slider("learning rate", "fm_lr")
    _select_slider("batch", "fm_batch")
    _select_slider("planned steps", "fm_steps", help="The learning rate decays over them.")
    st.number_input("seed", 0, urlspec.MAX_SEED, SPECS["fm_seed"].default, key="fm_seed", bind=BIND)
    spec = SPECS["fm_more"]
    st.number_input("steps past the plan (thousands)", 0, int(spec.hi), 0, step=1, key="fm_more", bind=BIND,
                    help="Set by 'Train 1,000 more' on the Flow matching page.")
    _checkpoint("fm")


def _more_and_checkpoint(p: str) -> None:
    """Steps past the plan ("Train 1,000 more") and a loaded checkpoint's store key: they pick the model too, so
    they are bound by app.py's widgets like every other setting (a page switch keeps only those parameters)."""
    spec = SPECS[f"{p}_more"]
    st.number_input("steps past the plan (thousands)", 0, int(spec.hi), 0, step=1, key=f"{p}_more", bind=BIND,
                    help="Set by 'Train 1,000 more' on the training page: training goes on from the end of the plan "
                         "at its final learning rate, the same result every time.")
    _checkpoint(p)


def _checkpoint(p: str) -> None:
    """A loaded checkpoint's store key (ui/ckpt.py, the URL's d_ck / f_ck / fm_ck): it picks the model too."""
    st.text_input("Loaded checkpoint (its key)", key=f"{p}_ck", bind=BIND, disabled=True,
                  placeholder="none: the model of these settings",
                  help="Set by 'Load a model' on the training page: the server keeps the checkpoint under this key.")
