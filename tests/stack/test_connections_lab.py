"""The connections experiment on a lab of its own: PostgreSQL, gthread workers, persistent
connections, and a database CONNECTION LIMIT that really refuses.

One lab in a temporary state folder on free ports, on a PostgreSQL database and role made for
this test (dropped after); a short experiment with 2 instances, twice: under a limit above the
threads (every started thread holds one connection: instances x workers x threads), then
under one below them (PostgreSQL refuses, the app answers 503).
"""

from __future__ import annotations

import secrets

import pytest

from demo_app.stack import connections
from demo_app.stack.config import LabConfig, LabError, free_ports

from .conftest import skip_or_fail
from .test_lab import cli, consecutive_free_ports

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.postgres]

INSTANCES, WORKERS, THREADS = 2, 2, 2
USERS = 16  # twice the fleet's 8 threads in flight: every thread starts


@pytest.fixture(scope="module")
def need_postgres():
    try:
        connections.connect_admin().close()
    except LabError as exc:
        skip_or_fail(str(exc))


@pytest.fixture(scope="module")
def pg_lab(tmp_path_factory, need_nginx, need_postgres):
    state = tmp_path_factory.mktemp("lab")
    dns, http, https = free_ports(3)
    base = consecutive_free_ports(INSTANCES)
    name = f"quorum_lab_test_{secrets.token_hex(4)}"
    cfg = LabConfig(
        state_dir=state, dns_port=dns, http_port=http, https_port=https, base_port=base,
        instances=INSTANCES, workers=WORKERS, threads=THREADS, conn_max_age=600, postgres=name,
    )  # fmt: skip
    flags = ["--instances", str(INSTANCES), "--workers", str(WORKERS), "--threads", str(THREADS)]
    flags += ["--conn-max-age", "600", "--postgres", name, "--dns-port", str(dns)]
    flags += ["--http-port", str(http), "--https-port", str(https), "--base-port", str(base)]
    try:
        started = cli(cfg, "up", *flags)
        assert started.returncode == 0, started.stdout + started.stderr
        yield cfg
    finally:
        cli(cfg, "down")
        connections.drop_database(name)


def experiment(cfg: LabConfig, limit: int, tmp_path) -> connections.FleetResult:
    out = tmp_path / f"connections-{limit}.csv"
    done = cli(
        cfg, "connections", "--fleets", str(INSTANCES), "--limit", str(limit),
        "--users", str(USERS), "--duration", "6", "--csv", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fleet  threads  started  held" in done.stdout
    (row,) = connections.read_csv(out)
    return row


def test_every_started_thread_holds_one_connection(pg_lab, tmp_path):
    row = experiment(pg_lab, 100, tmp_path)
    predicted = INSTANCES * WORKERS * THREADS
    assert row.threads_configured == predicted
    assert row.threads_started == predicted  # the load started every thread ...
    assert row.peak_held == predicted  # ... and each kept its connection
    assert row.held_after == predicted  # idle once the load stopped, still held
    assert row.refused == 0 and row.failed == 0
    assert row.requests > 0


def test_the_connection_limit_refuses_for_real(pg_lab, tmp_path):
    limit = INSTANCES * WORKERS * THREADS - 3
    row = experiment(pg_lab, limit, tmp_path)
    # Refused requests end at once, so fewer may be in flight: at least more than the limit.
    assert limit < row.threads_started <= INSTANCES * WORKERS * THREADS
    assert row.peak_held == limit  # PostgreSQL let no more in
    assert row.refused > 0  # "too many connections for database" in the instances' logs
    assert row.failed >= row.refused  # each such request failed (the app's 503)
    # The limit is lifted afterwards: the lab works normally again.
    done = cli(pg_lab, "status")
    assert done.returncode == 0, done.stdout + done.stderr


def test_bad_fleets_are_one_line(pg_lab):
    done = cli(pg_lab, "connections", "--fleets", "2,x")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --fleets '2,x' is not a list of fleet sizes: e.g. 2,3,4 (each 1-16)"
    ]
