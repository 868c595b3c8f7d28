"""Open N tabs of app.py for SECONDS and count the pages that die with "Cannot set a node at a delta path".

    RERUN=1 .venv/bin/python benchmarks/fragment_race/repro.py old 4 90 8611          # ~1-3 per 90 s here
    WRAP=1 .venv/bin/python benchmarks/fragment_race/repro.py old 4 150 8612          # 0 in 150 s

Arguments: RACE_MODE (old | new), tabs, seconds, port. Debian's Chromium at /usr/bin/chromium.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
mode, n, secs, port = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
env = dict(os.environ, RACE_MODE=mode)
srv = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(HERE / "app.py"), "--server.headless=true",
                        f"--server.port={port}", "--runner.postScriptGC=false"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(4)
errs = []
try:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"], headless=True)
        pages = []
        for i in range(n):
            p = b.new_context().new_page()
            p.on("console", lambda m, i=i: m.type == "error" and errs.append((i, m.text[:200])))
            p.on("pageerror", lambda e, i=i: errs.append((i, "PAGEERROR " + str(e)[:200])))
            p.goto(f"http://127.0.0.1:{port}/")
            pages.append(p)
        t0 = time.time()
        while time.time() - t0 < secs:
            pages[0].wait_for_timeout(1000)
        b.close()
finally:
    srv.terminate()
kinds = {}
for i, t in errs:
    k = t[:60]; kinds[k] = kinds.get(k, 0) + 1
print(mode, {k: os.environ.get(k) for k in ("RERUN", "SHAPE", "RESTART", "WRAP")}, "delta-path errors:", sum(1 for i,t in errs if t.startswith("PAGEERROR")), [t for i,t in errs if t.startswith("PAGEERROR")][:1])
