"""tests/browser/routed_pages.PAGES, the page list the browser tests visit, is the app's routing (ui/router.py):
the same pages, labels, url_paths and order, each with its page's st.title. Read from the source (st.Page needs a
Streamlit run to be built), so this test needs no browser."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _browser_pages() -> list[tuple[str, str, str]]:
    spec = importlib.util.spec_from_file_location("routed_pages", REPO / "tests" / "browser" / "routed_pages.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.PAGES


def _routed() -> list[tuple[str, str, str]]:
    """(title, url_path, file) of each st.Page call in ui/router.py, in source order (ast.walk is breadth-first
    and every st.Page call sits at the same depth, in the lists of pages()'s dict)."""
    tree = ast.parse((REPO / "ui" / "router.py").read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Page":
            kw = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
            out.append((kw["title"], kw.get("url_path", ""), ast.literal_eval(node.args[0])))
    return out


def _st_title(page_file: str) -> str:
    for node in ast.walk(ast.parse((REPO / page_file).read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "title"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "st"):
            return ast.literal_eval(node.args[0])
    raise AssertionError(f"{page_file}: no st.title")


def test_browser_page_list_is_the_routing():
    routed = _routed()
    assert len(routed) >= 11  # the parse found the st.Page calls (8 before issue 15's three pages)
    assert [(label, url) for label, url, _ in _browser_pages()] == [(t, u) for t, u, _ in routed]


def test_browser_page_titles_are_the_pages_titles():
    titles = {u: _st_title(f) for _, u, f in _routed()}
    assert {url: title for _, url, title in _browser_pages()} == titles
