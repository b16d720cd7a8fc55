"""Failure drills on the running lab, each printing what a visitor and the logs saw.

Like a fire drill: you pull the alarm on purpose, on a calm day, with a stopwatch, and write
down who got out and how long it took, so the real thing is familiar. Three alarms:

- ``instance-failure``: light traffic through nginx, SIGKILL web-1's Gunicorn master. nginx
  retries the idempotent GETs on the other instance (``proxy_next_upstream``), so no request
  should fail; supervisord restarts web-1. Prints failures, the latency blip, the restart time.
- ``worker-timeout``: the instances restart with a 2 s Gunicorn timeout and one request asks
  the calibration endpoint to sleep 4 s. Gunicorn aborts the worker (``WORKER TIMEOUT`` in its
  error log). A worker that dies silently makes nginx answer 502 (and retry the GET on the
  other instance first); Gunicorn 27 instead answers 500 itself before the worker exits, and
  nginx passes that on (500 is not in ``proxy_next_upstream``). Prints the nginx log line.
- ``db-down``: the instances restart pointed at a PostgreSQL port where nothing listens.
  Pages and /readyz answer 503, /healthz (liveness) still 200: the process is alive, the
  dependency is not. This is why a load balancer's health check should not hit the database.
- ``deploy``: light traffic while ``deploy`` (the Ansible playbook) rolls a new build of the
  working tree over the instances, one at a time. No request may fail, on the visitors' side
  or in nginx's log; every instance must end on the new release. Prints which releases
  answered, per 5 s, from nginx's log (its last field).
- ``bad-deploy``: the same, with a release built with a fault: no ``collectstatic`` (the build
  step a hurried hotfix skips), so its instances have no static files manifest, answer
  /readyz 503 and would answer every page 500. The roll must stop at the first instance and
  put it back on its release, nobody may see an error, and ``deploy`` must exit non-zero with
  one line naming the instance and the reason.

Every failure drill restores the lab's normal configuration before it returns, even when
interrupted; the deploy drill leaves the lab on its new release (``rollback`` goes back).

Flow: running lab -> change (signal, or supervisord.conf overrides + update) -> traffic /
probes -> printed results + matching log lines -> restore.
"""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from demo_app.stack import accesslog, lab, releases, supervisor
from demo_app.stack.accesslog import field
from demo_app.stack.client import LabClient
from demo_app.stack.config import HOST, LabConfig, free_ports
from demo_app.stack.traffic import Traffic, summarize

SHORT_TIMEOUT_S = 2
SLEEP_MS = 4000


def say(message: str = "") -> None:
    print(message, flush=True)


def run(cfg: LabConfig, kind: str) -> int:
    """One drill by name, or ``all`` of them in turn (exit 1 if any missed its expectation)."""
    lab.require_running(cfg)
    drills = {
        "instance-failure": instance_failure,
        "worker-timeout": worker_timeout,
        "db-down": db_down,
        "deploy": deploy_drill,
        "bad-deploy": bad_deploy,
    }
    chosen = list(drills) if kind == "all" else [kind]
    codes = []
    for i, name in enumerate(chosen):
        if i:
            say()
        codes.append(drills[name](cfg))
    return max(codes)


