"""The classroom load test in CI (issue 5): N = 5 browser sessions train the DDPM at once.

The test is benchmarks/load_test.py (its docstring says what it measures and how), run here with N = 5 and the
page's smallest network (width 16) on the session's Chromium (conftest.py's `browser`), against a server of its
own: a fresh process, so that its memory figures are its own, started through benchmarks/load_server.py, which
counts concurrent trainings. N = 10 and N = 30 are the documented commands
`python benchmarks/load_test.py --n 10` and `--n 30` (lecturer's-machine mode).

Bounded: loopback only, 1 + 3 × 5 sessions, a time cap for the whole test; the server log and the training
events stay in test-artifacts/load-test/ for a failing run.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
N = 5
WAVES = 3  # memory growth is measured from wave 2 to wave 3
WIDTH = 16  # the smallest ε-network on the page: the per-update work (sampling the live snapshot) is cheapest, so
# that solo + 3 waves fit CI; `benchmarks/load_test.py` keeps the page's default width
CAP_S = 600.0  # the whole load test stops by itself after this. Measured: 453 s with the machine's load average
# at 10-11 from other work; expect ~3-4 min on an idle 2-core machine


def _load_test_module():
    name = "gendemo_benchmarks_load_test"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "load_test.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.mark.timeout(int(CAP_S) + 180)  # the cap, plus stopping the server and closing the contexts
def test_five_sessions_train_at_once(browser, artifacts):
    lt = _load_test_module()
    res = lt.run(N, waves=WAVES, cap_s=CAP_S, browser=browser, workdir=artifacts / "load-test", log=print,
                 width=WIDTH)
    print(res.table())
    assert not res.problems, f"load test with N = {N} failed:\n" + "\n".join(f"  - {p}" for p in res.problems) + (
        "\n\n" + res.table())


def _events(path: Path) -> list[tuple[float, int]]:
    out = []
    for line in path.read_text().splitlines():
        try:
            t, k = line.split()
            out.append((float(t), int(k)))
        except ValueError:
            continue
    return out


@pytest.mark.timeout(600)
def test_a_closed_tab_stops_its_training_within_seconds(browser, artifacts):
    """Play with 50,000 planned steps, close the tab while it trains: the server's training calls stop within
    ui.live.ABSENT_S plus one chunk (the probe of benchmarks/load_server.py logs every call, server-side)."""
    from ui.live import ABSENT_S

    lt = _load_test_module()
    workdir = artifacts / "closed-tab"
    workdir.mkdir(parents=True, exist_ok=True)
    server = lt.Server(workdir)
    try:
        deadline = lt.Deadline(400)
        s = lt._open(browser, server.url, 0)
        s.app.open_home()
        s.app.navigate("DDPM training", "ddpm-training", "DDPM training")
        lt._set_by_keys(s, "planned steps", ["End"], "50000", deadline)
        s.app.wait_idle()
        s.app.click_button("Play")
        t_play = time.monotonic()
        while len(_events(server.events)) < 40:  # 20 training calls: it trains
            assert time.monotonic() - t_play < 120, f"no training 120 s after Play:\n{server.log_tail()}"
            time.sleep(0.2)
        s.ctx.close()
        t_close = time.monotonic()
        time.sleep(ABSENT_S + 6.0)
        events = _events(server.events)
        before = [t for t, _ in events if t <= t_close]
        after = [t for t, _ in events if t > t_close]
        assert before and t_close - before[-1] < 1.0, "it was not training when the tab closed: the test proves nothing"
        stopped = (after[-1] - t_close) if after else 0.0
        print(f"closed tab: last training call ended {stopped:.2f} s after the close (limit {ABSENT_S + 2:.0f} s); "
              f"{len(before) // 2} calls before")
        assert stopped <= ABSENT_S + 2.0, f"training went on {stopped:.1f} s after the tab closed"
        assert events[-1][1] == 0, "a training call never ended"
    finally:
        server.stop()
