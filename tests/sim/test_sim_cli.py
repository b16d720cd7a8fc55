"""The command line: every bad input is one line, exit status 2, nothing written."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from sim.cli import main
from sim.results import files as results_files

BAD_TOML = "[gunicorn\nworkers = 5\n"


@pytest.fixture
def files(tmp_path):
    def write(name: str, text: str):
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


@pytest.mark.parametrize(
    ("args", "key", "allowed"),
    [
        (["run", "no_such_scenario"], "scenario", "no such file"),
        (["run", "baseline", "--set", "gunicorn.workerz=3"], "gunicorn.workerz", "unknown key"),
        (["run", "baseline", "--set", 'gunicorn.workers="five"'], "gunicorn.workers", "integer"),
        (["run", "baseline", "--set", "gunicorn.workers=0"], "gunicorn.workers", "[1, 1,000]"),
        (["run", "baseline", "--set", "instances.count=-2"], "instances.count", "[1, 1,000]"),
        (["run", "baseline", "--set", "dns.packet_loss=1.5"], "dns.packet_loss", "[0, 1]"),
        (["run", "baseline", "--set", "gunicorn.worker_class=uvicorn"], "worker_class", "sync"),
        (["run", "baseline", "--set", "gunicorn.worker_class=gevent"], "worker_class", "gevent"),
        (["run", "mm_c", "--set", "arrivals.rate=6"], "arrivals.rate", "rho"),
        (["run", "baseline", "--set", "dns.address=12.34.56.789"], "dns.address", "789 > 255"),
        (["run", "baseline", "--set", "django.cpu.mean=-1"], "django.cpu", "(0, 2,592,000]"),
        (["run", "baseline", "--warmup", "-5"], "run.warmup", "[0, 2,592,000]"),
        (["run", "baseline", "--warmup", "9999"], "run.warmup", "< run.duration"),
        (["run", "baseline", "--replications", "0"], "--replications", "[1, 1,000]"),
        (["run", "baseline", "--seed", "-1"], "--seed", "integer in [0, "),
        (["run", "baseline", "--set", "nonsense"], "--set", "key.path=value"),
        (["trace", "baseline", "--set", "postgres.max_connections=0"], "max_connections", "[1, "),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, key, allowed, tmp_path, capsys):
    out = tmp_path / "out"
    extra = ["--out", str(out)] if args[0] == "run" else []
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert key in err and allowed in err, err
    assert not out.exists()


def test_malformed_toml_names_the_file_and_the_line(files, tmp_path, capsys):
    path = files("broken.toml", BAD_TOML)
    assert main(["run", path, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: scenario = ") and "not valid TOML" in err and "line 1" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_wrong_type_in_a_file(files, capsys):
    path = files("typed.toml", '[instances]\nvcpus = "two"\n')
    assert main(["run", path]) == 2
    assert capsys.readouterr().err == 'error: instances.vcpus = "two": must be an integer\n'


def test_usage_errors_are_one_line_too(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["run", "baseline", "--replications", "many"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "many" in err


@pytest.mark.parametrize(
    "args",
    [
        ["run", "baseline", "--set", "dns.address=12.34.56.789"],
        ["run", "mm_c", "--set", "arrivals.rate=5"],
        ["run", "/no/such/file.toml"],
    ],
)
def test_through_a_real_process_there_is_no_traceback(args):
    done = subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_threads_with_sync_switch_to_gthread_and_say_so(capsys):
    args = ["run", "baseline", "--set", "gunicorn.threads=2", "--set", "run.duration=30"]
    assert main([*args, "--set", "run.warmup=5"]) == 0
    err = capsys.readouterr().err
    assert 'note: gunicorn.threads = 2 with worker_class "sync"' in err and "gthread" in err


@pytest.mark.parametrize("command", [[], ["run"], ["trace"], ["list"]])
def test_help_everywhere(command, capsys):
    with pytest.raises(SystemExit) as caught:
        main([*command, "--help"])
    assert caught.value.code == 0
    assert "usage: python -m sim" in capsys.readouterr().out


def test_run_writes_summary_records_and_figures(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["run", "baseline", "--set", "run.duration=120", "--set", "run.warmup=20"]
    assert main([*args, "--out", str(out), "--figures"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "latency.png",
        "layers.png",
        "records.csv",
        "summary.json",
        "summary.txt",
        "waterfall.png",
    ]
    assert (out / "latency.png").read_bytes().startswith(b"\x89PNG")
    text = capsys.readouterr().out
    assert text == (out / "summary.txt").read_text()
    header = (out / "records.csv").read_text().splitlines()[0]
    assert header == "request,layer,arrival,start,end,wait,service,instance,worker,outcome,status"


def test_same_scenario_and_seed_give_byte_identical_json(tmp_path, capsys):
    args = ["run", "cpu_bound", "--seed", "5", "--replications", "2", "--json"]
    args += ["--set", "run.duration=50", "--set", "run.warmup=10"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    first = capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    second = capsys.readouterr().out
    assert first == second
    assert (tmp_path / "a" / "summary.json").read_bytes() == (
        tmp_path / "b" / "summary.json"
    ).read_bytes()
    assert (tmp_path / "a" / "records.csv").read_bytes() == (
        tmp_path / "b" / "records.csv"
    ).read_bytes()
    # A different seed is a different run.
    assert main([*args[:3], "6", *args[4:]]) == 0
    assert capsys.readouterr().out != first


def test_replications_give_a_confidence_interval(capsys):
    args = ["run", "baseline", "--set", "run.duration=60", "--set", "run.warmup=10"]
    assert main([*args, "--replications", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["replications"] == 3 and len(doc["runs"]) == 3
    entry = doc["across_replications"]["latency.end_to_end.mean"]
    low, high = entry["ci95"]
    assert low < entry["mean"] < high
    runs = [r["latency"]["end_to_end"]["mean"] for r in doc["runs"]]
    assert entry["mean"] == pytest.approx(sum(runs) / 3, abs=1e-6)


def test_trace_narrates_one_request_hop_by_hop(capsys):
    assert main(["trace", "baseline", "--set", "run.duration=60", "--set", "run.warmup=10"]) == 0
    text = capsys.readouterr().out
    assert "What happens when you type quorum.us" in text
    for layer in ("dns", "connect", "lb", "queue", "app", "db", "download"):
        assert f" {layer} " in text
    assert "total" in text


def test_trace_of_an_error(capsys):
    args = ["trace", "db_bound", "--pick", "error", "--set", "run.duration=40"]
    assert main([*args, "--set", "run.warmup=5"]) == 0
    text = capsys.readouterr().out
    assert "HTTP 500" in text and "too many clients" in text


def test_list_shows_the_shipped_scenarios(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert {"baseline", "mm_c", "cpu_bound", "db_bound"} <= set(names)
    # descriptions start in one column, however long the names
    pairs = zip(lines, names, strict=True)
    starts = {len(line) - len(line[len(name) :].lstrip()) for line, name in pairs}
    assert len(starts) == 1


def test_a_setting_in_a_section_that_is_off_gets_one_note(capsys):
    args = ["run", "baseline", "--set", "asg.max=6", "--set", "run.duration=30"]
    assert main([*args, "--set", "run.warmup=5"]) == 0
    err = capsys.readouterr().err
    assert err == "note: asg.max changes nothing: [asg] is off (set asg.enabled = true to use it)\n"


def test_a_sweep_says_it_once_for_all_its_settings(capsys):
    args = ["sweep", "baseline", "--vary", "asg.max=2,4,6", "--replications", "2"]
    args += ["--set", "run.duration=20", "--set", "run.warmup=2", "--processes", "1"]
    assert main([*args, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert err == "note: asg.max changes nothing: [asg] is off (set asg.enabled = true to use it)\n"


SHORT = ["--set", "run.duration=20", "--set", "run.warmup=2"]


@pytest.mark.parametrize(
    ("command", "where", "allowed"),
    [
        (["run", "baseline"], "x", "is a file; allowed: a folder"),
        (["run", "baseline"], "x/sub", "cannot be made: "),
        (["sweep", "baseline", "--vary", "gunicorn.workers=3", "--no-progress"], "x", "is a file"),
    ],
)
def test_an_out_that_cannot_be_a_folder_is_refused_before_the_run(
    command, where, allowed, tmp_path, capsys
):
    (tmp_path / "x").write_text("keep me\n")
    assert main([*command, *SHORT, "--out", str(tmp_path / where)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # nothing ran
    assert err.count("\n") == 1 and err.startswith(f'error: --out = "{tmp_path / where}": ')
    assert allowed in err
    assert (tmp_path / "x").read_text() == "keep me\n"


def test_an_out_folder_without_write_permission_is_refused_before_the_run(
    tmp_path, capsys, monkeypatch
):
    # As writing into a folder the permission bits forbid would fail for anyone but root.
    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(results_files.tempfile, "mkstemp", refused)
    assert main(["run", "baseline", *SHORT, "--out", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err == f'error: --out = "{tmp_path / "out"}": cannot be written: Permission denied\n'
    assert not (tmp_path / "out").exists()  # the folder made to try is gone again


def test_a_write_that_fails_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    real = os.replace
    renamed = []

    def disk_full_on_the_second_file(src, dst):
        if renamed:
            raise OSError(errno.ENOSPC, "No space left on device")
        renamed.append(dst)
        real(src, dst)

    monkeypatch.setattr(results_files.os, "replace", disk_full_on_the_second_file)
    out = tmp_path / "new" / "out"
    assert main(["run", "baseline", *SHORT, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f'error: --out = "{out}": cannot be written: No space left on device\n'
    assert list(tmp_path.iterdir()) == []  # no folder made, no temporary file left
