"""The benchmark prints what its README says: each runner's ratio to the pacer with its spread
and goal (shortened runs here; speed itself is never asserted)."""

from __future__ import annotations

import re

from sim import bench


def test_the_bench_prints_the_three_ratios_with_their_spread_and_goals(monkeypatch, capsys):
    short = {
        name: (scenario, (*sets, "run.duration=20.0"), goal)
        for name, (scenario, sets, goal) in bench.RUNNERS.items()
    }
    monkeypatch.setattr(bench, "RUNNERS", short)
    monkeypatch.setattr(bench, "PACER_CUSTOMERS", 2_000)
    assert bench.main(["--only", "full", "contention", "over-time", "--repeat", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "median of 3 alternating pairs" in out[0]
    line = re.compile(
        r"^(\S+) +[\d,]+ +[\d,]+ +(\d+\.\d\d)  (\d+\.\d\d)-(\d+\.\d\d) +(\S+) (met|missed)$"
    )
    rows = [line.match(row) for row in out[2:]]
    assert all(rows), out
    assert [(r[1], float(r[5])) for r in rows] == [
        ("full", 0.5),
        ("contention", 0.35),
        ("over-time", 0.45),
    ]
    for r in rows:
        low, median, high = float(r[3]), float(r[2]), float(r[4])
        assert low <= median <= high
        assert (r[6] == "met") == (median >= float(r[5]))
