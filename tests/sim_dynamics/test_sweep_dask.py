"""Sweeps on dask.distributed: the same table whatever the cluster, one line for what cannot
run, and a failed task reported by its setting."""

from __future__ import annotations

import argparse
import builtins
import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim import sweep
from sim.sweep import Outcome, run_sweep, settings

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
#: Two hours of the weekday scenario, two targets, two replications: seconds with the fluid
#: engine.
ARGS = (
    "weekday",
    "--engine",
    "fluid",
    "--set",
    "run.duration=7200",
    "--vary",
    "asg.policies[0].target=40,60",
    "--replications",
    "2",
    "--no-progress",
)


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=ROOT, env=env
    )


def in_process() -> str:
    runs = settings("weekday", [("asg.policies[0].target", [40, 60])], ["run.duration=7200"])
    return sweep.to_csv(run_sweep(runs, 2, engine="fluid").rows)


def assert_one_line(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        yield c


def test_a_local_cluster_of_two_workers_gives_the_in_process_table(tmp_path):
    done = cli("sweep", *ARGS, "--processes", "2", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    table = (tmp_path / "out" / "sweep.csv").read_text()
    assert table == in_process()
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [(r["asg.policies[0].target"], r["replication"]) for r in rows] == [
        ("40", "0"), ("40", "1"), ("60", "0"), ("60", "1")]  # fmt: skip
    assert rows[0]["p95"] != rows[1]["p95"]  # a seed per replication


def test_an_existing_scheduler_gives_the_same_table(cluster):
    done = cli("sweep", *ARGS, "--scheduler", cluster.scheduler_address)
    assert done.returncode == 0, done.stderr
    assert done.stdout == in_process()


def test_the_progress_bar_counts_the_runs(cluster):
    args = [a for a in ARGS if a != "--no-progress"]
    done = cli("sweep", *args, "--scheduler", cluster.scheduler_address)
    assert done.returncode == 0, done.stderr
    assert "4/4" in done.stderr


def test_an_unreachable_scheduler_is_one_line_and_nothing_is_written(tmp_path):
    out = tmp_path / "out"
    done = cli("sweep", *ARGS, "--scheduler", "tcp://127.0.0.1:9", "--out", str(out))
    assert_one_line(done, '--scheduler = "tcp://127.0.0.1:9"', "cannot be reached")
    assert not out.exists() and not done.stdout


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (("--engine", "warp"), ('--engine = "warp"', '"des", "fluid"')),
        (("--processes", "0"), ("--processes = 0", "[1, 256]")),
        (("--processes", "2", "--scheduler", "tcp://127.0.0.1:9"), ("--processes = 2",)),
        (("--replications", "0"), ("--replications = 0",)),
    ],
)
def test_bad_flags_are_refused_in_one_line_before_anything_runs(tmp_path, extra, words):
    out = tmp_path / "out"
    args = [a for a in ARGS]
    done = cli("sweep", *args, *extra, "--out", str(out))
    assert_one_line(done, *words)
    assert not out.exists()


def test_a_fluid_sweep_of_a_bad_deploy_is_refused_before_it_runs():
    done = cli("sweep", "instance_failure", "--engine", "fluid", "--set",
               'failures[0].kind="bad_deploy"', "--vary", "asg.min=1,2")  # fmt: skip
    assert_one_line(done, "bad_deploy", "--engine des")


def test_a_task_failing_twice_is_reported_with_its_setting(cluster):
    # The fluid engine cannot run a bad deploy: that setting's runs fail on the workers, are
    # retried once, and are reported; the other setting's rows come back.
    runs = settings("instance_failure", [("failures[0].kind", ["crash", "bad_deploy"])],
                    ["run.duration=330"])  # fmt: skip
    with distributed.Client(cluster.scheduler_address) as client:
        outcome = run_sweep(runs, 1, engine="fluid", client=client)
    assert [(r["setting"], r["replication"]) for r in outcome.rows] == [(0, 0)]
    assert [(i, r) for i, r, _ in outcome.failed] == [(1, 0)]
    assert "bad_deploy" in outcome.failed[0][2]


def test_the_command_line_reports_failures_and_keeps_the_other_rows(tmp_path, monkeypatch, capsys):
    class Cluster:
        def close(self) -> None:
            pass

    class Client:
        cluster = Cluster()

        def close(self) -> None:
            pass

    def fake(runs, replications, seed, engine, client, progress):
        row = {"setting": 0, **runs[0][0], "replication": 0, "seed": 1, "requests": 10,
               "ok": 10, "error_rate": 0.0, "p50": 0.1, "p95": 0.2, "p99": 0.3,
               "errors_500": 0, "errors_502": 0, "errors_503": 0, "errors_504": 0,
               "instance_hours": 1.0, "max_in_service": 2}  # fmt: skip
        return Outcome([row], [(1, 0, "RuntimeError: boom")])

    monkeypatch.setattr(sweep, "_client", lambda processes, scheduler: Client())
    monkeypatch.setattr(sweep, "run_sweep", fake)
    args = argparse.Namespace(
        scenario="instance_failure", seed=None, set=[], vary=["asg.min=1,2"], replications=1,
        processes=2, scheduler=None, out=tmp_path / "out", no_progress=True, engine="des",
        allow_large=False,
    )  # fmt: skip
    assert sweep.main(args) == 1
    err = capsys.readouterr().err
    failed = [line for line in err.splitlines() if line.startswith("error: ")]
    assert failed == ["error: setting 1 (asg.min=2) replication 0 failed twice: RuntimeError: boom"]
    rows = list(csv.DictReader((tmp_path / "out" / "sweep.csv").open()))
    assert [r["asg.min"] for r in rows] == ["1"]


def test_without_dask_the_sweep_says_how_to_install_it(monkeypatch):
    real = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name.startswith("dask"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(sweep.ConfigError) as info:
        sweep._client(2, None)
    assert sweep.INSTALL in str(info.value) and "\n" not in str(info.value)
