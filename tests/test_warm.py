"""ui/warm.py: once it is imported (app.py does so before any page runs), the libraries that plotly and narwhals look
up in sys.modules without importing them are fully imported, so no session's thread can find one half-initialised
(the cold-start race: tests/browser/test_cold_start.py)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# plotly: _plotly_utils.optional_imports.get_module(name, should_load=False) in its validators and JSON encoder;
# narwhals (asked by plotly's validators what an array is): narwhals.dependencies.get_<library>().
LOOKED_UP = ["numpy", "pandas", "pyarrow", "PIL.Image"]

CHECK = f"""
import importlib.util, json, sys
import ui.warm
out = {{}}
for name in {LOOKED_UP!r}:
    installed = importlib.util.find_spec(name.split(".")[0]) is not None
    m = sys.modules.get(name)
    out[name] = {{"installed": installed, "loaded": m is not None,
                 "initializing": bool(m is not None and getattr(m.__spec__, "_initializing", False))}}
print(json.dumps(out))
"""


def test_warm_imports_every_library_plotly_looks_up_without_importing():
    res = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    state = json.loads(res.stdout.strip().splitlines()[-1])
    for name, s in state.items():
        if s["installed"]:
            assert s["loaded"] and not s["initializing"], f"{name}: {s}"


def test_app_imports_warm_before_it_runs_a_page():
    with open(os.path.join(ROOT, "app.py"), encoding="utf-8") as fh:
        src = fh.read()
    assert "import ui.warm" in src and src.index("import ui.warm") < src.index("nav.run()")