class LogTail:
    """The lines a log gained since this object was made (like ``tail -f`` from now on)."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def new_lines(self) -> list[str]:
        if not self.path.exists():
            return []
        with open(self.path) as f:
            f.seek(self.offset)
            return f.read().splitlines()


# -- instance failure ---------------------------------------------------------------------------


def instance_failure(cfg: LabConfig, victim: str = "web-1", settle: float = 3.0) -> int:
    say(f"drill     instance-failure: light traffic to {cfg.site}/, then SIGKILL {victim}")
    if cfg.instances < 2:
        say("note      with one instance there is nowhere to retry: expect failures")
    access = LogTail(cfg.logs / "nginx-access.log")
    with Traffic(cfg, path="/", threads=2, pause=0.05) as traffic:
        time.sleep(settle)
        event_at = traffic.now()
        lab.kill(cfg, victim, wait=True)  # prints the kill and supervisord's restart
        time.sleep(settle)
    summary = summarize(traffic.samples, event_at)
    for line in summary.lines():
        say(line)
    lines = logged(access, len(traffic.samples))
    counts = accesslog.count(lines)
    say(f"nginx log {accesslog.summary(counts)}")
    retried = [line for line in lines if ", " in field(line, 8)]
    say(f"retried   {len(retried)} request(s) on another instance (nginx access log, field 8):")
    for line in retried[:5]:
        say("  " + line)
    # The visitors' count and the log's (the README's rule: 5xx, 499, cut short) must agree.
    failed = max(summary.failed, sum(counts[kind] for kind in accesslog.ERRORS))
    say("result    " + ("no request failed" if failed == 0 else f"{failed} request(s) failed"))
    # With two or more instances nginx retries on a healthy one: any failure is a miss. With
    # one, failures are the lesson ("why 2"), not a miss.
    return 1 if failed and cfg.instances >= 2 else 0


def logged(access: LogTail, at_least: int, wait: float = 5.0) -> list[str]:
    """The log's new lines, once it holds ``at_least`` of them (nginx writes each line just
    after its response) or ``wait`` seconds have passed."""
    deadline = time.monotonic() + wait
    lines = access.new_lines()
    while len(lines) < at_least and time.monotonic() < deadline:
        time.sleep(0.1)
        lines = access.new_lines()
    return lines


# -- worker timeout -----------------------------------------------------------------------------


@contextmanager
def instances_with(cfg: LabConfig, flags: str):
    """Every instance restarted with extra launcher flags; the normal config comes back after."""

    def ready(name: str) -> None:
        lab.wait_ready(cfg, [name])
        lab.wait_routed(cfg, name)  # nginx trusts it again: only now restart the next one

    try:
        # Inside the try: an interrupted or failed restart still puts the normal config back.
        supervisor.write_conf(cfg, {name: flags for name in cfg.instance_names})
        supervisor.update(cfg, ready)  # a rolling restart: one instance at a time
        yield
    finally:
        supervisor.write_conf(cfg)
        supervisor.update(cfg, ready)
        say("restored  the instances' normal configuration")


#: What a visitor gets when Gunicorn's timeout aborts a sync worker, and why.
TIMEOUT_STATUS = {
    502: "502 from nginx: the worker died without answering, the connection just closed",
    500: (
        "500 from Gunicorn itself: this Gunicorn answers 500 when its timeout aborts a worker "
        "that has not started its response (older ones closed the connection: nginx said 502)"
    ),
}


def worker_timeout(cfg: LabConfig) -> int:
    say(
        f"drill     worker-timeout: Gunicorn timeout {SHORT_TIMEOUT_S} s, "
        f"a request that takes {SLEEP_MS / 1000:.0f} s"
    )
    path = f"/calibrate/?sleep_ms={SLEEP_MS}"
    with instances_with(cfg, f"--timeout {SHORT_TIMEOUT_S}"):
        access = LogTail(cfg.logs / "nginx-access.log")
        errors = {n: LogTail(cfg.logs / f"{n}.error.log") for n in cfg.instance_names}
        reply = LabClient(cfg, timeout=60).get(path)
        say(f"answer    GET {path} -> {reply.status} after {reply.seconds:.1f} s")
        lines = [line for line in logged(access, 1) if "\t/calibrate/" in line]
        say("nginx     access log (status field 5; upstreams tried field 8; their statuses 9):")
        for line in lines:
            say("  " + line)
            say(f"  counted as: {accesslog.classify(line)} (the README's error rule)")
        timeouts = [
            f"{name:<9} {line.strip()}"
            for name, tail in errors.items()
            for line in tail.new_lines()
            if "WORKER TIMEOUT" in line
        ]
        for line in timeouts:
            say(line)
    say(f"result    {TIMEOUT_STATUS.get(reply.status, 'unexpected: ' + str(reply.status))}")
    return 0 if reply.status in TIMEOUT_STATUS and timeouts else 1


# -- database down ------------------------------------------------------------------------------


def db_down(cfg: LabConfig) -> int:
    port = free_ports(1)[0]  # nothing listens here, so every connection is refused
    url = f"postgresql://lab@{HOST}:{port}/unreachable"
    say(f"drill     db-down: the instances use DATABASE_URL={url}")
    expected = {"/": 503, "/readyz": 503, "/healthz": 200}
    results = {}
    with instances_with(cfg, f"--database-url {url}"):
        client = LabClient(cfg, timeout=30)
        for path in expected:
            reply = client.get(path)
            results[path] = reply.status
            say(f"answer    GET {path:<9} -> {reply.status} (from {reply.instance or 'nginx'})")
    ok = results == expected
    say(
        "result    "
        + (
            "pages and readiness 503, liveness 200: take the instance out, do not restart it"
            if ok
            else f"expected {expected}, got {results}"
        )
    )
    return 0 if ok else 1


# -- deploys ------------------------------------------------------------------------------------


def run_stack_command(cfg: LabConfig, *args: str) -> tuple[int, list[str]]:
    """``python -m demo_app.stack ARGS`` as a person would type it: its output (Ansible's)
    streams through; its error lines are returned, for the drill to read the last one."""
    sys.stdout.flush()
    done = subprocess.run(
        [sys.executable, "-m", "demo_app.stack", "--state-dir", str(cfg.state_dir), *args],
        stderr=subprocess.PIPE,
        text=True,
    )
    errors = done.stderr.splitlines()
    for line in errors:
        say(f"  stderr: {line}")
    return done.returncode, errors


def answering(cfg: LabConfig) -> dict[str, str]:
    """Instance name -> the release it answers as (X-Release of its own /healthz)."""
    from demo_app.stack.deploy import answered_release

    return {
        name: answered_release(cfg.instance_port(i))
        for i, name in enumerate(cfg.instance_names, start=1)
    }


def print_timeline(lines: list[str], names: dict[str, str], step: float = 5.0) -> None:
    say(f"timeline  which release answered, per {step:.0f} s (nginx's access log, field 15):")
    for label, version in names.items():
        say(f"  {label} = {version}")
    for start, counts in accesslog.releases_over_time(lines, step):
        seen = ", ".join(
            f"{next((k for k, v in names.items() if v == release), release)} {n}"
            for release, n in sorted(counts.items(), key=lambda kv: kv[0] != names.get("old"))
        )
        window = f"{start:.0f}-{start + step:.0f} s"
        say(f"  {window:>10}  {seen or 'none'}")


def traffic_failures(cfg, traffic: Traffic, access: LogTail, event_at: float) -> int:
    """Print both sides' counts; the larger number of failed requests."""
    summary = summarize(traffic.samples, event_at)
    for line in summary.lines():
        say(line)
    counts = accesslog.count(logged(access, len(traffic.samples)))
    say(f"nginx log {accesslog.summary(counts)}")
    return max(summary.failed, sum(counts[kind] for kind in accesslog.ERRORS))


def deploy_drill(cfg: LabConfig, settle: float = 3.0) -> int:
    from demo_app.stack.deploy import check_lab

    say(f"drill     deploy: light traffic to {cfg.site}/ while a new release rolls out")
    check_lab(cfg)  # before any traffic: a lab that cannot roll is one line, nothing changed
    old = releases.linked_version(releases.lab_link(cfg))
    # Built first, as CI builds the release before anyone deploys it: the traffic then spans
    # the roll itself.
    new = releases.build(cfg, say=say).version
    access = LogTail(cfg.logs / "nginx-access.log")
    with Traffic(cfg, path="/", threads=2, pause=0.05) as traffic:
        time.sleep(settle)
        event_at = traffic.now()
        code, _ = run_stack_command(cfg, "deploy", "--version", new)
        time.sleep(settle)
    say(f"deploy    exit {code}")
    failed = traffic_failures(cfg, traffic, access, event_at)
    linked = releases.instance_releases(cfg)
    live = answering(cfg)
    for name in cfg.instance_names:
        say(f"instance  {name} runs {linked[name]}, answers as {live[name]}")
    print_timeline(access.new_lines(), {"old": old or "-", "new": new or "-"})
    on_new = releases.linked_version(releases.lab_link(cfg)) == new and all(
        linked[n] == new and live[n] == new for n in cfg.instance_names
    )
    ok = code == 0 and failed == 0 and on_new
    say(
        "result    "
        + (
            f"no request failed; every instance runs {new}"
            if ok
            else f"{failed} request(s) failed; deploy exit {code}; instances: {linked}"
        )
    )
    return 0 if ok else 1


#: The bad-deploy drill's fault, in one line (printed and documented).
FAULT = (
    "the release is built without collectstatic: no static files manifest, so /readyz answers"
    " 503 and every page would be a 500"
)


def bad_deploy(cfg: LabConfig, settle: float = 3.0) -> int:
    from demo_app.stack.deploy import check_lab, drained

    say(f"drill     bad-deploy: {FAULT}")
    check_lab(cfg)
    before = releases.instance_releases(cfg)
    lab_before = releases.linked_version(releases.lab_link(cfg))
    pids = {name: info["pid"] for name, info in supervisor.processes(cfg).items()}
    bad = releases.build(cfg, collect_static=False, say=say)
    first = cfg.instance_names[0]
    access = LogTail(cfg.logs / "nginx-access.log")
    with Traffic(cfg, path="/", threads=2, pause=0.05) as traffic:
        time.sleep(settle)
        event_at = traffic.now()
        code, errors = run_stack_command(cfg, "deploy", "--version", bad.version)
        time.sleep(settle)
    line = errors[-1] if errors else ""
    say(f"deploy    exit {code}: {line}")
    failed = traffic_failures(cfg, traffic, access, event_at)
    after = releases.instance_releases(cfg)
    live = answering(cfg)
    now = {name: info["pid"] for name, info in supervisor.processes(cfg).items()}
    for name in cfg.instance_names:
        say(f"instance  {name} runs {after[name]}, answers as {live[name]}")
    print_timeline(access.new_lines(), {"old": lab_before or "-", "bad": bad.version})
    checks = {
        "deploy exited non-zero": code != 0,
        f"its one line names {first} and /readyz": line.startswith(
            f"error: deploy stopped at {first}: "
        )
        and "/readyz" in line,
        f"{first} is back on {before[first]}": after == before and live == before,
        "the others were never restarted": all(
            now[n] == pids[n] for n in cfg.instance_names if n != first
        ),
        "the lab's current release is unchanged": (
            releases.linked_version(releases.lab_link(cfg)) == lab_before
        ),
        "every instance is in nginx's upstream": drained(cfg) == [],
        "no request failed": failed == 0,
    }
    for what, held in checks.items():
        say(f"check     {'ok  ' if held else 'MISS'} {what}")
    ok = all(checks.values())
    say(
        "result    "
        + (
            f"the roll stopped at {first}, which is back on its release; nobody saw an error"
            if ok
            else "the bad release was not stopped as it should be"
        )
    )
    return 0 if ok else 1
