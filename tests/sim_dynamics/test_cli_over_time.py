"""The command line for runs over time and sweeps: outputs, and bad input refused in one line."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=cwd, env=env
    )


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_min_greater_than_max_is_refused():
    assert_refused(cli("run", "instance_failure", "--set", "asg.min=5"), "asg.min = 5", "max (4)")


def test_a_failure_after_the_end_is_refused():
    result = cli("run", "instance_failure", "--set", "run.duration=200")
    assert_refused(result, "failures[0].at = 300.0", "run.duration (200")


def test_zero_evaluation_periods_is_refused(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text(
        '[asg]\nenabled = true\n[[asg.policies]]\nkind = "simple"\nevaluation_periods = 0\n'
    )
    assert_refused(cli("run", str(f)), "asg.policies[0].evaluation_periods = 0", "in [1, 1,000]")


def test_a_negative_rate_in_a_series_is_refused_and_nothing_is_written(tmp_path):
    (tmp_path / "rates.csv").write_text("t,rate\n0,5\n60,-2\n")
    f = tmp_path / "bad.toml"
    f.write_text('[traffic]\nenabled = true\nprofile = "series"\nseries = "rates.csv"\n')
    out = tmp_path / "out"
    result = cli("run", str(f), "--out", str(out), cwd=tmp_path)
    assert_refused(result, "traffic.series", "rate -2 at t=60", "[0, 100,000] requests/s")
    assert not out.exists()


def test_a_series_next_to_the_scenario_file_is_found_from_anywhere(tmp_path):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "rates.csv").write_text("t,rate\n0,2\n30,4\n")
    (folder / "mine.toml").write_text(
        "[run]\nduration = 60.0\nwarmup = 10.0\n"
        '[traffic]\nenabled = true\nprofile = "series"\nseries = "rates.csv"\n'
    )
    # Run from the repository: the CSV is beside the TOML, not in the working directory.
    result = cli("run", str(folder / "mine.toml"))
    assert result.returncode == 0, result.stderr
    assert "scenario mine:" in result.stdout
    sweep = cli("sweep", str(folder / "mine.toml"), "--vary", "gunicorn.workers=2,3",
                "--processes", "2", "--no-progress")  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr
    assert len(sweep.stdout.splitlines()) == 3


def test_a_bad_vary_is_refused():
    assert_refused(cli("sweep", "instance_failure", "--vary", "asg.min"), "--vary", "key.path=")
    assert_refused(
        cli("sweep", "instance_failure", "--vary", "asg.min=1,9"), "asg.min = 9", "max (4)"
    )


def test_trace_runs_over_time_and_finds_the_crash():
    # The crash at 300 s exists only in the run over time (traffic, health checks, the group).
    result = cli("trace", "instance_failure", "--pick", "error", "--set", "run.duration=330")
    assert result.returncode == 0, result.stderr
    assert "HTTP 502" in result.stdout and "the instance stopped" in result.stdout
    assert "at t = 299." in result.stdout


def test_a_vary_of_an_array_entry_is_checked_like_a_set():
    result = cli("sweep", "weekday", "--vary", "asg.policies[0].targt=40,60")
    assert_refused(result, "asg.policies[0].targt = 40", "unknown key; allowed keys: kind, metric")
    result = cli("sweep", "instance_failure", "--vary", "failures[1].at=100,200")
    assert_refused(result, "failures[1].at = 100", "no such entry; failures has only failures[0]")


@pytest.mark.slow
def test_run_writes_the_time_series_and_the_dashboard(tmp_path):
    out = tmp_path / "out"
    result = cli("run", "instance_failure", "--set", "run.duration=400", "--out", str(out),
                 "--figures")  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((out / "timeseries.csv").open()))
    assert sum(int(r["errors_503"]) for r in rows) > 0  # min 1: the crash leaves no target
    assert (out / "dashboard.png").read_bytes()[:4] == b"\x89PNG"
    log = (out / "activities.csv").read_text()
    assert "crash" in log and "failed health checks" in log


@pytest.mark.slow
def test_sweep_writes_one_row_per_setting_and_replication_and_a_tradeoff_figure(tmp_path):
    out = tmp_path / "sweep"
    result = cli("sweep", "instance_failure", "--set", "run.duration=330",
                 "--vary", "asg.min=1,2", "--vary", "gunicorn.workers=3,5",
                 "--replications", "2", "--processes", "2", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert len(rows) == 2 * 2 * 2
    assert {(r["asg.min"], r["gunicorn.workers"]) for r in rows} == {
        ("1", "3"),
        ("1", "5"),
        ("2", "3"),
        ("2", "5"),
    }
    for key in ("p50", "p95", "p99", "error_rate", "instance_hours"):
        assert all(r[key] != "" for r in rows)
    assert (out / "tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    assert "run" in result.stderr  # tqdm's progress bar


HC = "(seconds, the load balancer's range)"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "health_check.interval=1",
            f"health_check.interval = 1.0: must be a number in [5, 300] {HC}",
        ),
        (
            "health_check.interval=301",
            "health_check.interval = 301.0: must be a number in [5, 300]",
        ),
        ("health_check.timeout=1", f"health_check.timeout = 1.0: must be a number in [2, 60] {HC}"),
        ("health_check.timeout=61", "health_check.timeout = 61.0: must be a number in [2, 60]"),
        (
            "health_check.healthy_threshold=1",
            "healthy_threshold = 1: must be an integer in [2, 10]",
        ),
        ("health_check.unhealthy_threshold=11", "unhealthy_threshold = 11: must be an integer in"),
        (
            "health_check.deregistration_delay=0",
            "deregistration_delay = 0.0: must be a number in [1,",
        ),
        ("health_check.deregistration_delay=3601", "deregistration_delay = 3601.0: must be a num"),
        (
            "asg.policies[0].target=120",
            "asg.policies[0].target = 120.0: must be a number in [0, 100]",
        ),
        (
            "asg.policies[0].threshold=-5",
            "asg.policies[0].threshold = -5.0: must be a number in [0,",
        ),
        (
            "asg.policies[0].cooldown=-1",
            "cooldown = -1.0: must be a number of seconds >= 0 (leave it",
        ),
        ("asg.warmup=-1", "asg.warmup = -1.0: must be a number of seconds >= 0 (leave it out"),
        ("asg.desired=-1", "asg.desired = -1: must be an integer between min (2) and max (8)"),
    ],
)
def test_health_checks_and_policies_outside_their_ranges_are_refused(override, message, capsys):
    from sim.cli import main

    assert main(["run", "weekday", "--set", override]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_a_cooldown_left_out_is_the_groups_default():
    from sim import loader

    s = loader.load("flash_crowd")
    assert s.asg.policies[1].cooldown is None and s.asg.warmup == 120.0
    assert s.asg.desired is None and s.asg.initial == s.asg.min
