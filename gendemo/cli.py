"""Command line: `python -m gendemo {train,sample,logprob,data,pretrain} ...` (`--help` on each).

Bad arguments exit with status 2 and a one-line message; training and logprob show a progress bar on
stderr and print one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import NoReturn, Sequence

import numpy as np
import torch

from gendemo import checkpoints, datasets
from gendemo.bound import DEFAULT_N_MC, POINTS_PER_CHUNK
from gendemo.config import SCHEDULE_KINDS, SIGMA2_CHOICES, WEIGHTINGS, DDPMConfig, FlowConfig, FMConfig
from gendemo.progress import ProgressBar

LOGPROB_BLOCK = 4 * POINTS_PER_CHUNK  # points per log_prob_points call: a multiple keeps the draws
SAMPLER_CHOICES = ("ancestral", "ddim", "pf-ode", "ode")  # gendemo.samplers.SAMPLERS (imported late)
ODE_SOLVERS = ("euler", "heun", "rk4")  # gendemo.ode.METHODS
PF_ODE_BLOCK = 1000  # points per probability-flow likelihood call (dopri5 picks its steps for a block)


class UsageError(Exception):
    """A bad argument found after parsing (a value the engine refuses)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


def _add_train(sub: argparse._SubParsersAction) -> None:
    d, f = DDPMConfig(), FlowConfig()
    p = sub.add_parser("train", help="train a model and write a checkpoint",
                       description="Train a DDPM or a flow on a 2D dataset; print one JSON line.")
    p.add_argument("--model", required=True, choices=["ddpm", "nice", "realnvp", "flow_matching"],
                   help="flow_matching: u_θ trained on the path of Eq. (1), sampled by the ODE of Eq. (2)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", choices=datasets.NAMES, help="a built-in dataset")
    src.add_argument("--data", metavar="FILE", help="your own points: an (n, 2) .npy or a 2-column .csv")
    p.add_argument("--n", type=int, default=datasets.DEFAULT_N,
                   help=f"points drawn from --dataset (default {datasets.DEFAULT_N})")
    p.add_argument("--noise", type=float, default=None, help="dataset noise (default: the dataset's)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the model's tuned budget)")
    p.add_argument("--seed", type=int, default=0, help="seed for data, initialisation and training")
    p.add_argument("--lr", type=float, default=None, help=f"Adam learning rate (DDPM {d.lr:g}, flows {f.lr:g})")
    p.add_argument("--batch", type=int, default=None, help=f"batch size (DDPM {d.batch}, flows {f.batch})")
    p.add_argument("--width", type=int, default=None, help=f"hidden width (DDPM {d.width}, flows {f.width})")
    p.add_argument("--depth", type=int, default=None, help=f"hidden layers (DDPM {d.depth}, flows {f.depth})")
    p.add_argument("--grad-clip", type=float, default=None, help=f"gradient norm clip (default {d.grad_clip:g})")
    p.add_argument("--schedule", choices=SCHEDULE_KINDS, default=None, help=f"DDPM β-schedule ({d.schedule})")
    p.add_argument("--N", type=int, default=None, help=f"DDPM number of steps N ({d.N})")
    p.add_argument("--beta-1", type=float, default=None, help=f"DDPM β_1 ({d.beta_1:g})")
    p.add_argument("--beta-N", type=float, default=None, help=f"DDPM β_N ({d.beta_N:g})")
    p.add_argument("--weighting", choices=WEIGHTINGS, default=None, help="DDPM loss: L_simple or the bound's weights")
    p.add_argument("--K", type=int, default=None, help=f"flow: number of coupling layers ({f.K})")
    p.add_argument("--scaling", action="store_true", help="flow: add NICE's diagonal scaling layer")
    p.add_argument("--out", required=True, metavar="CKPT", help="checkpoint file to write")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_others(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="draw samples from a checkpoint", description="Write (n, 2) float32 samples.")
    p.add_argument("--ckpt", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sigma2", choices=SIGMA2_CHOICES, default=None,
                   help="DDPM reverse variance σ_k² of the ancestral sampler (default beta)")
    p.add_argument("--sampler", choices=SAMPLER_CHOICES, default=None,
                   help="DDPM: ancestral (Algorithm Sampling, Eq. (9); the default), ddim, pf-ode (the probability-flow "
                        "ODE); flow matching: ode (Eq. (2); the default). NICE/RealNVP sample in one pass")
    p.add_argument("--steps", type=int, default=None,
                   help="sampler steps S: DDPM a sub-sequence of 1..N (default N; pf-ode may take more), ode default "
                        "20")
    p.add_argument("--eta", type=float, default=None, help="ddim only: η in [0, 1] (default 0: deterministic)")
    p.add_argument("--solver", choices=ODE_SOLVERS, default=None, help="pf-ode and ode: the ODE method (default heun)")
    p.add_argument("--out", required=True, metavar="FILE.npy")
    p = sub.add_parser("logprob", help="log-density of points under a checkpoint (DDPM: an estimate of a bound)",
                       description="Flows: exact log p(x) in nats (Eq. (11)). DDPM: −L̂ per point, the mean of "
                                   "--n-mc Monte-Carlo draws of minus the variational bound L (Eq. (6)). Its "
                                   "expectation −L is a lower bound on log p(x), but −L̂ is an estimate: one draw "
                                   "can exceed log p(x) by nats, and its standard error shrinks as 1/√n_mc. "
                                   "Any number of points (.npy, read in chunks; a progress bar on stderr). Writes "
                                   "--out (and --se-out if given) and prints one JSON line (mean and largest "
                                   "standard error, seconds).")
    p.add_argument("--ckpt", required=True)
    p.add_argument("--data", required=True, metavar="FILE.npy",
                   help="(n, 2) points: a .npy of any size, or a .csv of at most "
                        f"{datasets.MAX_POINTS:,} points")
    p.add_argument("--seed", type=int, default=0, help="DDPM: seed of the Monte-Carlo draws")
    p.add_argument("--method", choices=("bound", "ode"), default=None,
                   help="DDPM: bound (−L̂, Eq. (6); the default) or ode (exact log p(x) of the probability-flow ODE, "
                        "dopri5); flow matching: ode (its default). NICE/RealNVP: exact by Eq. (11), no --method")
    p.add_argument("--n-mc", type=int, default=None, metavar="K",
                   help=f"DDPM: Monte-Carlo draws per point (default {DEFAULT_N_MC}); the time grows as N × K "
                        "network evaluations per point (about 1 µs each on one core)")
    p.add_argument("--sigma2", choices=SIGMA2_CHOICES, default=None,
                   help="DDPM reverse variance σ_k² (default beta: the tighter bound)")
    p.add_argument("--out", required=True, metavar="FILE.npy", help="log-densities, float64 (n,), nats")
    p.add_argument("--se-out", metavar="FILE.npy", default=None,
                   help="also write their standard errors, float64 (n,): 0 for flows, NaN with --n-mc 1")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p = sub.add_parser("data", help="write a built-in dataset", description="Write (n, 2) float32 points.")
    p.add_argument("--dataset", required=True, choices=datasets.NAMES)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise", type=float, default=None)
    p.add_argument("--out", required=True, metavar="FILE.npy")


