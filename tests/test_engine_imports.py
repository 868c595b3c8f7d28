"""The engine (gendemo/) never imports streamlit: every module of the package, imported in a fresh process."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_no_engine_module_imports_streamlit():
    code = ("import importlib, pkgutil, sys, gendemo\n"
            "names = [m.name for m in pkgutil.walk_packages(gendemo.__path__, 'gendemo.')]\n"
            "for name in names:\n"
            "    importlib.import_module(name)\n"
            "print(len(names), 'streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    count, loaded = out.stdout.split()
    assert int(count) >= 20 and loaded == "False", out.stdout  # the whole package was imported, streamlit was not
