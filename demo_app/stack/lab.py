"""The lab's life cycle: up, status, scale, kill, down.

Like opening and closing a small shop: `up` unlocks the door in a fixed order (plan, keys,
stock, staff, then the sign on the street), `status` is the walk around with a clipboard,
`scale` hires or sends home a cashier (and tells the doorman first), `kill` is a cashier
fainting (the supervisor gets a replacement in), and `down` locks up and checks that nobody is
left inside.

Order of `up`: plan (lab.json) -> certificates -> a release (the last deploy's, or a build of
the working tree) -> database + sample data + static files, from that release -> nginx.conf
(tested) -> supervisord.conf -> supervisord starts dns, web-1..N, nginx -> wait
until each answers. Every step is safe to repeat; a second `up` only reports.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass, replace
from pathlib import Path

from demo_app.stack import nginx, releases, supervisor
from demo_app.stack.certs import ensure_certificates
from demo_app.stack.client import LabClient, get_plain
from demo_app.stack.config import (
    HOST,
    ZONE,
    LabConfig,
    LabError,
    check_ports,
    instance_index,
)
from demo_app.stack.dns import query
from demo_app.stack.instance import shared_environment

READY_TIMEOUT_S = 90


def say(message: str) -> None:
    print(message, flush=True)


# -- preparation ------------------------------------------------------------------------------


def manage(
    cfg: LabConfig, release: Path, *args: str, environ: dict[str, str] | None = None
) -> None:
    """Run one ``manage.py`` command of ``release`` with the lab's environment; its output
    goes to a log."""
    env = environ or shared_environment(cfg, dict(os.environ))
    env = {**env, "PYTHONPATH": str(release)}  # the release's code, not the checkout's
    with open(cfg.logs / "prepare.log", "a") as log:
        log.write(f"$ {release.name}: manage.py {' '.join(args)}\n")
        log.flush()
        done = subprocess.run(
            [sys.executable, str(release / "demo_app" / "manage.py"), *args],
            env=env,
            cwd=release,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if done.returncode != 0:
        raise LabError(f"manage.py {args[0]} failed: see {cfg.logs / 'prepare.log'}")


def prepare_app(cfg: LabConfig, release: Path) -> str:
    """Schema, deterministic sample data and the demo admin, once for every instance
    (``manage.py prepare_demo`` of the release they run, each step idempotent), then the
    release's collected static files into the folder nginx serves; returns the admin line it
    printed, so ``up`` can show how to log in."""
    env = shared_environment(cfg, dict(os.environ))
    # The release collected its static files when it was built: publish those.
    manage(cfg, release, "prepare_demo", "--url", f"{cfg.site}/", "--no-static", environ=env)
    releases.publish_static(cfg, release)
    lines = (cfg.logs / "prepare.log").read_text().splitlines()
    admin = [line.strip() for line in lines if line.strip().startswith("Admin:")]
    return admin[-1] if admin else ""


# -- up -------------------------------------------------------------------------------------------


def up(cfg: LabConfig) -> int:
    running = supervisor.pid(cfg)
    if running is not None:
        saved = LabConfig.load(cfg.state_dir) or cfg
        say(f"the lab in {saved.state_dir} is already up (supervisord pid {running}):")
        _start_stopped(saved)
        wait_ready(saved)
        print_status(saved)
        if saved.instances != cfg.instances:
            say(f"(it runs {saved.instances} instances; `scale {cfg.instances}` changes that)")
        differ = [
            f"{name.replace('_', '-')} {getattr(saved, name)} (not {getattr(cfg, name)})"
            for name in ("workers", "threads", "conn_max_age", "postgres", "timeout", "balance",
                         "dns_port", "http_port", "https_port", "base_port")
            if getattr(saved, name) != getattr(cfg, name)
        ]  # fmt: skip
        if differ:
            say(f"(it keeps {', '.join(differ)}: `down`, then `up`, to change them)")
        return 0
    nginx.find_nginx()
    leftovers = supervisor.lab_processes(cfg)
    if leftovers:
        raise LabError(
            f"{len(leftovers)} process(es) of an earlier lab in {cfg.state_dir} are still "
            "running without supervisord: run down first"
        )
    check_ports(cfg.ports())
    cfg.logs.mkdir(parents=True, exist_ok=True)
    cfg = replace(cfg, lab_id=secrets.token_hex(8))  # this lab, as no other server is
    cfg.save()
    tls, made = ensure_certificates(cfg.path("tls"))
    say(f"tls       {'made' if made else 'kept'} {tls.cert} (CA {tls.ca})")
    release = ensure_release(cfg)
    if cfg.postgres:
        from demo_app.stack.connections import ensure_database

        say(f"postgres  {ensure_database(cfg.postgres)}")
    say("django    migrate, sample data, admin, collectstatic (log: logs/prepare.log)")
    admin = prepare_app(cfg, release)
    nginx.write_conf(cfg, tls, cfg.path("static"))
    supervisor.write_conf(cfg)
    say(f"start     supervisord (socket {supervisor.socket_path(cfg)})")
    supervisor.start(cfg, shared_environment(cfg, dict(os.environ)))
    try:
        wait_ready(cfg)
    except LabError:
        print_status(cfg)
        raise
    print_status(cfg)
    say(
        f"\nopen {cfg.site}/ with {ZONE} mapped to {HOST} and {tls.ca} trusted"
        f' (README "In a browser"); `dig {ZONE}` asks the lab\'s DNS on {HOST}:{cfg.dns_port}'
    )
    if admin:
        say(admin)
    say(f"logs in {cfg.logs}")
    return 0


def ensure_release(cfg: LabConfig) -> Path:
    """The release the instances run: the last deploy's (the lab's ``current`` link) when the
    state folder has one, else a new build of the working tree. Every instance without a
    release of its own gets it; one that has one (a lab stopped mid-way through a failed
    deploy) keeps it, as a server keeps its code across a reboot."""
    kept = releases.lab_link(cfg).resolve()
    if releases.lab_link(cfg).is_symlink() and (kept / "RELEASE").is_file():
        release = kept
        say(f"release   {release.name} (kept: the last deploy's; `deploy` ships a new one)")
    else:
        release = releases.build(cfg, say=say).path
        releases.point(releases.lab_link(cfg), release)
    point_new_instances(cfg, release)
    return release


def point_new_instances(cfg: LabConfig, release: Path) -> None:
    for name in cfg.instance_names:
        link = releases.instance_link(cfg, name)
        if not (link.is_symlink() and link.resolve().joinpath("RELEASE").is_file()):
            releases.point(link, release)


def _start_stopped(cfg: LabConfig) -> None:
    for name, info in supervisor.processes(cfg).items():
        if info["statename"] in ("STOPPED", "EXITED", "FATAL"):
            say(f"start     {name} (was {info['statename']})")
            with contextlib.suppress(xmlrpc.client.Fault):
                supervisor.rpc(cfg).startProcess(name, False)


def wait_ready(cfg: LabConfig, names: list[str] | None = None, timeout: float = READY_TIMEOUT_S):
    """Until DNS answers, each instance's /healthz is 200 and nginx serves /healthz over TLS."""
    deadline = time.monotonic() + timeout
    pending = ["dns", *(names or cfg.instance_names), "nginx"]
    while pending and time.monotonic() < deadline:
        states = supervisor.processes(cfg)
        # Answering once is not enough: supervisord must also count the start as good.
        pending = [
            name
            for name in pending
            if states.get(name, {}).get("statename") != "RUNNING" or not _healthy(cfg, name)[0]
        ]
        if pending:
            time.sleep(0.25)
    if pending:
        raise LabError(
            f"not ready after {timeout:.0f} s: {', '.join(pending)} (see {cfg.logs}; "
            "`down` stops what started)"
        )


