"""The talk as a PDF: the built deck printed by headless chromium, one page per slide.

reveal.js lays the deck out for print when its URL carries ``?print-pdf``: every slide becomes a
page of the deck's size (fragments shown, not split into pages; build.py configures that), and
it declares that size in an ``@page`` rule. This script opens the built folder from the file
system in Debian's chromium through Playwright, waits until that layout and every image are
ready, and prints with the page size the deck asked for.

    slides/build/index.html -> chromium (?print-pdf) -> slides/build/quorum-tech-stack.pdf

    .venv/bin/python slides/pdf.py [--build slides/build] [--out PDF]

Needs ``/usr/bin/chromium`` (or ``CHROMIUM``) and the deck built by ``make slides``; without
either it says so in one line and exits 2, leaving no partial PDF behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

SLIDES_DIR = Path(__file__).resolve().parent
BUILD = SLIDES_DIR / "build"
PDF_NAME = "quorum-tech-stack.pdf"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class PdfError(RuntimeError):
    """Something the PDF needs is missing: one line saying what and how to get it."""


def chromium_path() -> str | None:
    """Debian's chromium, or the one CHROMIUM names."""
    candidate = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
    if Path(candidate).is_file():
        return candidate
    return shutil.which("chromium")


def wait_for_print_layout(page) -> None:
    """Block until reveal.js has laid out its print pages and every image has decoded."""
    page.wait_for_function(
        "() => window.Reveal && Reveal.isReady() && document.querySelector('.pdf-page')",
        timeout=30_000,
    )
    page.wait_for_function(
        "() => Array.from(document.images).every((img) => img.complete)", timeout=30_000
    )


def print_deck(browser, index: Path, out: Path) -> int:
    """Print ``index?print-pdf`` to ``out`` with an open Playwright browser; the slide count."""
    tmp = out.with_name(f".{out.name}.tmp")
    page = browser.new_page()
    try:
        page.goto(index.resolve().as_uri() + "?print-pdf")
        wait_for_print_layout(page)
        slides = page.evaluate("Reveal.getTotalSlides()")
        page.pdf(path=str(tmp), prefer_css_page_size=True, print_background=True)
    finally:
        page.close()
    tmp.replace(out)
    return slides


def export(build: Path = BUILD, out: Path | None = None, browser=None) -> tuple[Path, int]:
    """Print the built deck to ``out``; returns the PDF and the deck's number of slides.

    Starts chromium itself unless given a Playwright ``browser`` already running.
    """
    index = build / "index.html"
    if not index.is_file():
        raise PdfError(f"{index} does not exist: run `make slides` first")
    out = out or build / PDF_NAME
    if browser is not None:
        return out, print_deck(browser, index, out)
    executable = chromium_path()
    if executable is None:
        raise PdfError("chromium is not installed (Debian package 'chromium', .ci/install-system)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            return out, print_deck(browser, index, out)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the built deck to PDF.")
    parser.add_argument("--build", type=Path, default=BUILD, help="the built deck folder")
    parser.add_argument("--out", type=Path, default=None, help=f"PDF (default build/{PDF_NAME})")
    args = parser.parse_args(argv)
    try:
        out, slides = export(args.build, args.out)
    except PdfError as error:
        print(f"slides-pdf: {error}", file=sys.stderr)
        return 2
    print(f"{out}: {slides} slides")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
