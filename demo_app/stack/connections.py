"""The connections experiment: how many PostgreSQL connections a fleet really holds.

Like counting the tickets a bank's machine has printed while more and more cashiers open: every
Django thread that runs a query takes a ticket (a connection) and, with persistent connections
(``CONN_MAX_AGE`` > 0), keeps it while it lives. Gunicorn's ``gthread`` worker does not start
its threads up front: its pool (Python's ``ThreadPoolExecutor``) starts one only when a request
arrives and no thread is idle. So a fleet holds one connection per thread *started*, not per
thread configured, and how many start depends on how many requests each worker ever had at
once.

The lab stands in for a low ``max_connections`` without restarting the machine's shared server:
its instances connect as a role of their own to a database of their own (``up --postgres
NAME``: role and database ``NAME``, owned by that role, not a superuser), and the experiment
sets ``ALTER DATABASE NAME CONNECTION LIMIT n``. Past it PostgreSQL refuses the connection for
real (``FATAL: too many connections for database "NAME"``, where a full server says ``sorry,
too many clients already``); the app answers those requests 503.

For each fleet size (2, 3 and 4 instances by default) the experiment scales the lab, restarts
every instance (no thread started, no connection held), sends the same load (``users``
clients through DNS, TLS and nginx, each asking ``path`` again as soon as it has its answer)
and meanwhile samples ``pg_stat_activity`` for the lab's connections (held, active, idle, per
instance); afterwards it counts the threads each worker started (``/proc/<pid>/task``), the
refusals in the instances' logs and the failed requests. It prints a table and writes a csv.

Flow: running lab (PostgreSQL, gthread, CONN_MAX_AGE > 0) -> CONNECTION LIMIT -> for each fleet:
scale -> restart -> load + sampler -> threads, refusals -> table + csv -> limit removed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import threading
import time
import xmlrpc.client
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

from demo_app.stack.config import LabConfig, LabError

#: Where the lab's role and database are made: a superuser on the machine's server.
ADMIN_URL_VAR = "LAB_PG_ADMIN_URL"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
#: What PostgreSQL logs, and the app's error line repeats, when the database's limit refuses.
REFUSED = "too many connections for database"
#: The request each client repeats: one query, then 200 ms asleep (a page waiting on I/O).
DEFAULT_PATH = "/calibrate/?queries=1&sleep_ms=200"


def admin_url(environ=None) -> str:
    env = os.environ if environ is None else environ
    return env.get(ADMIN_URL_VAR) or DEFAULT_ADMIN_URL


def lab_database_url(name: str, environ=None) -> str:
    """The instances' ``DATABASE_URL``: role ``name``, database ``name``, on the admin's server."""
    parts = urlsplit(admin_url(environ))
    return f"postgresql://{name}@{parts.hostname or '127.0.0.1'}:{parts.port or 5432}/{name}"


def connect_admin(environ=None):
    """An autocommit connection as the server's superuser; one line when it cannot be had."""
    import psycopg2

    url = admin_url(environ)
    try:
        conn = psycopg2.connect(url, connect_timeout=3, application_name="quorum-lab-admin")
    except psycopg2.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise LabError(
            f"cannot reach PostgreSQL as {url} ({first}): start it, or set {ADMIN_URL_VAR}"
        ) from None
    conn.autocommit = True
    return conn


def ensure_database(name: str, environ=None) -> str:
    """Role ``name`` (may log in, no superuser: limits apply to it) and database ``name`` it
    owns, made when missing, with no connection limit; returns one line saying so."""
    from psycopg2 import sql

    conn = connect_admin(environ)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
            made = []
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
                made.append("role")
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(name)
                    )
                )
                made.append("database")
        set_limit(name, -1, environ)
    finally:
        conn.close()
    what = f"made {' and '.join(made)}" if made else "kept"
    return f"{what} {name} ({lab_database_url(name, environ)}, no connection limit)"


def set_limit(name: str, limit: int, environ=None) -> None:
    """``ALTER DATABASE name CONNECTION LIMIT limit`` (-1: none). New connections only: the
    ones already open stay."""
    from psycopg2 import sql

    conn = connect_admin(environ)
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(
                    sql.Identifier(name), sql.Literal(int(limit))
                )
            )
    finally:
        conn.close()


def drop_database(name: str, environ=None) -> None:
    """End the database's sessions, drop it and its role (the tests clean up this way)."""
    from psycopg2 import sql

    conn = connect_admin(environ)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
    finally:
        conn.close()


# -- pg_stat_activity ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    held: int
    active: int
    by_instance: dict[str, int]

    @property
    def idle(self) -> int:
        return self.held - self.active


def snapshot(cur, name: str) -> Snapshot:
    """The lab role's connections to its database now (the sampler's own is elsewhere)."""
    cur.execute(
        "SELECT application_name, state, count(*) FROM pg_stat_activity"
        " WHERE datname = %s AND usename = %s AND backend_type = 'client backend'"
        " GROUP BY 1, 2",
        (name, name),
    )
    held = active = 0
    by_instance: dict[str, int] = {}
    for app, state, n in cur.fetchall():
        held += n
        active += n if state == "active" else 0
        by_instance[app or "?"] = by_instance.get(app or "?", 0) + n
    return Snapshot(held, active, by_instance)


