"""Streamlit glue shared by the pages: session state, the live-training loop, presenter styling.

The engine (`gendemo/`) never imports streamlit; everything that does lives here or in `pages/`.
"""
