"""Chromium's and the server's CPU for each COST_MODE of app.py: 15 s windows, one tab, after 5 s of warm-up.

    .venv/bin/python benchmarks/browser_cost/measure.py A B C D E F G

Prints one line per mode. Debian's Chromium at /usr/bin/chromium (as the browser tests). Results: tuning.md.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

def cpu_of(pids):
    tot = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
            tot += int(f[11]) + int(f[12])
        except OSError:
            pass
    return tot / os.sysconf("SC_CLK_TCK")

def chromium_pids():
    """The Chromium processes below this one (launched by Playwright): not the server, not other browsers."""
    found, todo = [], [os.getpid()]
    while todo:
        out = subprocess.run(["pgrep", "-P", str(todo.pop())], capture_output=True, text=True,
                             check=False).stdout.split()
        found += [int(x) for x in out]
        todo += [int(x) for x in out]
    return [p for p in found if "chrom" in open(f"/proc/{p}/comm").read()]

for mode in sys.argv[1:]:
    port = 8700 + ord(mode[0])
    srv = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(HERE / "app.py"), "--server.headless=true",
                            f"--server.port={port}", "--runner.postScriptGC=false", "--server.fileWatcherType=none"],
                           env=dict(os.environ, COST_MODE=mode, PYTHONPATH=str(ROOT)), cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(4)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"], headless=True)
        p = b.new_context(viewport={"width": 1400, "height": 900}).new_page()
        p.goto(f"http://127.0.0.1:{port}/")
        p.wait_for_timeout(5000)
        pids = chromium_pids()
        c0, s0, w0 = cpu_of(pids), cpu_of([srv.pid]), time.time()
        p.wait_for_timeout(15000)
        c1, s1, w1 = cpu_of(pids), cpu_of([srv.pid]), time.time()
        b.close()
    srv.terminate(); srv.wait()
    print(f"mode {mode}: chromium {(c1-c0)/(w1-w0):.2f} cores, server {(s1-s0)/(w1-w0):.2f} cores", flush=True)
