"""Engine speed: one training step (with a profile and a phase breakdown), the reverse chain, scaling tables."""

from __future__ import annotations

import dataclasses
import itertools
import math
import time

import numpy as np
import torch
from common import Report, Timing, repeat
from torch.profiler import ProfilerActivity, profile

from gendemo import datasets, ddpm, training
from gendemo.config import DDPMConfig, FlowConfig
from gendemo.fast.ddpm_loss_grad import DDPMLossGrad
from gendemo.fast.ddpm_sampler import eps_theta_fn
from gendemo.fast.eps_net import ACT_INPLACE, plain_linears
from gendemo.fast.flow_loss_grad import FlowLossGrad
from gendemo.schedules import make_schedule
from gendemo.training import make_state, train_steps

STEP_TARGET_MS = 1.5
SAMPLE_TARGET_S = 1.0
TRAIN_N = datasets.DEFAULT_N  # the app's default dataset size


def _data() -> np.ndarray:
    return datasets.load("moons", TRAIN_N, seed=0)


def step_ms(config: DDPMConfig, repeats: int, steps: int = 200, fast: bool = True) -> Timing:
    """ms per training step: `steps` steps timed as one chunk, after a warm-up, `repeats` times.

    fast=True: what a job runs (train_steps(..., fast=True), the gradient by hand); False: the plain autograd path.
    """
    state = make_state(config, _data())
    train_steps(state, 30, fast=fast)

    def once() -> float:
        t0 = time.perf_counter()
        train_steps(state, steps, fast=fast)
        return (time.perf_counter() - t0) / steps * 1e3

    return repeat(once, repeats)


def step_ms_both(config: DDPMConfig | FlowConfig, repeats: int, steps: int = 200, warm: int = 30
                 ) -> tuple[Timing, Timing]:
    """(fast, plain) ms per training step, the two interleaved so that they share the machine's noise."""
    out: dict[bool, list[float]] = {True: [], False: []}
    states = {}
    for fast in (True, False):
        states[fast] = make_state(config, _data())
        train_steps(states[fast], warm, fast=fast)
    for _ in range(repeats):
        for fast in (True, False):
            t0 = time.perf_counter()
            train_steps(states[fast], steps, fast=fast)
            out[fast].append((time.perf_counter() - t0) / steps * 1e3)
    return Timing(tuple(out[True])), Timing(tuple(out[False]))


