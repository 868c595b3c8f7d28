"""The model store: every trained model by its job key, in memory (LRU) over a directory shared by processes.

A training is a pure function of (data, config): the same data, config and seed give bit-identical weights
(gendemo.training). So a trained model is stored once under the key of what defines it (`gendemo.jobs.job_key`)
and served to every session, every tab and every server process that asks for the same settings.

An entry holds the display model's weights at the end and at about 50 steps across the plan (the training
timeline), the loss of every step, and what a continuation needs (the trained weights, Adam's state, the
generator's state). On disk it is one `torch.save`d dict of plain types and tensors:
- writes are atomic (a unique temporary file, then `os.replace`), so a reader in another process sees a whole
  file or none;
- loads pass `weights_only=True` and check the format, the key and the weights' shapes: a corrupt or foreign
  file is discarded with a log line and reads as a miss, never an error;
- the directory has a size cap: the least recently used files go first (a hit touches the file's mtime);
- read-only `fallback` directories (the small pretrained models shipped in `gendemo/pretrained/`) are looked up
  after the directory.
"""

from __future__ import annotations

import collections
import io
import logging
import os
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gendemo.config import ModelConfig, config_from_dict, config_to_dict

log = logging.getLogger("gendemo.store")

FORMAT = "gendemo-model"
VERSION = 2  # 2: a flow with scaling=True trains by hand (gendemo/fast/flow_loss_grad.py), not autograd: other numbers
SUFFIX = ".pt"
PRETRAINED_DIR = Path(__file__).parent / "pretrained"
DEFAULT_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gendemo" / "store"
DEFAULT_DISK_MB = 2048
DEFAULT_MEMORY_MB = 512

StateDict = dict[str, torch.Tensor]


class StoreError(ValueError):
    """A stored file is not a valid entry; the message says why."""


@dataclass(eq=False)
class Entry:
    """A trained model and its history: what a job publishes when it ends."""

    key: str
    config: ModelConfig
    data: dict  # the data spec (gendemo.jobs.data_spec): a built-in dataset or the hash of given points
    step: int  # steps trained
    losses: np.ndarray  # float32, the loss of steps 1..step (empty for a loaded checkpoint without its history)
    snapshot_steps: list[int]  # the training timeline: the display model after these steps ...
    snapshots: list[StateDict]  # ... has these weights
    final: StateDict  # the display model after `step` steps
    resume: dict | None = None  # trained weights, optimizer and generator state: continuing needs them
    seconds: float = 0.0  # training time

    nbytes: int = field(default=0, compare=False)

    def weights_at(self, step: int) -> StateDict:
        """The display model's weights after `step` steps (a timeline snapshot, or the final weights)."""
        if step == self.step:
            return self.final
        try:
            return self.snapshots[self.snapshot_steps.index(step)]
        except ValueError:
            raise KeyError(f"no snapshot at step {step} (stored: {self.snapshot_steps[:3]}…)") from None

    def model_at(self, step: int | None = None) -> nn.Module:
        """A fresh, frozen model with the weights after `step` steps (default: the end)."""
        return build_model(self.config, self.weights_at(self.step if step is None else step))


def lean(entry: Entry) -> Entry:
    """The entry without its timeline snapshots and its resume state: the final weights and the loss history.

    What `python -m gendemo pretrain --lean-out` writes and `gendemo/pretrained/` ships (~40x smaller): a page
    shows the trained model and its loss curve at once; its timeline is the end only, and "Train longer" on it
    trains from step 0 (the same weights, bit for bit: a job is deterministic).
    """
    return Entry(entry.key, entry.config, dict(entry.data), entry.step, entry.losses, [], [], entry.final, None,
                 entry.seconds)


def build_model(config: ModelConfig, weights: StateDict) -> nn.Module:
    """The model a config describes, with these weights (its standardization comes with them), frozen."""
    from gendemo.training import make_model  # late import: training imports this module's users

    model = make_model(config, [0.0, 0.0], [1.0, 1.0])
    expected = model.state_dict()
    if set(weights) != set(expected):
        raise StoreError(f"weights do not match the config: {sorted(set(weights) ^ set(expected))[:3]}")
    for name, ref in expected.items():
        t = weights[name]
        if not isinstance(t, torch.Tensor) or t.shape != ref.shape or t.dtype != ref.dtype:
            raise StoreError(f"weight {name} does not match the config")
    model.load_state_dict(weights, strict=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def to_bytes(entry: Entry) -> bytes:
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, "key": entry.key, "config": config_to_dict(entry.config),
                "data": entry.data, "step": int(entry.step), "losses": torch.from_numpy(entry.losses),
                "snapshot_steps": [int(s) for s in entry.snapshot_steps], "snapshots": entry.snapshots,
                "final": entry.final, "resume": entry.resume, "seconds": float(entry.seconds)}, buf)
    return buf.getvalue()


