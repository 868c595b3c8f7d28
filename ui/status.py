"""A training page's status row (step, steps/s, losses and a progress bar) as one light HTML block.

A playing page redraws its status 5 times a second. Drawn as `st.metric`s in `st.columns` plus `st.progress`,
that is a dozen React elements per redraw; as one `st.markdown` block it is one. Measured with
`benchmarks/browser_cost` (tuning.md, "What the browser pays per live panel"): the status and the loss curve
in one fragment, the status as one HTML block, took Chromium from 0.61 to 0.37 cores at 5 redraws a second,
CPU that the lecture machine's trainer needs (benchmarks/bench_live.py measures the throughput).

The block mirrors st.metric's look (a small label above a large value, an optional grey note below) and
carries stable class names for tests and benchmarks: `.gd-metric`, `.gd-metric-label`, `.gd-metric-value`,
`.gd-metric-note`, and `.gd-progress` with aria-valuenow in percent.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass

import streamlit as st

PRIMARY = "#0072B2"  # .streamlit/config.toml's theme.primaryColor: the progress bar, as st.progress draws it


@dataclass(frozen=True)
class Metric:
    label: str
    value: str
    note: str | None = None  # a grey line under the value (st.metric's delta with delta_color="off")
    help: str | None = None  # shown on hover, as st.metric's help


def html_block(metrics: list[Metric], progress: float | None, presenter: bool = False) -> str:
    """The status row as one HTML string (no blank line, so the markdown renderer keeps it one raw block).

    `progress`: a fraction in [0, 1] for the bar under the metrics (clipped), None for no bar.
    `presenter`: the larger values of presenter mode (ui/style.py), for a projector.
    """
    value_rem, label_rem = (2.0, 1.1) if presenter else (1.75, 0.875)  # 40 px against 28 px: the html is 20 px
    cells = []
    for m in metrics:
        title = f' title="{html.escape(m.help)}"' if m.help else ""
        note = ("" if m.note is None else
                f'<div class="gd-metric-note" style="font-size:{0.8 * label_rem / 0.875:.2f}rem;opacity:.6">'
                f"{html.escape(m.note)}</div>")
        cells.append(f'<div class="gd-metric"{title} style="min-width:7rem">'
                     f'<div class="gd-metric-label" style="font-size:{label_rem}rem;opacity:.75">'
                     f"{html.escape(m.label)}</div>"
                     f'<div class="gd-metric-value" style="font-size:{value_rem}rem;line-height:1.3">'
                     f"{html.escape(m.value)}</div>{note}</div>")
    bar = ""
    if progress is not None:
        pct = 100.0 * min(max(float(progress), 0.0), 1.0)
        bar = (f'<div class="gd-progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" '
               f'aria-valuenow="{pct:.0f}" style="height:.5rem;margin:.6rem 0 .2rem;border-radius:.25rem;'
               f'background:rgba(128,128,128,.2)"><div style="width:{pct:.1f}%;height:100%;border-radius:.25rem;'
               f'background:{PRIMARY}"></div></div>')
    gap = 1.0 if presenter else 1.5  # rem between metrics: a presenter's status fits a half-width panel
    return (f'<div class="gd-status"><div class="gd-metrics" style="display:flex;flex-wrap:wrap;gap:.3rem {gap}rem">'
            f'{"".join(cells)}</div>{bar}</div>')


def show(metrics: list[Metric], progress: float | None, presenter: bool = False) -> None:
    """Draw the status row: one markdown element, whatever the number of metrics."""
    st.markdown(html_block(metrics, progress, presenter), unsafe_allow_html=True)


def show_training(job, step: int, metrics: list[Metric], presenter: bool = False) -> None:
    """A training page's status: the job's step against its total, its speed, then the page's own `metrics`, over
    a bar of the steps done. `job`: a gendemo.jobtable.Job; `step`: the step the page shows (the timeline's)."""
    total = job.total
    rate = []  # the speed of a training on this server; a stored model's was measured on the machine that made it
    if job.active and job.started is not None and job.step > job.resumed_at:
        rate = [Metric("steps / s", f"{(job.step - job.resumed_at) / (time.monotonic() - job.started):,.0f}")]
    where = f"{job.step:,} / {total:,}" if step == job.step else f"{step:,} (of {job.step:,})"
    label = {"queued": "queued", "running": "training", "done": "trained", "failed": "stopped",
             "cancelled": "stopped"}[job.status]
    show([Metric("step", where, note=label), *rate, *metrics],
         progress=job.step / total if total else 1.0, presenter=presenter)


def svg(markup: str, key: str, where=st) -> None:
    """Show a `gendemo.viz.live_svg` figure inline, in a container with CSS class st-key-{key} (for tests), in
    `where` (a column, say; the current container by default).

    (The <div> makes it one raw HTML block for the markdown renderer: nothing inside is parsed as markdown.)
    """
    where.container(key=key).markdown(f"<div>{markup}</div>", unsafe_allow_html=True)
