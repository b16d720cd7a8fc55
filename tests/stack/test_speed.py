"""The machine's speed: the reference work, the speedometer, the calibration's record, and how
compare reports a level's speed and, with ``--demand speed``, charges it."""

from __future__ import annotations

import csv
import time
from dataclasses import replace

import pytest

from demo_app.stack import speed
from demo_app.stack.config import LabError


def test_the_reference_work_is_the_same_work_every_time():
    assert speed.reference_work() == speed.reference_work()
    assert speed.reference_work(10) != speed.reference_work(20)
    assert speed.time_reference() > 0


def test_the_speedometer_reads_the_reference_while_its_block_runs():
    with speed.Speedometer(interval=0.02) as meter:
        time.sleep(0.3)
    assert len(meter.readings) >= 3
    assert all(r > 0 for r in meter.readings)
    ordered = sorted(meter.readings)
    assert ordered[0] <= meter.reference <= ordered[-1]
    # A block too short for the thread to read still gives one reading.
    with speed.Speedometer(interval=10.0) as quick:
        pass
    assert len(quick.readings) >= 1 and quick.reference > 0


def test_slowdown_and_its_words():
    assert speed.slowdown(0.030, 0.020) == pytest.approx(1.5)
    assert speed.slowdown(0.010, 0.020) == pytest.approx(0.5)
    assert speed.slowdown(0.030, 0.0) == 1.0 and speed.slowdown(0.0, 0.02) == 1.0
    assert speed.speed_text(0.025, 0.020) == (
        "the reference work took 25.0 ms of CPU, at calibration 20.0 ms (+25%)"
    )


def test_the_calibrations_reading_is_kept_and_read_back(tmp_path):
    path = tmp_path / "calibration.json"
    speed.save(path, 0.0143, 40)
    assert speed.load(path) == pytest.approx(0.0143)
    for text, said in (
        (None, "calibration.json is missing"),
        ("not json", "is not a calibration record"),
        ("[1, 2]", "is not a calibration record"),
        ('{"reference_s": 0}', "says the reference took 0.0 s"),
    ):
        if text is None:
            path.unlink()
        else:
            path.write_text(text)
        with pytest.raises(LabError) as caught:
            speed.load(path)
        assert said in str(caught.value) and "calibrate" in str(caught.value)
        assert "\n" not in str(caught.value)


def level(**changes):
    from demo_app.stack.compare import THINK, Level, Measured, Predicted
    from demo_app.stack.cpu import CpuShare

    measured = Measured(80.0, 0.020, 0.060, 2400, 0)
    base = Level(
        "0.8x", 0.8, 80, THINK, 100.0, measured, Predicted(80.0, 0.030, 0.070),
        CpuShare(cores=2, machine=1.3, lab=1.2, load=0.08),
        calibrated_cost=0.010, speed=0.018, speed_calibrated=0.012,
    )  # fmt: skip
    return replace(base, **changes)


def test_compare_reports_each_levels_speed_and_names_it_in_a_cost_drift(tmp_path, capsys):
    from demo_app.stack.compare import (
        COLUMNS,
        combine,
        cost_line,
        print_notes,
        speed_line,
        write_csv,
    )

    lv = level()
    assert lv.slowdown == pytest.approx(1.5)
    assert speed_line(lv) == (
        "speed     the reference work took 18.0 ms of CPU, at calibration 12.0 ms (+50%)"
    )
    # A calibration without a reading: the speed is shown, with what to do.
    assert "calibrate again" in speed_line(level(speed_calibrated=0.0))
    assert level(speed_calibrated=0.0).slowdown == 1.0
    # The lab's cost drifted +50 % and the machine ran 50 % slower: the notes say both.
    print_notes([lv], quick=False)
    out = capsys.readouterr().out
    assert "its reference work ran +50% against calibration" in out
    assert "`--demand speed` scales the sim's cost by the machine's speed" in out
    # Given the speed, the sim got the calibration's cost times the slowdown.
    given = level(demand="speed")
    # (damped: a request's cost moves about half as much as the reference, in logs)
    assert speed.cost_scale(0.018, 0.012) == pytest.approx(1.5**speed.ELASTICITY)
    assert cost_line(given).endswith("the sim got the calibration's x 1.22 (the machine's speed)")
    # What the sim charged, by demand; a miss the speed explained only in part says so.
    assert given.charged_cost == pytest.approx(0.010 * 1.5**speed.ELASTICITY)
    assert level(demand="measured").charged_cost == pytest.approx(0.015)
    assert lv.charged_cost == pytest.approx(0.010)
    print_notes([given], quick=False)
    out = capsys.readouterr().out
    assert (
        "a request cost the lab 15.0 ms of CPU here, +22% against the 12.2 ms the sim charged"
        " (the calibration's 10.0 ms scaled for the machine's speed, its reference work +50%)"
    ) in " ".join(out.split())
    near = level(demand="speed", calibrated_cost=0.015 / 1.5**speed.ELASTICITY)
    print_notes([near], quick=False)
    assert "the speed explained only part" not in capsys.readouterr().out
    # Two passes: their speeds are averaged, the calibration's kept.
    both = combine([lv, level(speed=0.022)])
    assert both.speed == pytest.approx(0.020) and both.speed_calibrated == 0.012
    write_csv(tmp_path / "compare.csv", [both])
    with open(tmp_path / "compare.csv") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == COLUMNS
        (row,) = list(reader)
    assert (row["speed_ms"], row["speed_calibrated_ms"]) == ("20.0", "12.0")


