"""End to end: the whole lab (DNS, nginx, supervisord, two Gunicorn instances) on free ports.

One lab per module, in a temporary state folder, so a lab someone has running on the default
ports is never touched. The tests run in file order: the last one takes the lab down.
"""

from __future__ import annotations

import csv
import http.client
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

from demo_app.stack import accesslog, drills, nginx, supervisor
from demo_app.stack.client import LabClient, get_plain
from demo_app.stack.config import LabConfig, free_ports, port_is_free
from demo_app.stack.instance import admin_password
from demo_app.stack.lab import status_rows
from demo_app.stack.traffic import Traffic, summarize

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def consecutive_free_ports(n: int) -> int:
    """A base port with n free ports after it (web-1..web-n)."""
    for _ in range(50):
        base = free_ports(1)[0]
        if base + n < 65535 and all(port_is_free(base + i) for i in range(n)):
            return base
    raise RuntimeError("no run of free ports")


def cli(cfg: LabConfig, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
    return subprocess.run(
        [sys.executable, "-m", "demo_app.stack", "--state-dir", str(cfg.state_dir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def wait_for(condition, what: str, timeout: float = 120.0) -> None:
    """Until ``condition()`` holds. The timeout only keeps a broken lab from hanging the run;
    nothing here depends on how fast the machine is."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


class SlowRequest:
    """``GET /calibrate/?sleep_ms=N`` straight to one instance, answered in the background.

    When the object exists its connection is established and the request sent, so in the
    instance's accept queue it is ahead of every connection opened after it."""

    def __init__(self, port: int, sleep_ms: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=150)
        headers = {"Host": "quorum.us", "X-Forwarded-Proto": "https"}
        self.conn.request("GET", f"/calibrate/?sleep_ms={sleep_ms}", headers=headers)
        self.done = threading.Event()
        self.status: int | str | None = None
        self.body = b""
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        try:
            response = self.conn.getresponse()
            self.body = response.read()
            self.status = response.status
        except (OSError, http.client.HTTPException) as exc:
            self.status = type(exc).__name__
        finally:
            self.conn.close()
            self.done.set()

    def result(self) -> tuple[int | str | None, bytes]:
        self._thread.join(180)
        return self.status, self.body


@pytest.fixture(scope="module")
def lab(tmp_path_factory, need_nginx):
    state = tmp_path_factory.mktemp("lab")
    dns, http, https = free_ports(3)
    base = consecutive_free_ports(3)
    flags = ["--instances", "2", "--workers", "2", "--dns-port", str(dns)]
    flags += ["--http-port", str(http), "--https-port", str(https), "--base-port", str(base)]
    cfg = LabConfig(
        state_dir=state, dns_port=dns, http_port=http, https_port=https, base_port=base,
        instances=2, workers=2,
    )  # fmt: skip
    try:
        started = cli(cfg, "up", *flags)
        assert started.returncode == 0, started.stdout + started.stderr
        yield cfg
    finally:
        cli(cfg, "down")


def test_up_starts_dns_nginx_and_two_healthy_instances(lab):
    rows = {row.name: row for row in status_rows(lab)}
    assert list(rows) == ["dns", "web-1", "web-2", "nginx"]
    for row in rows.values():
        assert row.state == "RUNNING", row
        assert row.health.startswith("ok"), row


def test_a_second_up_reports_and_restarts_nothing(lab):
    before = {name: info["pid"] for name, info in supervisor.processes(lab).items()}
    again = cli(lab, "up", "--workers", "3")
    assert again.returncode == 0, again.stderr
    assert "already up" in again.stdout
    # Flags a running lab cannot take without a restart are named, not silently dropped.
    assert "workers 2 (not 3)" in again.stdout and "`down`, then `up`" in again.stdout
    assert {name: info["pid"] for name, info in supervisor.processes(lab).items()} == before


def test_the_lab_is_recognised_by_its_id(lab):
    from demo_app.stack.client import running_lab
    from demo_app.stack.dns import query_txt

    lab_id = LabConfig.load(lab.state_dir).lab_id
    assert len(lab_id) == 16
    found = running_lab(lab.state_dir)
    assert found, found.reason
    assert (found.lab_id, found.healthy, found.dns) == (lab_id, True, True)
    assert query_txt("_lab.quorum.us", lab.dns_port) == [lab_id]
    # nginx names the lab on pages, on its own errors and on the HTTP redirect.
    client = LabClient(lab)
    for path in ("/", "/no-such-page/", "/static/no-such-file.css"):
        assert client.get(path).headers["x-quorum-lab"] == lab_id, path
    redirect = get_plain(lab.http_port, "/", host="quorum.us")
    assert redirect.status == 301 and redirect.headers["x-quorum-lab"] == lab_id
    status = cli(lab, "status")
    assert f"lab id    {lab_id}" in status.stdout


def test_http_redirects_to_https(lab):
    reply = get_plain(lab.http_port, "/bills/?q=tax", host=f"quorum.us:{lab.http_port}")
    assert reply.status == 301
    assert reply.headers["location"] == f"https://quorum.us:{lab.https_port}/bills/?q=tax"


@pytest.mark.parametrize("host", ["www.quorum.us", "QUORUM.US"])
def test_http_redirects_each_of_the_sites_names_to_itself(lab, host):
    reply = get_plain(lab.http_port, "/", host=host)
    assert reply.status == 301
    assert reply.headers["location"] == f"https://{host.lower()}:{lab.https_port}/"


@pytest.mark.parametrize("host", ["evil.example", "quorum.us.evil.example", "127.0.0.1", None])
def test_http_gives_any_other_host_no_answer_and_no_redirect(lab, host):
    access = drills.LogTail(lab.logs / "nginx-access.log")
    with socket.create_connection(("127.0.0.1", lab.http_port), timeout=30) as conn:
        # HTTP/1.0 lets a request carry no Host header at all (None).
        header = "" if host is None else f"Host: {host}\r\n"
        conn.sendall(f"GET /login HTTP/1.0\r\n{header}\r\n".encode())
        answer = conn.recv(4096)
    assert answer == b""  # nginx closed the connection without a word
    wait_for(lambda: access.new_lines(), "nginx to log the request")
    assert [drills.field(line, 5) for line in access.new_lines()] == ["444"]


def test_a_request_resolved_through_the_lab_dns_reaches_the_app(lab):
    dns_log = lab.logs / "dns.log"
    before = dns_log.read_text().count("\tquorum.us.\tA\tNOERROR\t127.0.0.1")
    client = LabClient(lab)
    reply = client.get("/")
    assert reply.status == 200
    assert reply.instance in ("web-1", "web-2")
    assert b"<html" in reply.body.lower()
    # The address came from the lab's server (a cold lookup), which logged the question.
    assert client.resolver.lookup("quorum.us").source == "cache"
    after = dns_log.read_text().count("\tquorum.us.\tA\tNOERROR\t127.0.0.1")
    assert after > before


def test_responses_carry_server_timing_and_alternate_between_instances(lab):
    client = LabClient(lab)
    # An earlier test may have killed an instance: nginx's passive check holds it out for
    # fail_timeout after it failed. Ask until both answer again before watching the rotation.
    recent: list[str | None] = []
    for _ in range(200):
        recent = [*recent[-1:], client.get("/api/bills/").instance]
        if set(recent) == {"web-1", "web-2"}:
            break
        time.sleep(0.1)
    replies = [client.get("/api/bills/") for _ in range(6)]
    assert all(r.status == 200 for r in replies)
    for reply in replies:
        timing = reply.server_timing
        assert {"queue", "app", "db"} <= set(timing), reply.headers.get("server-timing")
        # Durations, not speeds: a fast machine may round a layer down to 0.0 ms.
        assert min(timing["app"], timing["db"], timing["queue"]) >= 0
    seen = [r.instance for r in replies]
    assert set(seen) == {"web-1", "web-2"}
    # Round robin: no instance answers twice in a row.
    assert all(a != b for a, b in itertools.pairwise(seen)), seen


def test_static_files_are_served_by_nginx(lab):
    files = [p for p in lab.path("static").rglob("*.css") if p.is_file()]
    assert files, "collectstatic put no CSS in the lab's static folder"
    relative = files[0].relative_to(lab.path("static")).as_posix()
    reply = LabClient(lab).get(f"/static/{relative}")
    assert reply.status == 200
    assert reply.instance is None  # no Gunicorn instance saw it
    assert reply.body == files[0].read_bytes()


def _https(lab, method: str, path: str, headers: dict[str, str], body: str = ""):
    """One HTTPS exchange with quorum.us through nginx (the address from the lab's DNS)."""
    client = LabClient(lab)
    address = client.resolver.lookup("quorum.us").address
    raw = socket.create_connection((address, lab.https_port), 30)
    conn = http.client.HTTPSConnection("quorum.us", lab.https_port, timeout=30)
    conn.sock = client.context.wrap_socket(raw, server_hostname="quorum.us")
    try:
        conn.request(method, path, body=body.encode(), headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("Location"), response.read(), response
    finally:
        conn.close()


def test_the_demo_admin_logs_in_through_the_lab(lab):
    # `up` ran prepare_demo: the admin account exists with the lab's own password (production
    # settings refuse the published one), and Django's CSRF check accepts the login posted to
    # https://quorum.us:PORT through nginx.
    assert (lab.state_dir / "admin_password").stat().st_mode & 0o077 == 0
    assert "Admin: https://quorum.us:" in (lab.logs / "prepare.log").read_text()
    site = f"https://quorum.us:{lab.https_port}"
    host = {"Host": f"quorum.us:{lab.https_port}"}
    status, _, page, response = _https(lab, "GET", "/admin/login/", host)
    assert status == 200
    cookie = response.getheader("Set-Cookie").split(";")[0]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": "demo", "password": admin_password(lab)}
    )
    status, location, _, response = _https(
        lab,
        "POST",
        "/admin/login/?next=/admin/",
        host
        | {
            "Cookie": cookie,
            "Origin": site,
            "Referer": f"{site}/admin/login/",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        form,
    )
    assert status == 302, status
    assert location.endswith("/admin/")
    session = [c.split(";")[0] for c in response.msg.get_all("Set-Cookie") if "sessionid" in c]
    status, _, page, _ = _https(lab, "GET", "/admin/", host | {"Cookie": session[0]})
    assert status == 200 and b"Site administration" in page


def test_an_idle_worker_answers_at_once_while_its_sibling_is_busy(lab):
    # One listening socket per instance, shared by its two workers: quick requests do not
    # queue behind a slow one on the same instance while the other worker is free.
    port = lab.instance_port(1)
    slow = SlowRequest(port, sleep_ms=8000)
    quick = []
    for _ in range(10):
        reply = get_plain(port, "/healthz", timeout=150)
        quick.append((reply.status, reply.headers["x-worker-pid"], slow.done.is_set()))
    status, body = slow.result()
    assert status == 200, status
    busy = str(json.loads(body)["pid"])
    assert [answer for answer, _, _ in quick] == [200] * 10
    assert not any(finished for _, _, finished in quick), "a quick request waited for the slow one"
    others = {pid for _, pid, _ in quick}
    assert busy not in others and len(others) == 1, (busy, others)


def test_slow_calibration_beyond_the_limit_gets_429_while_pages_still_answer(lab):
    # Six slow calibration requests at once used to take all four workers; now each instance
    # runs one at a time and refuses the rest at once.
    access = drills.LogTail(lab.logs / "nginx-access.log")
    replies = []

    def ask() -> None:
        replies.append(LabClient(lab, timeout=150).get("/calibrate/?sleep_ms=6000&_slow=1"))

    threads = [threading.Thread(target=ask, daemon=True) for _ in range(6)]
    for thread in threads:
        thread.start()
    wait_for(lambda: any(r.status == 429 for r in replies), "a refused slow request")
    page = LabClient(lab, timeout=150).get("/")
    finished_before_page = sum(r.status == 200 for r in replies)
    for thread in threads:
        thread.join(180)
    assert page.status == 200
    assert finished_before_page == 0  # the page did not wait for a slow request to end
    assert sorted({r.status for r in replies}) == [200, 429], [r.status for r in replies]
    for refused in (r for r in replies if r.status == 429):
        assert int(refused.headers["retry-after"]) >= 1
        body = json.loads(refused.body)
        assert body["limit"] == 1 and "at most 1 slow calibration request" in body["error"]

    # nginx's log: on each instance, the slow requests that ran never overlapped in time.
    def logged() -> list[str]:
        return [line for line in access.new_lines() if "_slow=1" in drills.field(line, 4)]

    wait_for(lambda: len(logged()) == len(replies), "nginx to log every slow request")
    ran: dict[str, list[tuple[float, float]]] = {}
    for line in logged():
        if drills.field(line, 5) == "200":
            end = float(drills.field(line, 13))
            ran.setdefault(drills.field(line, 11), []).append(
                (end - float(drills.field(line, 7)), end)
            )
    assert sum(len(spans) for spans in ran.values()) == sum(r.status == 200 for r in replies)
    for spans in ran.values():
        spans.sort()
        assert all(b[0] >= a[1] - 0.01 for a, b in itertools.pairwise(spans)), spans


def workers_of(cfg: LabConfig, name: str) -> set[int]:
    """The pids of instance ``name``'s Gunicorn workers (its processes but the master)."""
    master = supervisor.processes(cfg)[name]["pid"]
    return {pid for pid, _ in supervisor.lab_processes(cfg, instance=name)} - {master}


def test_killing_an_instance_under_light_load_fails_no_request(lab):
    old_pid = supervisor.processes(lab)["web-1"]["pid"]
    old_workers = workers_of(lab, "web-1")
    errors = drills.LogTail(lab.logs / "web-1.error.log")
    access = drills.LogTail(lab.logs / "nginx-access.log")
    with Traffic(lab, path="/healthz", threads=2, pause=0.05) as traffic:
        wait_for(lambda: len(traffic.samples) >= 10, "traffic before the kill")
        # In flight on web-1 when its master dies: the orphaned worker still answers it.
        slow = SlowRequest(lab.instance_port(1), sleep_ms=3000)
        event_at = traffic.now()
        killed = cli(lab, "kill", "web-1", "--wait", timeout=90)
        back_at = traffic.now()
        wait_for(
            lambda: sum(s.start > back_at and s.instance == "web-1" for s in traffic.samples) >= 3,
            "nginx to send traffic to the restarted web-1",
        )
    assert killed.returncode == 0, killed.stderr
    summary = summarize(traffic.samples, event_at)
    assert summary.failed == 0, [s for s in traffic.samples if s.failed]
    # nginx's side, by the README's rule (5xx, 499, cut short): nothing failed either.
    lines = drills.logged(access, len(traffic.samples))
    assert len(lines) >= len(traffic.samples)
    assert [line for line in lines if accesslog.is_error(line)] == []
    status, body = slow.result()
    assert status == 200, status
    assert json.loads(body)["pid"] in old_workers
    info = supervisor.processes(lab)["web-1"]
    assert info["statename"] == "RUNNING"
    assert info["pid"] not in (0, old_pid)
    assert get_plain(lab.instance_port(1), "/healthz").status == 200
    assert not [line for line in errors.new_lines() if "Connection in use" in line]


def test_a_killed_masters_idle_workers_are_ended_before_the_new_master_binds(lab):
    # No traffic: idle orphans would hold web-1's socket until their wait for a connection
    # times out (half the Gunicorn timeout); the launcher ends them first.
    old_workers = workers_of(lab, "web-1")
    errors = drills.LogTail(lab.logs / "web-1.error.log")
    launcher = drills.LogTail(lab.logs / "web-1.out.log")
    killed = cli(lab, "kill", "web-1", "--wait", timeout=90)
    assert killed.returncode == 0, killed.stderr
    ended = [line for line in launcher.new_lines() if "left by an earlier master" in line]
    assert len(ended) == 1 and "with SIGTERM" in ended[0], ended
    assert {int(pid) for pid in re.findall(r"\d+", ended[0].split("pids")[1])} == old_workers
    assert not old_workers & {pid for pid, _ in supervisor.lab_processes(lab)}
    assert not [line for line in errors.new_lines() if "Connection in use" in line]
    assert len(workers_of(lab, "web-1")) == lab.workers


def test_drill_instance_failure_counts_failures_on_both_sides(lab):
    drilled = cli(lab, "drill", "instance-failure", timeout=180)
    assert drilled.returncode == 0, drilled.stdout + drilled.stderr
    out = drilled.stdout
    assert re.search(r"^requests  \d+, failed 0$", out, re.M), out
    assert re.search(r"^nginx log \d+ requests, 0 failed \(0 5xx, 0 499, 0 truncated\)", out, re.M)
    assert "result    no request failed" in out


def test_scale_3_adds_a_target(lab):
    scaled = cli(lab, "scale", "3")
    assert scaled.returncode == 0, scaled.stdout + scaled.stderr
    bigger = LabConfig.load(lab.state_dir)
    assert bigger.instances == 3
    conf = nginx.conf_path(bigger).read_text()
    assert f"server 127.0.0.1:{bigger.instance_port(3)} " in conf
    client = LabClient(bigger)
    seen: set[str | None] = set()

    def all_answered() -> bool:
        seen.add(client.get("/healthz").instance)
        return len(seen) >= 3

    # Round robin reaches all three, though nginx may still hold out an instance an earlier
    # drill killed, for up to fail_timeout: ask until each has answered, not a fixed number.
    wait_for(all_answered, "each of the three instances to answer")
    assert seen == {"web-1", "web-2", "web-3"}


def test_drill_worker_timeout_shows_the_timeout_in_both_logs(lab):
    from demo_app.stack.drills import LogTail

    errors = LogTail(lab.logs / "nginx-error.log")
    drilled = cli(lab, "drill", "worker-timeout", timeout=180)
    assert drilled.returncode == 0, drilled.stdout + drilled.stderr
    answer = next(line for line in drilled.stdout.splitlines() if line.startswith("answer"))
    status = int(answer.split("->")[1].split()[0])
    assert status in (500, 502)
    assert "WORKER TIMEOUT" in drilled.stdout
    assert f"\t/calibrate/?sleep_ms=4000\t{status}\t" in drilled.stdout
    assert "restored" in drilled.stdout
    # The restarts rolled: the next instance went down only once nginx trusted the last again.
    assert [line for line in errors.new_lines() if "no live upstreams" in line] == []


def test_drill_db_down_gives_503_pages_and_a_live_healthz(lab):
    drilled = cli(lab, "drill", "db-down", timeout=180)
    assert drilled.returncode == 0, drilled.stdout + drilled.stderr
    assert "GET /readyz   -> 503" in drilled.stdout
    assert "GET /healthz  -> 200" in drilled.stdout
    # Restored: the real database answers again.
    assert LabClient(lab).get("/readyz").status == 200


def test_calibrates_probes_share_one_kept_alive_connection_as_locusts_users_do(lab):
    from demo_app.stack.calibrate import KeptAlive

    client = KeptAlive(lab)
    replies = [client.get("/calibrate/?cpu_ms=0") for _ in range(5)]
    assert [r.status for r in replies] == [200] * 5
    assert client.connections == 1  # one TLS handshake for all five
    client.close()
    assert client.get("/healthz").status == 200 and client.connections == 2


def test_calibrate_then_a_short_compare_print_a_table_and_draw_a_figure(lab):
    import sim

    refused = cli(lab, "calibrate", "--load-seconds", "3")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "--load-seconds 3 is out of range: use 0 (none) or 5-300" in refused.stderr

    calibrated = cli(lab, "calibrate", "--requests", "12", "--load-seconds", "5")
    assert calibrated.returncode == 0, calibrated.stdout + calibrated.stderr
    loaded = sim.load(str(lab.path("calibrated.toml")))
    assert loaded.instances.count == LabConfig.load(lab.state_dir).instances
    assert loaded.instances.cpu_discipline == "ps"
    assert loaded.django.cpu.kind == "empirical" and len(loaded.django.cpu.samples) >= 6
    # The CPU per page is read again under a saturating closed loop of users; what it adds
    # to Django's own time is charged after the response, and the scenario says so.
    (steady_line,) = [x for x in calibrated.stdout.splitlines() if "under a steady load" in x]
    steady = float(steady_line.split("used ")[1].split(" ms")[0])
    mean_ms = sum(loaded.django.cpu.samples) / len(loaded.django.cpu.samples) * 1000
    after_ms = loaded.django.cpu_after.mean * 1000
    assert after_ms == pytest.approx(max(0.0, steady - mean_ms), abs=0.1)  # printed to 0.1 ms
    text = lab.path("calibrated.toml").read_text()
    assert ("under a steady load of" in text) == (after_ms > 0), text[:800]
    # The machine's speed while the cost was read is kept beside the scenario.
    from demo_app.stack import speed

    reference = speed.load(speed.record_path(lab))
    assert f"reference work took {reference * 1000:.1f} ms of CPU" in calibrated.stdout

    for bad, allowed in (("--passes", "0"), "1-5 sweeps"), (("--duration", "2"), "3-600"):
        refused = cli(lab, "compare", "--quick", *bad)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert f"{' '.join(bad)} is out of range: use {allowed}" in refused.stderr
    refused = cli(lab, "compare", "--quick", "--demand", "fast")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "--demand 'fast' is unknown: use one of measured, speed, calibrated" in refused.stderr
    # --demand speed needs the calibration's reading of the machine's speed: one line without.
    record = speed.record_path(lab)
    kept = record.read_text()
    record.unlink()
    try:
        refused = cli(lab, "compare", "--quick", "--demand", "speed")
    finally:
        record.write_text(kept)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "calibration.json is missing" in refused.stderr and "calibrate" in refused.stderr

    compared = cli(lab, "compare", "--quick", "--duration", "4", timeout=600)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    # Two passes, the second in reverse order: the lab's own spread is measured.
    assert "pass 2 of 2 (reverse order)" in compared.stdout
    second = compared.stdout.split("pass 2 of 2")[1]
    assert second.index("  0.5x ") < second.index("  0.1x "), second
    table = [line.split()[0] for line in compared.stdout.splitlines() if "|" in line]
    assert {"0.1x", "0.25x", "0.5x"} <= set(table)
    with open(lab.path("compare", "compare.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [r["level"] for r in rows] == ["0.1x", "0.25x", "0.5x"]
    assert all(float(r["sim_rps"]) > 0 for r in rows)
    assert all(r["passes"] == "2" for r in rows)
    # Each level prints what a request cost the lab there beside the calibration's cost.
    assert all(r["demand"] == "measured" for r in rows)  # the default
    assert "the sim is given the cost per request each level measured" in compared.stdout
    calibrated_ms = float(rows[0]["cost_calibrated_ms"])
    assert calibrated_ms == pytest.approx((mean_ms + after_ms), abs=0.01)
    costs = [x for x in compared.stdout.splitlines() if x.strip().startswith("cost ")]
    assert len(costs) == 6, costs  # three levels, two passes
    # (printed to 0.1 ms from the unrounded cost; the csv keeps it to the microsecond)
    for line in costs:
        if "unknown: no request completed" in line:  # an invalid level (below)
            continue
        printed = re.search(r"the calibration ([\d.]+) ms \(", line)
        assert printed and float(printed[1]) == pytest.approx(calibrated_ms, abs=0.051), line
        assert line.endswith("the sim got the lab's"), line
    # ... and how fast the machine ran, against its speed at calibration.
    lines = compared.stdout.splitlines()
    speeds = [x for x in lines if x.strip().startswith("speed     the reference work took")]
    assert len(speeds) == 6 and all("at calibration" in x for x in speeds), speeds
    # ... and the run ends with how the cost followed the speed (6 readings are enough).
    assert sum("as much as the reference work (log-log slope" in x for x in lines) <= 1
    assert all(float(r["speed_ms"]) > 0 for r in rows)
    assert {r["speed_calibrated_ms"] for r in rows} == {str(round(reference * 1000, 3))}
    for row in rows:
        if row["valid"] == "1":
            lab_ms = float(row["cpu_lab"]) / float(row["measured_rps"]) * 1000
            assert float(row["cost_lab_ms"]) == pytest.approx(lab_ms, rel=0.01), row
    # A level on a busy machine may complete nothing in its short window: then it is marked
    # invalid, never compared; any other level measured what it completed. A level whose
    # other processes took the cores is not scored, and its line says so.
    from demo_app.stack.compare import OTHER_LIMIT as limit

    for row in rows:
        assert (float(row["measured_rps"]) > 0) == (row["valid"] == "1"), row
        assert (row["valid"] == "1") == (f"{row['level']:<9} invalid:" not in compared.stdout)
        not_scored = f"{row['level']:<9} not scored: other processes used"
        assert (row["verdict"] == "not scored") == (not_scored in compared.stdout), row
        if row["verdict"] == "not scored":  # cpu_other is rounded to 0.001 in the csv
            assert row["valid"] == "1" and float(row["cpu_other"]) >= limit - 0.001, row
        elif row["valid"] == "1":
            assert float(row["cpu_other"]) <= limit + 0.001, row
    assert lab.path("compare", "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_level_measured_while_another_process_burns_a_core_is_not_scored(lab, capsys):
    from demo_app.stack import compare

    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # one core, busy
    try:
        level = compare.measure_level(lab, lab.path("calibrated.toml"), 9, 0.1, 4, quick=True)
    finally:
        burner.kill()
        burner.wait()  # after the level's last CPU reading: not counted as the load generator
    assert level.measured.valid, level
    assert level.used.other > compare.OTHER_LIMIT, level.used.line()
    assert not level.scored and level.verdict == "not scored"
    compare.print_notes([level], quick=True)
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("0.1x")]
    assert f"not scored: other processes used {level.used.other:.2f} of" in line
    assert "misses" not in line and "meets" not in line


def test_down_leaves_no_process_behind(lab):
    stopped = cli(lab, "down")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert supervisor.lab_processes(lab) == []
    assert supervisor.pid(lab) is None
    cfg = LabConfig.load(lab.state_dir)
    assert all(port_is_free(port, proto) for port, proto, _ in cfg.ports())
