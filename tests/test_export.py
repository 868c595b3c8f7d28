"""Exports (issue 14, part 3): animations as GIF / MP4 with the animation's frames, drawn where the data is; the
training numbers as CSV; checkpoints that keep their loss history."""

from __future__ import annotations

import io
import os

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from gendemo import checkpoints, datasets, tables, viz
from gendemo.config import DDPMConfig, FlowConfig, FMConfig
from gendemo.training import make_state, train_steps
from gendemo.viz import export as vx


def _clouds(n_frames: int, n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n_frames, n, 2)) * np.linspace(0.3, 1.0, n_frames)[:, None, None]).astype(np.float32)


@pytest.fixture(scope="module")
def forward_fig():
    a = _clouds(12)
    return viz.forward_animation(a, a[::-1].copy(), list(range(12)))


def _mp4_frames(data: bytes, tmp_path) -> int:
    path = tmp_path / "a.mp4"
    path.write_bytes(data)
    n, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    return n


def test_gif_and_mp4_have_the_animations_frame_count(forward_fig, tmp_path):
    anim = vx.Animation.of(forward_fig)
    assert anim.n_frames == len(forward_fig.frames) == 12
    frames = vx.render_frames(anim, size=(640, 360))
    gif = vx.gif_bytes(frames, anim.duration_ms)
    im = Image.open(io.BytesIO(gif))
    assert im.format == "GIF" and im.n_frames == 12 and im.size == (640, 360)
    assert im.info["duration"] == anim.duration_ms == 120  # the chart's own ▶ Play speed
    assert _mp4_frames(vx.mp4_bytes(frames, anim.fps), tmp_path) == 12


@pytest.mark.parametrize("builder", ["reverse", "layers"])
def test_every_animation_of_the_app_exports(builder, tmp_path):
    xs = _clouds(9)
    if builder == "reverse":
        fig = viz.reverse_animation(xs, list(range(8, -1, -1)), paths_idx=range(4), x0_hats=xs * 0.5, reference=xs[0])
    else:
        fig = viz.layer_animation(xs)
    anim = vx.Animation.of(fig)
    frames = vx.render_frames(anim, size=(320, 180))
    assert Image.open(io.BytesIO(vx.gif_bytes(frames, anim.duration_ms))).n_frames == len(fig.frames) == 9
    assert _mp4_frames(vx.mp4_bytes(frames, anim.fps), tmp_path) == 9
    assert anim.labels[0] == ("k = 8" if builder == "reverse" else "z₈ = x")


def _blue_centroid(img: Image.Image) -> tuple[float, float]:
    a = np.asarray(img.convert("RGB")).astype(int)
    r, b = a[..., 0], a[..., 2]
    mask = (b > 120) & (r < 90) & (b - r > 80)  # the model's blue #0072B2, not grey, not black
    ys, xs = np.nonzero(mask)
    assert xs.size > 0, "no blue marker drawn"
    return float(xs.mean()), float(ys.mean())


def test_frames_draw_the_points_where_the_axes_put_them():
    """One point moving from (−2, −2) to (2, 2) on the layer animation's equal-aspect axes (±3.2 at least): its
    marker moves from the lower left to the upper right by the same distance in x and y (equal aspect)."""
    zs = np.array([[[-2.0, -2.0]], [[0.0, 0.0]], [[2.0, 2.0]]], np.float32)
    anim = vx.Animation.of(viz.layer_animation(zs))
    f0, f1, f2 = vx.render_frames(anim, size=(640, 360))
    (x0, y0), (x1, y1), (x2, y2) = _blue_centroid(f0), _blue_centroid(f1), _blue_centroid(f2)
    assert x0 < x1 < x2 and y0 > y1 > y2  # image y grows downward
    assert abs((x2 - x0) - (y0 - y2)) < 2.0  # equal aspect: 4 units are as many pixels across as up
    assert abs((x1 - x0) - (x2 - x1)) < 2.0  # linear axes


def test_frame_count_and_size_are_bounded(monkeypatch):
    fig = viz.layer_animation(_clouds(3, n=5), max_frames=300)
    many = viz.layer_animation(_clouds(260, n=5), max_frames=300)
    assert len(many.frames) == 260
    anim = vx.Animation.of(many)
    assert anim.n_frames == vx.MAX_FRAMES
    assert anim.labels[0] == "z₂₅₉ = x" and anim.labels[-1] == "z₀"  # first and last kept
    with pytest.raises(ValueError, match="frame size"):
        vx.render_frames(vx.Animation.of(fig), size=(4000, 3000))
    frames = vx.render_frames(vx.Animation.of(fig), size=(320, 180))
    monkeypatch.setattr(vx, "MAX_BYTES", 1000)
    with pytest.raises(vx.ExportTooLarge, match="limit"):
        vx.gif_bytes(frames, 120)
    with pytest.raises(ValueError, match="no frames"):
        vx.Animation.of(viz.scatter(_clouds(1)[0]))


def test_html_export_is_standalone(forward_fig):
    page = vx.html_bytes(forward_fig).decode()
    assert "<script src=" not in page.replace('<script src="data:', "")  # plotly.js inline, nothing fetched
    assert "Plotly.newPlot" in page and len(page) > 3_000_000  # plotly.js itself is ~4.6 MB
    assert page.count('"name":"f11"') == 1  # every frame is in it