def wait_routed(cfg: LabConfig, name: str, timeout: float = 4 * nginx.FAIL_TIMEOUT_S) -> None:
    """Until nginx sends a request to ``name`` again.

    A restarted instance answers its own /healthz at once, but nginx's passive health check
    (``max_fails`` failed tries within ``fail_timeout``) may still hold it out for up to
    ``fail_timeout``. Restarting the next instance before nginx trusts this one again would
    leave it none to send to: a 502 for everyone in between, the gap a rolling deploy exists
    to avoid.
    """
    deadline = time.monotonic() + timeout
    client = LabClient(cfg, timeout=5)
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, LookupError, ConnectionError):
            if client.get("/healthz").instance == name:
                return
        time.sleep(0.25)
    raise LabError(f"nginx sent nothing to {name} for {timeout:.0f} s (see {cfg.logs})")


def _healthy(cfg: LabConfig, name: str) -> tuple[bool, str]:
    try:
        if name == "dns":
            address, ttl = query(ZONE, cfg.dns_port, timeout=0.5)
            return address == HOST, f"{ZONE} -> {address} ttl {ttl}"
        if name == "nginx":
            reply = LabClient(cfg, timeout=5).get("/healthz")
            return reply.status == 200, f"https /healthz {reply.status} via {reply.instance}"
        port = cfg.instance_port(instance_index(name, cfg.instances))
        reply = get_plain(port, "/healthz", timeout=2)
        return reply.status == 200, f"/healthz {reply.status}"
    except (OSError, LookupError, ConnectionError) as exc:
        return False, f"no answer ({type(exc).__name__})"


# -- status ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    state: str
    pid: int | None
    address: str
    health: str


def status_rows(cfg: LabConfig) -> list[Row]:
    infos = supervisor.processes(cfg) if supervisor.pid(cfg) else {}
    addresses = {
        "dns": f"{HOST}:{cfg.dns_port} udp+tcp",
        "nginx": f"{HOST}:{cfg.http_port} -> :{cfg.https_port}",
    }
    for i, name in enumerate(cfg.instance_names, start=1):
        addresses[name] = f"{HOST}:{cfg.instance_port(i)}"
    rows = []
    for name in ["dns", *cfg.instance_names, "nginx"]:
        info = infos.get(name, {})
        state = info.get("statename", "DOWN")
        ok, health = _healthy(cfg, name) if state == "RUNNING" else (False, "-")
        rows.append(
            Row(
                name,
                state,
                info.get("pid") or None,
                addresses[name],
                ("ok " if ok else "") + health,
            )
        )
    return rows


