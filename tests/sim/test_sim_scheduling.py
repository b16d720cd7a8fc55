"""The speed-ups in how requests are scheduled change nothing the model computes.

A journey may yield a plain float (a delay without a ``Timeout`` object), skips SimPy's queue
when its wake-up is next anyway, takes a slot of a pool and enforces a deadline itself
(``sim/engine/kernel.py``); the engine runs SimPy's step loop inline (``run_until``) with the
cyclic garbage collector paused. Each is checked against SimPy doing the same thing its own
way (``env.timeout``, ``pool.wait()``, ``event | env.timeout(...)``, ``env.run(until=...)``),
first on small hand-made timelines with ties, then on the whole model with random scenarios.
Places in line (the kernel's tickets) and deadlines on them are checked against SimPy's
``pool.wait()`` events and ``ticket | env.timeout(...)`` conditions the same way: ties of
hand-overs, deadlines and interrupts, deadlines firing and not, and none left in the queue.
Holds (``yield (pool, seconds)``, a slot taken, kept and given back in one step) are checked
against those three steps written out (:func:`plain_hold`), in the same lines and ties, with
the pools' busy time.
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


def plain_hold(env: simpy.Environment, pool: Slots, seconds: float, journey):
    """A hold, ``yield (pool, seconds)``, as the model would write it without the kernel: a
    slot taken, ``seconds`` waited, the slot given back; the journey's ``held_since`` says
    when the slot was taken (None while in line), and the time it was taken comes back."""
    journey.held_since = None
    slot = yield pool
    journey.held_since = env.now
    try:
        yield seconds
    finally:
        pool.release(slot)
    return journey.held_since


def with_timeouts(env: simpy.Environment, generator, journey=None):
    """The same generator driven with SimPy's own events only: every float delay becomes
    ``env.timeout``, every pool a ``pool.wait()`` ticket, every hold the steps of
    :func:`plain_hold`, and a deadline set on ``journey`` (a :class:`PlainJourney`) a
    ``ticket | env.timeout(...)`` condition, as the kernel's documentation says they
    behave."""
    try:
        target = generator.send(None)
        while True:
            if target.__class__ is tuple:  # a hold, its steps driven the same way
                steps = plain_hold(env, *target, journey)
                try:
                    value = yield from with_timeouts(env, steps, journey)
                except BaseException as exc:
                    target = generator.throw(exc)
                else:
                    target = generator.send(value)
                continue
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
        # Contention: nearly every burst waits in line for a vCPU, with the worker's deadline.
        ("cpu_bound", SHORT),
        # gthread workers, sessions and a group scaling out past max_connections.
        ("too_many_workers", ["run.duration=600.0"]),
        # A page's files, each fetched in a journey of its own that the page waits for.
        ("assets_django", ["run.duration=30.0", "run.warmup=5.0"]),
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


def test_a_run_leaves_what_it_made_to_the_collectors_oldest_generation():
    # The young generation's first pass after the pause would walk every request of the run
    # for nothing: they are moved to the oldest generation instead, and nothing stays frozen.
    s = sim.load("baseline", ["run.duration=30.0", "run.warmup=0.0"])
    run = Engine(s, rng_for(1)).run()
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert len(run.requests) > 300
    assert all(id(req) in oldest for req in run.requests)
    assert gc.get_freeze_count() == 0


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


# Places in line and deadlines on them, against SimPy's own ``pool.wait()`` event and
# ``ticket | env.timeout(deadline - now)`` condition: journeys on a coarse grid (so slots
# are handed over, deadlines fall due and interrupts come at the same instants), some with
# deadlines that fire and some that never do, some waits held in one step (a hold, its end
# handing the slot on to the next in line), a plain SimPy process sharing the pools, and an
# interrupt that takes a journey out of its line or off its slot.
GRID = st.sampled_from([0.0, 0.5, 1.0, 1.5])
waiter = st.tuples(
    GRID,  # when it starts
    st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0])),  # its deadline, after
    # (pool, how long, held in one step: ``yield (pool, seconds)``)
    st.lists(st.tuples(st.integers(0, 1), GRID, st.booleans()), min_size=1, max_size=3),
)


def lines(plans, plain, interrupt, as_timeouts: bool, until: float = 20.0):
    """Run the plans of journeys waiting in two pools' lines; returns the log and the pools'
    books at the end."""
    env = Environment()
    pools = [Slots(env, 1), Slots(env, 2)]
    log: list[tuple] = []
    journeys: dict[str, Journey] = {}

    def journey(name: str, start: float, deadline: float | None, waits):
        try:
            yield start
            if deadline is not None:
                journeys[name].set_deadline(env.now + deadline, Late)
            for k, hold, in_one_step in waits:
                if in_one_step:
                    took = yield pools[k], hold
                    log.append((env.now, name, "held", k, took))
                    continue
                slot = yield pools[k]
                log.append((env.now, name, "got", k, slot))
                try:
                    yield hold
                finally:
                    pools[k].release(slot)
            log.append((env.now, name, "done"))
        except Late:
            log.append((env.now, name, "late", journeys[name].held_since))
        except simpy.Interrupt:
            log.append((env.now, name, "interrupted", journeys[name].held_since))
        finally:
            journeys[name].set_deadline(math.inf)

    def process(start: float, k: int, hold: float):
        # Another user of the pool, as a health check is: SimPy's own ticket.
        yield env.timeout(start)
        slot = pools[k].acquire()
        if slot is None:
            slot = yield pools[k].wait()
        log.append((env.now, "process", "got", k, slot))
        yield env.timeout(hold)
        pools[k].release(slot)

    def interrupter(at: float, victim: str):
        yield env.timeout(at)
        if journeys[victim].is_alive:
            journeys[victim].interrupt()

    make = PlainJourney if as_timeouts else Journey
    env.process(process(*plain))
    for n, (start, deadline, waits) in enumerate(plans):
        name = f"j{n}"
        journeys[name] = make(env, journey(name, start, deadline, waits))
    if interrupt is not None:
        env.process(interrupter(interrupt[0], f"j{interrupt[1] % len(plans)}"))
    run_until(env, until)
    return log, [(p.busy, p.queued, sorted(p.free), p.busy_time()) for p in pools]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(waiter, min_size=1, max_size=6),
    st.tuples(GRID, st.integers(0, 1), GRID),
    st.one_of(st.none(), st.tuples(st.sampled_from([0.5, 1.0, 1.5, 2.0]), st.integers(0, 5))),
)
def test_places_in_line_and_their_deadlines_run_as_simpy_conditions_would(plans, plain, stop):
    fast = lines(plans, plain, stop, as_timeouts=False)
    assert fast == lines(plans, plain, stop, as_timeouts=True)
    assert sum(1 for entry in fast[0] if entry[1] != "process") >= len(plans)  # all logged


def test_a_deadline_that_falls_due_as_the_slot_is_handed_over_gets_the_slot():
    # a holds the slot until 1; b, in line behind it, has its deadline at 1 too. The slot is
    # handed over first (the release is part of a's wake-up, due before b's deadline was
    # set), so b's condition sees its ticket triggered: b gets the slot, and its 5 s hold is
    # then cut short at once by the deadline.
    def scene(as_timeouts: bool):
        env = Environment()
        pool = Slots(env, 1)
        log = []

        def a():
            slot = yield pool
            yield 1.0
            pool.release(slot)
            log.append((env.now, "a", "released"))

        def b():
            yield 0.0
            journeys[1].set_deadline(1.0, Late)
            try:
                slot = yield pool
                log.append((env.now, "b", "got", slot))
                try:
                    yield 5.0
                finally:
                    pool.release(slot)
            except Late:
                log.append((env.now, "b", "late"))

        make = PlainJourney if as_timeouts else Journey
        journeys = [make(env, a())]
        journeys.append(make(env, b()))
        run_until(env, 10.0)
        return log, pool.busy, pool.queued

    expected = ([(1.0, "a", "released"), (1.0, "b", "got", 0), (1.0, "b", "late")], 0, 0)
    assert scene(as_timeouts=False) == expected
    assert scene(as_timeouts=True) == expected


def test_deadlines_that_never_fire_leave_nothing_in_the_queue():
    # A thousand journeys each wait in line with a deadline 30 s ahead and are served within
    # a second: SimPy would keep a thousand dead timeouts in its queue until they fell due;
    # the book keeps them out of it, and the journeys are freed when they finish.
    env = Environment()
    pool = Slots(env, 4)
    done = []

    def journey(k):
        yield k * 0.001
        journeys[k].set_deadline(env.now + 30.0, Late)
        slot = yield pool
        yield 0.002
        pool.release(slot)
        journeys[k].set_deadline(math.inf)
        done.append(k)

    journeys = {}
    for k in range(1000):
        journeys[k] = Journey(env, journey(k))
    run_until(env, 5.0)
    assert len(done) == 1000
    assert len(env._queue) <= 2  # the run's stop and at most one look-out
    references = [sys.getrefcount(journeys[k]) for k in (0, 500, 999)]
    assert references == [2, 2, 2]  # the dict's and getrefcount's argument


def test_a_deadline_that_fires_in_line_gives_the_place_up():
    env = Environment()
    pool = Slots(env, 1)
    log = []

    def holder():
        slot = yield pool
        yield 40.0
        pool.release(slot)
        log.append((env.now, "holder", "released"))

    def impatient():
        yield 1.0
        journey.set_deadline(31.0, Late)
        try:
            yield pool
        except Late:
            log.append((env.now, "impatient", "late", pool.queued))

    Journey(env, holder())
    journey = Journey(env, impatient())
    run_until(env, 100.0)
    assert log == [(31.0, "impatient", "late", 0), (40.0, "holder", "released")]
    assert (pool.busy, pool.queued) == (0, 0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(delays, st.integers(0, 4)), min_size=2, max_size=6))
def test_the_end_of_a_journey_resumes_who_waits_for_it_as_simpy_would(plans):
    # Each journey waits out its delays, then perhaps waits for the end (the ``done`` event)
    # of an earlier one, and waits out its delays again: ends at the same instant as other
    # wake-ups, and ends with nothing else due (processed without the queue), in turn.
    def scene(as_timeouts: bool):
        env = Environment()
        log: list[tuple] = []
        done: list[simpy.Event] = []

        def journey(k: int, plan: list[float], after: int):
            for delay in plan:
                yield delay
                log.append((env.now, k, "woke"))
            if after < k:
                value = yield done[after]
                log.append((env.now, k, "saw", value))
            for delay in plan:
                yield delay
                log.append((env.now, k, "woke"))
            return k

        for k, (plan, after) in enumerate(plans):
            generator = journey(k, plan, after)
            if as_timeouts:
                generator = with_timeouts(env, generator)
            done.append(env.event())
            Journey(env, generator, done[-1])
        run_until(env, 100.0)
        return log, [d.value for d in done]

    fast = scene(as_timeouts=False)
    assert fast == scene(as_timeouts=True)
    assert fast[1] == list(range(len(plans)))
