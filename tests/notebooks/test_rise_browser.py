"""The chapters presented as slides, as a presenter does it: JupyterLab started on a free port
with a token, a chapter opened in JupyterLab-RISE (the page *View > Render as slides* shows) in
Debian's chromium, walked with the arrow keys to its last slide, with every request logged.
Nothing may leave this machine. Screenshots go to out/screenshots/rise/ (look at them).

Without chromium, Playwright or JupyterLab-RISE the test skips locally with a message naming
what is missing, and fails under CI=true.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
SHOTS = REPO / "out" / "screenshots" / "rise"
CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
#: Chapters walked in the browser: the shortest, and one with fragments and a long story.
WALKED = ("00_start_here.ipynb", "03_autoscaling.ipynb")
LOCAL = {"127.0.0.1", "localhost", "[::1]", "::1"}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def missing(message: str) -> None:
    """Skip locally with a message naming what is missing; fail under CI=true."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: not skipping)")
    pytest.skip(message)


def slide_types(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return [c["metadata"].get("slideshow", {}).get("slide_type", "-") for c in nb["cells"]]


# --- what every chapter says about its slides (no browser needed) -----------------------------


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_is_cut_into_slides(path):
    nb = json.loads(path.read_text())
    kinds = slide_types(path)
    assert kinds[0] == "slide", f"{path.name}: the title cell must open the first slide"
    assert kinds.count("slide") >= 4, f"{path.name}: a slide per step of its story"
    assert set(kinds) <= {"slide", "subslide", "fragment", "skip", "notes", "-"}
    # Subslides sit below a slide: the left/right arrows would skip them.
    assert "subslide" not in kinds, f"{path.name}: keep to slides and fragments"
    for cell, kind in zip(nb["cells"], kinds, strict=True):
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and text.lstrip().startswith("## "):
            assert kind == "slide", f"{path.name}: a section heading must start a slide"
    rise = nb["metadata"].get("rise", {})
    # reveal.js's other themes import web fonts from the network; "white" ships its own.
    assert rise.get("theme") == "white", f"{path.name}: rise.theme must be 'white'"


def test_the_script_carries_the_same_slides():
    """The metadata lives in the paired .py too, so editing either side keeps it."""
    import jupytext

    for path in CHAPTERS:
        script = jupytext.read(path.with_suffix(".py"))
        kinds = [c.metadata.get("slideshow", {}).get("slide_type", "-") for c in script.cells]
        assert kinds == slide_types(path), path.name


# --- the browser ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory):
    """JupyterLab on a free port of 127.0.0.1 with a fresh token, serving notebooks/."""
    try:
        import jupyterlab_rise  # noqa: F401
    except ImportError:
        missing("jupyterlab-rise is not installed (make setup)")
    port, token = _free_port(), secrets.token_hex(16)
    home = tmp_path_factory.mktemp("jupyter")
    env = {
        **os.environ,
        # A private runtime and config: no user setting changes what is tested, and the
        # server's cookie secret and kernel files stay out of the home folder.
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
    }
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={NOTEBOOKS}",
        "--ServerApp.port_retries=0",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI runs as root
    log = (home / "server.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start: {(home / 'server.log').read_text()}")
            time.sleep(0.5)
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    executable = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
    if not Path(executable).is_file():
        executable = shutil.which("chromium")
    if executable is None:
        missing("chromium is not installed (Debian package 'chromium')")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright Python package is not installed (make setup)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


#: Where the slideshow is: the present slide's position among the slides, its fragment, the
#: number of slides. RISE does not expose reveal.js's API to the page, so read the DOM.
PLACE = """
() => {
  const slides = Array.from(document.querySelectorAll('.reveal .slides > section'));
  const present = slides.findIndex((s) => s.classList.contains('present'));
  const shown = present < 0 ? 0 : slides[present].querySelectorAll('.fragment.visible').length;
  return { index: present, fragments: shown, total: slides.length, hash: location.hash };
}
"""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("name", WALKED)
def test_chapter_presents_offline_and_the_arrows_reach_the_last_slide(jupyter_lab, browser, name):
    url, token = jupyter_lab
    expected = slide_types(NOTEBOOKS / name).count("slide")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob(f"{Path(name).stem}-*.png"):
        old.unlink()
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    outside, console = [], []

    def on_request(request):
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL:
            outside.append(request.url)

    context.on("request", on_request)
    page = context.new_page()
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{url}/rise/{name}?token={token}")
        page.wait_for_selector(".reveal .slides > section.present", timeout=90_000)
        page.wait_for_timeout(1500)  # RISE focuses the first cell after it lays out
        place = page.evaluate(PLACE)
        assert place["total"] == expected, f"{name}: {place['total']} slides, want {expected}"
        assert place["index"] == 0
        seen, steps = {0}, 0
        page.screenshot(path=str(SHOTS / f"{Path(name).stem}-01.png"))
        # Every press moves: to the next fragment or the next slide, until the last one.
        while place["index"] < expected - 1 and steps < 200:
            page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "([i, f]) => { const s = Array.from(document.querySelectorAll("
                "'.reveal .slides > section')); const p = s.findIndex((x) => "
                "x.classList.contains('present')); return p !== i || (p >= 0 && "
                "s[p].querySelectorAll('.fragment.visible').length !== f); }",
                arg=[place["index"], place["fragments"]],
                timeout=10_000,
            )
            now = page.evaluate(PLACE)
            assert now["index"] >= place["index"], f"{name}: the arrow went back"
            if now["index"] != place["index"]:
                seen.add(now["index"])
                page.screenshot(path=str(SHOTS / f"{Path(name).stem}-{now['index'] + 1:02d}.png"))
            place, steps = now, steps + 1
        assert place["index"] == expected - 1, f"{name}: stopped on slide {place['index'] + 1}"
        assert seen == set(range(expected)), f"{name}: slides never shown: {seen}"
        assert outside == [], f"{name} asked the network for: {outside}"
        # Our own files must load; what RISE 0.43's bundle logs about its JupyterLab core is
        # written down for review, not failed on (notebooks/README.md, "Presenting").
        ours = [text for text in console if "/files/" in text and "rise.css" in text]
        assert ours == [], ours
        (SHOTS / f"{Path(name).stem}-console.txt").write_text("\n".join(console) + "\n")
    finally:
        context.close()
