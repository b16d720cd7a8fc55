"""The speed-ups in how requests are scheduled change nothing the model computes.

A journey may yield a plain float (a delay without a ``Timeout`` object), skips SimPy's queue
when its wake-up is next anyway, takes a slot of a pool and enforces a deadline itself
(``sim/engine/kernel.py``); the engine runs SimPy's step loop inline (``run_until``) with the
cyclic garbage collector paused. Each is checked against SimPy doing the same thing its own
way (``env.timeout``, ``pool.wait()``, ``event | env.timeout(...)``, ``env.run(until=...)``),
first on small hand-made timelines with ties, then on the whole model with random scenarios.
"""

from __future__ import annotations

import gc
import math
import sys

import pytest
import simpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sim_properties import overrides

import sim
from sim.engine import Engine, rng_for, world
from sim.engine.kernel import Environment, Journey, run_until
from sim.model.slots import Slots

# Delays on a coarse grid, so that many wake-ups fall due at the same instant (ties are where
# SimPy's ordering by priority and event id matters).
delays = st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0]), min_size=1, max_size=6)


def with_timeouts(env: simpy.Environment, generator, journey=None):
    """The same generator driven with SimPy's own events only: every float delay becomes
    ``env.timeout``, every pool a ``pool.wait()`` ticket, and a deadline set on ``journey``
    (a :class:`PlainJourney`) a ``ticket | env.timeout(...)`` condition, as the kernel's
    documentation says they behave."""
    try:
        target = generator.send(None)
        while True:
            pool = ticket = None
            deadline, exception = journey.model_deadline if journey else (math.inf, None)
            expired = False
            if target.__class__ is float:
                if env.now + target > deadline:
                    target, expired = deadline - env.now, True
                target = env.timeout(target)
            elif target.__class__ is Slots:
                slot = target.acquire()
                if slot is not None:
                    target = generator.send(slot)
                    continue
                pool, ticket = target, target.wait()
                target = ticket
                if deadline != math.inf:
                    target = ticket | env.timeout(deadline - env.now)
            try:
                value = yield target
            except BaseException as exc:  # interrupts and failed events go in as they came
                if ticket is not None:
                    pool.cancel(ticket)
                target = generator.throw(exc)
            else:
                if expired:
                    target = generator.throw(exception())
                elif ticket is not None and not ticket.triggered:
                    pool.cancel(ticket)
                    target = generator.throw(exception())
                else:
                    target = generator.send(ticket.value if ticket is not None else value)
    except StopIteration as stop:
        return stop.value


class PlainJourney(Journey):
    """A journey fed only SimPy events: :func:`with_timeouts` does the floats, the pools and
    the deadline, which the model sets here rather than in the kernel."""

    def __init__(self, env, generator, done=None) -> None:
        self.model_deadline = (math.inf, None)
        super().__init__(env, with_timeouts(env, generator, self), done)

    def set_deadline(self, at, exception=None) -> None:
        self.model_deadline = (at, exception)


def timeline(plans: list[list[float]], as_timeouts: bool, until: float | None = None):
    """Run journeys (each waiting out its plan of delays, logging every wake-up) beside a
    SimPy process doing the same; returns the log of (time, who) in the order things ran."""
    env = Environment()
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
    env = Environment()
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
    env = Environment()
    env.timeout(1.0).callbacks.append(lambda _: env.event().fail(ValueError("boom")))
    with pytest.raises(ValueError, match="boom"):
        run_until(env, 5.0)
    with pytest.raises(ValueError, match="must be greater"):
        run_until(env, 0.5)


def by_simpy(monkeypatch) -> None:
    """Make the engine schedule the plain SimPy way: SimPy's events only, and env.run."""
    monkeypatch.setattr(world, "run_until", lambda env, at: env.run(until=at))
    monkeypatch.setattr(world, "Journey", PlainJourney)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides(), st.integers(0, 2**32 - 1))
def test_the_model_computes_the_same_as_with_plain_simpy(sets, seed):
    s = sim.load("baseline", sets)
    fast = sim.run(s, seed)
    with pytest.MonkeyPatch.context() as monkeypatch:
        by_simpy(monkeypatch)
        plain = sim.run(s, seed)
    assert fast.records == plain.records
    f, p = fast.run, plain.run
    assert (f.busy, f.capacity, f.counters) == (p.busy, p.capacity, p.counters)


SHORT = ["run.duration=120.0", "run.warmup=10.0"]


@pytest.mark.parametrize(
    ("name", "sets"),
    [
        ("baseline", SHORT),
        ("db_bound", SHORT),
        ("instance_failure", []),
        ("slow_queries", []),
        # Time-sliced vCPUs through a crash, with users instead of the traffic profile.
        (
            "instance_failure",
            [
                "instances.cpu_discipline=ps",
                "traffic.enabled=false",
                "users.enabled=true",
                "users.count=60",
                "run.duration=500",
            ],
        ),
    ],
)
def test_shipped_scenarios_compute_the_same_as_with_plain_simpy(name, sets, monkeypatch):
    # The two with failures run in full: the crash and the slow queries come at 300 s.
    s = sim.load(name, sets)

    def run():
        result = sim.run(s)
        return result, result.table, result.log.failures if result.log else None

    fast, fast_table, fast_failures = run()
    by_simpy(monkeypatch)
    plain, plain_table, plain_failures = run()
    assert fast.run.counters["sent"] > 100
    assert fast.records == plain.records
    # repr: the table has NaN where a window saw no request, and NaN != NaN.
    assert repr((fast_table, fast_failures)) == repr((plain_table, plain_failures))


def test_a_run_pauses_the_collector_and_restores_it():
    s = sim.load("baseline", ["run.duration=5.0", "run.warmup=0.0"])
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
    s = sim.load("baseline", ["run.duration=5.0", "run.warmup=0.0"])
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


class Late(Exception):
    """The deadline's exception in the tests below."""


def test_a_pool_hands_a_free_slot_over_at_once_and_queues_the_rest():
    env = Environment()
    pool = Slots(env, 1)
    log = []

    def user(name, hold):
        slot = yield pool
        log.append((env.now, name, "got", slot))
        yield hold
        pool.release(slot)

    for name, hold in (("a", 1.0), ("b", 2.0), ("c", 1.0)):
        Journey(env, user(name, hold))
    run_until(env, 10.0)
    assert log == [(0.0, "a", "got", 0), (1.0, "b", "got", 0), (3.0, "c", "got", 0)]


def test_a_deadline_cuts_a_delay_and_a_wait_in_line_short():
    env = Environment()
    pool = Slots(env, 1)
    log = []

    def worker(name, hold, deadline):
        yield 0.0  # (the journey is made by now: the model sets deadlines mid-way, too)
        journeys[name].set_deadline(deadline, Late)
        try:
            slot = yield pool
            try:
                yield hold
            finally:
                pool.release(slot)
            log.append((env.now, name, "done"))
        except Late:
            log.append((env.now, name, "late"))

    journeys = {}
    for name, hold, deadline in (("a", 5.0, 2.0), ("b", 1.0, 1.5), ("c", 1.0, 10.0)):
        journeys[name] = Journey(env, worker(name, hold, deadline))
    run_until(env, 20.0)
    # a holds the slot until its deadline at 2 (its 5 s cut short); b gives up its place in
    # line at 1.5; c, behind b, takes the slot at 2 and finishes at 3.
    assert log == [(1.5, "b", "late"), (2.0, "a", "late"), (3.0, "c", "done")]
    assert pool.busy == 0 and pool.queued == 0
