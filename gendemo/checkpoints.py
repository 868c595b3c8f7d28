"""Checkpoints: the config as plain types plus the model's state_dict, loaded without running code.

A checkpoint is a `torch.save`d dict of plain types and tensors only, with the loss of every step trained so far
(optional: a checkpoint saved before it was kept loads with an empty history). Loading always passes
`weights_only=True` explicitly (an explicit argument wins over the environment variable
TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD), so a crafted pickle is refused by torch's restricted
unpickler before any of its code can run. What does unpickle is then checked: size, format
name and version, config, keys, shapes, dtypes and finiteness, before the model is built.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import torch
from torch import nn

from gendemo.config import ModelConfig, config_from_dict, config_to_dict

FORMAT = "gendemo-checkpoint"
VERSION = 2  # 2: flows bound their couplings' log-scale by c = 1 (version 1: c = 3, a different model)
READABLE = {1: ("ddpm",), 2: ("ddpm", "flow", "flow_matching")}  # format version -> the families it describes exactly
MAX_BYTES = 20 * 1024 * 1024  # a default model is ~100 kB; the largest allowed config < 20 MB


class CheckpointError(ValueError):
    """The file is not a valid gendemo checkpoint; the message says why."""


class UnreadableCheckpoint(CheckpointError):
    """The safe loader could not read the file at all (not a torch file, or one that needs arbitrary code)."""


@dataclass(eq=False)
class Checkpoint:
    config: ModelConfig
    model: nn.Module
    step: int
    losses: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # float32, steps 1..len ≤ step


def to_bytes(config: ModelConfig, model: nn.Module, step: int, losses=None) -> bytes:
    """Serialize config (plain types), step, the model's state_dict and its loss history (the loss of steps
    1, 2, …, at most `step` of them; None: none kept)."""
    hist = np.zeros(0, np.float32) if losses is None else np.asarray(losses, dtype=np.float32).ravel()
    if hist.size > step:
        raise ValueError(f"{hist.size} losses for {step} steps")
    buf = io.BytesIO()
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": config_to_dict(config),
        "step": int(step),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "losses": torch.from_numpy(hist.copy()),
    }
    torch.save(payload, buf)
    return buf.getvalue()


def save(path: str | os.PathLike, config: ModelConfig, model: nn.Module, step: int, losses=None) -> None:
    data = to_bytes(config, model, step, losses)
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as fh:  # write then rename: a crash never leaves half a checkpoint
        fh.write(data)
    os.replace(tmp, path)


def _unpickle(fh: BinaryIO) -> object:
    try:
        return torch.load(fh, weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - every failure of the restricted unpickler is a refusal
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableCheckpoint(f"not a loadable checkpoint (refused by the safe loader): {first[:300]}") from None


def _check_losses(obj: dict, step: int) -> np.ndarray:
    """The optional loss history: a 1-D float32 tensor of at most `step` values."""
    losses = obj.get("losses")
    if losses is None:
        return np.zeros(0, np.float32)
    if not isinstance(losses, torch.Tensor) or losses.dim() != 1 or losses.dtype != torch.float32:
        raise CheckpointError("checkpoint losses must be a 1-D float32 tensor")
    if losses.numel() > step:
        raise CheckpointError(f"checkpoint holds {losses.numel()} losses for {step} steps")
    return losses.numpy().copy()


def _check_payload(obj: object) -> tuple[ModelConfig, int, dict[str, torch.Tensor]]:
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint must hold a dict, found {type(obj).__name__}")
    if obj.get("format") != FORMAT:
        raise CheckpointError(f"not a gendemo checkpoint (format = {obj.get('format')!r})")
    version = obj.get("version")
    if isinstance(version, bool) or version not in READABLE:
        raise CheckpointError(f"checkpoint format version {version!r} is not supported (expected {VERSION})")
    missing = {"config", "step", "state_dict"} - set(obj)
    if missing:
        raise CheckpointError(f"checkpoint lacks {', '.join(sorted(missing))}")
    try:
        config = config_from_dict(obj["config"])
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint config is invalid: {exc}") from None
    if config.family not in READABLE[version]:
        why = ("whose flows bounded the coupling log-scale differently" if config.family == "flow" else
               f"which had no {config.family} models")
        raise CheckpointError(f"this {config.family} checkpoint was saved by an earlier gendemo (format version "
                              f"{version}), {why}: train it again")
    step = obj["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"checkpoint step must be an integer >= 0, got {step!r}")
    sd = obj["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()):
        raise CheckpointError("checkpoint state_dict must map names to tensors")
    return config, step, sd


def _check_state_dict(model: nn.Module, sd: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    if set(sd) != set(expected):
        extra, lacking = sorted(set(sd) - set(expected)), sorted(set(expected) - set(sd))
        raise CheckpointError(
            f"checkpoint weights do not match its config (unexpected: {extra[:3]}, missing: {lacking[:3]})")
    for name, ref in expected.items():
        t = sd[name]
        if t.shape != ref.shape or t.dtype != ref.dtype:
            raise CheckpointError(
                f"weight {name} has shape {tuple(t.shape)} {t.dtype}, expected {tuple(ref.shape)} {ref.dtype}")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"weight {name} holds non-finite values")


def from_bytes(data: bytes, max_bytes: int = MAX_BYTES) -> Checkpoint:
    """Load and check a checkpoint from bytes (e.g. an upload). Raises CheckpointError."""
    from gendemo.training import make_model  # late import: training imports the model modules

    if len(data) == 0:
        raise CheckpointError("the checkpoint file is empty")
    if len(data) > max_bytes:
        raise CheckpointError(f"checkpoint is {len(data)} bytes, more than the limit of {max_bytes}")
    obj = _unpickle(io.BytesIO(data))
    config, step, sd = _check_payload(obj)
    # Placeholder standardization; the real shift/scale come from the checkpoint's buffers.
    model = make_model(config, [0.0, 0.0], [1.0, 1.0])
    _check_state_dict(model, sd)
    model.load_state_dict(sd, strict=True)
    model.eval()
    return Checkpoint(config, model, step, _check_losses(obj, step))


def load(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> Checkpoint:
    """Load and check a checkpoint file. Raises CheckpointError (a ValueError)."""
    size = os.path.getsize(path)
    if size > max_bytes:
        raise CheckpointError(f"checkpoint is {size} bytes, more than the limit of {max_bytes}")
    with open(path, "rb") as fh:
        return from_bytes(fh.read(), max_bytes)
