"""gendemo benchmarks: every speed and quality figure of issues 4 and 17 next to its target, in one table.

Usage (from the repository root):

    .venv/bin/python benchmarks/run.py            # everything, ~5-8 min on 2 busy cores; writes RESULTS.md
    .venv/bin/python benchmarks/run.py --quick    # fewer repeats and datasets, ~3 min
    .venv/bin/python benchmarks/run.py --only engine quality   # some sections: engine baseline quality app jobs bridge
    .venv/bin/python benchmarks/run.py --no-write # print only, leave RESULTS.md alone

Sections: engine (training step, profile, sampling, scaling tables), baseline (today's step times next to the code
at a base commit's, measured in the same run, and whether a job's numbers are bit for bit the same; bench_baseline.py),
quality (time to quality of the default
DDPM on several datasets and of the default flows), app (payload of every animation figure, each page's run
time in AppTest), jobs (issue 17, in Chromium on fresh servers: a default model on screen at first view; a
training job followed live against the engine alone, and the live panel's redraws/s; benchmarks/bench_jobs.py), bridge
(issue 15: flow matching's time to ≤ 3× the floor, its 20-step Heun sampler, its exact ODE likelihood; bench_bridge.py).
Everything runs on one torch thread. Timings are medians of repeats with their min–max; the machine is
shared, so the load average before and after is written next to them. Exit status 1 if a target fails.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time

from common import ROOT, Report, load_average, machine

SECTIONS = ("engine", "baseline", "quality", "app", "jobs", "bridge")
SECTIONS += ("samplers",)  # issue 15: the DDPM's samplers and its PF-ODE likelihood (bench_samplers.py)


def _table(report: Report) -> str:
    lines = ["| section | figure | measured | target | status | notes |", "|---|---|---|---|---|---|"]
    for r in report.rows:
        lines.append(f"| {r.section} | {r.name} | {r.value} | {r.target} | {r.status} | {r.note} |")
    return "\n".join(lines)


def _results_md(report: Report, meta: dict[str, str], args: argparse.Namespace) -> str:
    command = (f"python benchmarks/run.py{' --quick' if args.quick else ''}"
               f"{' --only ' + ' '.join(args.only) if args.only else ''}")
    out = ["# gendemo benchmark results", "", f"Written by `{command}` (see its `--help`).", ""]
    out += [f"- **{k}**: {v}" for k, v in meta.items()]
    note = ("How the defaults were chosen (the sweeps behind them): `benchmarks/tuning.md`. Timings on this shared "
            "machine move with the load of other users' processes (the load average above is for 2 cores): compare "
            "ratios measured within one run, not absolute figures across runs.")
    out += ["", note]
    out += ["", "## Figures vs targets (issues 4 and 17)", "", _table(report), ""]
    for title, body in report.tables.items():
        out += [f"## {title}", "", body, ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats, seeds and datasets (~3 min)")
    p.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    p.add_argument("--no-write", action="store_true", help="do not write benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    sections = args.only or list(SECTIONS)

    meta = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), **machine(),
            "load average (1, 5, 15 min) at start": load_average()}
    print("gendemo benchmarks — " + ", ".join(f"{k}: {v}" for k, v in meta.items()), flush=True)
    report = Report()
    t0 = time.perf_counter()
    for name in sections:
        t = time.perf_counter()
        print(f"[{name}]", flush=True)
        try:
            module = __import__(f"bench_{name}")
            module.run(report, args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others' figures
            report.add(name, "section did not complete", f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}",
                       "completes", False)
        report.tables.setdefault("Section wall times", "")
        report.tables["Section wall times"] += f"- {name}: {time.perf_counter() - t:.0f} s\n"
    meta["load average at end"] = load_average()
    meta["total wall time"] = f"{time.perf_counter() - t0:.0f} s"

    print()
    print(_table(report))
    print(f"\nload average at start {meta['load average (1, 5, 15 min) at start']}, at end {meta['load average at end']}; "
          f"{meta['total wall time']}")
    if not args.no_write:
        path = ROOT / "benchmarks" / "RESULTS.md"
        path.write_text(_results_md(report, meta, args))
        print(f"wrote {path.relative_to(ROOT)}")
    return 0 if all(r.ok is not False for r in report.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
