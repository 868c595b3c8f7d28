"""gendemo.datasets: samplers, input validation, file parsing, and the true densities q_0.

Densities are checked against things computed here independently of the module: a grid
integral, a brute-force quadrature over the curve parameter, histograms of the sampler,
and closed-form entropies.
"""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest

from gendemo import datasets as D

DENSITY_NAMES = [n for n in D.NAMES if n != "pinwheel"]


def _grid(lo: float, hi: float, h: float) -> np.ndarray:
    """Cell midpoints of a square grid over [lo, hi]² with spacing h, shape (m, 2)."""
    g = np.arange(lo + h / 2, hi, h)
    gx, gy = np.meshgrid(g, g)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


# ---------------------------------------------------------------- sampling
def test_names_and_defaults():
    assert D.NAMES == ("moons", "circles", "swiss_roll", "8gaussians", "25gaussians",
                       "checkerboard", "two_spirals", "pinwheel", "rings")
    assert set(D.DEFAULT_NOISE) == set(D.NAMES)
    assert D.DEFAULT_NOISE["moons"] == 0.05
    assert D.MAX_POINTS == 100_000


@pytest.mark.parametrize("name", D.NAMES)
def test_load_shape_dtype_determinism_scale(name):
    x = D.load(name, 20_000, seed=3)
    assert x.shape == (20_000, 2) and x.dtype == np.float32
    np.testing.assert_array_equal(x, D.load(name, 20_000, seed=3))
    np.testing.assert_array_equal(x, D.load(name, 20_000, seed=3, noise=D.DEFAULT_NOISE[name]))
    assert not np.array_equal(x, D.load(name, 20_000, seed=4))
    std = x.std(axis=0)
    assert np.all((std > 0.45) & (std < 2.0)), std  # moons' y: 0.50 in sklearn's coordinates
    assert (np.abs(x) <= 4.0).all(axis=1).mean() > 0.995
    if D.DEFAULT_NOISE[name] > 0:  # the noise argument is used
        assert not np.array_equal(x, D.load(name, 20_000, seed=3, noise=0.5 * D.DEFAULT_NOISE[name]))


def test_moons_in_sklearn_coordinates():
    """sklearn.datasets.make_moons: outer (cos θ, sin θ), inner (1 - cos θ, 1 - sin θ - 0.5), θ in [0, π]."""
    x = D.load("moons", 100_000, seed=0, noise=0.0).astype(np.float64)
    on_outer = np.isclose(np.hypot(x[:, 0], x[:, 1]), 1.0, atol=1e-6) & (x[:, 1] >= -1e-6)
    on_inner = np.isclose(np.hypot(x[:, 0] - 1.0, x[:, 1] - 0.5), 1.0, atol=1e-6) & (x[:, 1] <= 0.5 + 1e-6)
    assert (on_outer | on_inner).all()
    assert abs(on_outer.mean() - 0.5) < 0.01  # moon chosen with prob 1/2
    theta = np.arctan2(x[on_outer, 1], x[on_outer, 0])  # θ ~ U[0, π]: compare quantiles
    np.testing.assert_allclose(np.quantile(theta, [0.1, 0.5, 0.9]), np.pi * np.array([0.1, 0.5, 0.9]), atol=0.02)
    theta = np.arctan2(0.5 - x[on_inner, 1], 1.0 - x[on_inner, 0])
    np.testing.assert_allclose(np.quantile(theta, [0.1, 0.5, 0.9]), np.pi * np.array([0.1, 0.5, 0.9]), atol=0.02)
    # moments by hand: E x = 1/2, E y = 1/4, Var x = 3/4, Var y = 9/16 - 1/π
    np.testing.assert_allclose(x.mean(0), [0.5, 0.25], atol=0.01)
    np.testing.assert_allclose(x.var(0), [0.75, 9 / 16 - 1 / np.pi], atol=0.01)
    noisy = D.load("moons", 100_000, seed=0).astype(np.float64)  # default noise 0.05 = N(0, σ² I)
    np.testing.assert_allclose((noisy - x).std(0), [0.05, 0.05], rtol=0.02)


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="moon"), "valid names: moons, circles"),
    (dict(name=None), "unknown dataset"),
    (dict(n=0), "n .* in \\[1, 100_000\\]"),
    (dict(n=-5), "n "),
    (dict(n=D.MAX_POINTS + 1), "100_000"),
    (dict(n=10.0), "integer"),
    (dict(n=True), "integer"),
    (dict(seed=-1), "seed"),
    (dict(seed=1.5), "seed"),
    (dict(noise=-0.1), "noise .* \\[0.0, 1.0\\]"),
    (dict(noise=float("nan")), "noise"),
    (dict(noise=float("inf")), "noise"),
    (dict(noise=5.0), "noise"),
    (dict(noise="0.1"), "noise"),
])
def test_load_rejects_bad_input(kwargs, match):
    args = dict(name="moons", n=10, seed=0) | kwargs
    with pytest.raises(ValueError, match=match):
        D.load(**args)


