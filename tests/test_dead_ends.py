"""Issue 14, "dead ends and blow-ups": no setting a slider or a link allows blanks a page or draws nonsense.

Each test failed on main at 50da3e7 (checked before the fix).
"""


import pytest
from apphelpers import APP
from apphelpers import open_page as _page
from streamlit.testing.v1 import AppTest


@pytest.fixture(autouse=True)
def _env(app_env):
    yield app_env


def test_noise_zero_is_a_setting_every_page_survives_and_the_data_page_explains():
    from ui.data import DataChoice, true_entropy

    assert true_entropy(DataChoice("moons", noise=0.0)) is None
    assert true_entropy(DataChoice("checkerboard", noise=0.0)) is not None  # uniform on squares: a density
    at = _page("pages/data.py", noise=0.0)
    assert not at.error, [e.value for e in at.error]
    captions = " ".join(c.value for c in at.caption)
    assert "q₀ has no density" in captions, captions
    for page in ("pages/bound.py", "pages/flows.py"):
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, [e.message for e in at.exception])


def _schedule_page(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/forward.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_the_beta_sliders_constrain_each_other_instead_of_blanking_the_page():
    """Main: β₁ > β_N blanked the page's right side with an error, and cosine kept it while the sliders were off."""
    at = _schedule_page()
    at.select_slider(key="b1").set_value(0.1).run()  # above the default β_N = 0.05: β_N follows
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.select_slider(key="bN").value == 0.1 and at.query_params["bN"] == "0.1"
    assert at.get("plotly_chart"), "the page draws the schedule"
    at.select_slider(key="bN").set_value(0.01).run()  # below β₁ = 0.1: β₁ follows down
    assert not at.error and at.select_slider(key="b1").value == 0.01
    at.selectbox(key="sched").set_value("cosine").run()
    assert not at.error and at.select_slider(key="b1").disabled and at.get("plotly_chart")
    assert any("ignored" in c.value for c in at.sidebar.caption), [c.value for c in at.sidebar.caption]


def test_cosine_ignores_the_beta_settings_even_when_they_contradict_each_other():
    at = _schedule_page(sched="cosine")
    at.session_state["b1"] = 0.1
    at.session_state["bN"] = 0.01
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.get("plotly_chart")
    at.switch_page("pages/ddpm-training.py")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]


def test_a_link_with_beta_1_above_beta_N_gets_one_warning_and_the_default_beta_1():
    at = _schedule_page(b1="0.1", bN="0.01")
    warnings = [w.value for w in at.warning if "larger than" in w.value]
    assert len(warnings) == 1 and "using the default β₁ = 0.0001" in warnings[0], [w.value for w in at.warning]
    assert not at.error, [e.value for e in at.error]
    assert at.select_slider(key="b1").value == 1e-4 and at.select_slider(key="bN").value == 0.01
    assert "b1" not in at.query_params and at.query_params["bN"] == "0.01"
    assert at.get("plotly_chart")


def _ranges(fig) -> list[tuple[float, float]]:
    lay = fig.layout
    return [tuple(lay[k].range) for k in sorted(k for k in lay.to_plotly_json() if k[1:5] == "axis")]


def _notes(fig) -> str:
    return " | ".join(a.text for a in fig.layout.annotations)


def test_samples_that_blow_up_leave_the_axes_on_the_data_with_an_off_screen_note():
    """Main: a NICE model's samples at y ≈ 140 set the axes, and the data shrank to a dot."""
    import numpy as np

    from gendemo import datasets, viz

    data = datasets.load("moons", 2000, 0)
    samples = datasets.load("moons", 500, 1)
    samples[:40, 1] = 140.0  # 40 blown-up samples
    fig = viz.scatter(samples, reference=data, title="samples")
    (x0, x1), (y0, y1) = _ranges(fig)
    span = np.ptp(data[:, 1])
    assert y0 > data[:, 1].min() - 0.3 * span and y1 < data[:, 1].max() + 0.8 * span and x1 - x0 < 3 * np.ptp(data[:, 0]), _ranges(fig)
    assert "40 of 500 points off-screen" in _notes(fig), _notes(fig)
    svg = viz.scatter_svg(samples, reference=data, title="samples")
    assert "40 of 500 off-screen" in svg
    fine = viz.scatter(datasets.load("moons", 500, 2), reference=data)
    assert "off-screen" not in _notes(fine)


def test_a_reverse_chain_that_explodes_is_drawn_on_the_data_axes():
    """Main: N = 1000, β_N = 0.999 drew the chain on ±4·10¹¹ axes."""
    import numpy as np

    from gendemo import datasets, viz

    data = datasets.load("moons", 1000, 0)
    data = (data - data.mean(0)) / data.std(0)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((11, 300, 2)).astype(np.float32) * np.logspace(0, 11, 11)[::-1, None, None][::-1]
    fig = viz.reverse_animation(xs, list(range(10, -1, -1)), paths_idx=[0, 1], reference=data)
    for lo, hi in _ranges(fig):
        assert -6 < lo < hi < 6, _ranges(fig)
    assert "of 300 points at k = 0 off-screen" in _notes(fig), _notes(fig)


