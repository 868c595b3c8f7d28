"""Classroom load test (issue 17): N browser sessions on one local server, trainings as shared jobs.

Usage (from the repository root; loopback only, bounded in count and time, it stops by itself):

    .venv/bin/python benchmarks/load_test.py --n 10            # lecturer's-machine mode
    .venv/bin/python benchmarks/load_test.py --n 30 --waves 3 --cap 1200  # a lecture hall, three waves of seeds
    .venv/bin/python benchmarks/load_test.py --n 5             # what CI runs (tests/browser/test_load.py)

The driver is tests/browser/load_driver.py (its docstring says what it does and measures): a fresh server with a
model store of its own, then the phases solo (one session: the time a training takes alone), same (N sessions,
the same non-default settings, Train together: one training) and distinct (N seeds: N trainings, first come,
first served on one worker per core). The N tabs share the server's cores here, so by default they run at nice 19
(load_driver.renice_browsers; `--no-renice` to keep them level). It prints a table: wall time per session, the solo
time, the server's CPU seconds (server and worker processes, /proc), the number of trainings, the server's peak RSS.
Exit status 0 on pass, 1 on a problem, 2 if it could not run.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BROWSER_TESTS = ROOT / "tests" / "browser"
sys.path.insert(0, str(ROOT))  # the driver checks results against the engine (gendemo) in this process

# The browser harness of tests/browser/conftest.py (Chromium path and flags, the server, the page driver), loaded
# by path under its own name: load_driver imports it as `conftest`.
_spec = importlib.util.spec_from_file_location("_gendemo_browser_conftest", BROWSER_TESTS / "conftest.py")
harness = sys.modules.get(_spec.name) or importlib.util.module_from_spec(_spec)
if _spec.name not in sys.modules:
    sys.modules[_spec.name] = harness  # dataclasses look their module up there
    _spec.loader.exec_module(harness)


def _driver():
    """tests/browser/load_driver.py, which imports the harness as `conftest` (as pytest names it there)."""
    sys.modules.setdefault("conftest", harness)
    sys.path.insert(0, str(BROWSER_TESTS))
    import load_driver

    return load_driver


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10, help="browser sessions (default 10; CI runs 5)")
    ap.add_argument("--cap", type=float, default=900.0, help="seconds each phase may take at most (default 900)")
    ap.add_argument("--waves", type=int, default=1, help="distinct phases one after the other (memory growth: 3)")
    ap.add_argument("--check", type=int, default=2, help="results per phase compared with solo runs (default 2)")
    ap.add_argument("--no-renice", action="store_true",
                    help="leave the browser's tabs at the server's priority (by default they run at nice 19: in a "
                         "lecture hall they run on the students' laptops, not on the server's cores)")
    args = ap.parse_args(argv)
    if not 1 <= args.n <= 60:
        ap.error("--n must be between 1 and 60")
    try:
        from playwright.sync_api import sync_playwright

        driver = _driver()
        with sync_playwright() as pw:
            browser = driver.launch_browser(pw)
            try:
                report = driver.run(args.n, browser, cap_s=args.cap, waves=args.waves, check=args.check,
                                    renice=not args.no_renice)
            finally:
                browser.close()
    except (Exception, harness.pytest.fail.Exception) as exc:
        print(f"load test could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(report.table())
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