# ---------------------------------------------------------------- the user's own points
def test_validate_points_accepts_and_converts():
    out = D.validate_points([[0, 1], [2, 3.5], [1, 1]])
    assert out.dtype == np.float32 and out.shape == (3, 2)
    np.testing.assert_array_equal(out, [[0, 1], [2, 3.5], [1, 1]])


@pytest.mark.parametrize("bad, match", [
    (np.zeros((10, 3)), "shape \\(n, 2\\)"),
    (np.arange(10.0), "shape"),
    (np.random.default_rng(0).normal(size=(2, 50)), "transposed"),
    (np.zeros((1, 2)), "between 2 and"),
    (np.zeros((0, 2)), "between 2 and"),
    (np.random.default_rng(0).normal(size=(D.MAX_POINTS + 1, 2)), "subsample"),
    ([[0, 1], [np.nan, 2], [3, 1]], "NaN or infinite .* row 1"),
    ([[0, 1], [np.inf, 2], [3, 1]], "NaN or infinite"),
    ([[0, 1], [5, 1], [3, 1]], "column 1 \\(y\\) is constant"),
    ([[1e7, 1], [5, 2], [3, 1]], "magnitude"),
    ([["a", "b"], ["c", "d"]], "numeric"),
    ([[1, 2], [3]], "numeric"),
    ([[1 + 2j, 2], [3, 4]], "complex"),
])
def test_validate_points_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        D.validate_points(bad, name="my points")
    with pytest.raises(ValueError, match="^my points"):
        D.validate_points(bad, name="my points")


@pytest.mark.parametrize("text", [
    "x,y\n1.0,2.0\n3,4\n-5e-1,6\n",
    "1.0,2.0\r\n3,4\r\n-0.5,6\r\n",
    "\ufeffx;y\n1,0;2,0\n3;4\n-0,5;6\n",            # BOM, semicolon, decimal comma
    "# my points\n\"x\",\"y\"\n1.0,2.0,\n\n3,4\n-0.5,6\n",  # comment, quotes, trailing comma, blank line
    "1.0\t2.0\n3\t4\n-0.5\t6\n",
])
def test_parse_csv_bytes_formats(text):
    out = D.parse_csv_bytes(text.encode("utf-8"))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1, 2], [3, 4], [-0.5, 6]])


@pytest.mark.parametrize("data, match", [
    (b"", "empty"),
    (b"  \n\n ", "empty"),
    (b"# only a comment\n", "empty"),
    (b"x,y\n", "header but no data"),
    (gzip.compress(b"x,y\n1,2\n3,4\n"), "gzip"),
    (b"PK\x03\x04rest-of-a-zip", "ZIP"),
    (bytes(range(256)) * 4, "binary"),
    (b"\x80\x81\x82abc,def\n", "not UTF-8"),
    (b"x,y,z\n1,2,3\n4,5,6\n", "3 column"),
    (b"x\n1\n2\n", "1 column"),
    (b"1,2\n3,4,5\n", "line 2 has 3"),
    (b"x,y\n1,2\n3,abc\n", "line 3: 'abc' is not a number"),
    (b"1,2\n3,nan\n5,6\n", "line 2: non-finite"),
    (b"1,2\n3,inf\n5,6\n", "non-finite"),
    (b"1,2\n", "between 2 and"),
    (b"1,2\n1,3\n1,4\n", "column 0 \\(x\\) is constant"),
    ("x,y\n1,2\n3,4\n", "must be bytes"),
])
def test_parse_csv_bytes_errors(data, match):
    with pytest.raises(ValueError, match=match):
        D.parse_csv_bytes(data)