class Sampler:
    """``pg_stat_activity`` every ``interval`` seconds in a thread: the peaks and the last."""

    def __init__(self, name: str, interval: float = 0.1, environ=None):
        self.name, self.interval, self.environ = name, interval, environ
        self.peak = Snapshot(0, 0, {})
        self.peak_active = 0
        self.peak_by_instance: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._conn = connect_admin(self.environ)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._conn.close()

    def _run(self) -> None:
        with self._conn.cursor() as cur:
            while not self._stop.is_set():
                now = snapshot(cur, self.name)
                self.samples += 1
                if now.held > self.peak.held:
                    self.peak = now
                self.peak_active = max(self.peak_active, now.active)
                for app, n in now.by_instance.items():
                    self.peak_by_instance[app] = max(self.peak_by_instance.get(app, 0), n)
                self._stop.wait(self.interval)


def held_now(name: str, environ=None) -> Snapshot:
    conn = connect_admin(environ)
    try:
        with conn.cursor() as cur:
            return snapshot(cur, name)
    finally:
        conn.close()


# -- the instances' threads ----------------------------------------------------------------------


def worker_threads(cfg: LabConfig) -> dict[str, list[int]]:
    """Instance -> the pool threads each of its Gunicorn workers has started: its threads
    (``/proc/<pid>/task``) but the main one, which accepts and hands out (the master
    excluded)."""
    from demo_app.stack import supervisor

    masters = {info["pid"] for info in supervisor.processes(cfg).values()}
    found: dict[str, list[int]] = {}
    for name in cfg.instance_names:
        counts = []
        for pid, _command in supervisor.lab_processes(cfg, instance=name):
            if pid in masters:
                continue
            with contextlib.suppress(OSError):
                counts.append(len(os.listdir(f"/proc/{pid}/task")) - 1)
        found[name] = sorted(counts)
    return found


# -- the experiment ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetResult:
    """One fleet size under the load; a row of the table and of the csv."""

    instances: int
    workers: int
    threads: int
    threads_configured: int  # instances x workers x threads: what the chapter's text counted
    limit: int  # the database's CONNECTION LIMIT
    users: int
    seconds: float
    requests: int
    mean_ms: float  # a request's mean time, as the clients saw it (DNS, TLS, nginx, Django)
    failed: int  # no answer or 5xx, as the clients saw it
    refused: int  # PostgreSQL's refusals, from the instances' logs
    threads_started: int  # pool threads the workers started during the load
    peak_held: int  # most connections held at once (pg_stat_activity)
    peak_active: int  # most running a query at once
    held_after: int  # held once the load stopped: all idle, kept by their threads
    load_1min: float  # the machine's 1-minute load average when the fleet started
    cores: int

    @property
    def wanted(self) -> int:
        """Connections the started threads want: one each."""
        return self.threads_started


COLUMNS = [f.name for f in fields(FleetResult)]


def check_plan(cfg: LabConfig) -> None:
    missing = []
    if not cfg.postgres:
        missing.append("PostgreSQL (--postgres NAME)")
    if cfg.threads < 2:
        missing.append("gthread workers (--threads 2 or more)")
    if cfg.conn_max_age <= 0:
        missing.append("persistent connections (--conn-max-age 60 or more)")
    if missing:
        raise LabError(
            f"the lab in {cfg.state_dir} runs without {', '.join(missing)}: `down`, then for"
            " example `up --postgres quorum_lab --threads 4 --conn-max-age 600`"
        )