def _add_pretrain(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="train the default models into the model store (before a lecture)",
                       description="Train the default DDPM, flow and flow-matching model of every built-in dataset on the app's default "
                                   f"data ({datasets.DEFAULT_N:,} points, seed 0) into the model store, one training "
                                   "per worker; models already stored are not trained again. Progress on stderr, "
                                   "one JSON line on stdout.")
    p.add_argument("--store", metavar="DIR", default=None,
                   help="the model store's directory (default: $GENDEMO_STORE, else ~/.cache/gendemo/store)")
    p.add_argument("--datasets", metavar="A,B", default=None,
                   help=f"comma-separated built-in datasets (default: all {len(datasets.NAMES)})")
    p.add_argument("--family", choices=["ddpm", "flow", "flow_matching", "all", "both"], default="all",
                   help="the family to pretrain (default: all three; 'both' is the DDPM and the flow)")
    p.add_argument("--workers", type=int, default=None, help="trainings at once (default: the number of cores)")
    p.add_argument("--lean-out", metavar="DIR", default=None,
                   help="also write a lean copy of each model there (final weights and loss history only)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m gendemo", description="gendemo: DDPMs and normalizing flows on 2D data.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(sub)
    _add_others(sub)
    _add_pretrain(sub)
    return parser


def _train_config(a: argparse.Namespace) -> DDPMConfig | FlowConfig | FMConfig:
    common = {"seed": a.seed, "steps": a.steps, "lr": a.lr, "batch": a.batch, "width": a.width,
              "depth": a.depth, "grad_clip": a.grad_clip}
    if a.model == "ddpm":
        extra = {"schedule": a.schedule, "N": a.N, "beta_1": a.beta_1, "beta_N": a.beta_N, "weighting": a.weighting}
        if a.K is not None or a.scaling:
            raise UsageError("--K and --scaling apply to flows, not to --model ddpm")
        cls = DDPMConfig
    elif a.model == "flow_matching":
        extra = {}
        if a.K is not None or a.scaling or any(v is not None for v in (a.schedule, a.N, a.beta_1, a.beta_N,
                                                                      a.weighting)):
            raise UsageError("--K, --scaling, --schedule, --N, --beta-1, --beta-N and --weighting do not apply to "
                             "--model flow_matching")
        cls = FMConfig
    else:
        extra = {"kind": a.model, "K": a.K, "scaling": a.scaling}
        if any(v is not None for v in (a.schedule, a.N, a.beta_1, a.beta_N, a.weighting)):
            raise UsageError("--schedule, --N, --beta-1, --beta-N and --weighting apply to --model ddpm only")
        cls = FlowConfig
    kwargs = {k: v for k, v in {**common, **extra}.items() if v is not None}
    config = cls(**kwargs)
    if a.model == "ddpm":  # make_schedule checks β_1 ≤ β_N and the rest now, not mid-run
        from gendemo.schedules import make_schedule
        make_schedule(config.schedule, config.N, config.beta_1, config.beta_N)
    return config


def _load_points(path: str) -> np.ndarray:
    try:
        return datasets.parse_points_file(path)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def cmd_train(a: argparse.Namespace) -> int:
    from gendemo.training import TrainingDiverged, make_state, train_steps

    config = _train_config(a)
    data = datasets.load(a.dataset, a.n, a.seed, a.noise) if a.dataset else _load_points(a.data)
    state = make_state(config, data)
    bar = ProgressBar(config.steps, label=f"train {a.model}", enabled=not a.quiet)
    status, message = 0, None
    try:
        while state.step < config.steps:
            metrics = train_steps(state, min(200, config.steps - state.step), fast=True)
            bar.update(state.step, f"loss {metrics['last_loss']:.4f}")
    except TrainingDiverged as exc:
        status, message = 1, f"{exc}; wrote the last finite weights (step {state.step}) to {a.out}"
    finally:
        bar.close()
    checkpoints.save(a.out, config, state.model, state.step, state.history_loss[: state.step])
    print(json.dumps({"model": a.model, "steps": state.step, "train_seconds": round(state.seconds, 3),
                      "steps_per_s": round(state.step / state.seconds, 1) if state.seconds > 0 else None,
                      "final_loss": state.history_loss[-1] if state.history_loss else None,
                      "out": a.out}))
    if message:
        print(f"python -m gendemo train: {message}", file=sys.stderr)
    return status


def _checkpoint(path: str) -> checkpoints.Checkpoint:
    try:
        return checkpoints.load(path)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def cmd_sample(a: argparse.Namespace) -> int:
    from gendemo.generate import draw_samples

    if not 1 <= a.n <= datasets.MAX_POINTS:
        raise UsageError(f"--n must be in [1, {datasets.MAX_POINTS}], got {a.n}")
    ckpt = _checkpoint(a.ckpt)
    if a.sampler is None and a.steps is None and a.eta is None and a.solver is None:
        x = draw_samples(ckpt.model, a.n, torch.Generator().manual_seed(a.seed), sigma2=a.sigma2 or "beta")
    else:
        x = _sample_with(ckpt.model, a)
    np.save(a.out, x.astype(np.float32))
    return 0


def _sample_with(model: torch.nn.Module, a: argparse.Namespace) -> np.ndarray:
    """`sample --sampler/--steps/--eta/--solver`: gendemo.samplers.run from x^(N) = the seed's first draw."""
    from gendemo import ddpm, flow_matching, samplers

    is_ddpm = isinstance(model, ddpm.DDPM)
    if not is_ddpm and not isinstance(model, flow_matching.FlowMatching):
        raise UsageError("--sampler, --steps, --eta and --solver apply to DDPM and flow-matching checkpoints; a "
                         "NICE/RealNVP flow samples in one pass (omit them)")
    sampler = a.sampler or ("ancestral" if is_ddpm else "ode")
    if is_ddpm and sampler == "ode":
        raise UsageError("--sampler ode is flow matching's ODE; for a DDPM use pf-ode (its probability-flow ODE), "
                         "ancestral or ddim")
    if not is_ddpm and sampler != "ode":
        raise UsageError(f"--sampler {sampler} needs a DDPM checkpoint; a flow-matching model samples with ode")
    if a.eta is not None and sampler != "ddim":
        raise UsageError(f"--eta applies to --sampler ddim, not to {sampler}")
    if a.solver is not None and sampler not in ("pf-ode", "ode"):
        raise UsageError(f"--solver applies to --sampler pf-ode or ode, not to {sampler}")
    if a.sigma2 is not None and sampler != "ancestral":
        raise UsageError(f"--sigma2 applies to --sampler ancestral, not to {sampler}")
    N = model.sched.N if is_ddpm else None
    steps = a.steps if a.steps is not None else (N if is_ddpm else flow_matching.SAMPLE_STEPS)
    if steps < 1 or (sampler in ("ancestral", "ddim") and steps > N):
        raise UsageError(f"--steps for {sampler} must be in [1, {N}] (a sub-sequence of the model's N = {N} "
                         f"steps), got {steps}" if sampler in ("ancestral", "ddim") else
                         f"--steps must be at least 1, got {steps}")
    generator = torch.Generator().manual_seed(a.seed)
    x_N = torch.randn(a.n, 2, generator=generator)  # the first draw, as Algorithm Sampling's x^(N)
    path = samplers.run(sampler, model, x_N, steps, generator, eta=a.eta or 0.0, method=a.solver or "heun",
                        sigma2=a.sigma2 or "beta", fast=is_ddpm)
    with torch.inference_mode():
        return model.unstandardize(path.final.to(model.shift.dtype)).numpy()


def _load_eval_points(path: str) -> np.ndarray:
    """Points to evaluate: a .npy of any size, memory-mapped (only finite (n, 2) numbers asked), else a .csv."""
    if not path.lower().endswith(".npy"):
        return _load_points(path)
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path} could not be read as a .npy array: {exc}") from None
    if x.ndim != 2 or x.shape[1] != 2 or x.shape[0] < 1 or x.dtype.kind not in "fiu":
        raise UsageError(f"{path} must hold numbers of shape (n, 2), n >= 1; got {x.dtype} of shape {x.shape}")
    for lo in range(0, x.shape[0], LOGPROB_BLOCK):
        bad = ~np.isfinite(x[lo:lo + LOGPROB_BLOCK]).all(axis=1)
        if bad.any():
            raise UsageError(f"{path}: row {lo + int(np.argmax(bad))} is not finite (NaN or infinity)")
    return x


