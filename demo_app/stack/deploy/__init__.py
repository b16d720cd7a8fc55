"""Deploying a release to the lab: the commands around the Ansible playbook in this folder.

Like the release manager's checklist before and after the automation runs: is the lab up,
is it big enough to roll, which release goes out (an existing one, a commit, or the working
tree), then ``ansible-playbook deploy.yml`` does the work (its output streams as it goes), and
afterwards one line on where each instance ended up. ``rollback`` is the same roll towards
the lab's previous release; ``releases`` shows the releases and which one each instance runs.

Everything that can be refused is refused before anything changes: a lab that is down, an
unknown version, a missing previous release, a ref that is not a commit, a missing
ansible-playbook. A roll that stops (an instance not ready) exits 1 with one line naming the
instance and the reason, read from the file the playbook leaves (``<state>/deploy/
stopped.json``).

Files here: ``deploy.yml`` (the playbook), ``roles/roll/tasks/`` (one instance: drain,
switch, ready, back), ``group_vars/all.yml`` (paths and limits), ``inventory.py`` (hosts from
``lab.json``), ``ansible.cfg``.

Flow: checks -> release (picked or built) -> ansible-playbook -> result line + table.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from demo_app.stack import lab, nginx, releases, supervisor
from demo_app.stack.certs import ensure_certificates
from demo_app.stack.client import get_plain
from demo_app.stack.config import LabConfig, LabError

HERE = Path(__file__).resolve().parent
PLAYBOOK = HERE / "deploy.yml"
INVENTORY = HERE / "inventory.py"
ANSIBLE_CFG = HERE / "ansible.cfg"


def say(message: str = "") -> None:
    print(message, flush=True)


def ansible_playbook() -> str:
    """``ansible-playbook`` beside this Python (the lab extra installs it), else on PATH."""
    found = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent))
    found = found or shutil.which("ansible-playbook")
    if not found:
        raise LabError(
            "ansible-playbook is not installed: `make setup` installs ansible-core (the lab extra)"
        )
    return found


def ansible_environment(cfg: LabConfig) -> dict[str, str]:
    """Ansible's settings from ``ansible.cfg``; its own files in the lab's state folder."""
    home = cfg.path("deploy", "ansible")
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(ANSIBLE_CFG),
            "ANSIBLE_HOME": str(home),
            "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
            "ANSIBLE_REMOTE_TEMP": str(home / "remote-tmp"),
            "ANSIBLE_FORCE_COLOR": "0",
            "LAB_STATE_DIR": str(cfg.state_dir),
            # The inventory script runs with the first python3 on PATH: this one.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def syntax_check(cfg: LabConfig) -> subprocess.CompletedProcess:
    """``ansible-playbook --syntax-check`` of the playbook (CI runs it)."""
    return subprocess.run(
        [ansible_playbook(), "--syntax-check", str(PLAYBOOK), "-e", "release=check"],
        env=ansible_environment(cfg),
        capture_output=True,
        text=True,
    )


# -- checks before anything changes -----------------------------------------------------------


def check_lab(cfg: LabConfig) -> None:
    lab.require_running(cfg)
    if cfg.instances < 2:
        raise LabError(
            f"the lab runs {cfg.instances} instance: a rolling deploy needs 2 or more (one"
            " serves while the other switches); run `scale 2` first"
        )
    missing = [name for name, v in releases.instance_releases(cfg).items() if v is None]
    if missing:
        raise LabError(
            f"{', '.join(missing)} run(s) no release (the lab was started before releases"
            " existed): run `down`, then `up`"
        )
    ansible_playbook()
    bring_back_drained(cfg)


def drained(cfg: LabConfig) -> list[str]:
    """Instances nginx.conf marks ``down``: left out by a deploy that was interrupted."""
    text = nginx.conf_path(cfg).read_text()
    return [
        name
        for i, name in enumerate(cfg.instance_names, start=1)
        if re.search(rf"server \S+:{cfg.instance_port(i)} [^;]* down;", text)
    ]


def bring_back_drained(cfg: LabConfig) -> None:
    """An interrupted deploy (Ctrl-C) may leave an instance out of the upstream; rolling the
    next one out too would leave nginx nobody. Put back the ones that are ready, refuse
    otherwise."""
    left_out = drained(cfg)
    if not left_out:
        return
    unready = []
    for name in left_out:
        port = cfg.instance_port(cfg.instance_names.index(name) + 1)
        try:
            ok = get_plain(port, "/readyz", timeout=5).status == 200
        except OSError:
            ok = False
        if not ok:
            unready.append(name)
    if unready:
        raise LabError(
            f"{', '.join(unready)} is out of nginx's upstream (an interrupted deploy) and not"
            " ready: see `status` and its logs; `deploy --version` of a good release after"
            " fixing it"
        )
    tls = ensure_certificates(cfg.path("tls"))[0]
    nginx.write_conf(cfg, tls, cfg.path("static"))
    nginx.reload(cfg)
    say(f"nginx     {', '.join(left_out)} back in the upstream (an interrupted deploy left it out)")


# -- the commands -------------------------------------------------------------------------------


def deploy(cfg: LabConfig, version: str | None = None, ref: str | None = None) -> int:
    """Ship release ``version``, or a new build of ``ref`` (or of the working tree)."""
    if version is not None and ref is not None:
        raise LabError("give --version (an existing release) or --ref (a commit), not both")
    if version is not None:
        releases.check_version(version)
    check_lab(cfg)
    if version is not None:
        release = releases.get(cfg, version)
    else:
        release = releases.build(cfg, ref=ref, say=say)
    return roll(cfg, release, "deploy")


def rollback(cfg: LabConfig) -> int:
    """Roll every instance back to the lab's previous release."""
    check_lab(cfg)
    link = releases.lab_link(cfg, "previous")
    version = releases.linked_version(link)
    if version is None:
        raise LabError(
            f"no previous release to roll back to ({link} is missing): the lab has had one"
            " deploy at most"
        )
    try:
        release = releases.get(cfg, version)
    except LabError:
        raise LabError(
            f"the previous release {version} is missing from {releases.releases_dir(cfg)}:"
            " nothing to roll back to (`deploy --version` another one)"
        ) from None
    return roll(cfg, release, "rollback")


