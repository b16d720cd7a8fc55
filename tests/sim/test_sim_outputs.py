"""Outputs: the kept summaries of the shipped scenarios, the JSON schema, the records.

The printed summary of every shipped scenario, steady or over time, is kept beside it
(sim/scenarios/NAME.out) and compared here, as SimPy does with its examples. After a
deliberate change to the model, regenerate them (``python -m sim run NAME >
sim/scenarios/NAME.out``; ``make sim-outputs`` does the steady ones) and review the diff.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

import sim
from sim import loader
from sim.cli import main
from sim.layers import LAYERS
from sim.results import files, statistics
from sim.results.records import by_request

SCENARIOS = Path(__file__).resolve().parents[2] / "sim" / "scenarios"


SHIPPED = loader.shipped()
#: Scenarios over time take seconds each (weekday: two and a half simulated hours).
OVER_TIME = {name for name in SHIPPED if sim.load(name).runs_over_time}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in OVER_TIME else n for n in SHIPPED]
)
def test_printed_summary_matches_the_kept_output(name, capsys):
    assert main(["run", name]) == 0
    assert capsys.readouterr().out == (SCENARIOS / f"{name}.out").read_text()


def test_every_shipped_scenario_has_a_kept_output_and_no_other():
    kept = {p.stem for p in SCENARIOS.glob("*.out")}
    assert kept == set(SHIPPED), "python -m sim run NAME > sim/scenarios/NAME.out"
    assert OVER_TIME and kept > OVER_TIME  # both kinds are covered


@pytest.fixture(scope="module")
def baseline():
    return sim.run(sim.load("baseline", ["run.duration=200", "run.warmup=20"]))


def test_summary_schema_is_stable(baseline):
    doc = baseline.document
    assert list(doc) == [
        "schema_version",
        "scenario",
        "seed",
        "replications",
        "across_replications",
        "runs",
    ]
    run = doc["runs"][0]
    assert list(run) == [
        "schema_version",
        "scenario",
        "seed",
        "window",
        "requests",
        "throughput_per_s",
        "status_counts",
        "error_outcomes",
        "latency",
        "utilisation",
        "counters",
    ]
    assert list(run["status_counts"]) == ["200", "500", "502", "503", "504"]
    assert list(run["latency"]["layers"]) == list(LAYERS)
    assert list(run["latency"]["end_to_end"]) == ["mean", "p50", "p95", "p99", "wait", "service"]
    assert list(run["utilisation"]) == ["workers", "vcpus", "db_connections", "db_cpu"]
    assert doc["schema_version"] == run["schema_version"] == statistics.SCHEMA_VERSION
    json.loads(files.to_json(doc))  # serialisable, no NaN


def test_schema_document_lists_every_key(baseline):
    text = (SCENARIOS.parent / "SCHEMA.md").read_text()
    run = baseline.summary
    for key in run:
        assert f"`{key}`" in text, key


def test_layers_add_up_to_the_end_to_end_time(baseline):
    for rows in by_request(baseline.records).values():
        total = sum(r.wait + r.service for r in rows)
        end = max(r.end for r in rows)
        assert total == pytest.approx(end - rows[0].arrival, abs=1e-9)


def test_records_use_only_the_layer_vocabulary_in_order(baseline):
    for rows in by_request(baseline.records).values():
        names = [r.layer for r in rows]
        assert names == [la for la in LAYERS if la in names]
        assert all(r.wait >= 0 and r.service >= 0 for r in rows)


def test_percentiles_are_ordered_and_utilisation_is_a_fraction(baseline):
    run = baseline.summary
    e2e = run["latency"]["end_to_end"]
    assert e2e["p50"] <= e2e["p95"] <= e2e["p99"]
    assert e2e["mean"] == pytest.approx(e2e["wait"] + e2e["service"], abs=1e-5)
    for value in run["utilisation"].values():
        assert 0.0 <= value <= 1.0
    assert run["requests"]["arrived"] == run["requests"]["ok"] + run["requests"]["errors"]
    # Poisson arrivals at 20 / s over 180 s.
    assert run["throughput_per_s"] == pytest.approx(20.0, rel=0.1)


def test_utilisation_matches_the_offered_load():
    # mm_c at rho 0.8: the workers are busy 80 % of the time.
    run = sim.run(sim.load("mm_c")).summary
    assert run["utilisation"]["workers"] == pytest.approx(0.8, abs=0.03)


def test_more_workers_than_cores_wait_for_the_cpu():
    cpu = sim.run(sim.load("cpu_bound")).summary
    base = sim.run(sim.load("baseline", ["run.duration=150"])).summary
    assert cpu["utilisation"]["vcpus"] > 0.7
    assert cpu["latency"]["layers"]["app"]["wait"] > 10 * base["latency"]["layers"]["app"]["wait"]


def test_exhausted_connections_give_500s():
    run = sim.run(sim.load("db_bound")).summary
    assert run["status_counts"]["500"] > 0
    assert run["error_outcomes"] == {"too-many-clients": run["status_counts"]["500"]}
    assert run["utilisation"]["db_connections"] == pytest.approx(1.0, abs=0.01)


def test_a_cause_seen_in_one_replication_is_averaged_with_zeros(baseline):
    runs = [copy.deepcopy(baseline.summary) for _ in range(3)]
    runs[1]["error_outcomes"] = {"backlog-full": 3}
    runs[1]["status_counts"]["429"] = 6  # a status only one run saw
    across = statistics.combine(runs, "baseline", 1)["across_replications"]
    assert across["error_outcomes.backlog-full"]["mean"] == 1.0
    assert across["status_counts.429"]["mean"] == 2.0
    keys = list(across)
    # In the place of their section, sorted like a run's own keys.
    counts = [k for k in keys if k.startswith("status_counts.")]
    assert counts == sorted(counts) and "status_counts.429" in counts
    assert keys.index("status_counts.504") < keys.index("error_outcomes.backlog-full")
    assert keys.index("error_outcomes.backlog-full") < keys.index("latency.end_to_end.mean")