def _logprob_by_pf_ode(model: torch.nn.Module, a: argparse.Namespace) -> bool:
    """Check --method against the checkpoint; True for a DDPM's exact likelihood by its probability-flow ODE."""
    from gendemo import ddpm, flow_matching

    if isinstance(model, ddpm.DDPM):
        if a.method == "ode" and (a.n_mc is not None or a.sigma2 is not None):
            raise UsageError("--n-mc and --sigma2 belong to --method bound (the Monte-Carlo bound); --method ode "
                             "is exact and draws nothing")
        return a.method == "ode"
    kind = "a flow-matching model" if isinstance(model, flow_matching.FlowMatching) else "a NICE/RealNVP flow"
    if a.method == "bound":
        raise UsageError(f"--method bound is the DDPM's variational bound (Eq. (6)); {kind} has an exact "
                         "log-density: omit --method")
    if a.method == "ode" and not isinstance(model, flow_matching.FlowMatching):
        raise UsageError("--method ode is for DDPM and flow-matching checkpoints; a NICE/RealNVP flow is exact by "
                         "the change of variables (Eq. (11)): omit --method")
    return False


def _logprob_pf_ode(model: torch.nn.Module, a: argparse.Namespace) -> int:
    """`logprob --method ode` on a DDPM: exact log p(x) of its probability-flow ODE, data units, in blocks."""
    from gendemo import samplers

    x = _load_eval_points(a.data)
    n = x.shape[0]
    value = np.empty(n)
    bar = ProgressBar(n, label="logprob ode", enabled=not a.quiet)
    t0 = time.perf_counter()
    try:
        for lo in range(0, n, PF_ODE_BLOCK):
            block = torch.from_numpy(np.array(x[lo:lo + PF_ODE_BLOCK], dtype=np.float32))
            value[lo:lo + len(block)] = samplers.log_likelihood(model, block).double().numpy()
            bar.update(lo + len(block))
    except KeyboardInterrupt:
        bar.close()
        print("python -m gendemo logprob: interrupted (nothing written)", file=sys.stderr)
        return 130
    bar.close()
    np.save(a.out, value)
    if a.se_out is not None:
        np.save(a.se_out, np.zeros(n))
    print(json.dumps({
        "n": n, "exact": True, "method": "ode",
        "estimate": "log p(x) of the DDPM's probability-flow ODE (instantaneous change of variables, dopri5 at "
                    f"rtol = atol = {samplers.PF_RTOL:g}; data units)",
        "n_mc": None, "sigma2": None, "mean": float(value.mean()), "se_mean": 0.0, "se_max": 0.0,
        "seconds": round(time.perf_counter() - t0, 3), "out": a.out, "se_out": a.se_out}))
    return 0


