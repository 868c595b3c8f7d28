"""ui/status.py: the live status row as one HTML block."""

import re

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


def test_show_training_leads_with_the_step_and_rate_then_the_pages_metrics(monkeypatch):
    drawn = []
    monkeypatch.setattr(status, "show", lambda metrics, progress, presenter=False: drawn.append((metrics, progress)))

    class Cfg:
        steps = 2000

    class State:
        config, step, seconds = Cfg, 500, 2.0

    status.show_training(State, [status.Metric("NLL, training", "0.412")])
    (metrics, progress), = drawn
    assert [(m.label, m.value) for m in metrics] == [("step", "500 / 2,000"), ("steps / s", "250"),
                                                      ("NLL, training", "0.412")]
    assert progress == 0.25
    State.seconds, Cfg.steps = 0.0, 0
    status.show_training(State, [])
    assert [(m.label, m.value) for m in drawn[1][0]] == [("step", "500 / 0"), ("steps / s", "–")] and drawn[1][1] == 1.0
