"""The app's pages, one list for every browser test that visits them all (test_pages.py, test_viewports.py).

Each entry: (sidebar label, url_path, text of the page's st.title), in ui/router.py's order (the sidebar's), the
default page first. tests/test_routed_pages.py checks this list against ui/router.py and the pages' titles, so a
page routed there and missing here fails a fast test instead of going unchecked by the browser tests.
"""

from __future__ import annotations

PAGES = [
    ("Home", "", "DDPMs and normalizing flows, live"),
    ("Data", "data", "Data"),
    ("Forward process & β-schedules", "forward", "Forward process & β-schedules"),
    ("DDPM training", "ddpm-training", "DDPM training"),
    ("Reverse sampling", "reverse", "Reverse sampling"),
    ("Variational bound", "bound", "Variational bound"),
    ("Normalizing flows", "flows", "Normalizing flows"),
    ("Coupling layers", "coupling", "Coupling layers"),
    ("Flow matching", "flow-matching", "Flow matching"),
    ("Samplers", "samplers", "Samplers"),
    ("Likelihood", "likelihood", "Likelihood"),
]
