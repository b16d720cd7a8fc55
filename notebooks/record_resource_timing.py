"""Record what a real browser measures of the demo app's trace page: its Resource Timing.

``.venv/bin/python notebooks/record_resource_timing.py [OUT]`` (default
``notebooks/data/resource-timing.json``) serves the demo app as ``make app`` does (Gunicorn,
``DEBUG=0``, WhiteNoise serving the collected, fingerprinted and compressed static files) from a
throwaway folder on a free port of 127.0.0.1, opens ``/trace/`` in Debian's chromium (headless,
driven by Playwright, as ``tests/demo_app/test_demo_browser.py`` does), and writes, for a first
visit (an empty browser cache) and a second one (the same browser, the page opened again), the
browser's ``navigation`` entry and its ``resource`` entries: one per static file the page
loaded, as ``performance.getEntriesByType`` returns them (the Performance API the trace page's
own script reads). Chapter 11 reads the file; nothing in it is edited by hand.

Needs chromium (``sudo apt-get install chromium``) and the playwright package (``make setup``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "notebooks" / "data" / "resource-timing.json"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: What the page's script sets once it has drawn its waterfall (``tracing/trace.js``).
READY = "body[data-trace-ready=true]"
ENTRIES = """() => ({
  navigation: performance.getEntriesByType("navigation").map((e) => e.toJSON()),
  resources: performance.getEntriesByType("resource").map((e) => e.toJSON()),
})"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"error: the demo app did not answer at {url} in {seconds:g} s"
                ) from None
            time.sleep(0.2)


def record(out: Path) -> dict:
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"error: {CHROMIUM} not found; install Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "demo_app.settings.dev",
            "DEBUG": "0",
            "SQLITE_PATH": str(Path(folder) / "demo.sqlite3"),
            "STATIC_ROOT": str(Path(folder) / "static"),
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_ACCESS_LOG": str(Path(folder) / "access.log"),
            "GUNICORN_ERROR_LOG": str(Path(folder) / "error.log"),
        }
        python = sys.executable
        manage = [python, str(REPO / "demo_app" / "manage.py"), "prepare_demo"]
        subprocess.run(manage, env=env, cwd=REPO, check=True, capture_output=True)
        server = subprocess.Popen([python, "-m", "demo_app.serve"], env=env, cwd=REPO)
        try:
            url = f"http://127.0.0.1:{port}/trace/"
            wait_until_up(url)
            visits = {}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                for visit in ("first", "again"):
                    page.goto(url)
                    page.wait_for_selector(READY, timeout=15_000)
                    visits[visit] = page.evaluate(ENTRIES)
                version = browser.version
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    document = {
        "recorded_with": "python notebooks/record_resource_timing.py",
        "browser": f"chromium {version} (headless)",
        "url": "http://127.0.0.1:PORT/trace/",
        "server": "the demo app under Gunicorn (demo_app.serve), settings dev with DEBUG=0",
        "visits": visits,
    }
    text = json.dumps(document, indent=1, sort_keys=False) + "\n"
    out.write_text(text.replace(f"127.0.0.1:{port}", "127.0.0.1:PORT"))
    return document


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    doc = record(target)
    files = [e["name"].rsplit("/", 1)[-1] for e in doc["visits"]["first"]["resources"]]
    print(f"wrote {target}: {len(files)} resources on the first visit ({', '.join(files)})")
