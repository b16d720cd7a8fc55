"""Absurd inputs are refused up front: one line naming the value and what is allowed, exit 2,
nothing run and nothing written. Each of these once hung, ate memory or ended in a traceback.
"""

from __future__ import annotations

import pytest

import sim
from sim.cli import main
from sim.config import ConfigError
from sim.engine import size

SERIES = "t,rate\n0,5\n60,{rate}\n"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", "baseline", "--set", "arrivals.rate=1e308"], "(0, 100,000] requests/s"),
        (["run", "baseline", "--set", "run.duration=1e15"], "at most 30 days"),
        (["run", "mm_c", "--set", "run.duration=1e15"], "at most 30 days"),
        (["run", "baseline", "--set", "instances.count=1000000000"], "[1, 1,000]"),
        (["run", "baseline", "--set", "gunicorn.workers=1000000000"], "[1, 1,000]"),
        (["run", "baseline", "--set", f"gunicorn.workers={'9' * 30}"], "[1, 1,000]"),
        (["run", "baseline", "--set", "gunicorn.workers=100", "--set", "gunicorn.threads=999"],
         "at most 10,000"),
        (["run", "baseline", "--set", "gunicorn.backlog=1e12"], "integer"),
        (["run", "baseline", "--set", "arrivals.rate=nan"], "must be a number"),
        (["run", "baseline", "--set", "arrivals.rate=inf"], "requests/s"),
        (["run", "baseline", "--set", "django.cpu.mean=1e300"], "at most 30 days"),
        (["run", "baseline", "--set", "django.cpu.sigma=1e6"], "[0, 10]"),
        (["run", "baseline", "--set", "dns.clients=1e12"], "integer"),
        (["run", "baseline", "--set", "dns.clients=100000000"], "[1, 1,000,000]"),
        (["run", "baseline", "--set", "django.queries=100000"], "[0, 1,000]"),
        (["run", "baseline", "--set", "dns.browser_ttl=1e20"], "RFC 2181"),
        (["run", "weekday", "--set", "traffic.peak=1e308"], "requests/s"),
        (["run", "weekday", "--set", "timeseries.period=1e-9"], "from 1 s to a day"),
        (["run", "weekday", "--set", "asg.max=1000000"], "[1, 1,000]"),
        (["run", "weekday", "--set", "asg.policies[0].high_periods=10000000"], "[1, 1,000]"),
        (["run", "instance_failure", "--set", "failures[0].at=1e300"], "at most 30 days"),
        (["run", "baseline", "--seed", str(10**30)], "--seed"),
        (["run", "baseline", "--set", f"run.seed={10**22}"], "[0, 9,223,372,036,854,775,807]"),
        (["run", "baseline", "--set", "arrivals.rate=1979-05-27"], "rate = 1979-05-27: must be"),
        (["run", "baseline", "--replications", str(10**9)], "--replications"),
        (["run", "baseline", "--set", "run.duration=2592000", "--set", "arrivals.rate=1000"],
         "--allow-large"),
        (["sweep", "baseline", "--vary", "gunicorn.workers=" + ",".join(map(str, range(1, 101))),
          "--vary", "arrivals.rate=" + ",".join(map(str, range(1, 201)))], "at most 10,000"),
        (["sweep", "baseline", "--vary", "gunicorn.workers=1,2", "--processes", "1000000"],
         "--processes"),
    ],
)  # fmt: skip
def test_absurd_settings_are_one_line(args, says, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert says in err, err
    assert not out.exists()


def test_a_file_nested_deeper_than_the_parser_goes_is_one_line(tmp_path, capsys):
    deep = tmp_path / "deep.toml"
    deep.write_text("[a]\nx = " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert main(["run", str(deep)]) == 2
    assert capsys.readouterr().err.endswith("is not valid TOML: nested too deeply\n")
    assert main(["run", "baseline", "--set", "django.cpu=" + "[" * 100_000]) == 2
    assert "nested too deeply" in capsys.readouterr().err


def test_a_huge_rate_in_a_series_file_is_one_line(tmp_path, capsys):
    (tmp_path / "rates.csv").write_text(SERIES.format(rate="1e308"))
    scenario = tmp_path / "s.toml"
    scenario.write_text('[traffic]\nenabled = true\nprofile = "series"\nseries = "rates.csv"\n')
    assert main(["run", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert "rate 1e+308 at t=60" in err and "[0, 100,000] requests/s" in err


def test_an_out_folder_the_system_refuses_is_refused_before_the_run(capsys):
    assert main(["run", "baseline", "--out", "/proc/quorum-path"]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: --out = "/proc/quorum-path": cannot be written')


def test_a_large_run_is_refused_with_its_estimate_unless_allowed(monkeypatch):
    s = sim.load("baseline", ["run.duration=3600"])  # 72,000 requests: about 0.3 GB
    monkeypatch.setattr(size, "machine_memory", lambda: 0.2 * 2**30)
    with pytest.raises(ConfigError, match=r"about 72,000 requests would need about 0\.3 GB"):
        sim.run(s)
    estimate = size.check_size(s, allow_large=True)
    assert estimate.requests == pytest.approx(72_000)
    monkeypatch.setattr(size, "machine_memory", lambda: 64 * 2**30)
    assert size.check_size(s).bytes == pytest.approx(72_000 * size.BYTES_PER_REQUEST)


def test_the_expected_requests_follow_the_traffic_profile():
    flat = sim.load("weekday", ["traffic.profile=constant", "traffic.rate=30"])
    assert size.expected_requests(flat) == pytest.approx(30 * flat.run.duration)
    day = sim.load("weekday")
    # The morning climbs from the night rate towards the peak: in between, on average.
    mean = size.expected_requests(day) / day.run.duration
    assert day.traffic.rate < mean < day.traffic.peak


def test_a_long_run_gets_a_note_of_how_long(capsys):
    assert size.note(size.Estimate(100, 1e6, 1.0)) is None
    said = size.note(size.Estimate(9e6, 1e6, 600.0))
    assert said == "about 9.0 million requests to simulate: expect about 10 minutes"
