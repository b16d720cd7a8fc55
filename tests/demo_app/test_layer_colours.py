"""The demo app's pages colour each layer as every figure does (sim/layers.py)."""

from __future__ import annotations

import re
from pathlib import Path

from sim.layers import COLORS

CSS = Path(__file__).resolve().parents[2] / "demo_app" / "static" / "demo_app" / "site.css"


def test_css_layer_colours_match_the_shared_palette():
    declared = dict(re.findall(r"--([a-z]+): (#[0-9A-Fa-f]{6});", CSS.read_text()))
    assert {name: declared.get(name) for name in COLORS} == COLORS