def cmd_logprob(a: argparse.Namespace) -> int:
    from gendemo import flow_matching
    from gendemo.generate import log_prob_points

    if a.n_mc is not None and a.n_mc < 1:
        raise UsageError(f"--n-mc must be at least 1, got {a.n_mc}")
    ckpt = _checkpoint(a.ckpt)
    if _logprob_by_pf_ode(ckpt.model, a):
        return _logprob_pf_ode(ckpt.model, a)
    a.n_mc = DEFAULT_N_MC if a.n_mc is None else a.n_mc
    a.sigma2 = a.sigma2 or "beta"
    x = _load_eval_points(a.data)
    n = x.shape[0]
    generator = torch.Generator().manual_seed(a.seed)
    value, se = np.empty(n), np.empty(n)
    exact = False
    bar = ProgressBar(n, label="logprob", enabled=not a.quiet)
    t0 = time.perf_counter()
    try:
        # Blocks of whole POINTS_PER_CHUNK: the same draws as one log_prob_points call on all the points.
        for lo in range(0, n, LOGPROB_BLOCK):
            block = np.asarray(x[lo:lo + LOGPROB_BLOCK], dtype=np.float32)
            res = log_prob_points(ckpt.model, block, generator, sigma2=a.sigma2, n_mc=a.n_mc,
                                  progress=lambda done, lo=lo: bar.update(int(lo + done)))
            value[lo:lo + len(block)], se[lo:lo + len(block)], exact = res.value, res.se, res.exact
    except KeyboardInterrupt:
        bar.close()
        print("python -m gendemo logprob: interrupted (nothing written)", file=sys.stderr)
        return 130
    bar.close()
    np.save(a.out, value)
    if a.se_out is not None:
        np.save(a.se_out, se)
    se_known = not exact and a.n_mc > 1
    what = ("log p(x) by the ODE of Eq. (2) (instantaneous change of variables, dopri5; data units)"
            if isinstance(ckpt.model, flow_matching.FlowMatching) else "log p(x) (Eq. (11))" if exact else
            f"-L per point, mean of {a.n_mc} Monte-Carlo draw(s) (Eq. (6)): estimates a lower bound on log p(x)")
    print(json.dumps({
        "n": n, "exact": exact, "estimate": what,
        "n_mc": None if exact else a.n_mc, "sigma2": None if exact else a.sigma2,
        "mean": float(value.mean()),
        "se_mean": float(se.mean()) if se_known else (0.0 if exact else None),
        "se_max": float(se.max()) if se_known else (0.0 if exact else None),
        "seconds": round(time.perf_counter() - t0, 3), "out": a.out, "se_out": a.se_out}))
    return 0