def test_parse_csv_bytes_size_limit():
    with pytest.raises(ValueError, match="limit of 10 bytes"):
        D.parse_csv_bytes(b"1,2\n3,4\n5,6\n", max_bytes=10)


def test_parse_points_file(tmp_path):
    pts = np.random.default_rng(0).normal(size=(50, 2))
    np.save(tmp_path / "p.npy", pts)
    np.testing.assert_array_equal(D.parse_points_file(tmp_path / "p.npy"), pts.astype(np.float32))
    np.savetxt(tmp_path / "p.csv", pts, delimiter=",", header="x,y", comments="")
    np.testing.assert_allclose(D.parse_points_file(str(tmp_path / "p.csv")), pts, rtol=1e-6)
    cases = {
        "p.json": (b"[]", "unsupported file type '.json'"),
        "gz.csv": (gzip.compress(b"1,2\n3,4\n"), "gzip"),
        "text.npy": (b"1,2\n3,4\n", "not a NumPy .npy file"),
        "trunc.npy": ((tmp_path / "p.npy").read_bytes()[:100], "could not be read"),
    }
    for fname, (data, match) in cases.items():
        (tmp_path / fname).write_bytes(data)
        with pytest.raises(ValueError, match=match):
            D.parse_points_file(tmp_path / fname)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "3d.npy", np.zeros((4, 2, 2)))
    for fname, match in [("obj.npy", "could not be read"), ("3d.npy", "shape \\(n, 2\\)"),
                         ("missing.csv", "no such file")]:
        with pytest.raises(ValueError, match=match):
            D.parse_points_file(tmp_path / fname)


# ---------------------------------------------------------------- densities
def test_has_density_and_errors():
    assert [D.has_density(n) for n in D.NAMES] == [n != "pinwheel" for n in D.NAMES]
    x = np.zeros((3, 2))
    for call, match in [(lambda: D.has_density("moonz"), "valid names"),
                        (lambda: D.log_density("pinwheel", x), "no closed-form density"),
                        (lambda: D.log_density("nope", x), "no closed-form density|valid names"),
                        (lambda: D.log_density("moons", x, noise=0.0), "noise must be in"),
                        (lambda: D.log_density("8gaussians", x, noise=0.001), "noise must be in"),
                        (lambda: D.log_density("moons", np.zeros((3, 3))), "shape \\(n, 2\\)"),
                        (lambda: D.log_density("moons", [[0.0, np.nan]]), "NaN"),
                        (lambda: D.entropy("pinwheel"), "no density"),
                        (lambda: D.entropy("moons", n=1), "n .*Monte Carlo")]:
        with pytest.raises(ValueError, match=match):
            call()


@pytest.mark.parametrize("name, noise", [(n, None) for n in DENSITY_NAMES]
                         + [("checkerboard", 0.1), ("moons", 0.3), ("swiss_roll", 0.05)])
def test_density_integrates_to_one(name, noise):
    sigma = D.DEFAULT_NOISE[name] if noise is None else noise
    if sigma == 0.0:  # sharp checkerboard: midpoints of a grid aligned with the squares' edges
        x, h = _grid(-4.5, 4.5, 1.5 / 20), 1.5 / 20
    else:  # a Gaussian-smoothed density: a grid of step σ/2 is spectrally accurate
        lo, hi = (-1.0 - 6 * sigma, 2.0 + 6 * sigma) if name == "moons" else (-3.5 - 6 * sigma, 3.5 + 6 * sigma)
        h = sigma / 2
        x = _grid(lo, hi, h)
    p = np.exp(D.log_density(name, x, noise))
    assert p.dtype == np.float64
    assert abs(p.sum() * h * h - 1.0) < 1e-3


