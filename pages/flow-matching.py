"""Flow matching (lecture Part 1, Eq. (1)-(2)): u_θ trained live as a job, its loss against the exact floor, the
straight conditional paths next to the curved marginal ones, u_θ next to the exact u* of the training set, and the
ODE's trajectories (with the exact field: memorisation)."""

from ui import router

router.inside_app()  # first, before the page's imports: a deep link on a fresh server must run inside app.py

import numpy as np
import streamlit as st
import torch

from gendemo import exact, flow_matching, ode, viz
from gendemo.viz import fields
from ui import ckpt, export, fm, jobs, live, status, style
from ui.urlspec import VIEW

SLOT = fm.SLOT
LIVE_SAMPLES = 500
SAMPLE_EVERY = 1.0  # seconds between redraws of the samples while following a training
PATH_POINTS = 400  # points of the path animation
PATH_STEPS = 40  # Heun steps of its marginal ODE paths
GRID = 19  # the velocity field's grid: GRID × GRID arrows
RACE_POINTS = 300  # points of the ODE trajectories
BIND = "query-params"


def _samples(v: live.View) -> np.ndarray:
    """Samples of the model at the view's step by the ODE (Heun, 20 steps), in the data's units (shared)."""

    def build() -> np.ndarray:
        traj = flow_matching.sample(v.model, LIVE_SAMPLES, torch.Generator().manual_seed(1234))
        return v.model.unstandardize(traj.xs[-1].float()).numpy()

    return jobs.derived(("fm-samples", *v.version), build)


def render_status(v: live.View | None) -> None:
    """Fast panel: step, loss, the loss curve and the exact floor under it."""
    if v is None:
        st.info("Press Train to train u_θ on the current dataset with the sidebar's settings (Flow matching).")
        return
    floor, floor_se = fm.loss_floor(v.dataset)
    _, losses = v.history()
    last = float(np.mean(losses[-100:])) if losses else float("nan")
    status.show_training(v.job, v.job.step if v.live else v.step, [
        status.Metric("loss (last 100 steps)", f"{last:.3f}" if losses else "–",
                      note=f"floor {floor:.2f} ± {floor_se:.2f}" if np.isfinite(last) else None,
                      help="E|u_θ(X_t, t) − (X_1 − X_0)|² on the training batches. The floor is its least value over "
                           "every possible field, reached by the exact u* of the training set: not zero.")],
        presenter=style.presenter())
    steps, history = v.history()
    kw = {"title": "flow-matching loss E|u_θ(X_t, t) − (X_1 − X_0)|²", "y_title": "loss", "floor": floor,
          "floor_label": f"exact floor {floor:.2f} ± {floor_se:.2f}", "style": style.figure_style()}
    if v.live:
        status.svg(viz.loss_svg(steps, history, **kw), "fm_loss_live")
    else:
        st.plotly_chart(viz.loss_curve(steps, history, **kw), key="fm_loss", config=export.config("fm_loss"))
    st.caption(f"The dashed line is the least value any field can reach on this training set, the loss of the exact "
               f"u* ({fm.FLOOR_MC:,} Monte-Carlo draws, ± its standard error): **the loss does not go to zero**.")


def render_samples(v: live.View | None) -> None:
    """Slow panel: samples of the model at the view's step, over the data."""
    if v is None:
        return
    fs, pts = style.figure_style(), _samples(v)
    title = f"samples Y_1 (ODE of Eq. (2), Heun 20 steps), step {v.step:,}"
    if v.live:
        status.svg(viz.scatter_svg(pts, title=title, reference=v.dataset.train, style=fs), "fm_samples_live")
    else:
        st.plotly_chart(viz.scatter(pts, title=title, reference=v.dataset.train, style=fs), key="fm_samples",
                        config=export.config("fm_samples"))


def _paths(v: live.View) -> dict:
    """The same X_0 carried by Eq. (1) to random training points (straight) and by the ODE of u_θ (curved)."""

    def build() -> dict:
        model = v.model
        g = torch.Generator().manual_seed(7)
        x0 = torch.randn(PATH_POINTS, 2, generator=g)
        x1 = fm.standardized(v.dataset.train)[torch.randint(0, len(v.dataset.train), (PATH_POINTS,), generator=g)]
        ts = flow_matching.time_grid(PATH_STEPS)
        cond = torch.stack([flow_matching.path(x0.double(), x1, t) for t in ts]).float()
        marg = flow_matching.sample(model, PATH_POINTS, g, steps=PATH_STEPS, method="heun", y0=x0).xs.float()
        with torch.inference_mode():
            return {"ts": ts, "cond": model.unstandardize(cond).numpy(), "marg": model.unstandardize(marg).numpy()}

    return jobs.derived(("fm-paths", *v.version), build)


