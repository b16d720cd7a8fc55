"""The app under a real Gunicorn: the config file's environment contract, the access log, and
the headers as a proxy sees them."""

from __future__ import annotations

import http.client
import multiprocessing
import os
import re
import runpy
import subprocess
import sys
import time
from pathlib import Path

import pytest
from demo_support import REPO, free_port

CONF = REPO / "demo_app" / "gunicorn.conf.py"


def load_conf(monkeypatch, **env) -> dict:
    for name in (
        "WEB_CONCURRENCY", "GUNICORN_BIND", "GUNICORN_TIMEOUT", "GUNICORN_THREADS", "INSTANCE_NAME"
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_conf_defaults(monkeypatch):
    conf = load_conf(monkeypatch)
    assert conf["workers"] == 2 * multiprocessing.cpu_count() + 1
    assert conf["bind"] == "127.0.0.1:8000"
    assert conf["timeout"] == 30
    assert conf["threads"] == 1  # Gunicorn's own default: sync workers
    assert "%(L)s" in conf["access_log_format"]


def test_conf_threads_from_the_environment(monkeypatch):
    # More than 1 thread: Gunicorn runs gthread workers (the stack lab's connections experiment).
    assert load_conf(monkeypatch, GUNICORN_THREADS="4")["threads"] == 4


def test_conf_reads_the_labs_environment(monkeypatch):
    conf = load_conf(
        monkeypatch,
        WEB_CONCURRENCY="3",
        GUNICORN_BIND="127.0.0.1:9101",
        GUNICORN_TIMEOUT="12",
        INSTANCE_NAME="web-2",
    )
    assert (conf["workers"], conf["bind"], conf["timeout"], conf["proc_name"]) == (
        3,
        "127.0.0.1:9101",
        12,
        "web-2",
    )


def start_gunicorn(tmp_path, env: dict[str, str], launcher: str = "gunicorn"):
    """Start Gunicorn for real (no --check-config: that loads the app, which a real start does
    only in the workers) and wait for it to stop; a bad setting must stop it within seconds."""
    argv = (
        [sys.executable, "-m", "gunicorn", "-c", str(CONF)]
        if launcher == "gunicorn"
        else [sys.executable, "-m", "demo_app.serve"]
    )
    return subprocess.run(
        [*argv, "--bind", f"127.0.0.1:{free_port()}"],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("launcher", ["gunicorn", "demo_app.serve"])
@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("GUNICORN_TIMEOUT", "soon", "1 to 3600"),
        ("GUNICORN_TIMEOUT", "0", "1 to 3600"),
        ("WEB_CONCURRENCY", "0", "1 to 256"),
        ("GUNICORN_THREADS", "many", "1 to 64"),
    ],
)
def test_conf_refuses_a_bad_number_in_one_line(tmp_path, launcher, name, value, allowed):
    result = start_gunicorn(tmp_path, {name: value}, launcher)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"gunicorn.conf.py: {name}={value!r}: use a whole number from {allowed}"
    )


def test_the_launcher_refuses_a_worker_count_that_is_not_a_number(tmp_path):
    # A bare `gunicorn` parses WEB_CONCURRENCY on import, before reading any config file.
    result = start_gunicorn(tmp_path, {"WEB_CONCURRENCY": "abc"}, "demo_app.serve")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "gunicorn.conf.py: WEB_CONCURRENCY='abc': use a whole number from 1 to 256"
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"DJANGO_SETTINGS_MODULE": "demo_app.settings.production", "SECRET_KEY": ""},
            "gunicorn.conf.py: demo_app.settings.production: SECRET_KEY is not set",
        ),
        (
            {"DJANGO_SETTINGS_MODULE": "demo_app.settings.nowhere"},
            "gunicorn.conf.py: DJANGO_SETTINGS_MODULE='demo_app.settings.nowhere' cannot be",
        ),
        (
            {"DJANGO_SETTINGS_MODULE": "demo_app.settings.dev", "DATABASE_URL": "mongo://x/y"},
            "gunicorn.conf.py: demo_app.settings.dev: DATABASE_URL='mongo://x/y' is not a",
        ),
    ],
)
def test_settings_that_cannot_load_stop_the_master_in_one_line(tmp_path, env, expected):
    result = start_gunicorn(tmp_path, env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr


def wait_for(port: int, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not answer /healthz in time")


@pytest.mark.slow
def test_gunicorn_serves_the_app_with_trace_headers_and_a_splittable_log(
    tmp_path: Path, collected_static: str
):
    port = free_port()
    log = tmp_path / "access.log"
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="demo_app.settings.production",
        SECRET_KEY="x" * 60,
        # A folder that does not exist yet, as var/ in a fresh clone: prepare_demo makes it.
        SQLITE_PATH=str(tmp_path / "var" / "demo.sqlite3"),
        STATIC_ROOT=collected_static,
        INSTANCE_NAME="web-test",
        WEB_CONCURRENCY="2",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_ACCESS_LOG=str(log),
        DEMO_ADMIN_PASSWORD="a-lab-only-Passw0rd-9d1e",
    )
    prepare = subprocess.run(
        [sys.executable, "-m", "demo_app.manage", "prepare_demo", "--bills", "50", "--no-static"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert prepare.returncode == 0, prepare.stderr
    assert "login demo / the password in DEMO_ADMIN_PASSWORD" in prepare.stdout
    assert env["DEMO_ADMIN_PASSWORD"] not in prepare.stdout  # production prints no password
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(CONF)],
        cwd=tmp_path,  # the config must not depend on the working directory
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(port, proc)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/bills/", headers={"X-Request-Start": f"t={time.time():.3f}"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        timing = response.getheader("Server-Timing")
        assert re.search(r"queue;dur=[0-9.]+", timing)
        # CONN_MAX_AGE = 0: each request opens its connection, and db counts that set-up.
        assert re.search(r'db;dur=[0-9.]+;desc="connect \+ \d+ queries"', timing)
        assert response.getheader("X-Instance") == "web-test"
        worker = int(response.getheader("X-Worker-Pid"))
        assert worker not in (os.getpid(), proc.pid)  # a worker, not the master
        conn.request("GET", "/static/demo_app/site.css")
        css = conn.getresponse()
        assert css.status == 200 and b"--brand" in css.read()
        conn.request("GET", "/", headers={"Host": "evil.example"})
        refused = conn.getresponse()
        assert refused.status == 400 and b"Bad request" in refused.read()
    finally:
        proc.terminate()
        _, errors = proc.communicate(timeout=30)
    # A Host header not in ALLOWED_HOSTS is one line in the error log, not a traceback.
    bad_host = [line for line in errors.decode().splitlines() if "evil.example" in line]
    assert len(bad_host) == 1 and "DisallowedHost" in bad_host[0], errors.decode()
    assert "Traceback" not in errors.decode()
    lines = [line.split() for line in log.read_text().splitlines()]
    api = next(fields for fields in lines if fields[2] == "/api/bills/")
    # remote method path status bytes seconds <pid> instance [time]
    assert api[1] == "GET" and api[3] == "200" and float(api[5]) >= 0
    assert api[6] == f"<{worker}>" and api[7] == "web-test"
