"""The layout holds: imports point one way, the public API is what it says, SimPy's private
attributes stay in the engine's kernel, and importing a little stays cheap."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sim

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "sim"

#: What each part of ``sim`` may import from the project, besides itself: the one direction
#: config <- model <- engine <- results <- figures <- the command line, with the vocabulary
#: (``layers``) and the formulas (``theory``) below them all, and the loader beside config.
BASE = {"layers", "theory"}
ALLOWED: dict[str, set[str]] = {
    "layers": set(),
    "theory": set(),
    "config": BASE,
    "loader": BASE | {"config"},
    "model": BASE | {"config"},
    "engine": BASE | {"config", "model"},
    "results": BASE | {"config", "model", "engine"},
    "figures": BASE | {"config", "model", "engine", "results"},
}
#: The command line, the sweep, the benchmarks and the package's own API may use everything.
TOP = {"__init__", "__main__", "cli", "sweep", "bench"}


def part(module: str) -> str:
    """``sim.model.app`` -> ``model``; ``sim`` -> ``__init__``."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    names = list(rel.parts)
    if names[-1] == "__init__":
        names = names[:-1]
    return ".".join(names)


def imports(path: Path) -> list[str]:
    """The ``sim...`` modules ``path`` imports, at any depth of the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name == "sim" or a.name.startswith("sim.")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "sim":
                out += [f"sim.{a.name}" for a in node.names]
            elif node.module.startswith("sim."):
                out.append(node.module)
    return out


SOURCES = sorted(SIM.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_one_way(path):
    here = part(module_of(path))
    if here in TOP:
        return
    allowed = ALLOWED[here] | {here}
    wrong = [m for m in imports(path) if part(m) not in allowed]
    assert not wrong, f"{path.relative_to(ROOT)} ({here}) may not import {wrong}"


def test_every_part_is_placed():
    parts = {part(module_of(p)) for p in SOURCES}
    assert parts <= set(ALLOWED) | TOP, parts - set(ALLOWED) - TOP


def test_every_package_says_what_it_owns_and_may_import():
    for init in SIM.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "import" in doc.lower(), f"{init.relative_to(ROOT)}: say what it may import"


def test_the_public_api_is_pinned():
    assert sim.__all__ == ["LAYERS", "ConfigError", "Result", "Scenario", "load", "loads", "run"]
    for name in sim.__all__:
        assert getattr(sim, name) is not None
    with pytest.raises(AttributeError):
        sim.simulate  # noqa: B018 (the engine is not the API)


#: SimPy's private attributes, which only the engine's kernel may touch.
PRIVATE = re.compile(r"\.(_now|_queue|_eid|_ok|_value|_defused)\b")


def test_simpy_private_attributes_only_in_the_kernel():
    kernel = SIM / "engine" / "kernel.py"
    project = [
        *SIM.rglob("*.py"),
        *(ROOT / "assets").rglob("*.py"),
        *(ROOT / "demo_app").rglob("*.py"),
    ]
    project += sorted((ROOT / "notebooks").glob("*.py"))
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in project
        if p != kernel
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if PRIVATE.search(line.split("#")[0])
    ]
    assert not found, found
    assert PRIVATE.search(kernel.read_text())  # the kernel does, for speed


def test_no_record_is_indexed_by_number_outside_the_records_module():
    # Records have named fields; `row[4]` hides which one is meant.
    records = SIM / "results" / "records.py"
    indexed = re.compile(r"\b(r|row|rec|record|g\[0\]|rows\[0\]|group\[0\])\[\d+\]")
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in [*SIM.rglob("*.py"), *(ROOT / "assets").rglob("*.py")]
        if p != records
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if indexed.search(line)
    ]
    assert not found, found


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_the_vocabulary_is_cheap_to_import():
    # The demo app imports the layer names in every Gunicorn worker.
    modules = loaded_after("import sim.layers")
    assert not {"simpy", "numpy", "matplotlib"} & modules


def test_the_command_line_does_not_load_matplotlib_until_it_draws():
    assert "matplotlib" not in loaded_after("import sim.cli, sim.results")


def test_nothing_in_the_repository_cites_a_file_outside_it():
    """Every fact is cited from the project's own sim/FACTS.md: a user of the project has no
    design folder beside it. (The name is assembled so that this test does not cite it.)"""
    outside = ("MODEL" + "_FACTS", "../" + "shared/")
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    found = []
    for name in tracked:
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".toml", ".ipynb", ".txt", ".j2", ".yml", ".cfg"}:
            continue
        text = path.read_text(errors="replace")
        found += [f"{name}: {needle}" for needle in outside if needle in text]
    assert found == []
