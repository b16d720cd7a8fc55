"""Chapters 10 and 12 on a running lab: they find it by its id and show it live (supervisord's
status and process tree, Ansible's inventory, the releases each instance runs) instead of the
recordings. The lab is this test's own, on free ports in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from test_chapter_lab_identity import _kernel_or_skip, run_chapter

from demo_app.stack import releases
from demo_app.stack.config import LabConfig, free_ports, port_is_free

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def cli(cfg: LabConfig, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
    return subprocess.run(
        [sys.executable, "-m", "demo_app.stack", "--state-dir", str(cfg.state_dir), *args],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip


@pytest.fixture(scope="module")
def lab(tmp_path_factory, need_nginx):
    state = tmp_path_factory.mktemp("devopslab")
    dns, http, https = free_ports(3)
    for _ in range(50):
        base = free_ports(1)[0]
        if base + 2 < 65535 and all(port_is_free(base + i) for i in range(2)):
            break
    cfg = LabConfig(state_dir=state, dns_port=dns, http_port=http, https_port=https,
                    base_port=base)  # fmt: skip
    flags = ["--dns-port", str(dns), "--http-port", str(http), "--https-port", str(https)]
    try:
        started = cli(cfg, "up", *flags, "--base-port", str(base))
        assert started.returncode == 0, started.stdout + started.stderr
        yield LabConfig.load(state)
    finally:
        cli(cfg, "down")


@pytest.fixture(scope="module")
def need_nginx():
    import shutil

    if not (shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")):
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is not installed (CI=true: not skipping)")
        pytest.skip("nginx is not installed (sudo apt-get install nginx)")


def test_chapter_10_shows_the_running_lab(lab, monkeypatch):
    _kernel_or_skip()
    monkeypatch.setenv("LAB_STATE_DIR", str(lab.state_dir))
    said = run_chapter("10_servers_devops.ipynb")
    assert "No lab (" not in said and "did not answer properly" not in said, said
    assert f"lab id    {lab.lab_id}" in said  # supervisord's status, live
    assert f'"lab_state_dir": "{lab.state_dir}"' in said  # the inventory of this lab
    assert f"127.0.0.1:{lab.base_port}" in said
    workers = lab.instances * lab.workers
    assert f"{lab.instances} Gunicorn masters, {workers} workers: {lab.workers} per instance" in (
        said
    )  # its process tree


def test_chapter_12_shows_the_releases_of_the_running_lab(lab, monkeypatch):
    _kernel_or_skip()
    monkeypatch.setenv("LAB_STATE_DIR", str(lab.state_dir))
    said = run_chapter("12_deployment.ipynb")
    assert "No lab (" not in said and "did not answer properly" not in said, said
    shown = said[said.index("answers as (X-Release of /healthz)") :]
    version = releases.linked_version(releases.lab_link(lab))
    assert shown.count(version) >= 2, shown  # each instance's link and its live answer