def test_demand_speed_scales_the_sims_cost_by_the_slowdown(tmp_path):
    import sim
    from demo_app.stack.compare import DEMANDS, slower_cpu_override

    assert DEMANDS == ("measured", "speed", "calibrated")  # the first is the default
    text = (
        'description = "x"\n[django]\ncpu = { kind = "empirical", samples = [0.004, 0.012] }\n'
        'cpu_after = { kind = "constant", mean = 0.002 }\n'
    )
    path = tmp_path / "calibrated.toml"
    path.write_text(text)
    slower = sim.loads(text, slower_cpu_override(path, speed.cost_scale(0.024, 0.012)))
    factor = 2.0**speed.ELASTICITY
    # (written to the microsecond)
    assert slower.django.cpu.samples == pytest.approx([0.004 * factor, 0.012 * factor], abs=1e-6)
    assert slower.django.cpu_after.mean == pytest.approx(0.002 * factor, abs=1e-6)


def test_the_fit_finds_how_much_the_cost_follows_the_reference(capsys):
    import math

    from demo_app.stack.compare import speed_fit_line

    # Costs that move exactly half as much as the reference, in logs: slope 0.5, correlation 1.
    slowdowns = [0.8, 0.9, 1.0, 1.2, 1.5]
    slope, r = speed.fit([(x, math.sqrt(x)) for x in slowdowns])
    assert slope == pytest.approx(0.5) and r == pytest.approx(1.0)
    # Costs that go the other way: a negative slope, said as it is.
    slope, r = speed.fit([(x, 1 / x) for x in slowdowns])
    assert slope == pytest.approx(-1.0) and r == pytest.approx(-1.0)
    # Too few readings, or no spread in the machine's speed: nothing to fit.
    assert speed.fit([(1.1, 1.05)] * 3) is None
    assert speed.fit([(1.0, y) for y in (0.9, 1.0, 1.1, 1.2)]) is None
    # compare's closing line, from its levels' passes (the lab's cost: 1.2 cores / 80 req/s).
    levels = [level(speed=0.012 * x, calibrated_cost=0.015 / math.sqrt(x)) for x in slowdowns]
    assert speed_fit_line(levels) == (
        "speed     over 5 readings the lab's cost per request moved 0.50 times as much as the"
        " reference work (log-log slope, correlation 1.00); --demand speed assumes 0.5"
    )
    assert speed_fit_line([level(speed_calibrated=0.0)] * 5) is None


def test_what_the_facts_and_the_readme_say_of_the_speed_is_the_recordings():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    recording = (root / "notebooks" / "data" / "compare-machine.txt").read_text()
    # compare's closing line of the first recorded sweep: the slope the facts quote.
    fits = re.findall(
        r"over (\d+) readings the lab's cost per request moved ([\d.]+) times as much as the"
        r" reference work \(log-log slope, correlation ([\d.]+)\)",
        recording,
    )
    assert len(fits) == 3, fits  # one per recorded sweep
    facts = " ".join((root / "sim" / "FACTS.md").read_text().split())
    readme = " ".join((root / "demo_app" / "stack" / "README.md").read_text().split())
    (n,) = {n for n, _, _ in fits}
    slopes = f"{fits[0][1]}, {fits[1][1]} and {fits[2][1]}"
    correlations = f"{fits[0][2]}, {fits[1][2]} and {fits[2][2]}"
    assert f"In each of the three sweeps ({n} level passes each)" in facts
    assert f"had slopes {slopes}, correlations {correlations}" in facts
    assert f"over {n} readings the lab's cost per request moved {fits[0][1]} times" in readme
    assert f"correlation {fits[0][2]}); --demand speed assumes" in readme
    # The range of the reference's CPU time the facts quote, over every recorded level pass.
    took = [
        float(x) for x in re.findall(r"the reference work took ([\d.]+) ms of CPU, at", recording)
    ]
    assert len(took) == 3 * 16
    assert f"from {min(took):.1f} to {max(took):.1f} ms of CPU" in facts
    calibration = re.search(r"machine's reference work took ([\d.]+) ms", recording)[1]
    assert f"against {calibration} ms at calibration" in facts
    assert f"ELASTICITY = {speed.ELASTICITY}" in (root / "demo_app/stack/speed.py").read_text()
    assert f"to the power {speed.ELASTICITY:g}" in facts
    # The README's account of the recorded session: how much slower, and what each demand gave.
    ran = [int(x) for x in re.findall(r"at calibration [\d.]+ ms \(([+-]\d+)%\)", recording)]
    assert f"the reference work ran from {min(ran)} % to {max(ran):+d} % against" in readme
    data = root / "notebooks" / "data"

    def verdicts(name: str) -> list[str]:
        with open(data / name) as f:
            return [r["verdict"] for r in csv.DictReader(f)]

    as_read, scaled = verdicts("compare-calibrated.csv"), verdicts("compare-speed.csv")
    assert (
        f"the model missed at {as_read.count('misses')} levels of {len(as_read)}; scaled for the"
        f" speed, it met the targets at {scaled.count('meets')} and missed at"
        f" {scaled.count('misses')}."
    ) in readme
