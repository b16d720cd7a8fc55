"""What demo_app/stack/README.md and notebooks/data/README.md quote of the lab's recorded
output is in the recordings (``notebooks/data/``), as the lab printed it."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from demo_app.stack import drills

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "notebooks" / "data"
RELEASE = re.compile(r"\d{8}-\d{6}-[0-9a-f]{7}")


def flat(text: str) -> str:
    """Text with every run of white space made one space, as a reader sees it."""
    return " ".join(text.split())


def stack_readme() -> str:
    return flat((REPO / "demo_app/stack/README.md").read_text())


def data_readme() -> str:
    return flat((DATA / "README.md").read_text())


def recorded_lines(name: str) -> set[str]:
    return {flat(line) for line in (DATA / name).read_text().splitlines()}


def rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name) as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    ("pattern", "recording"),
    [
        (r"`(cost a request took [^`]+)`", "compare-machine.txt"),
        (r"`(speed the reference work took [^`]+)`", "compare-machine.txt"),
        (
            r"`(web-\d+: ended \d+ process\(es\) left by an earlier master [^`]+)`",
            "servers-web-1.out.log",
        ),
    ],
    ids=["cost", "speed", "orphans"],
)
def test_the_output_lines_the_stack_readme_quotes_are_lines_of_a_recording(pattern, recording):
    quoted = re.findall(pattern, stack_readme())
    assert quoted, f"the README no longer quotes {pattern}"
    for line in quoted:
        assert line in recorded_lines(recording), (
            f"not a line of notebooks/data/{recording}: {line}"
        )


def test_the_not_scored_line_the_stack_readme_shows_is_compares_own():
    from demo_app.stack.compare import Level, Measured, Predicted
    from demo_app.stack.cpu import CpuShare

    busy = CpuShare(cores=2, machine=1.9, lab=1.2, load=0.5)  # others: 0.20 of 2 cores
    level = Level("1x", 1.0, 100, 1.0, 100.0, Measured(80.0, 0.1, 0.3, 2400, 0),
                  Predicted(80.0, 0.1, 0.3), busy)  # fmt: skip
    assert not level.scored
    assert f"`{level.not_scored_line()}`" in stack_readme()


def test_the_deploy_error_the_readme_shows_is_the_recorded_one_but_for_release_names():
    readme = (REPO / "demo_app/stack/README.md").read_text()
    (shown,) = [x for x in readme.splitlines() if x.startswith("error: deploy stopped at ")]
    drill = (DATA / "bad-deploy-drill.txt").read_text()
    (line,) = re.findall(r"^deploy +exit 1: (error: deploy stopped at .*)$", drill, re.M)
    assert RELEASE.sub("<release>", shown) == RELEASE.sub("<release>", line)
    # The unhealthy threshold in words: "503 ten times in a row", "after ten 503s".
    times = int(re.search(r"/readyz answered 503 (\d+) times in a row", line).group(1))
    word = {8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve"}[times]
    assert f"`/readyz` on the instance itself, every second, until 200; 503 {word} times" in (
        stack_readme()
    )
    assert f"the roll stopped at web-1 after {word} 503s from `/readyz`" in data_readme()


def test_a_worker_timeout_is_the_500_the_readme_names_for_this_gunicorn():
    import gunicorn

    version, status = re.search(
        r"With Gunicorn (\d+) the visitor gets \*\*(\d+)\*\*", stack_readme()
    ).groups()
    assert gunicorn.__version__.split(".")[0] == version
    assert f"restart one at a time with a {drills.SHORT_TIMEOUT_S} s Gunicorn timeout" in (
        stack_readme()
    )
    assert f"`/calibrate/?sleep_ms={drills.SLEEP_MS}`" in stack_readme()
    # The drill's request in the recorded session: nginx logged the 500, cut at the timeout.
    log = (DATA / "nginx-access.log").read_text().splitlines()
    (fields,) = [x.split("\t") for x in log if f"\t/calibrate/?sleep_ms={drills.SLEEP_MS}\t" in x]
    assert fields[4] == status
    assert drills.SHORT_TIMEOUT_S <= float(fields[6]) < drills.SLEEP_MS / 1000


def test_the_recorded_nginx_log_has_the_fields_the_data_readme_says():
    counts = {len(x.split("\t")) for x in (DATA / "nginx-access.log").read_text().splitlines()}
    assert counts == {13}
    assert "recorded before fields 14 and 15 were added, so 13 fields a line" in data_readme()
    for name in ("deploy-access.log", "bad-deploy-access.log", "kill-access.log"):
        assert {len(x.split("\t")) for x in (DATA / name).read_text().splitlines()} == {15}, name


def test_the_data_readmes_account_of_the_machine_and_the_sweeps_is_the_recordings():
    readme = data_readme()
    machine = (DATA / "compare-machine.txt").read_text()
    cores = {int(n) for n in re.findall(r"Z (\d+) cores, load average", machine)}
    cores |= {int(r["cores"]) for r in rows("connections.csv")}
    assert cores == {2} and "on a 2-core machine" in readme
    for name in ("compare-calibrated.csv", "compare-speed.csv", "compare.csv"):
        levels = [r["level"] for r in rows(name)]
        assert (len(levels), levels[0], levels[-1]) == (8, "0.2x", "1.3x"), name
    assert "at eight closed-loop levels (0.2x to 1.3x the calibrated capacity)" in readme


def test_the_connections_run_is_the_one_the_data_readme_describes():
    found = rows("connections.csv")
    fleets = [r["instances"] for r in found]
    (workers,) = {r["workers"] for r in found}
    (threads,) = {r["threads"] for r in found}
    (users,) = {r["users"] for r in found}
    (limit,) = {r["limit"] for r in found}
    run = (DATA / "connections-run.txt").read_text()
    conn_max_age = re.search(r"CONN_MAX_AGE (\d+) s", run).group(1)
    assert (
        f"at {', '.join(fleets[:-1])} and {fleets[-1]} instances of {workers} gthread workers"
        f" x {threads} threads, `CONN_MAX_AGE` {conn_max_age}, {users} users, the lab"
        f" database's `CONNECTION LIMIT` {limit}"
    ) in data_readme()


@pytest.mark.parametrize("name", ["deploy-drill.txt", "kill-drill.txt"])
def test_the_drills_recorded_no_failure_on_either_side(name):
    """notebooks/data/README.md: "both sides' failure counts (none)"."""
    text = (DATA / name).read_text()
    assert re.search(r"^requests +\d+, failed 0$", text, re.M), "the clients' side"
    assert re.search(r"^nginx log \d+ requests, 0 failed ", text, re.M), "nginx's side"
    assert "both sides' failure counts (none)" in data_readme()