def parse_fleets(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or not all(1 <= n <= 16 for n in sizes):
        raise LabError(f"--fleets {text!r} is not a list of fleet sizes: e.g. 2,3,4 (each 1-16)")
    return sizes


def restart_instances(cfg: LabConfig, say=print) -> None:
    """Every instance stopped, then started: new workers, no thread started, nothing held."""
    from demo_app.stack import lab, supervisor

    api = supervisor.rpc(cfg)
    for name in cfg.instance_names:
        with contextlib.suppress(xmlrpc.client.Fault):  # already stopped
            api.stopProcess(name, True)
    for name in cfg.instance_names:
        api.startProcess(name, False)
    lab.wait_ready(cfg)
    for name in cfg.instance_names:
        lab.wait_routed(cfg, name)


def wait_released(name: str, timeout: float = 30.0) -> Snapshot:
    """Until the stopped workers' connections have left pg_stat_activity."""
    deadline = time.monotonic() + timeout
    now = held_now(name)
    while now.held and time.monotonic() < deadline:
        time.sleep(0.2)
        now = held_now(name)
    if now.held:
        raise LabError(f"{now.held} connection(s) to {name} still open {timeout:.0f} s on")
    return now


def refusals(logs: dict[Path, int]) -> int:
    """Lines naming PostgreSQL's refusal that the logs gained since ``logs`` (path -> offset)."""
    found = 0
    for path, offset in logs.items():
        if path.exists():
            with open(path, errors="replace") as f:
                f.seek(offset)
                found += sum(REFUSED in line for line in f)
    return found


def run_fleet(
    cfg: LabConfig, limit: int, users: int, duration: float, path: str, say=print
) -> FleetResult:
    """The running lab as it is, restarted, under ``users`` clients for ``duration`` s."""
    from demo_app.stack.traffic import Traffic

    restart_instances(cfg, say)
    wait_released(cfg.postgres)
    logs = {
        cfg.logs / f"{name}.out.log": (cfg.logs / f"{name}.out.log").stat().st_size
        for name in cfg.instance_names
        if (cfg.logs / f"{name}.out.log").exists()
    }
    load_1min = os.getloadavg()[0]
    with Sampler(cfg.postgres) as sampler, Traffic(cfg, path=path, threads=users, pause=0) as t:
        time.sleep(duration)
    seconds = t.now()
    after = worker_threads(cfg)
    # Every pool thread a worker has (the readiness checks' requests started some too).
    started = sum(sum(counts) for counts in after.values())
    rest = held_now(cfg.postgres)
    return FleetResult(
        instances=cfg.instances,
        workers=cfg.workers,
        threads=cfg.threads,
        threads_configured=cfg.instances * cfg.workers * cfg.threads,
        limit=limit,
        users=users,
        seconds=round(seconds, 1),
        requests=len(t.samples),
        mean_ms=round(1000 * sum(x.seconds for x in t.samples) / max(len(t.samples), 1), 1),
        failed=sum(s.failed for s in t.samples),
        refused=refusals(logs),
        threads_started=started,
        peak_held=sampler.peak.held,
        peak_active=sampler.peak_active,
        held_after=rest.held,
        load_1min=round(load_1min, 2),
        cores=os.cpu_count() or 1,
    )


def table(results: list[FleetResult]) -> list[str]:
    head = (
        f"{'fleet':>5} {'threads':>8} {'started':>8} {'held':>5} {'active':>7} {'after':>6}"
        f" {'limit':>6} {'requests':>9} {'refused':>8} {'failed':>7} {'load':>5}"
    )
    lines = [head]
    for r in results:
        lines.append(
            f"{r.instances:>5} {r.threads_configured:>8} {r.threads_started:>8} {r.peak_held:>5}"
            f" {r.peak_active:>7} {r.held_after:>6} {r.limit:>6} {r.requests:>9}"
            f" {r.refused:>8} {r.failed:>7} {r.load_1min:>5.2f}"
        )
    return lines


def write_csv(results: list[FleetResult], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for r in results:
            writer.writerow(asdict(r))


def read_csv(path: Path) -> list[FleetResult]:
    """The rows a run wrote, typed again (the course reads the recorded run this way)."""
    kinds = {f.name: f.type for f in fields(FleetResult)}
    with open(path, newline="") as f:
        return [
            FleetResult(**{k: float(v) if kinds[k] == "float" else int(v) for k, v in row.items()})
            for row in csv.DictReader(f)
        ]


def run(
    cfg: LabConfig,
    fleets: tuple[int, ...] = (2, 3, 4),
    limit: int = 20,
    users: int = 24,
    duration: float = 20.0,
    path: str = DEFAULT_PATH,
    out: Path | None = None,
    say=print,
) -> list[FleetResult]:
    """The experiment on the running lab; leaves it at the last fleet size, without a limit."""
    from demo_app.stack import lab

    lab.require_running(cfg)
    check_plan(cfg)
    for label, value, low, high in (
        ("--limit", limit, 1, 1000),
        ("--users", users, 1, 200),
        ("--duration", duration, 1, 600),
    ):
        if not low <= value <= high:
            raise LabError(f"{label} {value} is out of range: use {low}-{high}")
    if not path.startswith("/"):
        raise LabError(f"--path {path!r} is not a path on the site: start it with /")
    out = out or cfg.path("connections.csv")
    say(
        f"connections  database {cfg.postgres}, CONNECTION LIMIT {limit}; gthread"
        f" {cfg.workers} workers x {cfg.threads} threads per instance, CONN_MAX_AGE"
        f" {cfg.conn_max_age} s; {users} users asking {path} for {duration:g} s per fleet"
    )
    results = []
    set_limit(cfg.postgres, limit)
    try:
        for n in fleets:
            if n != cfg.instances:
                with contextlib.redirect_stdout(io.StringIO()):  # scale's status table
                    lab.scale(cfg, n)
                cfg = LabConfig.load(cfg.state_dir) or cfg
            say(f"fleet        {n} instance(s): restart, then load")
            result = run_fleet(cfg, limit, users, duration, path, say)
            results.append(result)
            say(
                f"             {result.threads_started} threads started, {result.peak_held}"
                f" connections held at most, {result.refused} refused"
            )
    finally:
        set_limit(cfg.postgres, -1)
    say("")
    for line in table(results):
        say(line)
    write_csv(results, out)
    say(f"csv          {out}")
    return results
