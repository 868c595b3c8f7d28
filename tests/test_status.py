"""ui/status.py: a training page's status row as one HTML block, and what it says about a job."""

import re
import time
from types import SimpleNamespace

from gendemo.config import DDPMConfig
from gendemo.jobs import JobSpec, builtin_spec
from gendemo.jobtable import Job
from ui import status


def _cells(block: str) -> list[tuple[str, str]]:
    return re.findall(r'class="gd-metric-label"[^>]*>(.*?)</div><div class="gd-metric-value"[^>]*>(.*?)</div>', block)


def test_each_metric_is_a_label_over_a_value_in_order_with_its_note_and_help():
    block = status.html_block([status.Metric("step", "1,234 / 5,000"),
                               status.Metric("NLL, held-out", "0.348", note="gap +0.058 to H(q₀)", help="On 2,000 points")],
                              progress=0.25)
    assert _cells(block) == [("step", "1,234 / 5,000"), ("NLL, held-out", "0.348")]
    assert 'class="gd-metric-note"' in block and "gap +0.058 to H(q₀)" in block
    assert block.count('class="gd-metric-note"') == 1
    assert 'title="On 2,000 points"' in block
    assert "\n" not in block  # one raw HTML block for the markdown renderer


def test_text_is_escaped_so_a_label_cannot_inject_markup():
    block = status.html_block([status.Metric("<b>x</b>", "a & b", help='say "hi"')], progress=None)
    assert _cells(block) == [("&lt;b&gt;x&lt;/b&gt;", "a &amp; b")]
    assert 'title="say &quot;hi&quot;"' in block
    assert "gd-progress" not in block


def test_the_progress_bar_is_clipped_to_0_100_percent():
    for fraction, pct in ((-0.5, "0"), (0.0, "0"), (0.126, "13"), (1.0, "100"), (3.0, "100")):
        block = status.html_block([], progress=fraction)
        assert f'aria-valuenow="{pct}"' in block, (fraction, block)


def test_presenter_mode_draws_larger_values():
    size = lambda b: float(re.search(r'class="gd-metric-value" style="font-size:([\d.]+)rem', b).group(1))
    m = [status.Metric("step", "1")]
    assert size(status.html_block(m, None, presenter=True)) > size(status.html_block(m, None, presenter=False))


def test_show_training_leads_with_the_step_its_state_and_the_rate_then_the_pages_metrics(monkeypatch):
    drawn = []
    monkeypatch.setattr(status, "show", lambda metrics, progress, presenter=False: drawn.append((metrics, progress)))
    cells = lambda i: [(m.label, m.value, m.note) for m in drawn[i][0]]
    spec = JobSpec.of(builtin_spec("moons", 1000, 0, None), DDPMConfig(steps=2000))

    job = Job(spec, "k", status="running", step=500, started=time.monotonic() - 2.0)
    status.show_training(job, 500, [status.Metric("NLL, training", "0.412")])
    (step, rate, nll) = cells(0)
    assert step == ("step", "500 / 2,000", "training") and nll == ("NLL, training", "0.412", None)
    assert rate[0] == "steps / s" and 200 <= float(rate[1].replace(",", "")) <= 250, rate
    assert drawn[0][1] == 0.25

    status.show_training(job, 400, [])  # a view frozen at an earlier snapshot of the running job
    assert cells(1)[0] == ("step", "400 (of 500)", "training")

    queued = Job(spec, "k", status="queued")
    status.show_training(queued, 0, [])
    assert cells(2) == [("step", "0 / 2,000", "queued")] and drawn[2][1] == 0.0, "no speed before the first step"

    # A stored model's speed was measured on the machine that trained it (a shipped one: another machine), so a
    # finished job shows none.
    done = Job(spec, "k", status="done", step=2000, entry=SimpleNamespace(seconds=4.0))
    status.show_training(done, 2000, [])
    assert cells(3) == [("step", "2,000 / 2,000", "trained")] and drawn[3][1] == 1.0

    for s in ("failed", "cancelled"):
        status.show_training(Job(spec, "k", status=s, step=10), 10, [])
        assert drawn[-1][0][0].note == "stopped"
