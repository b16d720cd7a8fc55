"""End to end: releases, the Ansible deploy, rollback and the deploy drills on a real lab.

One lab of two instances per module, on free ports in a temporary state folder; the tests
run in file order and the last one takes the lab down. Nothing here depends on speed: every
wait has a generous bound only so that a broken lab cannot hang the run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from demo_app.stack import accesslog, drills, nginx, releases, supervisor
from demo_app.stack.client import LabClient, get_plain
from demo_app.stack.config import LabConfig, free_ports, port_is_free

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def cli(cfg: LabConfig, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
    return subprocess.run(
        [sys.executable, "-m", "demo_app.stack", "--state-dir", str(cfg.state_dir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory, need_nginx, need_git, need_ansible):
    state = tmp_path_factory.mktemp("deploylab")
    dns, http, https = free_ports(3)
    for _ in range(50):
        base = free_ports(1)[0]
        if base + 3 < 65535 and all(port_is_free(base + i) for i in range(3)):
            break
    cfg = LabConfig(
        state_dir=state, dns_port=dns, http_port=http, https_port=https, base_port=base,
        instances=2, workers=2,
    )  # fmt: skip
    flags = ["--instances", "2", "--workers", "2", "--dns-port", str(dns)]
    flags += ["--http-port", str(http), "--https-port", str(https), "--base-port", str(base)]
    try:
        started = cli(cfg, "up", *flags)
        assert started.returncode == 0, started.stdout + started.stderr
        yield cfg
    finally:
        cli(cfg, "down")


def current(cfg: LabConfig, which: str = "current") -> str | None:
    return releases.linked_version(releases.lab_link(cfg, which))


def answering(cfg: LabConfig) -> dict[str, str]:
    """Instance -> the X-Release of its own /healthz."""
    return {
        name: get_plain(cfg.instance_port(i), "/healthz", timeout=30).headers.get("x-release", "")
        for i, name in enumerate(cfg.instance_names, start=1)
    }


def pages_by_instance(cfg: LabConfig) -> dict[str, str]:
    """Instance -> the dashboard it served through nginx, until each has answered."""
    client = LabClient(cfg, timeout=60)
    pages: dict[str, str] = {}
    deadline = time.monotonic() + 120
    while len(pages) < cfg.instances and time.monotonic() < deadline:
        reply = client.get("/")
        assert reply.status == 200
        pages[reply.instance] = reply.body.decode()
    assert sorted(pages) == cfg.instance_names
    return pages


def test_up_runs_each_instance_from_its_release_not_the_checkout(lab):
    version = current(lab)
    assert version and re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{7}(-local)?", version), version
    release = releases.releases_dir(lab) / version
    assert releases.instance_releases(lab) == {"web-1": version, "web-2": version}
    for name, info in supervisor.processes(lab).items():
        if name.startswith("web-"):
            # The Gunicorn master works in the release folder, not in the repository.
            assert Path(f"/proc/{info['pid']}/cwd").resolve() == release.resolve()
    assert answering(lab) == {"web-1": version, "web-2": version}
    for page in pages_by_instance(lab).values():
        assert f'<strong class="release">{version}</strong>' in page
    access = (lab.logs / "nginx-access.log").read_text().splitlines()
    proxied = [line for line in access if accesslog.field(line, 8) != "-"]
    assert proxied and accesslog.field(proxied[-1], 15) == version


def test_deploy_ships_a_release_one_instance_at_a_time_and_rollback_returns(lab):
    old = current(lab)
    new = releases.build(lab, say=lambda _: None)
    # Mark the new release's footer: pages that show it prove the instances run its files.
    base_html = new.path / "demo_app/templates/base.html"
    marked = base_html.read_text().replace("Served by", "Shipped by Ansible, served by")
    base_html.write_text(marked)
    access = drills.LogTail(lab.logs / "nginx-access.log")
    events = drills.LogTail(lab.logs / "supervisord.log")
    migrations = drills.LogTail(lab.logs / "releases.log")

    shipped = cli(lab, "deploy", "--version", new.version)
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert "PLAY RECAP" in shipped.stdout and "failed=0" in shipped.stdout
    assert re.search(r"web-1 drained: \d+ request\(s\) in flight", shipped.stdout)
    assert f"done      every instance runs {new.version}" in shipped.stdout
    assert releases.instance_releases(lab) == {"web-1": new.version, "web-2": new.version}
    assert answering(lab) == {"web-1": new.version, "web-2": new.version}
    assert all("Shipped by Ansible" in page for page in pages_by_instance(lab).values())
    assert (current(lab), current(lab, "previous")) == (new.version, old)
    for name in lab.instance_names:
        assert releases.linked_version(releases.instance_link(lab, name, "previous")) == old
    # Migrations ran once, from the new release, before the switch.
    assert [line for line in migrations.new_lines() if "manage.py migrate" in line] == [
        f"$ {new.version}: manage.py migrate --noinput"
    ]
    # One at a time: web-2 was stopped only after web-1 was running again.
    log = events.new_lines()

    def at(text: str) -> int:
        return next(i for i, line in enumerate(log) if text in line)

    assert at("stopped: web-1") < at("success: web-1") < at("stopped: web-2")
    # Both back in nginx's upstream; nobody got an error.
    conf = nginx.conf_path(lab).read_text()
    assert " down;" not in conf
    assert all(f"server 127.0.0.1:{lab.instance_port(i)} " in conf for i in (1, 2))
    assert [line for line in access.new_lines() if accesslog.is_error(line)] == []
    listed = cli(lab, "releases")
    assert re.search(rf"^{re.escape(new.version)} .*\(current\)$", listed.stdout, re.M)
    assert re.search(rf"^web-2 +{re.escape(new.version)} +{re.escape(new.version)}$",
                     listed.stdout, re.M)  # fmt: skip

    access = drills.LogTail(lab.logs / "nginx-access.log")
    migrations = drills.LogTail(lab.logs / "releases.log")
    back = cli(lab, "rollback")
    assert back.returncode == 0, back.stdout + back.stderr
    assert releases.instance_releases(lab) == {"web-1": old, "web-2": old}
    assert answering(lab) == {"web-1": old, "web-2": old}
    assert not any("Shipped by Ansible" in page for page in pages_by_instance(lab).values())
    assert (current(lab), current(lab, "previous")) == (old, new.version)
    # A rollback leaves the schema alone.
    assert [line for line in migrations.new_lines() if "manage.py migrate" in line] == []
    assert [line for line in access.new_lines() if accesslog.is_error(line)] == []


def test_bad_input_with_the_lab_up_is_one_line_and_changes_nothing(lab):
    links = releases.instance_releases(lab)
    pids = {name: info["pid"] for name, info in supervisor.processes(lab).items()}
    conf = nginx.conf_path(lab).read_text()

    unknown = cli(lab, "deploy", "--version", "20990101-000000-0000000")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: release '20990101-000000-0000000' is unknown in ")
    assert len(unknown.stderr.splitlines()) == 1 and unknown.stdout == ""

    previous = releases.releases_dir(lab) / current(lab, "previous")
    hidden = previous.with_name(".moved-away")
    previous.rename(hidden)
    try:
        missing = cli(lab, "rollback")
    finally:
        hidden.rename(previous)
    assert missing.returncode == 2
    assert f"the previous release {previous.name} is missing from " in missing.stderr
    assert len(missing.stderr.splitlines()) == 1 and missing.stdout == ""

    both = cli(lab, "deploy", "--version", previous.name, "--ref", "HEAD")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr

    assert releases.instance_releases(lab) == links
    assert {n: i["pid"] for n, i in supervisor.processes(lab).items()} == pids
    assert nginx.conf_path(lab).read_text() == conf

    # One instance cannot roll: nothing would serve while it switches.
    assert cli(lab, "scale", "1").returncode == 0
    try:
        alone = cli(lab, "deploy", "--version", previous.name)
        assert alone.returncode == 2
        assert "a rolling deploy needs 2 or more" in alone.stderr
        assert len(alone.stderr.splitlines()) == 1
        assert releases.linked_version(releases.instance_link(lab, "web-1")) == links["web-1"]
    finally:
        assert cli(lab, "scale", "2").returncode == 0


def test_drill_deploy_fails_no_request_and_ends_on_the_new_release(lab):
    old = current(lab)
    drilled = cli(lab, "drill", "deploy")
    out = drilled.stdout
    assert drilled.returncode == 0, out + drilled.stderr
    new = current(lab)
    assert new != old
    assert re.search(r"^requests  \d+, failed 0$", out, re.M), out
    assert re.search(r"^nginx log \d+ requests, 0 failed \(0 5xx, 0 499, 0 truncated\)", out, re.M)
    for name in lab.instance_names:
        assert f"instance  {name} runs {new}, answers as {new}" in out
    assert answering(lab) == {"web-1": new, "web-2": new}
    # The timeline names both releases and ends with the new one answering.
    assert f"  old = {old}" in out and f"  new = {new}" in out
    windows = re.findall(r"^ +\d+-\d+ s  (.*)$", out, re.M)
    assert windows and "new" in windows[-1] and any("old" in w for w in windows)
    assert f"result    no request failed; every instance runs {new}" in out


def test_drill_bad_deploy_stops_at_the_first_instance_and_restores_it(lab):
    before = releases.instance_releases(lab)
    pids = {name: info["pid"] for name, info in supervisor.processes(lab).items()}
    drilled = cli(lab, "drill", "bad-deploy")
    out = drilled.stdout
    assert drilled.returncode == 0, out + drilled.stderr
    # The deploy command itself: non-zero, one line naming the instance and the reason.
    stopped = re.search(r"^deploy    exit (\d+): (.*)$", out, re.M)
    assert stopped and int(stopped.group(1)) != 0, out
    bad = next(r.version for r in releases.list_releases(lab) if r.version.endswith("-nostatic"))
    assert stopped.group(2) == (
        f"error: deploy stopped at web-1: {bad} is not ready: /readyz answered 503 10 times in a"
        " row (static files not collected: no manifest entry for demo_app/site.css);"
        f" back on {before['web-1']}"
    )
    assert len(re.findall(r"^  stderr: error: ", out, re.M)) == 1
    assert "check     MISS" not in out and out.count("check     ok") == 7
    # Restored, and the roll never reached web-2.
    assert releases.instance_releases(lab) == before
    assert answering(lab) == before
    now = {name: info["pid"] for name, info in supervisor.processes(lab).items()}
    assert now["web-2"] == pids["web-2"] and now["web-1"] != pids["web-1"]
    assert re.search(r"^requests  \d+, failed 0$", out, re.M), out
    assert re.search(r"^nginx log \d+ requests, 0 failed ", out, re.M)


def test_down_leaves_no_process_behind(lab):
    stopped = cli(lab, "down")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert supervisor.lab_processes(lab) == []