def test_plain_text_of_plotly_markup():
    assert vx.plain_text("z<sub>k−1</sub> = f<sub>k</sub>⁻¹(z<sub>k</sub>)") == "zₖ₋₁ = fₖ⁻¹(zₖ)"
    assert vx.plain_text("x<sub>ab</sub><br><b>y</b>") == "x_{ab} y"  # no subscript b: the whole index stays plain


# ---------------------------------------------------------------------------------------------------------
# CSV


def test_running_mean_is_the_status_metric():
    rng = np.random.default_rng(1)
    losses = rng.random(357).astype(np.float32)
    r = tables.running_mean(losses, 100)
    for i in (0, 1, 50, 99, 100, 101, 356):
        assert r[i] == pytest.approx(np.mean(losses[max(0, i - 99): i + 1], dtype=np.float64), rel=1e-12)


def test_loss_csv_columns_and_rows():
    losses = np.array([0.9, 0.5, 0.25, np.float32(1 / 3)], np.float32)
    data = tables.csv_bytes(tables.loss_columns(losses, window=2), comments=["what it is"])
    lines = data.decode().splitlines()
    assert lines[0] == "# what it is" and lines[1] == "step,loss,loss_mean_last_2"
    back = np.genfromtxt(io.BytesIO(data), delimiter=",", names=True, skip_header=1)  # the comment line
    assert back.dtype.names == ("step", "loss", "loss_mean_last_2") and back.size == 4
    np.testing.assert_array_equal(back["step"], [1, 2, 3, 4])
    np.testing.assert_array_equal(back["loss"].astype(np.float32), losses)  # float32 digits read back exactly
    np.testing.assert_allclose(back["loss_mean_last_2"], [0.9, 0.7, 0.375, (0.25 + float(losses[3])) / 2],
                               rtol=1e-7)
    with pytest.raises(ValueError, match="different lengths"):
        tables.csv_bytes({"a": [1, 2], "b": [1]})


# ---------------------------------------------------------------------------------------------------------
# Checkpoints keep their loss history


DATA = datasets.load("moons", 500, seed=0)


@pytest.mark.parametrize("config", [DDPMConfig(N=10, width=8, depth=1), FlowConfig(K=2, width=8),
                                    FMConfig(width=8, depth=1)], ids=["ddpm", "flow", "flow_matching"])
def test_checkpoint_loss_history_round_trip(config, tmp_path):
    state = make_state(config, DATA)
    train_steps(state, 15)
    assert len(state.history_loss) == 15
    ck = checkpoints.from_bytes(checkpoints.to_bytes(state.config, state.model, state.step, state.history_loss))
    np.testing.assert_array_equal(ck.losses, np.asarray(state.history_loss, np.float32))
    path = tmp_path / "m.pt"
    checkpoints.save(path, state.config, state.model, state.step, state.history_loss[:10])  # a timeline step
    assert checkpoints.load(path).losses.shape == (10,)
    with pytest.raises(ValueError, match="16 losses for 15 steps"):
        checkpoints.to_bytes(state.config, state.model, state.step, [0.0] * 16)


def test_checkpoint_without_history_loads_and_a_bad_one_is_refused():
    state = make_state(DDPMConfig(N=10, width=8, depth=1), DATA)
    train_steps(state, 3)
    payload = torch.load(io.BytesIO(checkpoints.to_bytes(state.config, state.model, 3)), weights_only=True)
    del payload["losses"]  # saved before checkpoints kept their history
    buf = io.BytesIO()
    torch.save(payload, buf)
    assert checkpoints.from_bytes(buf.getvalue()).losses.shape == (0,)
    for bad, why in ((torch.zeros(4), "4 losses for 3 steps"), (torch.zeros(2, dtype=torch.float64), "float32"),
                     ([0.1, 0.2], "1-D float32")):
        payload["losses"] = bad
        buf = io.BytesIO()
        torch.save(payload, buf)
        with pytest.raises(checkpoints.CheckpointError, match=why):
            checkpoints.from_bytes(buf.getvalue())


def test_cli_train_writes_its_loss_history(tmp_path):
    from gendemo import cli

    out = tmp_path / "m.pt"
    cli.main(["train", "--model", "ddpm", "--dataset", "moons", "--n", "300", "--steps", "12", "--N", "10",
              "--width", "8", "--depth", "1", "--out", str(out), "--quiet"])
    ck = checkpoints.load(out)
    assert ck.step == 12 and ck.losses.shape == (12,) and np.isfinite(ck.losses).all()
    assert os.path.getsize(out) > 0


def test_an_uploaded_checkpoint_joins_the_store_with_its_loss_history(app_env):
    """ui/ckpt.py: the store entry of a loaded checkpoint has the losses the file carries (its page's loss curve
    and CSV), where it had none before."""
    from ui import ckpt
    from ui import jobs as ui_jobs

    state = make_state(DDPMConfig(N=10, width=8, depth=1), DATA)
    train_steps(state, 12)
    key = ckpt._store("ddpm", checkpoints.to_bytes(state.config, state.model, state.step, state.history_loss))
    entry = ui_jobs.table().store.get(key)
    assert entry.step == 12
    np.testing.assert_array_equal(entry.losses, np.asarray(state.history_loss, np.float32))