def _field(v: live.View, t: float) -> dict:
    """u_θ(·, t) and u*(·, t) of the training set on a grid, as velocities in the data's units (shared)."""

    def build() -> dict:
        model = v.model
        rng = viz.robust_range(v.dataset.train, pad=0.25)
        xs, ys = np.linspace(*rng[0], GRID), np.linspace(*rng[1], GRID)
        gx, gy = np.meshgrid(xs, ys)
        grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32))
        z = model.standardize(grid)
        learned = flow_matching.velocity_field(model, t, z).double() * model.scale.double()
        star = exact.exact_velocity(z.double(), t, fm.standardized(v.dataset.train)) * model.scale.double()
        return {"xs": xs, "ys": ys, "learned": learned.numpy(), "exact": star.numpy()}

    return jobs.derived(("fm-field", *v.version, round(t, 4)), build)


def _trajectories(v: live.View, method: str, steps: int, exact_field: bool) -> dict:
    """The ODE from one noise with u_θ (method, steps), and with the exact u* (Euler, `fm.exact_grid`) if asked."""

    def build() -> dict:
        model = v.model
        y0 = torch.randn(RACE_POINTS, 2, generator=torch.Generator().manual_seed(11))
        net = flow_matching.sample(model, RACE_POINTS, None, steps=steps, method=method, y0=y0).xs.float()
        r = jobs.derived(("fm-copy-radius", v.dataset.choice), lambda: fm.copy_radius(v.dataset.train))
        with torch.inference_mode():
            out = {"net": model.unstandardize(net).numpy(), "radius": r}
        out["net_copied"] = exact.memorised_fraction(out["net"][-1], v.dataset.train, r)
        if exact_field:
            field = exact.ExactVelocity.like(model, v.dataset.train)
            with torch.inference_mode():
                xs = ode.solve(field.u_theta, y0.double(), fm.exact_grid(steps), method="euler")
                out["exact"] = field.unstandardize(xs.float()).numpy()
            out["exact_copied"] = exact.memorised_fraction(out["exact"][-1], v.dataset.train, r)
        return out

    return jobs.derived(("fm-traj", *v.version, method, steps, exact_field), build)


st.title("Flow matching")
st.latex(r"X_t = (1-t)\,X_0 + t\,X_1,\quad X_0 \sim p_0,\ X_1 \sim p_1 \qquad (1)")
st.latex(r"\frac{dY_t}{dt} = u(Y_t, t),\quad t \in [0, 1] \qquad (2)")
st.caption("p_0 is the Gaussian prior N(0, I), p_1 the data: **t = 0 is the prior and t = 1 the data**, the reverse "
           "of the DDPM's step k (k = 0 the data, k = N the noise). u_θ is trained on E|u_θ(X_t, t) − (X_1 − X_0)|² "
           "(t ~ U[0, 1]), whose minimiser is the marginal velocity u*(x, t) = (E[X_1 | X_t = x] − x)/(1 − t); "
           "Y_0 ~ p_0 carried by Eq. (2) then has the law of X_t at every t.")
left, right = st.columns([1, 2.2], gap="large")
with left:
    view = live.controls(SLOT)
    with st.expander("Save / load the model"):
        ckpt.panel(SLOT, view)
    with st.expander("Export the numbers (CSV)"):
        export.training_csv(SLOT, view)
with right:
    live.panels(SLOT, render_status, render_samples, SAMPLE_EVERY)

