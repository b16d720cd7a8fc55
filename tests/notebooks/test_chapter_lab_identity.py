"""A chapter takes only this checkout's lab for the lab: another server on the lab's port is
"no lab", said plainly, and the chapter goes on with its recordings.

The stand-in is a real ``http.server`` on the port the lab's plan names (the plan and its
certificates are real too, made as ``up`` makes them), and the chapters run in a real kernel.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stack"))
from test_chapter_outputs import NOTEBOOKS, _kernel_or_skip
from test_identity import plan, server_on

pytestmark = pytest.mark.slow


def run_chapter(name: str) -> str:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    return "\n".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )


@pytest.mark.parametrize("name", ["01_dns.ipynb", "04_nginx.ipynb", "08_whole_path.ipynb"])
def test_a_server_on_the_labs_port_is_not_taken_for_the_lab(name, tmp_path, monkeypatch):
    _kernel_or_skip()
    cfg = plan(tmp_path / "lab")
    monkeypatch.setenv("LAB_STATE_DIR", str(cfg.state_dir))  # the kernel inherits it
    with server_on(cfg.https_port), server_on(cfg.dns_port):
        said = run_chapter(name)
    assert "No lab (" in said, said
    assert "did not answer properly" not in said and "No such file" not in said
