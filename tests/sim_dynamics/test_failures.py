"""Scheduled failures on the real engine: a bad deploy and the loss of an availability zone."""

from __future__ import annotations

import numpy as np

import sim
from sim import loader
from sim.layers import BAD_DEPLOY

BASE = """
[run]
duration = 400.0
warmup = 10.0
drain = 30.0
[traffic]
enabled = true
profile = "constant"
rate = 10.0
sessions = false
[health_check]
enabled = true
interval = 10.0
timeout = 5.0
healthy_threshold = 3
unhealthy_threshold = 2
[asg]
enabled = true
min = %d
max = 6
launch_time = 17.0
boot_time = 30.0
"""


def test_a_bad_deploy_fails_some_requests_on_its_instances_only_and_passes_health_checks():
    text = (
        BASE % 2
        + """
[[failures]]
kind = "bad_deploy"
at = 100.0
duration = 200.0
error_rate = 0.5
instances = 1
"""
    )
    over = sim.run(loader.loads(text))
    app_rows = [r for r in over.records if r.layer == "app"]
    bad = [r for r in app_rows if r.outcome == BAD_DEPLOY]
    assert {r.instance for r in bad} == {0}  # only instance 0 got the new code
    assert all(r.status == 500 and 100 <= r.end <= 300 for r in bad)
    on_zero = [r for r in app_rows if r.instance == 0 and 100 <= r.end <= 300]
    assert 0.35 < len(bad) / len(on_zero) < 0.65
    assert [s for _, name, s in over.log.health if name == "instance 0"] == ["healthy"]
    assert [(t, kind) for t, kind, _ in over.log.failures] == [
        (100, "bad_deploy"),
        (300, "rollback"),
    ]


def test_losing_a_zone_kills_its_instances_and_the_group_relaunches_elsewhere():
    text = (
        BASE % 4
        + """
[[failures]]
kind = "az_loss"
at = 100.0
az = "a"
"""
    )
    over = sim.run(loader.loads(text))
    assert over.log.failures == [(100, "az_loss", "zone a lost with 2 instance(s)")]
    launches = [a for a in over.log.activities if a.kind == "launch" and a.t > 0]
    assert len(launches) == 2 and all(a.detail == "in zone b" for a in launches)
    assert all(a.t >= 100 for a in launches)
    codes = over.arrays["status"]
    assert not np.any(codes == 503)  # zone b carried the traffic meanwhile
    assert over.table[-1]["in_service"] == 4


def test_a_rate_series_from_csv_drives_the_arrivals(tmp_path):
    (tmp_path / "rates.csv").write_text("t,rate\n0,2\n100,20\n200,2\n")
    text = f"""
[run]
duration = 300.0
warmup = 10.0
[traffic]
enabled = true
profile = "series"
series = "{tmp_path / "rates.csv"}"
sessions = false
[timeseries]
period = 50.0
"""
    over = sim.run(loader.loads(text))
    rps = [round(r["rps"]) for r in over.table if r["t"] <= 300]
    assert rps[0] < 5 and rps[1] < 5 and 15 < rps[2] < 25 and 15 < rps[3] < 25 and rps[4] < 5


def test_capacity_counts_each_instance_only_while_it_exists():
    # Two instances and no group: one crashes at 200 s and nothing replaces it, so the window
    # [10, 400) offers 390 s of one instance and 190 s of the other.
    text = """
[run]
duration = 400.0
warmup = 10.0
drain = 30.0
[instances]
count = 2
vcpus = 2
[gunicorn]
workers = 3
[traffic]
enabled = true
profile = "constant"
rate = 5.0
sessions = false
[[failures]]
kind = "crash"
at = 200.0
instance = 1
"""
    over = sim.run(loader.loads(text))
    cap = over.run.capacity
    assert cap["vcpus"] == 2 * (390.0 + 190.0)
    assert cap["workers"] == 3 * (390.0 + 190.0)
    assert 0 < over.run.busy["vcpus"] <= cap["vcpus"]