def print_status(cfg: LabConfig) -> None:
    rows = status_rows(cfg)
    say(f"{'component':<10} {'state':<9} {'pid':>7}  {'address':<28} health")
    for row in rows:
        pid = str(row.pid) if row.pid else "-"
        say(f"{row.name:<10} {row.state:<9} {pid:>7}  {row.address:<28} {row.health}")
    if cfg.lab_id:
        say(f"lab id    {cfg.lab_id} (nginx's X-Quorum-Lab header, DNS TXT _lab.{ZONE})")


def status(cfg: LabConfig) -> int:
    if supervisor.pid(cfg) is None:
        say(f"the lab in {cfg.state_dir} is down (no supervisord); start it with `up`")
        return 1
    print_status(cfg)
    return 0


# -- scale and kill -------------------------------------------------------------------------------


def scale(cfg: LabConfig, n: int) -> int:
    """Add instances (start, wait healthy, then register with nginx) or remove them (deregister
    from nginx first, then stop): the order a load balancer's target group wants."""
    require_running(cfg)
    new = cfg.with_instances(n)  # validates n
    if n == cfg.instances:
        say(f"already {n} instance(s)")
        return 0
    tls, _ = ensure_certificates(cfg.path("tls"))
    if n > cfg.instances:
        added = new.instance_names[cfg.instances :]
        check_ports([p for p in new.ports() if p[2].split(" ")[0] in added])
        # A new instance runs what the last deploy shipped, like a launch template's image.
        shipped = releases.lab_link(cfg).resolve()
        if not (shipped / "RELEASE").is_file():
            raise LabError(
                f"the lab in {cfg.state_dir} has no release ({releases.lab_link(cfg)}): it was"
                " started before releases existed; run `down`, then `up`"
            )
        point_new_instances(new, shipped)
        new.save()
        supervisor.write_conf(new)
        supervisor.update(new)
        say(f"start     {', '.join(added)}")
        wait_ready(new, added)
        nginx.write_conf(new, tls, new.path("static"))
        nginx.reload(new)
        say(f"nginx     upstream now {n} servers (reloaded)")
    else:
        removed = cfg.instance_names[n:]
        nginx.write_conf(new, tls, new.path("static"))
        nginx.reload(new)
        say(f"nginx     upstream now {n} servers (reloaded)")
        new.save()
        supervisor.write_conf(new)
        supervisor.update(new)
        say(f"stopped   {', '.join(removed)}")
    print_status(new)
    return 0


def kill(cfg: LabConfig, name: str, wait: bool = False) -> int:
    """SIGKILL one instance's Gunicorn master, as if the machine died under it."""
    instance_index(name, cfg.instances)
    require_running(cfg)
    info = supervisor.processes(cfg)[name]
    if not info["pid"]:
        raise LabError(f"{name} has no running process (state {info['statename']})")
    os.kill(info["pid"], signal.SIGKILL)
    say(f"killed    {name} (Gunicorn master pid {info['pid']}, SIGKILL)")
    if not wait:
        say("supervisord restarts it (autorestart=true): watch `status`")
        return 0
    new_pid, seconds = wait_restarted(cfg, name, info["pid"])
    say(f"restarted {name} by supervisord: pid {new_pid}, healthy after {seconds:.1f} s")
    return 0


def wait_restarted(cfg: LabConfig, name: str, old_pid: int, timeout: float = 60):
    """(new pid, seconds) once supervisord has a new master for ``name`` that answers."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        info = supervisor.processes(cfg)[name]
        restarted = info["statename"] == "RUNNING" and info["pid"] not in (0, old_pid)
        if restarted and _healthy(cfg, name)[0]:
            return info["pid"], time.monotonic() - start
        time.sleep(0.1)
    raise LabError(f"{name} was not back within {timeout:.0f} s: see {cfg.logs}")


def require_running(cfg: LabConfig) -> None:
    if supervisor.pid(cfg) is None:
        raise LabError(f"the lab in {cfg.state_dir} is not running: start it with `up`")


# -- down -----------------------------------------------------------------------------------------


def down(cfg: LabConfig) -> int:
    """Stop everything; then prove it by finding no process with this lab's marker."""
    process_id = supervisor.pid(cfg)
    if process_id is None:
        say(f"supervisord is not running for {cfg.state_dir}")
    else:
        say(f"stop      supervisord (pid {process_id}) and its programs")
        supervisor.shutdown(cfg)
    # Workers orphaned by a `kill` (not yet ended by their instance's restart) are not in
    # supervisord's process groups: end them here.
    leftovers = supervisor.lab_processes(cfg)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid, _command in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.1)
            leftovers = supervisor.lab_processes(cfg)
        if not leftovers:
            break
    if leftovers:
        for pid, command in leftovers:
            say(f"still running: pid {pid} {command}")
        return 1
    for stale in (supervisor.pid_path(cfg), cfg.path("nginx", "nginx.pid")):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    say(f"down      no lab process left ({cfg.state_dir})")
    return 0
