"""One lab instance: the environment and Gunicorn command line of ``web-N``, then exec.

Like an EC2 instance's user data: it knows which machine it is (``INSTANCE_NAME``), which port
it serves (``GUNICORN_BIND``) and where the shared database and logs are, then hands over to
Gunicorn. supervisord runs ``python -m demo_app.stack.instance web-1 --state-dir ...``; the
``exec`` keeps the pid, so the pid supervisord watches (and `kill` signals) is the Gunicorn
master itself.

The code is not the checkout's: each instance runs the release its
``<state>/instances/web-N/current`` link points at (``releases.py``). The launcher resolves the
link once, then puts that release folder first on the path, works in it and takes its
``demo_app/gunicorn.conf.py`` and its collected static files; a deploy that switches the link
later changes nothing in a running instance until its restart, as with a real server.

The release's ``demo_app/gunicorn.conf.py`` stays the base config; the flags added here only
pin what the lab must control (bind, workers, threads, timeout); the log files go to the lab's log
folder through the app's own ``GUNICORN_ACCESS_LOG``/``GUNICORN_ERROR_LOG``.

One listening socket per instance, bound by the master and shared by its workers (one accept
queue, as in production and in the model: an idle worker takes the next connection whoever
is busy). A master killed with SIGKILL leaves its workers running, still holding that socket;
before binding, the launcher ends them (:func:`end_leftovers`): SIGTERM lets each finish the
request it holds, for at most the Gunicorn timeout, then SIGKILL.

Flow: lab.json + instance name (+ drill overrides) -> its release (the ``current`` link) ->
end leftovers of an earlier master -> environment + argv -> ``os.execve`` in the release.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from demo_app.stack import releases
from demo_app.stack.config import (
    HOST,
    MARKER,
    LabConfig,
    LabError,
    instance_index,
    write_new,
)

#: The repository root: where the lab's own tools run from (never the instances' code).
REPO_DIR = Path(__file__).resolve().parents[2]


def shared_environment(cfg: LabConfig, base: dict[str, str]) -> dict[str, str]:
    """What every process of the lab inherits (set on supervisord itself)."""
    env = dict(base)
    env[MARKER] = str(cfg.state_dir)
    env["DJANGO_SETTINGS_MODULE"] = "demo_app.settings.production"
    env["SECRET_KEY"] = secret_key(cfg)
    # Production settings refuse the README's published admin password: each lab makes its
    # own, kept beside the secret key (``up`` says where).
    env["DEMO_ADMIN_PASSWORD"] = admin_password(cfg)
    env["STATIC_ROOT"] = str(cfg.path("static"))
    env["SQLITE_PATH"] = str(cfg.path("demo.sqlite3"))  # the lab keeps its own database
    origins = [f"https://{h}:{cfg.https_port}" for h in ("quorum.us", "www.quorum.us")]
    env.setdefault("CSRF_TRUSTED_ORIGINS", ",".join(origins))
    env["PYTHONUNBUFFERED"] = "1"
    env["CALIBRATION_ENDPOINT"] = "1"  # calibrate and the drills need /calibrate/
    # Each instance's slots for slow calibration requests are lock files here (one per lab).
    env["CALIBRATION_LOCK_DIR"] = str(cfg.path("locks"))
    # The lab is production-shaped whatever the caller's shell exports: an exported DEBUG=1
    # would show tracebacks and settings, the very thing the drills check never happens.
    env["DEBUG"] = "0"
    env["ALLOWED_HOSTS"] = "quorum.us,www.quorum.us,localhost,127.0.0.1"
    env["CONN_MAX_AGE"] = str(cfg.conn_max_age)
    if cfg.postgres:  # the lab's own PostgreSQL database (up --postgres NAME)
        from demo_app.stack.connections import lab_database_url

        env["DATABASE_URL"] = lab_database_url(cfg.postgres, env)
    return env


def secret_key(cfg: LabConfig) -> str:
    """One random key per lab, kept in the state folder so restarts keep sessions valid."""
    return _lab_secret(cfg, "secret_key", 50)


def admin_password(cfg: LabConfig) -> str:
    """The demo admin's password in this lab: random, made once, readable by its owner only
    (``var/lab/admin_password``)."""
    return _lab_secret(cfg, "admin_password", 18)


def _lab_secret(cfg: LabConfig, name: str, size: int) -> str:
    path = cfg.path(name)
    if not path.exists():
        import secrets

        write_new(path, secrets.token_urlsafe(size).encode(), mode=0o600)
    return path.read_text().strip()


def release_dir(cfg: LabConfig, name: str) -> Path:
    """The release folder instance ``name`` runs: its ``current`` link, resolved now."""
    link = releases.instance_link(cfg, name)
    target = link.resolve() if link.is_symlink() else None
    if target is None or not (target / "demo_app").is_dir():
        raise LabError(
            f"{name} has no release ({link} {'is missing' if target is None else 'is broken'}):"
            " run `down`, then `up`"
        )
    return target


def gunicorn_argv(
    cfg: LabConfig, name: str, timeout: int | None = None
) -> tuple[list[str], dict[str, str]]:
    """(argv, extra environment) for instance ``name``, running its current release."""
    port = cfg.instance_port(instance_index(name, cfg.instances))
    release = release_dir(cfg, name)
    timeout = timeout or cfg.timeout
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    argv = [gunicorn, "demo_app.wsgi:application"]
    conf = release / "demo_app" / "gunicorn.conf.py"
    if conf.exists():
        argv += ["--config", str(conf)]
    argv += [
        "--bind", f"{HOST}:{port}",
        "--workers", str(cfg.workers),
        "--threads", str(cfg.threads),
        "--timeout", str(timeout),
        "--name", name,
    ]  # fmt: skip
    env = {
        # The release first on the path, its manifest of hashed static files (releases.py).
        **releases.release_environment({}, release),
        "INSTANCE_NAME": name,
        "GUNICORN_BIND": f"{HOST}:{port}",
        "WEB_CONCURRENCY": str(cfg.workers),
        "GUNICORN_THREADS": str(cfg.threads),
        "GUNICORN_TIMEOUT": str(timeout),
        # The access log's format is the app's own (demo_app/gunicorn.conf.py).
        "GUNICORN_ACCESS_LOG": str(cfg.logs / f"{name}.access.log"),
        "GUNICORN_ERROR_LOG": str(cfg.logs / f"{name}.error.log"),
    }
    return argv, env


def end_leftovers(cfg: LabConfig, name: str, grace: float, say=print) -> int:
    """End processes still running as instance ``name`` (workers whose master was SIGKILLed).

    They hold the instance's listening socket, so the new master could not bind its port. Each
    gets SIGTERM, which a Gunicorn worker takes as "finish the request you hold, then exit";
    after ``grace`` seconds (the Gunicorn timeout: as long as their master would have let a
    request run) the rest get SIGKILL. Returns how many there were."""
    from demo_app.stack.supervisor import lab_processes  # supervisor imports this module

    pids = {pid for pid, _ in lab_processes(cfg, instance=name)}
    if not pids:
        return 0

    def running() -> set[int]:
        return pids & {pid for pid, _ in lab_processes(cfg, instance=name)}

    started = time.monotonic()
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while running() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not running():
            break
    say(
        f"{name}: ended {len(pids)} process(es) left by an earlier master with {sig.name}"
        f" in {time.monotonic() - started:.1f} s (pids {', '.join(map(str, sorted(pids)))})"
    )
    return len(pids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo_app.stack.instance")
    parser.add_argument("name")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--timeout", type=int, help="Gunicorn timeout (drills shorten it)")
    parser.add_argument("--database-url", help="override DATABASE_URL (the db-down drill)")
    args = parser.parse_args(argv)
    try:
        cfg = LabConfig.load(args.state_dir)
        if cfg is None:
            raise LabError(f"no lab plan in {args.state_dir}: run up first")
        command, extra = gunicorn_argv(cfg, args.name, args.timeout)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    end_leftovers(cfg, args.name, grace=float(args.timeout or cfg.timeout))
    print(f"{args.name}: release {extra['PYTHONPATH']}", flush=True)
    env = {**os.environ, **extra}
    if args.database_url is not None:
        env["DATABASE_URL"] = args.database_url
    os.chdir(extra["PYTHONPATH"])  # Gunicorn puts its working directory first on the path
    os.execve(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