def flow_by_hand_matches_autograd(config: FlowConfig) -> float:
    """Largest |∂ by hand − ∂ autograd| / max|∂ autograd| over the flow's tensors, one batch, after 50 steps (at
    initialisation the conditioners' last layers are zero, and so are the gradients of the layers before them)."""
    state = make_state(config, _data())
    train_steps(state, 50)
    model = state.fit_model
    x = state.train_x[:config.batch]
    hand = FlowLossGrad(model)
    hand.loss(x)
    hand.backward()
    mine = [p.grad.clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    model.nll_loss(x).backward()
    return max(float((a - p.grad).abs().max() / p.grad.abs().max()) for a, p in zip(mine, model.parameters()))


def flow_rows(report: Report, quick: bool) -> None:
    """The default flow's training step, by hand and through autograd, and the gradient check."""
    fcfg = FlowConfig()
    ft, ft_auto = step_ms_both(fcfg, 3 if quick else 7, steps=100, warm=20)
    report.add("step", f"flow train step, default RealNVP K={fcfg.K} {fcfg.depth}×{fcfg.width}, batch {fcfg.batch} (ms)",
               ft.fmt(digits=2), "", None, "what a job runs: train_steps(fast=True), gendemo/fast/flow_loss_grad.py")
    report.add("step", "same flow step, plain path (autograd; interleaved with the above) (ms)",
               ft_auto.fmt(digits=2), "", None, f"fast / plain = {ft.median / ft_auto.median:.2f}")
    rel = flow_by_hand_matches_autograd(fcfg)
    report.add("step", "flow gradient by hand vs autograd: max |difference| / max |gradient| over the tensors",
               f"{rel:.1e}", "≤ 1e-5", rel <= 1e-5, "one batch, default RealNVP after 50 steps")


def by_hand_matches_autograd(config: DDPMConfig) -> float:
    """Largest |∂ by hand − ∂ autograd| / max|∂ autograd| over the parameters, one batch of the default net."""
    state = make_state(config, _data())
    model = state.fit_model  # the network Adam updates (state.model is its average)
    x0 = state.train_x[:config.batch]
    hand = DDPMLossGrad(model, config.weighting)
    hand.loss(x0, torch.Generator().manual_seed(0))
    hand.backward()
    mine = [p.grad.clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    ddpm.loss(model, x0, torch.Generator().manual_seed(0), weighting=config.weighting).backward()
    return max(float((a - p.grad).abs().max() / p.grad.abs().max()) for a, p in zip(mine, model.parameters()))


def matmul_gflops(repeats: int = 5) -> float:
    """Sustained float32 matmul throughput of one thread here (256×128 @ 128×128, best of repeats)."""
    a, b = torch.randn(256, 128), torch.randn(128, 128)
    flops = 2 * 256 * 128 * 128
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(200):
            torch.mm(a, b)
        best = min(best, (time.perf_counter() - t0) / 200)
    return flops / best / 1e9


def step_flops(config: DDPMConfig) -> float:
    """Multiply-add FLOPs of one step's matmuls: forward 2·B·Σ in·out, backward twice that (no input grad
    for the first layer)."""
    dims = [2 + config.emb_dim] + [config.width] * config.depth + [2]
    pairs = list(itertools.pairwise(dims))
    fwd = sum(2 * config.batch * i * o for i, o in pairs)
    bwd = 2 * fwd - 2 * config.batch * pairs[0][0] * pairs[0][1]
    return float(fwd + bwd)


def phase_breakdown(config: DDPMConfig, steps: int = 400) -> dict[str, float]:
    """Median µs per phase of train_steps' loop body on the by-hand path, timed by hand (same calls, same order)."""
    state = make_state(config, _data())
    train_steps(state, 30, fast=True)
    model, opt, g = state.fit_model, state.optimizer, state.generator
    hand = DDPMLossGrad(model, config.weighting)
    phases: dict[str, list[float]] = {k: [] for k in
                                      ("lr + batch draw", "forward + loss (by hand)", "loss.item()",
                                       "backward (by hand)", "clip grad norm (flat)", "Adam step",
                                       "weight average (EMA)")}
    keys = list(phases)
    for _ in range(steps):
        t = [time.perf_counter()]
        for group in opt.param_groups:
            group["lr"] = training.learning_rate(config, state.step)
        idx = torch.randint(0, state.train_x.shape[0], (config.batch,), generator=g)
        x0 = torch.index_select(state.train_x, 0, idx)
        t.append(time.perf_counter())
        loss = hand.loss(x0, g)
        t.append(time.perf_counter())
        loss.item()
        t.append(time.perf_counter())
        hand.backward()
        t.append(time.perf_counter())
        hand.grad.clip_(config.grad_clip)
        t.append(time.perf_counter())
        opt.step()
        t.append(time.perf_counter())
        if state.trained is not None:  # as training does it
            d = min(config.ema_decay, (1.0 + state.step) / (10.0 + state.step))
            state.flat_average.lerp_(state.flat, 1.0 - d)
        t.append(time.perf_counter())
        for i, k in enumerate(keys):
            phases[k].append((t[i + 1] - t[i]) * 1e6)
    return {k: float(np.median(v)) for k, v in phases.items()}


def chain_step_breakdown(config: DDPMConfig, n: int = 2000, reps: int = 300) -> dict[str, float]:
    """Median µs of each op of one reverse-chain step (the fast sampler's ε_θ layers), n points."""
    model = ddpm.DDPM(make_schedule("linear", 1000, 1e-4, 0.02), width=config.width, depth=config.depth,
                      emb_dim=config.emb_dim, activation=config.activation)
    linears, _ = plain_linears(model)
    act = ACT_INPLACE[config.activation]  # what the fast sampler runs
    with torch.inference_mode():
        eps_theta = eps_theta_fn(model, n)
        x = torch.randn(2, n).T
        eps_theta(x, 500)
        w = config.width
        h = torch.randn(w, n)
        bias = linears[1].bias[:, None]
        table = torch.randn(w, 1001)
        w0 = linears[0].weight[:, :2].contiguous()
        ops = {
            f"first layer addmm (2→{w}, bias = per-k table column)":
                lambda: torch.addmm(table[:, 500:501], w0, x.T, out=h),
            f"hidden layer addmm ({w}→{w}), each": lambda: torch.addmm(bias, linears[1].weight, h),
            f"output layer addmm ({w}→2)": lambda: torch.addmm(linears[-1].bias[:, None], linears[-1].weight, h),
            f"activation ({config.activation}) in place ({w}×{n}), each": lambda: act(h),
            "whole ε_θ call": lambda: eps_theta(x, 500),
        }
        out = {}
        for name, fn in ops.items():
            for _ in range(20):
                fn()
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e6)
            out[name] = float(np.median(times))
    return out


def profile_table(config: DDPMConfig, steps: int = 200, rows: int = 18) -> str:
    state = make_state(config, _data())
    train_steps(state, 30, fast=True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_steps(state, steps, fast=True)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=48)


def optimizer_comparison(config: DDPMConfig | FlowConfig, repeats: int) -> dict[str, Timing]:
    """ms per fast training step with Adam(fused=True) (what training uses) and Adam(foreach=True), interleaved."""
    variants = {"Adam(fused=True) (training's)": None, "Adam(foreach=True)": {"foreach": True}}
    states, results = {}, {k: [] for k in variants}
    for name, kw in variants.items():
        states[name] = make_state(config, _data())
        if kw is not None:
            states[name].optimizer = torch.optim.Adam(states[name].fit_model.parameters(), lr=config.lr, **kw)
        train_steps(states[name], 20, fast=True)
    for _ in range(repeats):
        for name in variants:
            t0 = time.perf_counter()
            train_steps(states[name], 150, fast=True)
            results[name].append((time.perf_counter() - t0) / 150 * 1e3)
    return {k: Timing(tuple(v)) for k, v in results.items()}


def sample_seconds(config: DDPMConfig, N: int, n: int, keep, repeats: int, fast: bool = True) -> Timing:
    """Seconds for ddpm.sample (Algorithm Sampling) with the config's network, N steps, n points."""
    sched = make_schedule("linear", N, 1e-4, 0.02)
    model = ddpm.DDPM(sched, width=config.width, depth=config.depth, emb_dim=config.emb_dim,
                      activation=config.activation)
    ddpm.sample(model, n, torch.Generator().manual_seed(0), keep=keep, fast=fast)  # warm-up
    g = torch.Generator().manual_seed(1)
    return repeat(lambda: ddpm.sample(model, n, g, keep=keep, fast=fast) and None, repeats)


def run(report: Report, quick: bool) -> None:
    cfg = DDPMConfig()
    reps = 3 if quick else 7
    t, t_auto = step_ms_both(cfg, reps)
    gflops = matmul_gflops()
    bound_ms = step_flops(cfg) / (gflops * 1e9) * 1e3
    report.add("step", f"DDPM train step, default ε-net {cfg.depth}×{cfg.width}, batch {cfg.batch} (ms)",
               t.fmt(digits=3), f"≤ {STEP_TARGET_MS}", t.median <= STEP_TARGET_MS,
               f"what a job runs (train_steps(fast=True)); matmul bound {bound_ms:.3f} ms "
               f"({step_flops(cfg) / 1e6:.1f} MFLOP at {gflops:.0f} GFLOP/s): {t.median / bound_ms:.1f}× it")
    report.add("step", "same step, plain path (autograd; interleaved with the above) (ms)",
               t_auto.fmt(digits=3), "", None, f"fast / plain = {t.median / t_auto.median:.2f}")
    rel = by_hand_matches_autograd(cfg)
    report.add("step", "gradient by hand vs autograd: max |difference| / max |gradient| over the tensors",
               f"{rel:.1e}", "≤ 1e-5", rel <= 1e-5, "one batch, default ε-net, same draws")
    flow_rows(report, quick)
    big = DDPMConfig(width=128, depth=3)
    t128 = step_ms(big, reps)
    report.add("step", "DDPM train step, 3×128 ε-net, batch 256 (ms)", t128.fmt(digits=3),
               f"≤ {STEP_TARGET_MS}", None,
               f"bound {step_flops(big) / (gflops * 1e9) * 1e3:.3f} ms; information: not the default")
    lines = ["| model | optimizer | ms / step (median, min–max) |", "|---|---|---|"]
    for label, c in (("default DDPM", cfg), ("default RealNVP", FlowConfig())):
        comp = optimizer_comparison(c, 3 if quick else 5)
        lines += [f"| {label} | {k} | {v.fmt(digits=3)} |" for k, v in comp.items()]
    report.tables["Optimizer: ms per fast training step"] = "\n".join(lines)

    phases = phase_breakdown(cfg)
    total = sum(phases.values())
    lines = ["| phase | µs (median of 400 steps) | share |", "|---|---|---|"]
    lines += [f"| {k} | {v:.0f} | {v / total:.0%} |" for k, v in phases.items()]
    lines.append(f"| total | {total:.0f} | |")
    lines.append(f"\nThe step's matmuls alone (15 MFLOP) take ≈ {bound_ms * 1e3:.0f} µs at this machine's "
                 f"{gflops:.0f} GFLOP/s; the rest is the activation ({cfg.activation}) and its backward and about "
                 "40 small ops at a few µs each (random draws, gathers, sums, the fused Adam kernel and "
                 "its Python wrapper).")
    report.tables[f"Where a training step goes (default ε-network {cfg.depth}×{cfg.width}, batch {cfg.batch})"] = \
        "\n".join(lines)
    report.tables["torch.profiler: 200 default training steps, top ops by self CPU time"] = \
        "```\n" + profile_table(cfg) + "\n```"

    chain = chain_step_breakdown(cfg)
    whole = chain[next(k for k in chain if k.startswith("whole"))]
    lines = ["| op | µs (median of 300) | × per step | µs per step | share of ε_θ |", "|---|---|---|---|---|"]
    for name, v in chain.items():
        times = cfg.depth - 1 if name.startswith("hidden") else cfg.depth if name.startswith("activation") else 1
        if not name.startswith("whole"):
            lines.append(f"| {name} | {v:.0f} | {times} | {v * times:.0f} | {v * times / whole:.0%} |")
    lines.append(f"| whole ε_θ call (fast.ddpm_sampler.eps_theta_fn) | {whole:.0f} | 1 | {whole:.0f} | |")
    lines.append(f"\n1,000 steps × the ε_θ call = {whole / 1e3:.2f} s before the chain's own updates "
                 "(μ_θ and the noise: ~5 small ops on 2,000×2 arrays per step, x̂^(0) in one pass over the kept "
                 "frames at the end). The hidden matmuls run near this machine's matmul throughput; SiLU (one "
                 "exp an element, ~1 ns here) cost about as much as one of them, Hardswish (no exp) about a "
                 "tenth: what remains is arithmetic, not overhead.")
    report.tables[f"Where a reverse-chain step goes ({cfg.depth}×{cfg.width} ε-net, 2,000 points)"] = \
        "\n".join(lines)

    s_all = sample_seconds(cfg, 1000, 2000, "all", reps)
    report.add("sample", f"1,000-step reverse chain, 2,000 points, keep='all' ({cfg.depth}×{cfg.width}) (s)",
               s_all.fmt(digits=3), f"≤ {SAMPLE_TARGET_S}", s_all.median <= SAMPLE_TARGET_S,
               "ddpm.sample(fast=True); all 1,001 frames of x^(k) and x̂^(0) kept")
    s_plain = sample_seconds(cfg, 1000, 2000, "all", reps, fast=False)
    report.add("sample", "same chain, plain path (ddpm.sample's default) (s)", s_plain.fmt(digits=3), "", None,
               f"information: fast / plain = {s_all.median / s_plain.median:.2f}")
    ks = np.unique(np.linspace(0, 1000, 100).round().astype(int)).tolist()
    s_100 = sample_seconds(cfg, 1000, 2000, ks, reps)
    report.add("sample", "same chain, ~100 kept frames (s)", s_100.fmt(digits=3), f"≤ {SAMPLE_TARGET_S}",
               s_100.median <= SAMPLE_TARGET_S, "what an animation uses")
    if cfg.activation != "silu":
        s_silu = sample_seconds(dataclasses.replace(cfg, activation="silu"), 1000, 2000, "all", reps)
        report.add("sample", "same chain with SiLU in the ε-net, keep='all' (s) (why Hardswish: tuning.md)",
                   s_silu.fmt(digits=3), "", None, f"information: {cfg.activation} / SiLU = "
                   f"{s_all.median / s_silu.median:.2f} (the two measured one after the other)")
    s_big = sample_seconds(big, 1000, 2000, "all", 3 if quick else 5)
    report.add("sample", "same chain with a 3×128 ε-net, keep='all' (s)", s_big.fmt(digits=3), "", None,
               "information: why the default width is what it is")

    scaling(report, cfg, quick)


def scaling(report: Report, cfg: DDPMConfig, quick: bool) -> None:
    reps = 3
    n_steps = 60 if quick else 100
    lines = ["| batch \\ width | " + " | ".join(str(w) for w in (16, 32, 64, 128, 256)) + " |",
             "|---|" + "---|" * 5]
    for batch in (64, 128, 256, 512, 1024):
        cells = []
        for width in (16, 32, 64, 128, 256):
            t = step_ms(DDPMConfig(width=width, depth=cfg.depth, batch=batch), reps, steps=n_steps)
            cells.append(f"{t.median:.2f}")
        lines.append(f"| {batch} | " + " | ".join(cells) + " |")
    report.tables[f"Training step (ms, median of {reps}) vs batch and width, depth {cfg.depth}"] = "\n".join(lines)

    lines = ["| points \\ N | " + " | ".join(str(N) for N in (50, 100, 200, 500, 1000)) + " |", "|---|" + "---|" * 5]
    for n in (250, 500, 1000, 2000, 5000):
        cells = [f"{sample_seconds(cfg, N, n, None, reps).median:.3f}" for N in (50, 100, 200, 500, 1000)]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    report.tables[f"Sampling (s, median of {reps}) vs N and points, {cfg.depth}×{cfg.width} ε-net, keep=None"] = \
        "\n".join(lines)
    lines = ["| width | 1,000 steps × 2,000 points, keep='all' (s) |", "|---|---|"]
    for width in (16, 32, 64, 128, 256):
        t = sample_seconds(DDPMConfig(width=width, depth=cfg.depth), 1000, 2000, "all", reps)
        lines.append(f"| {width} | {t.median:.3f} |")
    report.tables[f"Sampling vs width (depth {cfg.depth})"] = "\n".join(lines)
