"""Chapters 10 (servers and DevOps) and 12 (deployment): their self-checks with right, near-miss
and wrong answers; every fact their text states about a recording or a run, checked against
the recording or the run; their control; and that they know this checkout's lab by its id.

The self-check tests feed made-up numbers, so a verdict that ignored them would fail. The
recording tests read `notebooks/data/` as the chapters do, but with their own code (or the
lab's, `demo_app/stack/accesslog.py`), so a chapter that misread a file disagrees with them.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
REPO = NOTEBOOKS.parent
DATA = NOTEBOOKS / "data"
sys.path.insert(0, str(NOTEBOOKS))
import course  # noqa: E402
import explore  # noqa: E402

from demo_app.stack import accesslog, nginx, supervisor  # noqa: E402
from demo_app.stack.config import LabConfig  # noqa: E402


def test_every_self_check_of_chapters_10_and_12_has_its_tests():
    checks = [n for n, _ in inspect.getmembers(course, inspect.isfunction)
              if re.match(r"ch1[02]_", n)]  # fmt: skip
    assert {n[:4] for n in checks} == {"ch10", "ch12"}
    source = Path(__file__).read_text()
    untested = [n for n in checks if f"course.{n}(" not in source]
    assert untested == [], f"self-checks without tests: {untested}"


# --- chapter 10: the self-checks ------------------------------------------------------------

KILL = dict(exited=100.0, spawned=100.05, running=102.1, startsecs=2.0)


def test_ch10_back_after_kill_right_near_miss_and_wrong():
    right = course.ch10_back_after_kill(2, **KILL)
    assert right.correct is True and "2.10 s" in right.message and "50 ms" in right.message
    assert course.ch10_back_after_kill(2.5, **KILL).correct is True
    instant = course.ch10_back_after_kill(0, **KILL)  # startsecs left out
    assert instant.correct is False and "the wait is after it" in instant.message
    near = course.ch10_back_after_kill(2.7, **KILL)  # just past a quarter of startsecs
    assert near.correct is False and "Nothing is waited before the spawn" in near.message
    stopwait = course.ch10_back_after_kill(10, **KILL)
    assert stopwait.correct is False and "startsecs (2 s)" in stopwait.message
    assert "not a number" in course.ch10_back_after_kill("soon", **KILL).message
    assert course.ch10_back_after_kill(None, **KILL).correct is None


CUT = dict(started=0.0, term=2.26, killed=12.26, ended=12.25, request_s=15.0,
           graceful_timeout=30.0)  # fmt: skip


def test_ch10_cut_request_right_near_miss_and_wrong():
    right = course.ch10_cut_request(12, **CUT)
    assert right.correct is True and "12.2 s" in right.message and "2.8 s before" in right.message
    finished = course.ch10_cut_request(15, **CUT)
    assert finished.correct is False and "the request finishing" in finished.message
    graceful = course.ch10_cut_request(32, **CUT)
    assert graceful.correct is False and "graceful timeout after the TERM" in graceful.message
    no_lead = course.ch10_cut_request(10, **CUT)
    assert no_lead.correct is False
    assert "leaves out: the request's time before the restart's TERM" in no_lead.message
    no_stopwait = course.ch10_cut_request(2, **CUT)
    assert no_stopwait.correct is False and "leaves out: supervisord's stopwaitsecs" in (
        no_stopwait.message
    )
    assert course.ch10_cut_request(14, **CUT).correct is False  # 1.75 s off: over 0.45 x 2.26


RECAP = {"the prepare play, run_once": 4, "the roll play, web-1's batch": 18,
         "the record play, run_once": 3}  # fmt: skip


def test_ch10_recap_ok_right_near_miss_and_wrong():
    right = course.ch10_recap_ok(25, host="web-1", steps=RECAP)
    assert right.correct is True and "ok=25: 4 (the prepare play" in right.message
    near = course.ch10_recap_ok(24, host="web-1", steps=RECAP)
    assert near.correct is False and "a count is exact: it is 25" in near.message
    roll_only = course.ch10_recap_ok(18, host="web-1", steps=RECAP)
    assert roll_only.correct is False
    assert "the prepare play, run_once (4 tasks); the record play, run_once (3 tasks)" in (
        roll_only.message
    )
    no_record = course.ch10_recap_ok(22, host="web-1", steps=RECAP)
    assert no_record.correct is False and "leaves out: the record play, run_once (3" in (
        no_record.message
    )
    wrong = course.ch10_recap_ok(50, host="web-1", steps=RECAP)
    assert wrong.correct is False and "more than all the steps" in wrong.message


# --- chapter 12: the self-checks ------------------------------------------------------------

HURRIED = dict(failed=8, rate=5.0, seconds=3.0, delay=1.0)


def test_ch12_no_drain_right_near_miss_and_wrong():
    assert course.ch12_no_drain(10, **HURRIED).correct is True  # Little's law's estimate
    right = course.ch12_no_drain(8, **HURRIED)
    assert right.correct is True and "5 x 2 = 10" in right.message
    everything = course.ch12_no_drain(15, **HURRIED)
    assert everything.correct is False and "every request it held" in everything.message
    none = course.ch12_no_drain(0, **HURRIED)
    assert none.correct is False and "not until the requests are done" in none.message
    near = course.ch12_no_drain(5, **HURRIED)  # the ones the delay lets finish
    assert near.correct is False and "Little's law" in near.message
    assert "not a number" in course.ch12_no_drain("many", **HURRIED).message


def test_ch12_web2_after_bad_right_near_miss_and_wrong():
    names = dict(old="20260102-100000-abc1234", bad="20260102-101500-abc1234-nostatic")
    stopped = dict(web2=names["old"], **names)
    assert course.ch12_web2_after_bad(" Old", **stopped).correct is True
    assert course.ch12_web2_after_bad(names["old"], **stopped).correct is True
    near = course.ch12_web2_after_bad("new", **stopped)
    assert near.correct is False and "bad, old" in near.message
    wrong = course.ch12_web2_after_bad("bad", **stopped)
    assert wrong.correct is False and "did web-2's turn ever come" in wrong.message
    went_on = dict(web2=names["bad"], **names)
    assert course.ch12_web2_after_bad(names["bad"], **went_on).correct is True
    assert course.ch12_web2_after_bad("old", **went_on).correct is False


def test_ch12_migration_right_near_miss_and_wrong():
    overlap = dict(old_requests=27, overlap_s=8.6)
    right = course.ch12_migration("breaks", operation="rename a column", **overlap)
    assert right.correct is True and "27 requests in the 9 s" in right.message
    near = course.ch12_migration("break", operation="rename a column", **overlap)
    assert near.correct is False and "breaks, works" in near.message
    wrong = course.ch12_migration("works", operation="rename a column", **overlap)
    assert wrong.correct is False and "whole roll" in wrong.message
    nullable = course.ch12_migration("works", operation="add a nullable column", **overlap)
    assert nullable.correct is True and "each of them worked" in nullable.message
    scared = course.ch12_migration("breaks", operation="add a nullable column", **overlap)
    assert scared.correct is False and "never names the new column" in scared.message


# --- chapter 10: what the recordings say ----------------------------------------------------


def events():
    """supervisord's log as (unix time, message): its clock was UTC (data/README.md)."""
    found = []
    for line in (DATA / "supervisord.log").read_text().splitlines():
        day, clock, _level, message = line.split(" ", 3)
        when = datetime.strptime(f"{day} {clock}", "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)
        found.append((when.timestamp(), message))
    return found


def at(pattern: str, after: float = 0.0) -> float:
    return next(t for t, m in events() if t > after and re.search(pattern, m))


def lab_program() -> dict[str, str]:
    section = supervisor.instance_program(LabConfig(state_dir=REPO / "var/lab"), "web-1")
    return dict(line.split("=", 1) for line in section.splitlines()[1:] if "=" in line)


def test_the_recorded_servers_are_two_instances_of_a_master_and_two_workers():
    status = (DATA / "servers-status.txt").read_text()
    assert re.findall(r"^(web-\d)\s+RUNNING", status, re.M) == ["web-1", "web-2"]
    rows = [line.split(None, 2) for line in (DATA / "servers-processes.txt").read_text()
            .splitlines()[1:]]  # fmt: skip
    gunicorn = {pid: ppid for pid, ppid, args in rows if "gunicorn" in args}
    masters = [pid for pid, ppid in gunicorn.items() if ppid not in gunicorn]
    assert len(masters) == 2
    for master in masters:
        assert sorted(ppid for ppid in gunicorn.values() if ppid == master) == [master] * 2
    assert json.loads((DATA / "servers-inventory.json").read_text())["instances"]["hosts"] == [
        "web-1", "web-2"
    ]  # fmt: skip


def test_the_kill_is_restarted_at_once_and_running_after_startsecs():
    exited = at(r"exited: web-1 \(terminated by SIGKILL; not expected\)")
    spawned = at(r"spawned: 'web-1'", exited)
    running = at(r"success: web-1 entered RUNNING", spawned)
    startsecs = float(lab_program()["startsecs"])
    assert lab_program()["autorestart"] == "true"
    assert spawned - exited < 0.5  # at once: no back-off for a process that was RUNNING
    assert startsecs <= running - spawned < startsecs + 0.5
    # "the drill waits for more": a new master that answers /healthz comes after RUNNING
    drill = (DATA / "kill-drill.txt").read_text()
    assert float(re.search(r"healthy after ([\d.]+) s", drill).group(1)) > running - exited


def test_the_kill_drill_failed_nobody_because_nginx_retried_and_then_left_web1_alone():
    lines = (DATA / "kill-access.log").read_text().splitlines()
    counts = accesslog.count(lines)
    assert sum(counts[k] for k in accesslog.ERRORS) == 0 and counts["retried"] >= 1
    port = json.loads((DATA / "servers-inventory.json").read_text())["_meta"]["hostvars"]
    web1 = f"127.0.0.1:{port['web-1']['instance_port']}"
    fields = [line.split("\t") for line in lines]
    retried = [f for f in fields if ", " in f[7]]
    assert all(f[7].startswith(web1 + ", ") and f[10] == "web-2" for f in retried)
    exited = at(r"exited: web-1 .*SIGKILL")
    answers = [float(f[12]) for f in fields if f[10] == "web-1"]
    # "Right after the kill web-1 still answered": its workers outlive the master a moment.
    assert any(t > exited for t in answers)
    # "nginx stopped trying web-1 for a while": nothing went to it after the retries, until
    # the end of the log, which comes after supervisord had it RUNNING again.
    last_retry = max(float(f[12]) for f in retried)
    assert not [f for f in fields if float(f[12]) > last_retry and web1 in f[7]]
    assert at(r"success: web-1 entered RUNNING", exited) < max(float(f[12]) for f in fields)
    assert len(retried) == nginx.MAX_FAILS  # then it leaves web-1 alone for fail_timeout
    assert f"nginx log {accesslog.summary(counts)}" in (DATA / "kill-drill.txt").read_text()


def test_the_slow_request_was_cut_by_stopwaitsecs_not_by_gunicorns_graceful_timeout():
    from gunicorn.config import GracefulTimeout

    text = (DATA / "stop-drill.txt").read_text()
    day = datetime.fromtimestamp(events()[0][0], UTC).date()

    def clock(name):
        hms = re.search(rf"^{name}\s+(\S+)", text, re.M).group(1)
        return datetime.combine(day, datetime.strptime(hms, "%H:%M:%S.%f").time(), UTC).timestamp()

    started, asked, ended = clock("start"), clock("restart"), clock("end")
    assert "sleep_ms=15000" in text and "status 000" in text  # "needs 15 s"; no answer
    assert 1.9 <= asked - started <= 3.0  # "2 s into it"
    term = at(r"waiting for web-1 to stop", asked)
    killed = at(r"killing 'web-1' .* SIGKILL", term)
    stopwaitsecs = float(lab_program()["stopwaitsecs"])
    assert abs((killed - term) - stopwaitsecs) < 0.2
    assert abs(ended - killed) < 0.5 and ended - started < 15  # cut by the SIGKILL
    assert GracefulTimeout.default > stopwaitsecs
    assert "graceful_timeout" not in (REPO / "demo_app/gunicorn.conf.py").read_text()


def plays_of(text: str) -> list[tuple[str, dict[str, int]]]:
    """(play header, host -> tasks ok or changed) of a streamed Ansible run."""
    plays: list[tuple[str, dict[str, int]]] = []
    for line in text.splitlines():
        if line.startswith("PLAY RECAP"):
            break
        if line.startswith("PLAY ["):
            plays.append((line, {}))
        elif found := re.match(r"(ok|changed): \[(web-\d+)\]", line):
            host = found.group(2)
            plays[-1][1][host] = plays[-1][1].get(host, 0) + 1
    return plays


def test_serial_1_runs_the_roll_once_per_instance_in_order_and_the_recap_adds_up():
    text = (DATA / "deploy-drill.txt").read_text()
    plays = plays_of(text)
    rolls = [ran for header, ran in plays if header.startswith("PLAY [Roll")]
    assert [list(ran) for ran in rolls] == [["web-1"], ["web-2"]]
    recap = {h: int(n) for h, n in re.findall(r"^(web-\d+)\s+: ok=(\d+)", text, re.M)}
    counted: dict[str, int] = {}
    for _, ran in plays:
        for host, n in ran.items():
            counted[host] = counted.get(host, 0) + n
    assert counted == recap
    once = [p for p in yaml.safe_load((REPO / "demo_app/stack/deploy/deploy.yml").read_text())
            if p.get("run_once")]  # fmt: skip
    assert recap["web-1"] - recap["web-2"] == sum(len(p["tasks"]) for p in once)


# --- chapter 12: what the recordings and the model say -----------------------------------------


def test_the_deploy_timeline_is_old_then_both_then_new_as_the_drill_printed():
    text = (DATA / "deploy-drill.txt").read_text()
    old = re.search(r"^\s+old = (\S+)$", text, re.M).group(1)
    new = re.search(r"^\s+new = (\S+)$", text, re.M).group(1)
    lines = (DATA / "deploy-access.log").read_text().splitlines()
    windows = accesslog.releases_over_time(lines, 5.0)
    printed = re.findall(r"^\s+\d+-\d+ s  (.*)$", text, re.M)
    assert [
        ", ".join(f"{'old' if r == old else 'new'} {c[r]}" for r in (old, new) if c[r])
        for _, c in windows
    ] == printed
    shape = ["".join(k for k, r in (("o", old), ("n", new)) if c[r]) for _, c in windows]
    squeezed = [s for i, s in enumerate(shape) if i == 0 or s != shape[i - 1]]
    assert squeezed == ["o", "on", "n"]
    assert sum(accesslog.count(lines)[k] for k in accesslog.ERRORS) == 0
    assert re.findall(r"(web-\d) drained: 0 request\(s\) in flight", text) == ["web-1", "web-2"]


def test_the_bad_release_never_answered_and_web2_stayed_on_the_old_one():
    text = (DATA / "bad-deploy-drill.txt").read_text()
    old = re.search(r"^\s+old = (\S+)$", text, re.M).group(1)
    bad = re.search(r"^\s+bad = (\S+)$", text, re.M).group(1)
    lines = (DATA / "bad-deploy-access.log").read_text().splitlines()
    releases = {line.split("\t")[14] for line in lines}
    assert releases == {old} and bad not in releases
    assert sum(accesslog.count(lines)[k] for k in accesslog.ERRORS) == 0
    assert re.search(r"^instance\s+web-2 runs (\S+),", text, re.M).group(1) == old
    assert len(re.findall(r"^PLAY \[Roll", text, re.M)) == 1  # stopped at the first instance
    checks = yaml.safe_load((REPO / "demo_app/stack/deploy/group_vars/all.yml").read_text())
    retries = len(re.findall(r"FAILED - RETRYING: \[web-1\]: Wait for /readyz", text))
    assert retries + 1 == checks["ready_unhealthy_checks"]


def test_the_deregistration_delay_the_chapter_names_is_the_default_and_1_s_the_minimum():
    from sim.config import ConfigError, HealthCheckConfig

    assert HealthCheckConfig().deregistration_delay == 300.0
    assert HealthCheckConfig(deregistration_delay=1.0).deregistration_delay == 1.0
    with pytest.raises(ConfigError):
        HealthCheckConfig(deregistration_delay=0.5)


def test_an_instance_that_leaves_drained_cuts_nothing_and_one_that_does_not_cuts_requests():
    step = explore.LEAVE_STEP
    drained = explore.leaving(300.0, step["seconds"])
    assert drained.failed == 0
    # "it stops as soon as its last request is done": within the drain's 1 s polling
    assert drained.stopped_at - drained.left_at <= step["seconds"] + 1.0
    hurried = explore.leaving(1.0, step["seconds"])
    assert hurried.stopped_at - hurried.left_at == pytest.approx(1.0)
    cut = sum(1 for *_, ok in hurried.requests if not ok)
    assert hurried.failed == cut > 0  # the run's failures are the leaving instance's cut ones
    rate = step["rate"] / step["instances"]
    check = dict(failed=hurried.failed, rate=rate, seconds=step["seconds"], delay=1.0)
    # The exercise stays answerable: Little's law passes, its usual slips do not.
    assert course.ch12_no_drain(round(rate * (step["seconds"] - 1.0)), **check).correct is True
    assert course.ch12_no_drain(round(rate * step["seconds"]), **check).correct is False
    assert course.ch12_no_drain(0, **check).correct is False


def test_a_bad_release_behind_a_process_health_check_answers_500s_until_the_rollback():
    gate = explore.bad_release()
    counts = gate["status_counts"]
    assert counts["500"] > 0 and counts["502"] == counts["503"] == 0  # never pulled out
    assert [(t, kind) for t, kind, _ in gate["log"]] == [(30.0, "bad_deploy"), (90.0, "rollback")]


def test_the_drain_control_runs_once_per_setting_and_shows_a_figure():
    explore.leaving.clear()
    try:
        view = explore.drain()
        assert explore.leaving.known(1.0, 3.0)
        assert "request(s) failed" in view.text
        assert explore.render(view.figure)[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        explore.leaving.clear()


# --- the lab, known by its id -----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["10_servers_devops.ipynb", "12_deployment.ipynb"])
def test_a_server_on_the_labs_port_is_not_taken_for_the_lab(name, tmp_path, monkeypatch):
    from test_chapter_lab_identity import _kernel_or_skip, plan, run_chapter, server_on

    _kernel_or_skip()
    cfg = plan(tmp_path / "lab")
    monkeypatch.setenv("LAB_STATE_DIR", str(cfg.state_dir))  # the kernel inherits it
    with server_on(cfg.https_port), server_on(cfg.dns_port):
        said = run_chapter(name)
    assert "No lab (" in said, said
    assert "did not answer properly" not in said
