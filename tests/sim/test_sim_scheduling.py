"""The speed-ups in how requests are scheduled change nothing the model computes.

A journey may yield a plain float (a delay without a ``Timeout`` object) and skips SimPy's
queue when its wake-up is next anyway (``sim/journey.py``); the engine runs SimPy's step loop
inline (``sim.engine.run_until``) with the cyclic garbage collector paused. Each is checked
against SimPy doing the same thing its own way: ``env.timeout`` and ``env.run(until=...)``,
first on small hand-made timelines with ties, then on the whole model with random scenarios.
"""

from __future__ import annotations

import gc
import sys

import pytest
import simpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sim_properties import overrides

from sim import dynamics, scenario
from sim import engine as engine_module
from sim.engine import Engine, rng_for, run_until, simulate
from sim.journey import Journey

# Delays on a coarse grid, so that many wake-ups fall due at the same instant (ties are where
# SimPy's ordering by priority and event id matters).
delays = st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0]), min_size=1, max_size=6)


def with_timeouts(env: simpy.Environment, generator):
    """The same generator with every float delay turned into SimPy's own ``env.timeout``."""
    try:
        target = generator.send(None)
        while True:
            if target.__class__ is float:
                target = env.timeout(target)
            try:
                value = yield target
            except BaseException as exc:  # interrupts and failed events go in as they came
                target = generator.throw(exc)
            else:
                target = generator.send(value)
    except StopIteration as stop:
        return stop.value


def timeline(plans: list[list[float]], as_timeouts: bool, until: float | None = None):
    """Run journeys (each waiting out its plan of delays, logging every wake-up) beside a
    SimPy process doing the same; returns the log of (time, who) in the order things ran."""
    env = simpy.Environment()
    log: list[tuple[float, str]] = []

    def journey(name: str, plan: list[float]):
        for delay in plan:
            yield delay
            log.append((env.now, name))
        return name

    def process(plan: list[float]):
        for delay in plan:
            yield env.timeout(delay)
            log.append((env.now, "process"))

    env.process(process(plans[0]))
    done = []
    for k, plan in enumerate(plans):
        generator = journey(f"journey {k}", plan)
        if as_timeouts:
            generator = with_timeouts(env, generator)
        done.append(env.event())
        Journey(env, generator, done[-1])
    if until is None:
        env.run()
        assert [d.value for d in done] == [f"journey {k}" for k in range(len(plans))]
    else:
        run_until(env, until) if not as_timeouts else env.run(until=until)
        log.append((env.now, "stopped"))
    return log


@settings(max_examples=60, deadline=None)
@given(st.lists(delays, min_size=1, max_size=5))
def test_float_delays_run_in_the_order_timeouts_would(plans):
    fast = timeline(plans, as_timeouts=False)
    assert fast == timeline(plans, as_timeouts=True)
    assert len(fast) == sum(len(p) for p in plans) + len(plans[0])


@settings(max_examples=60, deadline=None)
@given(st.lists(delays, min_size=1, max_size=5), st.sampled_from([0.5, 1.0, 2.0, 3.5]))
def test_run_until_stops_where_simpy_would(plans, until):
    # Wake-ups due exactly at ``until`` are not processed by either: the stop comes first.
    assert timeline(plans, False, until) == timeline(plans, True, until)


def test_a_wake_up_that_is_next_skips_the_queue_and_one_that_is_not_waits_its_turn():
    env = simpy.Environment()
    log = []

    def walker():
        yield 1.0
        yield 1.0  # nothing else is due before 2.0: the journey goes on without the queue
        log.append(("walker", env.now, len(env._queue)))
        yield 1.0  # the process is due at 3.0 first (it was scheduled earlier): queue
        log.append(("walker", env.now))

    def process():
        yield env.timeout(3.0)
        log.append(("process", env.now))

    env.process(process())
    Journey(env, walker())
    env.run()
    assert log == [("walker", 2.0, 1), ("process", 3.0), ("walker", 3.0)]


def test_an_undefused_failure_crashes_run_until_as_it_crashes_env_run():
    env = simpy.Environment()
    env.timeout(1.0).callbacks.append(lambda _: env.event().fail(ValueError("boom")))
    with pytest.raises(ValueError, match="boom"):
        run_until(env, 5.0)
    with pytest.raises(ValueError, match="must be greater"):
        run_until(env, 0.5)


def by_simpy(monkeypatch) -> None:
    """Make the engine schedule the plain SimPy way: Timeout objects and env.run."""
    monkeypatch.setattr(engine_module, "run_until", lambda env, at: env.run(until=at))
    monkeypatch.setattr(
        engine_module,
        "Journey",
        lambda env, generator, done=None: Journey(env, with_timeouts(env, generator), done),
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides(), st.integers(0, 2**32 - 1))
def test_the_model_computes_the_same_as_with_plain_simpy(sets, seed):
    s = scenario.load("baseline", sets)
    fast = simulate(s, seed)
    with pytest.MonkeyPatch.context() as monkeypatch:
        by_simpy(monkeypatch)
        plain = simulate(s, seed)
    assert fast.rows == plain.rows
    assert (fast.busy, fast.capacity, fast.counters) == (plain.busy, plain.capacity, plain.counters)


SHORT = ["run.duration=120.0", "run.warmup=10.0"]


@pytest.mark.parametrize(
    ("name", "sets"),
    [("baseline", SHORT), ("db_bound", SHORT), ("instance_failure", []), ("slow_queries", [])],
)
def test_shipped_scenarios_compute_the_same_as_with_plain_simpy(name, sets, monkeypatch):
    # The two with failures run in full: the crash and the slow queries come at 300 s.
    s = scenario.load(name, sets)

    def run():
        if dynamics.is_dynamic(s):
            over = dynamics.simulate_over_time(s)
            return over.results, over.table, over.failures
        return simulate(s), None, None

    fast, fast_table, fast_failures = run()
    by_simpy(monkeypatch)
    plain, plain_table, plain_failures = run()
    assert fast.counters["sent"] > 100
    assert fast.rows == plain.rows
    # repr: the table has NaN where a window saw no request, and NaN != NaN.
    assert repr((fast_table, fast_failures)) == repr((plain_table, plain_failures))


def test_a_run_pauses_the_collector_and_restores_it():
    s = scenario.load("baseline", ["run.duration=5.0", "run.warmup=0.0"])
    assert gc.isenabled()
    seen = []

    def probe(engine):
        seen.append(gc.isenabled())
        yield engine.env.timeout(1.0)

    e = Engine(s, rng_for(1))
    e.processes.append(probe)
    e.run()
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        Engine(s, rng_for(1)).run()
        assert not gc.isenabled()  # a caller's choice is left alone
    finally:
        gc.enable()


def test_a_finished_journey_is_freed_without_the_collector():
    s = scenario.load("baseline", ["run.duration=5.0", "run.warmup=0.0"])
    e = Engine(s, rng_for(1))
    e.run()
    assert e.requests
    for req in e.requests:
        # The request's own reference and getrefcount's argument, nothing else: no bound
        # method or generator frame pointing back, so reference counting alone frees it.
        # (Counted outside the assert, whose rewriting keeps references of its own.)
        references = sys.getrefcount(req.journey)
        assert req.journey.generator is None
        assert references == 2