def from_bytes(blob: bytes, key: str | None = None) -> Entry:
    """Load and check an entry (weights_only). Raises StoreError."""
    try:
        obj = torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any failure of the restricted unpickler is a refusal
        raise StoreError(f"not loadable by the safe loader: {str(exc).strip()[:200]}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or obj.get("version") != VERSION:
        raise StoreError("not a gendemo model-store entry of this version")
    if key is not None and obj.get("key") != key:
        raise StoreError(f"the file holds key {obj.get('key')!r}, not {key!r}")
    try:
        config = config_from_dict(obj["config"])
        losses = obj["losses"]
        steps, snaps = list(obj["snapshot_steps"]), list(obj["snapshots"])
        # A loaded checkpoint may come without its loss history (fewer losses than steps), never with more.
        if len(steps) != len(snaps) or not isinstance(losses, torch.Tensor) or losses.numel() > obj["step"]:
            raise StoreError("the timeline or the loss history does not match the step count")
        entry = Entry(obj["key"], config, dict(obj["data"]), int(obj["step"]), losses.numpy().astype(np.float32),
                      [int(s) for s in steps], snaps, obj["final"], obj["resume"], float(obj["seconds"]),
                      nbytes=len(blob))
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"malformed entry: {exc}") from None
    build_model(config, entry.final)  # the final weights must fit the config
    return entry


class ModelStore:
    """Entries by key: an LRU in memory (a byte budget) over a directory with a size cap (thread-safe)."""

    def __init__(self, directory: str | os.PathLike | None = None, disk_mb: float | None = None,
                 memory_mb: float | None = None, fallback: tuple[str | os.PathLike, ...] = (PRETRAINED_DIR,)):
        env = os.environ
        self.directory = Path(directory or env.get("GENDEMO_STORE") or DEFAULT_DIR)
        self.disk_bytes = int(float(disk_mb or env.get("GENDEMO_STORE_MB") or DEFAULT_DISK_MB) * 2**20)
        self.memory_bytes = int(float(memory_mb or env.get("GENDEMO_STORE_MEMORY_MB") or DEFAULT_MEMORY_MB) * 2**20)
        self.fallback = tuple(Path(d) for d in fallback)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._memory: collections.OrderedDict[str, Entry] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.evicted_memory = self.evicted_disk = self.discarded = 0

    def path(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError(f"a store key is alphanumeric, got {key!r}")
        return self.directory / f"{key}{SUFFIX}"

    def get(self, key: str) -> Entry | None:
        """The entry, from memory, the directory or a fallback directory; None if none holds a valid one."""
        with self._lock:
            entry = self._memory.get(key)
            if entry is not None:
                self._memory.move_to_end(key)
                return entry
        for folder in (self.directory, *self.fallback):
            path = folder / f"{key}{SUFFIX}"
            try:
                blob = path.read_bytes()
            except OSError:  # absent, or removed by another process's eviction meanwhile
                continue
            try:
                entry = from_bytes(blob, key)
            except StoreError as exc:
                log.warning("gendemo store: discarding %s: %s", path, exc)
                self.discarded += 1
                if folder == self.directory:
                    path.unlink(missing_ok=True)
                continue
            if folder == self.directory:
                os.utime(path)  # a hit: the least recently used files are evicted first
            self.remember(entry)
            return entry
        return None

    def has(self, key: str) -> bool:
        with self._lock:
            if key in self._memory:
                return True
        return any((folder / f"{key}{SUFFIX}").is_file() for folder in (self.directory, *self.fallback))

    def put(self, entry: Entry) -> None:
        """Write the entry (atomically) and keep it in memory."""
        self.write(entry.key, to_bytes(entry))
        self.remember(entry)

    def write(self, key: str, blob: bytes) -> None:
        """Write an entry's bytes as the file of `key`: a unique temporary file, then an atomic rename."""
        path = self.path(key)
        tmp = path.with_name(f".{key}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
        self._trim_disk()

    def remember(self, entry: Entry) -> None:
        """Keep an entry in memory (most recently used), evicting the least recently used past the budget."""
        if not entry.nbytes:
            entry.nbytes = len(to_bytes(entry))
        with self._lock:
            self._memory[entry.key] = entry
            self._memory.move_to_end(entry.key)
            total = sum(e.nbytes for e in self._memory.values())
            while total > self.memory_bytes and len(self._memory) > 1:
                _, old = self._memory.popitem(last=False)
                total -= old.nbytes
                self.evicted_memory += 1

    def _trim_disk(self) -> None:
        files = []
        for p in self.directory.glob(f"*{SUFFIX}"):
            try:
                st = p.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, p))
        total = sum(size for _, size, _ in files)
        for _, size, p in sorted(files):
            if total <= self.disk_bytes:
                break
            p.unlink(missing_ok=True)
            total -= size
            self.evicted_disk += 1
            log.info("gendemo store: evicted %s (over the %d MB cap)", p.name, self.disk_bytes // 2**20)

    def disk_usage(self) -> int:
        return sum(p.stat().st_size for p in self.directory.glob(f"*{SUFFIX}") if p.is_file())
