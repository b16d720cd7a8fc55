"""supervisord, the lab's process watcher: its config, its start and stop, and its API.

Like a building's night watchman with a clipboard: the clipboard (``supervisord.conf``) lists
every program that must be running (dns, web-1..web-N, nginx); he starts them, walks his round,
and restarts whatever has stopped (``autorestart=true``). `scale` hands him a new clipboard and
asks him to reread it, which is how instances come and go. We talk to him through his XML-RPC
API on a unix socket in the state folder (the same API ``supervisorctl`` uses).

Flow: LabConfig (+ per-instance drill overrides) -> supervisord.conf -> ``supervisord -c`` ->
XML-RPC (status, reloadConfig + add/remove groups, signal, shutdown).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport

from demo_app.stack import nginx
from demo_app.stack.config import MARKER, LabConfig, LabError
from demo_app.stack.instance import REPO_DIR
from demo_app.stack.templating import render, write_atomically

#: Gunicorn and Django need a moment before they answer; supervisord counts a start as good
#: only after this many seconds alive, and retries a failed one this many times.
START_SECS = 2
START_RETRIES = 5


def conf_path(cfg: LabConfig) -> Path:
    return cfg.path("supervisord.conf")


def socket_path(cfg: LabConfig) -> Path:
    return cfg.path("supervisor.sock")


def pid_path(cfg: LabConfig) -> Path:
    return cfg.path("supervisord.pid")


def instance_program(cfg: LabConfig, name: str, flags: str = "") -> str:
    command = f"{sys.executable} -m demo_app.stack.instance {name} --state-dir {cfg.state_dir}" + (
        f" {flags}" if flags else ""
    )
    return "\n".join(
        [
            f"[program:{name}]",
            f"command={command.replace('%', '%%')}",
            "priority=100",
            "autorestart=true",
            f"startsecs={START_SECS}",
            f"startretries={START_RETRIES}",
            # TERM to the whole group: the master and its workers stop together.
            "stopasgroup=true",
            "killasgroup=true",
            "stopwaitsecs=10",
            f"stdout_logfile={cfg.logs}/{name}.out.log",
            "redirect_stderr=true",
            "",
        ]
    )


def render_conf(cfg: LabConfig, overrides: dict[str, str] | None = None) -> str:
    """The config for ``cfg``; ``overrides`` maps instance name -> extra launcher flags."""
    overrides = overrides or {}
    programs = "".join(
        "\n" + instance_program(cfg, name, overrides.get(name, "")) for name in cfg.instance_names
    )
    return render(
        "supervisord.conf.j2",
        state_dir=cfg.state_dir,
        logs=cfg.logs,
        socket=socket_path(cfg),
        repo=REPO_DIR,
        python=sys.executable,
        dns_port=cfg.dns_port,
        dns_flags=f" --lab-id {cfg.lab_id}" if cfg.lab_id else "",
        instances=programs,
        nginx_command=nginx.command(cfg),
    )


def write_conf(cfg: LabConfig, overrides: dict[str, str] | None = None) -> bool:
    return write_atomically(conf_path(cfg), render_conf(cfg, overrides))


# -- the running daemon ----------------------------------------------------------------------


def pid(cfg: LabConfig) -> int | None:
    """supervisord's pid when it is alive, else None."""
    try:
        value = int(pid_path(cfg).read_text().strip())
    except (OSError, ValueError):
        return None
    if not alive(value):
        return None
    # A stale pid file may name a pid the system has since given to another program.
    with contextlib.suppress(OSError):
        if b"supervisord" not in Path(f"/proc/{value}/cmdline").read_bytes():
            return None
    return value


def alive(process_id: int) -> bool:
    try:
        os.kill(process_id, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie answers signal 0 but is gone for every purpose that matters here.
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{process_id}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def rpc(cfg: LabConfig):
    """The ``supervisor`` namespace of the XML-RPC API, through the unix socket."""
    transport = SupervisorTransport(None, None, f"unix://{socket_path(cfg)}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor


def start(cfg: LabConfig, environ: dict[str, str]) -> None:
    """Start supervisord (it daemonizes) and wait until its API answers."""
    done = subprocess.run(
        [sys.executable, "-m", "supervisor.supervisord", "-c", str(conf_path(cfg))],
        env=environ,
        capture_output=True,
        text=True,
        cwd=REPO_DIR,
    )
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise LabError(f"supervisord did not start: {message[-1] if message else 'no output'}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, xmlrpc.client.Error):
            if rpc(cfg).getState()["statename"] == "RUNNING":
                return
        time.sleep(0.1)
    raise LabError(f"supervisord started but its socket {socket_path(cfg)} does not answer")


def processes(cfg: LabConfig) -> dict[str, dict]:
    """name -> supervisord's process info (statename, pid, description, ...)."""
    return {info["name"]: info for info in rpc(cfg).getAllProcessInfo()}


def update(cfg: LabConfig, ready=None) -> dict[str, list[str]]:
    """Apply a rewritten config like ``supervisorctl update``: add, restart changed, remove.

    Changed programs restart one at a time (a rolling restart); ``ready(name)``, when given,
    waits until the restarted one answers, so the others keep serving meanwhile."""
    api = rpc(cfg)
    added, changed, removed = api.reloadConfig()[0]
    for name in removed:
        with contextlib.suppress(xmlrpc.client.Fault):
            api.stopProcessGroup(name)
        api.removeProcessGroup(name)
    for name in changed:
        with contextlib.suppress(xmlrpc.client.Fault):
            api.stopProcessGroup(name)
        api.removeProcessGroup(name)
        api.addProcessGroup(name)
        if ready:
            ready(name)
    for name in added:
        api.addProcessGroup(name)
    return {"added": added, "changed": changed, "removed": removed}


def shutdown(cfg: LabConfig, timeout: float = 30) -> None:
    """Stop every program, then supervisord itself; wait until its pid is gone."""
    process_id = pid(cfg)
    if process_id is None:
        return
    with contextlib.suppress(OSError, xmlrpc.client.Error):
        rpc(cfg).shutdown()
    deadline = time.monotonic() + timeout
    while alive(process_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(process_id):
        os.kill(process_id, 15)


# -- what is left behind ---------------------------------------------------------------------


def lab_processes(cfg: LabConfig, instance: str | None = None) -> list[tuple[int, str]]:
    """(pid, command) of every live process carrying this lab's marker in its environment;
    with ``instance``, only those started as that instance (its master and workers)."""
    needles = {f"{MARKER}={cfg.state_dir}".encode()}
    if instance is not None:
        needles.add(f"INSTANCE_NAME={instance}".encode())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = set((entry / "environ").read_bytes().split(b"\0"))
            if not needles <= environ:
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if alive(int(entry.name)):
            found.append((int(entry.name), command))
    return found