def cmd_data(a: argparse.Namespace) -> int:
    np.save(a.out, datasets.load(a.dataset, a.n, a.seed, a.noise))
    return 0


def _dataset_list(text: str | None) -> list[str]:
    if text is None:
        return list(datasets.NAMES)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in datasets.NAMES]
    if unknown or not names:
        raise UsageError(f"--datasets: unknown dataset(s) {', '.join(unknown) or '(none given)'}; valid names: "
                         f"{', '.join(datasets.NAMES)}")
    return list(dict.fromkeys(names))


def cmd_pretrain(a: argparse.Namespace) -> int:
    from gendemo.pretrain import FAMILIES, pretrain
    from gendemo.store import ModelStore

    names = _dataset_list(a.datasets)
    if a.workers is not None and a.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {a.workers}")
    families = {"all": FAMILIES, "both": ("ddpm", "flow")}.get(a.family, (a.family,))
    for path, what in ((a.store, "--store"), (a.lean_out, "--lean-out")):
        if path is not None and os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"{what} {path} is not a directory")
    try:  # no read-only fallback: a model shipped in gendemo/pretrained (lean) is trained in full into the store
        store = ModelStore(a.store, fallback=())
        if a.lean_out is not None:
            os.makedirs(a.lean_out, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {exc.filename or 'a directory'}: {exc.strerror or exc}") from None
    t0 = time.monotonic()
    try:
        rows = pretrain(store, names, families, workers=a.workers, lean_out=a.lean_out, progress=not a.quiet)
    except KeyboardInterrupt:
        print("python -m gendemo pretrain: interrupted (finished models are in the store)", file=sys.stderr)
        return 130
    count = {s: sum(r["status"] == s for r in rows) for s in ("trained", "stored", "failed", "cancelled")}
    print(json.dumps({"store": str(store.directory), "lean_out": a.lean_out, **count,
                      "wall_seconds": round(time.monotonic() - t0, 1), "models": rows}))
    return 1 if count["failed"] or count["cancelled"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    torch.set_num_threads(1)  # measured: two threads on two busy cores train 5-10x slower
    parser = build_parser()
    a = parser.parse_args(argv)
    handler = {"train": cmd_train, "sample": cmd_sample, "logprob": cmd_logprob, "data": cmd_data,
               "pretrain": cmd_pretrain}[a.command]
    try:
        return handler(a)
    except (UsageError, ValueError) as exc:
        print(f"python -m gendemo {a.command}: error: {exc}", file=sys.stderr)
        return 2