if view is not None:
    fs = style.figure_style()
    st.subheader("Straight conditional paths, curved marginal paths")
    p = _paths(view)
    fig = fields.paths_animation(p["cond"], p["marg"], p["ts"], reference=view.dataset.train,
                                 style=style.animation_style())  # its slider and buttons: taller in presenter mode
    st.plotly_chart(fig, key="fm_paths", config=export.config("fm_paths"))
    st.caption("Both panels start from the same X_0 ~ N(0, I) (t = 0). Left: each X_0 goes in a straight line to a "
               "training point X_1 drawn at random: Eq. (1), the path the loss is built on. Its velocity X_1 − X_0 "
               "is not a function of X_t (paths cross). Right: the ODE of u_θ, the average of those velocities "
               "at each point: paths never cross, so they bend. Press ▶ Play.")

    st.subheader("The velocity field at t: learned next to exact")
    t = st.slider("time t (0: prior, 1: data)", 0.0, 0.95, VIEW["fm_t"].default, step=0.05, key="fm_t", bind=BIND,
                  help="u*(x, t) = (E[X_1 | X_t = x] − x)/(1 − t) grows like 1/(1 − t): it is not defined at t = 1.")
    f = _field(view, float(t))
    st.plotly_chart(fields.field_comparison(f["xs"], f["ys"], f["learned"], f["exact"], t=float(t),
                                            points=view.dataset.train, style=fs),
                    key="fm_field", config=export.config("fm_field"))
    err = np.linalg.norm(f["learned"] - f["exact"], axis=1)
    st.caption(f"Arrows on one scale (data units per unit of t). u* is the exact minimiser of the loss for this "
               f"training set: a posterior mean over its {len(view.dataset.train):,} points. Mean |u_θ − u*| on the "
               f"grid: {err.mean():.3f} (largest {err.max():.3f}). Near t = 1 u* points at single training "
               "points, which the network smooths over: that is where it generalises.")

    st.subheader("ODE trajectories")
    c = st.columns([1, 1, 1.4])
    method = c[0].radio("solver", VIEW["fm_solver"].options, format_func=VIEW["fm_solver"].label, key="fm_solver",
                        index=VIEW["fm_solver"].options.index(VIEW["fm_solver"].default), bind=BIND, horizontal=True)
    steps = c[1].select_slider("steps", VIEW["fm_S"].options, value=VIEW["fm_S"].default, key="fm_S", bind=BIND,
                               help="Uniform steps from t = 0 to 1: Euler 1, Heun 2, RK4 4 evaluations of u_θ a step.")
    use_exact = c[2].checkbox("also sample with the exact field u* of the training set", key="fm_exact", bind=BIND,
                              help="Euler with u*, on steps that shrink towards t = 1 (t_i = 1 − (1 − i/S)³): "
                                   "u* ~ 1/(1 − t) is not defined at t = 1, and its last step lands on "
                                   "E[X_1 | X_{1−h} = x], one training point once h is small.")
    tr = _trajectories(view, method, int(steps), bool(use_exact))
    label = VIEW["fm_solver"].label(method)
    cols = st.columns(2) if use_exact else [st.container()]
    with cols[0]:
        st.plotly_chart(fields.trajectories([(f"u_θ, {label}", tr["net"])], reference=view.dataset.train,
                                            title=f"network u_{{θ}}: {label}, {steps} steps", style=fs),
                        key="fm_traj", config=export.config("fm_traj"))
        st.metric("samples on a training point", f"{tr['net_copied']:.0%}",
                  help=f"Within {tr['radius']:.2g} of some training point: a tenth of the training points' median "
                       "distance to their nearest neighbour.")
    if use_exact:
        with cols[1]:
            st.plotly_chart(fields.trajectories([("u*, Euler", tr["exact"])], reference=view.dataset.train,
                                                title=f"exact u* of the training set: Euler, {steps} steps (shrinking)",
                                                style=fs), key="fm_traj_exact", config=export.config("fm_traj_exact"))
            st.metric("samples on a training point", f"{tr['exact_copied']:.0%}")
        st.caption("The exact field is the loss's minimiser for this finite training set: its samples are copies of "
                   "training points (memorisation). The network cannot represent it and generalises instead: its "
                   "samples fill the data's shape between the training points.")

style.explain("What to look for", """
* The **loss does not go to zero**: X_1 − X_0 is random given X_t, so the best field (its conditional mean u*) still
  leaves E Var[X_1 − X_0 | X_t], the dashed floor, computed exactly from the training set.
* **Paths**: the conditional paths of Eq. (1) are straight but cross; the ODE's paths of Eq. (2) cannot cross, so they
  curve. With few steps, Euler cuts the curves short: compare Euler, Heun and RK4 at 2-5 steps.
* **Field**: at small t, u* points everywhere towards the data's mean; near t = 1 it points at single training points.
* **Exact field**: sampling with u* memorises the training set; the network, which is smoother, does not.
""")
