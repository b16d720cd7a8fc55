"""The host's speed over time (``[instances] cpu_jitter``, ``sim/model/host.py``): each burst
stretched by its period's factor, factors with mean 1 and the coefficient of variation asked
for, nothing else changed, and the engines and inputs that refuse it.

A virtual machine's vCPUs share the physical cores with the host's other guests, so the same
work takes longer in some stretches than in others: the mean cost stays, the tail grows.
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest
import simpy
from sim_helpers import ends, quiet, run

import sim
from sim.config import ConfigError
from sim.model.host import HostSpeed

JITTER = ["instances.cpu_jitter=0.3", "instances.cpu_jitter_period=3.0"]


def test_each_burst_is_stretched_by_the_factor_of_the_period_it_starts_in():
    # Django's 1 s burst, drawn at 0.0, 4.0 and 5.0 (a worker each): the last two in the
    # same period.
    engine, results = run(quiet(*JITTER, "gunicorn.workers=3"), [0.0, 4.0, 5.0])
    f = engine.host.factor
    assert f(4.0) == f(5.0) != f(0.0)
    want = {0: (200, 0.0, f(0.0)), 1: (200, 4.0, 4.0 + f(4.0)), 2: (200, 5.0, 5.0 + f(5.0))}
    assert ends(results) == {k: (s, a, round(e, 9)) for k, (s, a, e) in want.items()}
    # A steady host: every burst takes its 1 s, and no host is made.
    engine, results = run(quiet("gunicorn.workers=3"), [0.0, 4.0, 5.0])
    assert engine.host is None
    assert ends(results) == {0: (200, 0.0, 1.0), 1: (200, 4.0, 5.0), 2: (200, 5.0, 6.0)}


@pytest.mark.parametrize("cv", [0.05, 0.3, 1.0])
def test_the_factors_have_mean_one_and_the_coefficient_of_variation_asked_for(cv):
    host = HostSpeed(simpy.Environment(), cv, 2.0, np.random.default_rng(7))
    factors = [host.factor(2.0 * k + 1.0) for k in range(40_000)]
    mean = statistics.fmean(factors)
    assert mean == pytest.approx(1.0, abs=4 * cv / 200)  # 4 standard errors
    assert statistics.stdev(factors) / mean == pytest.approx(cv, rel=0.05)
    # Piecewise constant: the start and the end of a period read the same factor.
    assert host.factor(6.0) == host.factor(7.999) != host.factor(8.0)


def test_the_same_seed_gives_the_same_run_and_a_steady_host_draws_as_before():
    s = sim.load("cpu_ps", ["run.duration=60", "run.warmup=10", *JITTER])
    a, b = sim.run(s).summary, sim.run(s).summary
    assert a == b
    # The host's stream comes after the others: the requests arrive at the same instants
    # and are served by the same draws of Django's CPU, only stretched.
    steady = sim.run(sim.load("cpu_ps", ["run.duration=60", "run.warmup=10"]))
    zero = sim.run(
        sim.load("cpu_ps", ["run.duration=60", "run.warmup=10", "instances.cpu_jitter=0"])
    )
    assert steady.summary == zero.summary
    shaken = sim.run(s)
    arrivals = {r.request: r.arrival for r in steady.records if r.layer == "dns"}
    assert arrivals == {r.request: r.arrival for r in shaken.records if r.layer == "dns"}


def test_near_the_knee_the_tail_grows_while_the_cost_per_request_stays():
    base = ["run.duration=300", "run.warmup=30"]
    steady = sim.run(sim.load("cpu_ps", base)).summary
    shaken = sim.run(sim.load("cpu_ps", [*base, "instances.cpu_jitter=0.15"])).summary
    # Mean 1: the CPU the vCPUs spent per request is the same within the draws' noise ...
    busy = [x["utilisation"]["vcpus"] / x["throughput_per_s"] for x in (steady, shaken)]
    assert busy[1] == pytest.approx(busy[0], rel=0.05)
    assert shaken["throughput_per_s"] == pytest.approx(steady["throughput_per_s"], rel=0.02)
    # ... but slow stretches build queues a fast one does not drain at once.
    p95 = [x["latency"]["end_to_end"]["p95"] for x in (steady, shaken)]
    assert p95[1] > 1.3 * p95[0], p95


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("instances.cpu_jitter=-0.1", "instances.cpu_jitter = -0.1: must be a number in [0, 1]"),
        ("instances.cpu_jitter=1.5", "instances.cpu_jitter = 1.5: must be a number in [0, 1]"),
        ('instances.cpu_jitter="x"', 'instances.cpu_jitter = "x": must be a number'),
        ("instances.cpu_jitter_period=0", "instances.cpu_jitter_period = 0.0: must be a number"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(override, message):
    with pytest.raises(ConfigError) as caught:
        sim.load("cpu_ps", [override])
    assert str(caught.value).startswith(message)


def test_the_fluid_engine_refuses_a_moving_host_in_one_line():
    s = sim.load("weekday", ["run.duration=600", "instances.cpu_jitter=0.1"])
    with pytest.raises(ConfigError) as caught:
        sim.run(s, engine="fluid")
    assert "the fluid engine's vCPUs run at one steady speed" in str(caught.value)


def test_an_mm_c_reduction_refuses_a_moving_host():
    with pytest.raises(ConfigError) as caught:
        sim.load("mm_c", ["instances.cpu_jitter=0.1"])
    assert str(caught.value).startswith("instances.cpu_jitter = 0.1: must be 0 for theory")
