"""The classroom load test in CI (issue 17): N = 5 browser sessions on one fresh server (tests/browser/load_driver.py
says what it does and measures).

* N sessions with the same non-default settings press Train together: exactly one training happens (one result
  written to the store) and every session ends showing the final step;
* N sessions with N different seeds press Train together: all finish, every result is in the store (N of them),
  and no session shows an exception or an error.

N = 10 and N = 30 (a lecture hall) are `python benchmarks/load_test.py --n 10` and `--n 30`.
"""

from __future__ import annotations

import pytest
from load_driver import run

pytestmark = pytest.mark.browser

N = 5
CAP_S = 420.0  # per phase: 5 trainings of 1,000 steps on the 2 workers of a loaded 2-core machine, with room


@pytest.mark.timeout(int(3 * CAP_S) + 240)  # the phases' caps, plus the server's start and stop
def test_five_sessions_share_one_training_or_get_five(browser):
    report = run(N, browser, cap_s=CAP_S)
    print(report.table())
    assert not report.problems, f"load test with N = {N}:\n" + "\n".join(f"  - {p}" for p in report.problems) + (
        "\n\n" + report.table())
    same = next(p for p in report.phases if p.name == "same")
    distinct = next(p for p in report.phases if p.name == "distinct")
    assert same.trainings == 1 and distinct.trainings == N
