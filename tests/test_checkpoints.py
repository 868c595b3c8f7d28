"""Checkpoints: round trip, and everything else refused without running code."""

import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from gendemo import checkpoints, datasets
from gendemo.config import DDPMConfig, FlowConfig, FMConfig
from gendemo.generate import draw_samples
from gendemo.training import make_state, train_steps
from crafted import Evil

DATA = datasets.load("moons", 1000, seed=0)


@pytest.fixture(scope="module", params=[DDPMConfig(N=20, width=16, depth=1), FlowConfig(K=2, width=8),
                                        FMConfig(width=16, depth=1)], ids=["ddpm", "flow", "flow_matching"])
def trained(request):
    state = make_state(request.param, DATA)
    train_steps(state, 20)
    return state


def test_round_trip_gives_the_same_model(trained, tmp_path):
    path = tmp_path / "m.pt"
    checkpoints.save(path, trained.config, trained.model, trained.step)
    ck = checkpoints.load(path)
    assert ck.config == trained.config and ck.step == 20
    for k, v in trained.model.state_dict().items():
        assert torch.equal(ck.model.state_dict()[k], v)
    a = draw_samples(trained.model, 50, torch.Generator().manual_seed(1))
    b = draw_samples(ck.model, 50, torch.Generator().manual_seed(1))
    np.testing.assert_array_equal(a, b)


def _evil_bytes(marker, legacy):
    buf = io.BytesIO()
    payload = {"format": checkpoints.FORMAT, "version": 1, "config": {}, "step": 0, "state_dict": Evil(marker)}
    if legacy:
        pickle.dump(payload, buf)
    else:
        torch.save(payload, buf)
    return buf.getvalue()


@pytest.mark.parametrize("legacy", [False, True], ids=["torch-zip", "raw-pickle"])
def test_a_crafted_pickle_is_refused_and_never_runs(tmp_path, legacy):
    marker = tmp_path / "pwned"
    data = _evil_bytes(str(marker), legacy)
    with pytest.raises(checkpoints.CheckpointError, match="refused by the safe loader"):
        checkpoints.from_bytes(data)
    assert not marker.exists()


def test_crafted_pickle_refused_even_when_the_environment_disables_weights_only(tmp_path):
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "evil.pt"
    ckpt.write_bytes(_evil_bytes(str(marker), legacy=False))
    code = ("import sys; from gendemo import checkpoints\n"
            "try:\n    checkpoints.load(sys.argv[1])\nexcept checkpoints.CheckpointError as e:\n    print('refused', e)\n")
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    out = subprocess.run([sys.executable, "-c", code, str(ckpt)], capture_output=True, text=True, env=env,
                         cwd=os.path.dirname(os.path.dirname(__file__)), timeout=120)
    assert "refused" in out.stdout, out.stderr
    assert not marker.exists()


def test_truncated_empty_and_oversized_files_are_refused(trained):
    data = checkpoints.to_bytes(trained.config, trained.model, trained.step)
    for bad in (data[: len(data) // 2], data[:100], b"", b"\x00garbage" * 10):
        with pytest.raises(checkpoints.CheckpointError):
            checkpoints.from_bytes(bad)
    with pytest.raises(checkpoints.CheckpointError, match="limit"):
        checkpoints.from_bytes(data, max_bytes=len(data) - 1)


def _tampered(trained, **changes):
    payload = torch.load(io.BytesIO(checkpoints.to_bytes(trained.config, trained.model, trained.step)),
                         weights_only=True, map_location="cpu")
    for key, value in changes.items():
        if callable(value):
            value(payload)
        else:
            payload[key] = value
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def test_mismatched_or_non_finite_contents_are_refused(trained):
    cases = {
        "format": dict(format="something-else"),
        "version": dict(version=99),
        "config": dict(config={"family": "ddpm", "width": -3}),
        "wrong model": dict(config={"family": "flow", "K": 3} if trained.family == "ddpm"
                            else {"family": "ddpm", "N": 5}),
        "shape": dict(fix=lambda p: p["config"].update(width=p["config"]["width"] + 1)),
        "nan": dict(fix=lambda p: next(v for v in p["state_dict"].values() if v.is_floating_point()).fill_(
            float("nan"))),
        "missing key": dict(fix=lambda p: p["state_dict"].pop(next(iter(p["state_dict"])))),
    }
    for name, change in cases.items():
        with pytest.raises(checkpoints.CheckpointError):
            checkpoints.from_bytes(_tampered(trained, **change))
        # every refusal is a ValueError with a message, never a bare exception


def test_a_plain_zip_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(checkpoints.CheckpointError):
        checkpoints.from_bytes(buf.getvalue())


def test_every_torch_load_in_the_project_passes_weights_only_true():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    offenders = []
    for folder in ("gendemo", "pages", "ui", "benchmarks", "."):
        base = os.path.join(root, folder)
        if not os.path.isdir(base):
            continue
        names = os.listdir(base) if folder == "." else [os.path.relpath(os.path.join(d, f), base)
                                                        for d, _, fs in os.walk(base) for f in fs]
        for name in names:
            path = os.path.join(base, name)
            if not path.endswith(".py") or not os.path.isfile(path):
                continue
            text = open(path, encoding="utf-8").read()
            for line in text.splitlines():
                if "torch.load(" in line and "weights_only=True" not in line:
                    offenders.append(f"{path}: {line.strip()}")
    assert not offenders, offenders


def test_format_1_flows_are_refused_with_a_reason_but_format_1_ddpms_still_load(trained):
    old = _tampered(trained, version=1)
    if trained.family == "flow":
        with pytest.raises(checkpoints.CheckpointError, match="earlier gendemo.*log-scale.*train it again"):
            checkpoints.from_bytes(old)
    elif trained.family == "flow_matching":  # format 1 had no flow matching: such a file is not what it claims
        with pytest.raises(checkpoints.CheckpointError, match="earlier gendemo.*no flow_matching models"):
            checkpoints.from_bytes(old)
    else:
        assert checkpoints.from_bytes(old).step == trained.step
