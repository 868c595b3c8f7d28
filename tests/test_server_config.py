"""The server's protections stay on (GUIDE §5b): a test fails if someone turns them off."""

import os
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config() -> dict:
    with open(os.path.join(ROOT, ".streamlit", "config.toml"), "rb") as fh:
        return tomllib.load(fh)


def test_protections_are_on():
    c = _config()
    assert c["server"]["enableCORS"] is True
    assert c["server"]["enableXsrfProtection"] is True
    assert c["browser"]["gatherUsageStats"] is False
    assert c["server"]["runOnSave"] is False
    assert c["server"]["fileWatcherType"] == "none"
    assert c["server"]["headless"] is True
    assert c["client"]["toolbarMode"] == "viewer"
    assert c["client"]["showErrorDetails"] in ("none", False)
    assert 1 <= c["server"]["maxUploadSize"] <= 20


def test_streamlit_reads_the_file_as_written():
    # Parse with Streamlit's own loader, so a typo in a key name (silently ignored by Streamlit) fails here.
    from streamlit import config

    config._config_options = None
    config.get_config_options(force_reparse=True, options_from_flags={})
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        config.get_config_options(force_reparse=True)
        assert config.get_option("server.enableCORS") is True
        assert config.get_option("server.enableXsrfProtection") is True
        assert config.get_option("browser.gatherUsageStats") is False
        assert config.get_option("client.toolbarMode") == "viewer"
        assert str(config.get_option("client.showErrorDetails")) in ("none", "False")
        assert config.get_option("server.maxUploadSize") <= 20
        # not a protection but a measured necessity: a gc.collect() after each fragment run (a page that follows a
        # job redraws 4 times a second, ui/live.py) held the server's GIL ~0.1 s each, which every page waits on
        assert config.get_option("runner.postScriptGC") is False
    finally:
        os.chdir(cwd)
        config.get_config_options(force_reparse=True)
