"""Helpers the deck's tests share: the build script as a module, and what counts as missing.

``slides/build.py`` and ``slides/pdf.py`` are scripts, not package modules; they are loaded here
by path under the names ``slides_build`` and ``slides_pdf`` so tests call the same functions
``make slides`` and ``make slides-pdf`` run.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SLIDES = REPO / "slides"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _load(name: str, path: Path):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


build = _load("slides_build", SLIDES / "build.py")
pdf = _load("slides_pdf", SLIDES / "pdf.py")


def missing(message: str) -> None:
    """Skip locally with a message naming what is missing; fail under CI=true."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: not skipping)")
    pytest.skip(message)


def deck_images() -> dict[str, int]:
    """The images slides/deck.md uses, each with the line that uses it."""
    return build.images(build.parse(build.DECK.read_text(encoding="utf-8")))


def resource_urls(html: str) -> list[str]:
    """Every URL the page loads by itself: src, link href, background images, CSS url()."""
    urls = re.findall(r'\s(?:src|data-background-image)="([^"]*)"', html)
    urls += re.findall(r'<link[^>]*\shref="([^"]*)"', html)
    urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", html)
    return urls
