"""Helpers for tests that run jobs in a job table (gendemo/jobtable.py) of this process."""

import time


def shutdown_jobs(table) -> None:
    """Cancel whatever a job table still runs or queues, then stop its workers (a test's teardown)."""
    with table._lock:
        table._pending.clear()
        for w in table._workers:
            if w.job is not None and w.cancel is not None:
                w.cancel.value = w.job.serial
    table.close()


def wait_jobs(table, timeout_s: float = 300.0) -> None:
    """Until the table has no queued or running job."""
    deadline = time.monotonic() + timeout_s
    while True:
        with table._lock:
            active = [(j.status, j.step, j.total) for j in table._active.values()]
        if not active:
            return
        assert time.monotonic() < deadline, f"jobs still active after {timeout_s:.0f} s: {active}"
        time.sleep(0.05)
