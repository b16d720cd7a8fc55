"""The deck built once per test session, from scratch, as ``make slides`` builds it.

The figures come from the assets build (``python -m assets``, what ``make assets`` runs)
into a temporary folder, then ``slides/build.py`` lays the deck out into another: the tests
never touch ``assets/`` or ``slides/build/`` of a working copy. Without reveal.js installed
(``npm ci --prefix slides``), Graphviz or chromium the tests that need them skip with a message,
and fail under ``CI=true``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from slides_support import REPO, build, missing, pdf


@pytest.fixture(scope="session")
def assets_dir(tmp_path_factory):
    """Every figure the assets build makes, in a fresh folder."""
    if shutil.which("dot") is None:
        missing("Graphviz 'dot' is not installed (Debian package 'graphviz', .ci/install-system)")
    out = tmp_path_factory.mktemp("assets")
    done = subprocess.run(
        [sys.executable, "-m", "assets", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="session")
def reveal_installed():
    try:
        return build.reveal_version()
    except build.DeckError as error:
        missing(str(error))


@pytest.fixture(scope="session")
def built_deck(tmp_path_factory, assets_dir, reveal_installed):
    """The deck folder (index.html, reveal/, theme.css, assets/) built from the real figures."""
    out = tmp_path_factory.mktemp("deck") / "build"
    slides = build.build(assets=assets_dir, out=out)
    return out, slides


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium under Playwright, shared by the browser tests of the session."""
    executable = pdf.chromium_path()
    if executable is None:
        missing("chromium is not installed (Debian package 'chromium', .ci/install-system)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright Python package is not installed (make setup)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=pdf.CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
