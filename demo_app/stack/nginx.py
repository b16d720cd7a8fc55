"""nginx as the lab's load balancer: find the binary, write its config, test it, reload it.

Like an Elastic Load Balancer's console: the listeners (HTTP 8080 redirecting, HTTPS 8443
with the lab's certificate), the target group (``upstream app``, one server per Gunicorn
instance, passive health checks) and "register targets" (`scale` rewrites the upstream and
reloads nginx, which swaps workers without dropping connections).

nginx itself runs in the foreground under supervisord (see ``supervisor.py``); this module only
writes ``<state>/nginx/nginx.conf`` from ``templates/nginx.conf.j2`` and talks to the binary.

Flow: LabConfig -> nginx.conf (atomically, tested with ``nginx -t`` first) -> ``nginx -s reload``.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from demo_app.stack.certs import TlsFiles
from demo_app.stack.config import HOST, LabConfig, LabError
from demo_app.stack.templating import render, write_atomically

INSTALL_HINT = "sudo apt-get install nginx"
# Passive health checks. Like an ELB's unhealthy threshold of 2 (sim/FACTS.md, "Elastic Load
# Balancing"), two failed attempts take a target out; it is tried again after fail_timeout.
MAX_FAILS = 2
FAIL_TIMEOUT_S = 5
# Instances share the machine: a connect that takes longer than this means trouble.
CONNECT_TIMEOUT_S = 2


def find_nginx() -> str:
    """The nginx binary: PATH first, then /usr/sbin (not on a normal user's PATH)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise LabError(f"nginx is not installed: install it with `{INSTALL_HINT}`")
    return found


def conf_path(cfg: LabConfig) -> Path:
    return cfg.path("nginx", "nginx.conf")


def base_args(cfg: LabConfig) -> list[str]:
    """-p/-c/-e keep nginx inside the state folder (no /etc/nginx, no /var/log/nginx)."""
    return [
        find_nginx(),
        "-p",
        str(cfg.path("nginx")),
        "-c",
        str(conf_path(cfg)),
        "-e",
        str(cfg.logs / "nginx-error.log"),
    ]


def upstream_servers(cfg: LabConfig) -> str:
    lines = [] if cfg.balance == "round_robin" else [f"        {cfg.balance};"]
    for i in range(1, cfg.instances + 1):
        lines.append(
            f"        server {HOST}:{cfg.instance_port(i)} "
            f"max_fails={MAX_FAILS} fail_timeout={FAIL_TIMEOUT_S}s;"
        )
    return "\n".join(lines)


def user_line() -> str:
    """Workers run as the invoking user; the directive only matters when that user is root."""
    if os.geteuid() != 0:
        return "# (not root: workers run as the invoking user)"
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"user {user} {group};"


def lab_header(cfg: LabConfig) -> str:
    """The response header that names this lab (``always``: on errors and redirects too)."""
    if not cfg.lab_id:
        return "# (no lab id yet: `up` makes one)"
    return f"add_header X-Quorum-Lab {cfg.lab_id} always;"


def render_conf(cfg: LabConfig, tls: TlsFiles, static_root: Path) -> str:
    return render(
        "nginx.conf.j2",
        state_dir=cfg.state_dir,
        logs=cfg.logs,
        user_line=user_line(),
        upstream_servers=upstream_servers(cfg),
        http_port=cfg.http_port,
        https_port=cfg.https_port,
        cert=tls.cert,
        key=tls.key,
        static_root=static_root,
        connect_timeout=CONNECT_TIMEOUT_S,
        lab_header=lab_header(cfg),
    )


def write_conf(cfg: LabConfig, tls: TlsFiles, static_root: Path) -> bool:
    """Write and test the config; on a failed test the previous config stays in place."""
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        cfg.path("nginx", "tmp", sub).mkdir(parents=True, exist_ok=True)
    cfg.logs.mkdir(parents=True, exist_ok=True)
    text = render_conf(cfg, tls, static_root)
    candidate = cfg.path("nginx", "nginx.conf.new")
    candidate.write_text(text)
    args = base_args(cfg)
    args[args.index(str(conf_path(cfg)))] = str(candidate)
    check = subprocess.run([*args, "-t", "-q"], capture_output=True, text=True)
    if check.returncode != 0:
        candidate.unlink()
        raise LabError(f"nginx rejected the generated config: {check.stderr.strip()}")
    candidate.unlink()
    return write_atomically(conf_path(cfg), text)


def reload(cfg: LabConfig) -> None:
    """Graceful reload: new workers take the new upstream, old ones finish their requests."""
    done = subprocess.run([*base_args(cfg), "-s", "reload"], capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(f"nginx reload failed: {done.stderr.strip()}")


def command(cfg: LabConfig) -> str:
    """The command supervisord runs (the config says ``daemon off``)."""
    return " ".join(base_args(cfg))