DESTRUCTIVE = {"N": 1000, "bN": 0.999, "d_width": 32, "d_depth": 2, "d_batch": 128, "d_steps": 500}


def test_a_destructive_schedule_is_warned_about_where_it_trains_and_where_it_samples():
    """Main warned only on the Forward page."""
    from jobhelpers import wait_jobs

    from ui import jobs

    at = _page("pages/ddpm-training.py", **DESTRUCTIVE)
    assert any("signal is destroyed" in w.value for w in at.warning), [w.value for w in at.warning]
    at.button(key="ddpm_train").click().run()
    wait_jobs(jobs.table(), 300)
    at.switch_page("pages/reverse.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("signal is destroyed" in w.value for w in at.warning), [w.value for w in at.warning]
    import json

    spec = next(json.loads(el.proto.spec) for el in at.get("plotly_chart") if el.proto.id.endswith("-rev_anim"))
    for axis in ("xaxis", "yaxis"):
        lo, hi = spec["layout"][axis]["range"]
        assert -10 < lo < hi < 10, spec["layout"][axis]


def test_the_log_det_grid_shows_every_layer_or_names_those_left_out():
    """Main capped the grid at 12 panels: a 13-layer flow silently lost f₇⁻¹."""
    import numpy as np

    from gendemo import viz

    xs, ys = np.linspace(-1, 1, 6), np.linspace(-1, 1, 5)
    per = np.random.default_rng(0).standard_normal((13, 5, 6))
    labels = [f"f_{{{k}}}⁻¹" for k in range(13, 0, -1)]
    fig = viz.logdet_heatmaps(xs, ys, per, per.sum(0), layer_labels=labels)
    assert sum(t.type == "heatmap" for t in fig.data) == 14
    assert "f<sub>7</sub>⁻¹" in _notes(fig) and "not shown" not in fig.layout.title.text
    few = viz.logdet_heatmaps(xs, ys, per, per.sum(0), layer_labels=labels, max_layers=5)
    assert sum(t.type == "heatmap" for t in few.data) == 6
    shown = [a.text for a in few.layout.annotations]
    assert all((f"f<sub>{k}</sub>⁻¹" in few.layout.title.text) != (f"f<sub>{k}</sub>⁻¹" in shown) for k in range(1, 14))
    assert "not shown: " in few.layout.title.text


def test_the_layer_animation_moves_between_layers_and_fits_the_shape_it_arrives_at():
    """Main: 14 frames that jump, on axes covering every frame, so the final shape sat small in a corner."""
    import numpy as np

    from gendemo import viz

    rng = np.random.default_rng(0)
    zs = rng.standard_normal((4, 200, 2)).astype(np.float32) * np.array([8.0, 8.0, 4.0, 1.0])[:, None, None]
    fig = viz.layer_animation(zs, ["z_3 = x", "z_2", "z_1", "z_0"], between=3, fit_last=True)
    assert len(fig.frames) == 3 * 4 + 1
    mid = np.asarray(fig.frames[2].data[0].x)  # halfway from z_3 to z_2
    assert np.allclose(mid, (zs[0, :, 0] + zs[1, :, 0]) / 2, atol=1e-5)
    assert [s.label for s in fig.layout.sliders[0].steps][4] == "z<sub>2</sub>"
    (x0, x1), (y0, y1) = _ranges(fig)
    last = viz.robust_range(zs[-1])
    assert x1 - x0 <= 2.05 * (last[0][1] - last[0][0]) and y1 - y0 <= 2.05 * (last[1][1] - last[1][0])


def test_the_coupling_page_shows_all_log_dets_and_an_animation_with_in_between_frames():
    import json

    at = _page("pages/coupling.py")
    specs = {el.proto.id.rsplit("-", 1)[-1]: json.loads(el.proto.spec) for el in at.get("plotly_chart")}
    n_maps = sum(t["type"] == "heatmap" for t in specs["coupling_logdets"]["data"])
    L = at.slider(key="coupling_layer").max + 1  # K couplings and the standardization
    assert n_maps == L + 1, (n_maps, L)
    assert len(specs["coupling_anim"]["frames"]) == 4 * L + 1


def test_the_score_field_says_how_many_chain_points_lie_beyond_its_grid():
    import numpy as np

    from gendemo import viz

    g1 = np.linspace(-3, 3, 7)
    grid = np.stack(np.meshgrid(g1, g1), -1).reshape(-1, 2)
    pts = np.zeros((100, 2))
    pts[:7] = 50.0
    fig = viz.arrow_field(grid, -grid, points=pts, points_name="x⁽ᵏ⁾ of the chain, k = 50")
    assert "7 of 100 points off-screen" in _notes(fig) and fig.data[0].name == "x⁽ᵏ⁾ of the chain, k = 50"


def test_a_flow_trained_on_noise_zero_shows_its_page_and_says_there_is_no_entropy_floor():
    """Main raised from datasets.log_density on the flows page of such a model."""
    from jobhelpers import wait_jobs

    from ui import jobs

    at = _page("pages/flows.py", noise=0.0, f_K=4, f_width=32, f_steps=300)
    at.button(key="flow_train").click().run()
    wait_jobs(jobs.table(), 300)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("q₀ has no density" in c.value for c in at.caption), [c.value for c in at.caption]
