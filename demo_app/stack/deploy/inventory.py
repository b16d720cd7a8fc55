#!/usr/bin/env python3
"""Ansible's inventory of the stack lab: one host per Gunicorn instance, all on this machine.

Ansible runs this file with ``--list`` (its ``script`` inventory plugin). It reads the plan
``up`` saved (``lab.json`` in ``LAB_STATE_DIR``, default the repository's ``var/lab``), so it
always lists the instances the lab runs now, after any ``scale``. Each host is one instance,
reached with ``ansible_connection: local``: the "servers" are processes on this machine.
Standard library only, so any python3 can run it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[3]


def inventory(state_dir: Path) -> dict:
    plan = json.loads((state_dir / "lab.json").read_text())
    names = [f"web-{i}" for i in range(1, int(plan["instances"]) + 1)]
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    return {
        "all": {
            "vars": {
                "ansible_connection": "local",
                # The Python that runs ansible-playbook: the project's, with its packages.
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                "lab_state_dir": str(Path(plan["state_dir"])),
                "lab_repo": str(REPO_DIR),
                "lab_host": "127.0.0.1",
                "https_port": int(plan["https_port"]),
                "gunicorn_timeout": int(plan["timeout"]),
                "nginx_bin": nginx or "nginx",
            }
        },
        "instances": {"hosts": names},
        "_meta": {
            "hostvars": {
                name: {"instance_port": int(plan["base_port"]) + i} for i, name in enumerate(names)
            }
        },
    }


def main(argv: list[str]) -> int:
    if "--host" in argv:  # every host's variables are in --list's _meta already
        print("{}")
        return 0
    state_dir = Path(os.environ.get("LAB_STATE_DIR") or REPO_DIR / "var" / "lab")
    try:
        print(json.dumps(inventory(state_dir.resolve()), indent=2))
    except (OSError, ValueError, KeyError) as exc:
        print(f"no lab plan in {state_dir} ({exc}): run up first", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