def _brute_curve_log_density(name: str, x: np.ndarray, sigma: float, m: int) -> np.ndarray:
    """log ∫ w(t) N(x; c(t), σ² I) dt by Simpson's rule in u ~ U[0, 1] (m even), curves written out anew."""
    u = np.linspace(0.0, 1.0, m + 1)  # composite Simpson in u (m even): O(h⁴) even at the curves' ends
    logw = np.log(np.r_[1.0, np.tile([4.0, 2.0], m // 2)[:-1], 1.0] / (3 * m))
    if name == "moons":  # contract: outer (cos θ, sin θ), inner (1 − cos θ, 1 − sin θ − 0.5)
        th = np.pi * u
        curves = [np.stack([np.cos(th), np.sin(th)], 1), np.stack([1 - np.cos(th), 1 - np.sin(th) - 0.5], 1)]
    elif name == "swiss_roll":  # sklearn's t = 1.5π(1 + 2u), (t cos t, t sin t) / 5
        t = 1.5 * np.pi * (1 + 2 * u)
        curves = [np.stack([t * np.cos(t), t * np.sin(t)], 1) / 5]
    elif name == "two_spirals":  # t = 3π √u, ±(−t cos t, t sin t) / 3
        t = 3 * np.pi * np.sqrt(u)
        c = np.stack([-t * np.cos(t), t * np.sin(t)], 1) / 3
        curves = [c, -c]
    else:  # circles of radii R: (R cos θ, R sin θ)
        th = 2 * np.pi * u
        radii = {"circles": [2.0, 1.0], "rings": [0.75, 1.5, 2.25, 3.0]}[name]
        curves = [r * np.stack([np.cos(th), np.sin(th)], 1) for r in radii]
    c, logw = np.concatenate(curves), np.tile(logw - np.log(len(curves)), len(curves))  # equal weights
    out = []
    for xs in np.array_split(x, max(1, len(x) // 16)):
        e = logw - ((xs[:, None, :] - c[None]) ** 2).sum(-1) / (2 * sigma**2)
        top = e.max(axis=1, keepdims=True)
        out.append(top[:, 0] + np.log(np.exp(e - top).sum(axis=1)))
    return np.concatenate(out) - np.log(2 * np.pi * sigma**2)


@pytest.mark.parametrize("name, noise, m", [("moons", None, 2000), ("moons", 0.005, 10_000),
                                            ("swiss_roll", None, 5000), ("two_spirals", None, 10_000),
                                            ("circles", None, 1024), ("rings", 0.3, 512)])
def test_curve_density_matches_brute_force(name, noise, m):
    """Accurate to 2e-5 nats wherever q_0 is not astronomically small (log q_0 > -30)."""
    sigma = D.DEFAULT_NOISE[name] if noise is None else noise
    rng = np.random.default_rng(1)
    # ≥ 256 points, so that log_density takes its bucketed (pruned) path
    x = np.concatenate([D.load(name, 240, seed=1, noise=2 * sigma), rng.uniform(-3, 3, size=(20, 2)),
                        [[-1.0, 0.0], [2.0, 0.5], [0.0, 0.0]]]).astype(np.float64)  # moons' ends too
    ref = _brute_curve_log_density(name, x, sigma, m)
    got = D.log_density(name, x, noise)
    near = ref > -30
    np.testing.assert_allclose(got[near], ref[near], atol=2e-5)
    assert near.sum() >= 200


def test_mixture_and_checkerboard_density_values():
    centers = [(2 * math.cos(k * math.pi / 4), 2 * math.sin(k * math.pi / 4)) for k in range(8)]
    x = np.array([[2.0, 0.0], [0.3, -1.1], [1.4, 1.5]])
    ref = [np.log(np.mean([math.exp(-((a - c0) ** 2 + (b - c1) ** 2) / (2 * 0.04)) for c0, c1 in centers])
                  / (2 * math.pi * 0.04)) for a, b in x]
    np.testing.assert_allclose(D.log_density("8gaussians", x), ref, rtol=1e-10)
    # sharp checkerboard: 1/18 on the 8 black 1.5-squares of [-3, 3]² (corner square black), 0 elsewhere
    lp = D.log_density("checkerboard", [[-2.9, -2.9], [-1.4, -2.9], [0.1, 0.1], [3.5, 0.0], [-0.1, -1.0]])
    np.testing.assert_allclose(lp[[0, 2, 4]], -np.log(18.0))
    assert np.isneginf(lp[[1, 3]]).all()
    # blurred checkerboard = sharp one convolved with N(0, σ² I), by a grid sum over the shift u
    sigma, h = 0.2, 0.01
    u = _grid(-6 * sigma, 6 * sigma, h)
    weights = np.exp(-(u**2).sum(1) / (2 * sigma**2)) * h * h / (2 * math.pi * sigma**2)
    for point in [(-2.9, -2.9), (-1.5, -1.5), (0.05, 2.0), (3.3, 0.7)]:
        ref = (np.exp(D.log_density("checkerboard", point + u)) * weights).sum()
        got = np.exp(D.log_density("checkerboard", [point], noise=sigma)[0])
        assert abs(got - ref) < 2e-3 * max(ref, 1e-3), (point, got, ref)


@pytest.mark.parametrize("name", DENSITY_NAMES)
def test_density_agrees_with_histogram_of_samples(name):
    """Total variation between the histogram of 100k samples and the density's bin masses."""
    h, sub = 0.25, 5
    edges = np.arange(-5.0, 5.0 + h / 2, h)
    counts, _, _ = np.histogram2d(*D.load(name, 100_000, seed=7).T, bins=[edges, edges])
    x = _grid(-5.0, 5.0, h / sub)  # sub x sub midpoints in each bin
    p = np.exp(D.log_density(name, x)).reshape(len(edges) - 1, sub, len(edges) - 1, sub)
    mass = p.sum(axis=(1, 3)).T * (h / sub) ** 2  # rows = y bins -> transpose to (x, y)
    tv = 0.5 * np.abs(counts / counts.sum() - mass).sum()
    assert tv < 0.04, tv
    if name == "moons":  # the test can fail: twice the noise is clearly rejected
        p2 = np.exp(D.log_density(name, x, noise=0.1)).reshape(p.shape).sum(axis=(1, 3)).T * (h / sub) ** 2
        assert 0.5 * np.abs(counts / counts.sum() - p2).sum() > 0.1


# ---------------------------------------------------------------- entropy
def test_moons_entropy_reference_value():
    h = D.entropy("moons", noise=0.05)
    assert abs(h - 0.289) < 0.01, h
    assert h == D.entropy("moons", noise=0.05)  # deterministic from the seed


def test_entropy_closed_forms():
    # uniform on 8 squares of side 1.5: H = log(area) = log 18
    assert abs(D.entropy("checkerboard", n=20_000) - math.log(18.0)) < 1e-12
    # well-separated equal mixtures: H = log K + H(component)
    sigma = 0.05
    h_gauss = math.log(2 * math.pi * math.e * sigma**2)  # 2D isotropic Gaussian
    assert abs(D.entropy("8gaussians", noise=sigma, n=50_000) - (math.log(8) + h_gauss)) < 0.02
    assert abs(D.entropy("25gaussians", noise=sigma, n=50_000) - (math.log(25) + h_gauss)) < 0.02
    # thin rings: uniform along a circle of length 2πR times a 1D normal across it
    sigma, radii = 0.02, np.array([0.75, 1.5, 2.25, 3.0])
    expected = math.log(4) + np.mean(np.log(2 * np.pi * radii)) + 0.5 * math.log(2 * math.pi * math.e * sigma**2)
    assert abs(D.entropy("rings", noise=sigma, n=50_000) - expected) < 0.02
