"""One lab instance: the environment and Gunicorn command line of ``web-N``, then exec.

Like an EC2 instance's user data: it knows which machine it is (``INSTANCE_NAME``), which port
it serves (``GUNICORN_BIND``) and where the shared database and logs are, then hands over to
Gunicorn. supervisord runs ``python -m demo_app.stack.instance web-1 --state-dir ...``; the
``exec`` keeps the pid, so the pid supervisord watches (and `kill` signals) is the Gunicorn
master itself.

The app's own ``demo_app/gunicorn.conf.py`` stays the base config; the flags added here only
pin what the lab must control (bind, workers, timeout, ``--reuse-port``); the log files
go to the lab's log folder through the app's own ``GUNICORN_ACCESS_LOG``/``GUNICORN_ERROR_LOG``.

Flow: lab.json + instance name (+ drill overrides) -> environment + argv -> ``os.execve``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from demo_app.stack.config import (
    HOST,
    MARKER,
    LabConfig,
    LabError,
    instance_index,
    write_new,
)

#: The repository root: Gunicorn's working directory, so ``demo_app`` imports.
REPO_DIR = Path(__file__).resolve().parents[2]
GUNICORN_CONF = REPO_DIR / "demo_app" / "gunicorn.conf.py"


def shared_environment(cfg: LabConfig, base: dict[str, str]) -> dict[str, str]:
    """What every process of the lab inherits (set on supervisord itself)."""
    env = dict(base)
    env[MARKER] = str(cfg.state_dir)
    env["DJANGO_SETTINGS_MODULE"] = "demo_app.settings.production"
    env["SECRET_KEY"] = secret_key(cfg)
    env["STATIC_ROOT"] = str(cfg.path("static"))
    env["SQLITE_PATH"] = str(cfg.path("demo.sqlite3"))  # the lab keeps its own database
    origins = [f"https://{h}:{cfg.https_port}" for h in ("quorum.us", "www.quorum.us")]
    env.setdefault("CSRF_TRUSTED_ORIGINS", ",".join(origins))
    env["PYTHONUNBUFFERED"] = "1"
    env["CALIBRATION_ENDPOINT"] = "1"  # calibrate and the drills need /calibrate/
    # The lab is production-shaped whatever the caller's shell exports: an exported DEBUG=1
    # would show tracebacks and settings, the very thing the drills check never happens.
    env["DEBUG"] = "0"
    env["ALLOWED_HOSTS"] = "quorum.us,www.quorum.us,localhost,127.0.0.1"
    return env


def secret_key(cfg: LabConfig) -> str:
    """One random key per lab, kept in the state folder so restarts keep sessions valid."""
    path = cfg.path("secret_key")
    if not path.exists():
        import secrets

        write_new(path, secrets.token_urlsafe(50).encode(), mode=0o600)
    return path.read_text().strip()


def gunicorn_argv(
    cfg: LabConfig, name: str, timeout: int | None = None
) -> tuple[list[str], dict[str, str]]:
    """(argv, extra environment) for instance ``name``."""
    port = cfg.instance_port(instance_index(name, cfg.instances))
    timeout = timeout or cfg.timeout
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    argv = [gunicorn, "demo_app.wsgi:application"]
    if GUNICORN_CONF.exists():
        argv += ["--config", str(GUNICORN_CONF)]
    argv += [
        "--bind", f"{HOST}:{port}",
        "--workers", str(cfg.workers),
        "--timeout", str(timeout),
        # Lets a restarted master bind while workers of a killed one still hold the old socket.
        "--reuse-port",
        "--name", name,
    ]  # fmt: skip
    env = {
        "INSTANCE_NAME": name,
        "GUNICORN_BIND": f"{HOST}:{port}",
        "WEB_CONCURRENCY": str(cfg.workers),
        "GUNICORN_TIMEOUT": str(timeout),
        # The access log's format is the app's own (demo_app/gunicorn.conf.py).
        "GUNICORN_ACCESS_LOG": str(cfg.logs / f"{name}.access.log"),
        "GUNICORN_ERROR_LOG": str(cfg.logs / f"{name}.error.log"),
    }
    return argv, env


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
    env = {**os.environ, **extra}
    if args.database_url is not None:
        env["DATABASE_URL"] = args.database_url
    os.chdir(REPO_DIR)
    os.execve(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
