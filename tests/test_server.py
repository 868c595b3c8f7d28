"""server.py, the README's entry: its lifespan hook imports every module of gendemo and ui before the first visitor.

Run in a fresh interpreter, outside any Streamlit script run (as the lifespan runs): every module must import there,
and the import must leave torch on one thread as app.py does.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CODE = """
import sys, torch, server
names = server.warm_imports()
assert torch.get_num_threads() == 1, torch.get_num_threads()
for needed in ("ui.warm", "ui.live", "ui.firstpaint", "gendemo.ddpm", "gendemo.flows", "gendemo.viz.live_svg"):
    assert needed in names and needed in sys.modules, needed
assert not any(n.endswith(("__main__", ".cli", ".worker")) for n in names), names
print(len(names))
"""


def test_the_lifespan_imports_every_module_of_the_app_outside_a_script_run():
    out = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert int(out.stdout.strip().splitlines()[-1]) > 40