def roll(cfg: LabConfig, release: releases.Release, action: str) -> int:
    """Run the playbook for ``release``; 0 when every instance runs it."""
    stopped = cfg.path("deploy", "stopped.json")
    stopped.parent.mkdir(parents=True, exist_ok=True)
    stopped.unlink(missing_ok=True)
    before = releases.instance_releases(cfg)
    say(
        f"{action:<9} {release.version} to {', '.join(cfg.instance_names)}, one at a time"
        f" (now: {describe(before)})"
    )
    command = [
        ansible_playbook(),
        str(PLAYBOOK),
        "-e",
        f"release={release.version}",
        "-e",
        f"roll_action={action}",
    ]
    say(f"ansible   {' '.join(Path(c).name if c.startswith('/') else c for c in command)}")
    done = subprocess.run(command, env=ansible_environment(cfg))
    after = releases.instance_releases(cfg)
    if done.returncode == 0:
        say(f"{'done':<9} every instance runs {release.version} ({describe(after)})")
        return 0
    print(f"error: {stop_line(cfg, stopped, action, done.returncode)}", file=sys.stderr)
    return 1


def stop_line(cfg: LabConfig, stopped: Path, action: str, code: int) -> str:
    """One line on why the roll stopped, from the playbook's note when it left one."""
    try:
        note = json.loads(stopped.read_text())
    except (OSError, ValueError):
        now = describe(releases.instance_releases(cfg))
        return (
            f"{action} failed (ansible-playbook exit {code}, see its output above); the"
            f" instances run: {now}"
        )
    where = (
        f"back on {note['restored']}"
        if note.get("restored")
        else "restoring its release failed too: it is out of nginx's upstream"
    )
    return f"{action} stopped at {note['instance']}: {note['reason']}; {where}"


def describe(per_instance: dict[str, str | None]) -> str:
    """``web-1 V1, web-2 V1`` as ``web-1, web-2 on V1``."""
    groups: dict[str, list[str]] = {}
    for name, version in per_instance.items():
        groups.setdefault(version or "no release", []).append(name)
    return "; ".join(f"{', '.join(names)} on {v}" for v, names in groups.items())


def show(cfg: LabConfig) -> int:
    """``releases``: every release, the lab's current and previous, and what each instance
    runs: its link, and what it answers (X-Release) when the lab is up."""
    found = releases.list_releases(cfg)
    if not found:
        say(f"no releases in {releases.releases_dir(cfg)} yet: `up` builds the first")
        return 0
    current = releases.linked_version(releases.lab_link(cfg, "current"))
    previous = releases.linked_version(releases.lab_link(cfg, "previous"))
    say(f"{'release':<40} {'built (UTC)':<20} from")
    for r in found:
        mark = {current: " (current)", previous: " (previous)"}.get(r.version, "")
        say(f"{r.version:<40} {r.built:<20} {r.source}{mark}")
    say("")
    up = supervisor.pid(cfg) is not None
    say(f"{'instance':<9} {'runs (current link)':<40} answers as (X-Release of /healthz)")
    for i, name in enumerate(cfg.instance_names, start=1):
        linked = releases.linked_version(releases.instance_link(cfg, name)) or "-"
        live = "-" if not up else answered_release(cfg.instance_port(i))
        say(f"{name:<9} {linked:<40} {live}")
    return 0


def answered_release(port: int) -> str:
    try:
        return get_plain(port, "/healthz", timeout=5).headers.get("x-release", "(none)")
    except OSError as exc:
        return f"no answer ({type(exc).__name__})"
