"""Time-sliced vCPUs (``instances.cpu_discipline = "ps"``): exact timelines, cut-short bursts,
the books, and processor-sharing theory.

Timelines use the quiet path (every cost zero or constant), so each burst's end is worked out
by hand: n bursts on c cores each progress at min(1, c / n). The theory: M/G/1-PS's mean
sojourn E[S] / (1 - rho) for exponential, lognormal and constant service, and the c-core
sharing queue's mean sojourn (M/M/c's, whatever the distribution), each inside the 95 %
confidence interval of replications after a warm-up.
"""

from __future__ import annotations

import math

import pytest
from sim_helpers import ends, layer, quiet, run

import sim
from sim import theory
from sim.engine import Engine
from sim.engine.kernel import Environment, Journey, Wake, run_until
from sim.model.cpu import SharedCores
from sim.model.slots import Slots
from sim.results import Result

PS = ["instances.cpu_discipline=ps"]


def app(results) -> list[tuple]:
    """(request, wait, service, end) of every app record."""
    return [
        (r.request, round(r.wait, 9), round(r.service, 9), round(r.end, 9))
        for r in layer(results, "app")
    ]


def test_two_bursts_on_one_core_share_it_and_finish_together():
    s = quiet(*PS, "instances.vcpus=1", "gunicorn.workers=2")
    engine, results = run(s, [0.0, 0.0])
    # Each gets half the core: 1 s of CPU takes 2 s, the second of them spent waiting.
    assert app(results) == [(0, 1.0, 1.0, 2.0), (1, 1.0, 1.0, 2.0)]
    assert engine.instances[0].busy_vcpu_time() == pytest.approx(2.0)


def test_a_burst_that_joins_slows_the_one_running_and_speeds_up_when_it_leaves():
    s = quiet(*PS, "instances.vcpus=1", "gunicorn.workers=2")
    engine, results = run(s, [0.0, 0.5])
    # 0-0.5: the first alone (0.5 s of CPU). 0.5-1.5: both at half speed, the first gets its
    # last 0.5 s and leaves at 1.5. 1.5-2.0: the second, alone again, gets its last 0.5 s.
    assert app(results) == [(0, 0.5, 1.0, 1.5), (1, 0.5, 1.0, 2.0)]
    assert engine.instances[0].busy_vcpu_time() == pytest.approx(2.0)


def test_three_bursts_on_two_cores_each_get_two_thirds():
    s = quiet(*PS, "instances.vcpus=2", "gunicorn.workers=3")
    engine, results = run(s, [0.0, 0.0, 0.0])
    assert app(results) == [(r, 0.5, 1.0, 1.5) for r in range(3)]
    # Both cores busy for 1.5 s: 3 vCPU-seconds, the work done.
    assert engine.instances[0].busy_vcpu_time() == pytest.approx(3.0)


def test_as_many_bursts_as_cores_never_wait():
    s = quiet(*PS, "instances.vcpus=2", "gunicorn.workers=2")
    _, results = run(s, [0.0, 0.25])
    assert app(results) == [(0, 0.0, 1.0, 1.0), (1, 0.0, 1.0, 1.25)]


def test_fcfs_queues_where_ps_shares():
    arrivals = [0.0, 0.0]
    _, fcfs = run(quiet("instances.vcpus=1", "gunicorn.workers=2"), arrivals)
    _, ps = run(quiet(*PS, "instances.vcpus=1", "gunicorn.workers=2"), arrivals)
    assert [e for *_, e in app(fcfs)] == [1.0, 2.0]  # one after the other
    assert [e for *_, e in app(ps)] == [2.0, 2.0]  # side by side, both slower


def test_the_worker_timeout_cuts_a_shared_burst_short_and_charges_what_it_got():
    s = quiet(*PS, "instances.vcpus=1", "gunicorn.workers=2", "gunicorn.timeout=1.2",
              "gunicorn.restart=0.5")  # fmt: skip
    engine, results = run(s, [0.0, 0.6])
    # The first: 0.6 s alone, then half speed: 0.9 s of CPU when the arbiter kills it at 1.2.
    # The second: 0.3 s shared, then alone from 1.2; killed at 0.6 + 1.2 = 1.8 with 0.9 s.
    assert ends(results) == {0: (502, 0.0, 1.2), 1: (502, 0.6, 1.8)}
    assert app(results) == [(0, 0.3, 0.9, 1.2), (1, 0.3, 0.9, 1.8)]
    assert [r.outcome for r in layer(results, "app")] == ["worker-timeout"] * 2
    assert results.run.counters["killed_workers"] == 2
    assert engine.instances[0].busy_vcpu_time() == pytest.approx(1.8)
    assert engine.instances[0].vcpus.running == 0


def test_a_crash_cuts_shared_bursts_short_and_frees_the_cores():
    s = quiet(*PS, "instances.vcpus=1", "gunicorn.workers=2")

    def crash(engine):
        def stop(engine):
            yield engine.env.timeout(0.5)
            engine.instances[0].stop()

        engine.processes.append(stop)

    engine, results = run(s, [0.0, 0.0], setup=crash)
    assert ends(results) == {0: (502, 0.0, 0.5), 1: (502, 0.0, 0.5)}
    assert app(results) == [(0, 0.25, 0.25, 0.5), (1, 0.25, 0.25, 0.5)]
    cores = engine.instances[0].vcpus
    assert cores.running == 0 and cores.busy == 0
    assert engine.instances[0].busy_vcpu_time() == pytest.approx(0.5)


def test_bursts_of_any_sizes_finish_when_the_shared_rate_says():
    env = Environment()
    cores = SharedCores(env, 1)
    bursts = [cores.start(w) for w in (3.0, 1.0, 2.0)]
    assert all(b.event is not None for b in bursts)  # no journey: the cores say when
    env.run()
    # Three at a third of the core: 1.0 done at 3.0; two at half: 2.0 (1.0 left) done at
    # 3.0 + 2.0 = 5.0; then 3.0 alone (1.0 left) at 6.0: the core never idled.
    assert [b.attained for b in bursts] == [3.0, 1.0, 2.0]
    assert env.now == pytest.approx(6.0)
    assert cores.busy_time() == pytest.approx(6.0)


def test_one_wake_up_is_pending_per_instance_not_one_per_burst():
    env = Environment()
    cores = SharedCores(env, 2)
    works = [0.1 * k for k in range(1, 51)]
    ended = {}
    for work in works:
        burst = cores.start(work)
        burst.event.callbacks.append(lambda _, w=work: ended.__setitem__(w, env.now))
    assert len(env._queue) == 1  # fifty bursts in progress, one wake-up
    env.run()
    # Started together, the k-th smallest is done when every burst still there has had its
    # work: between two finishes the m left each progress at min(1, 2 / m).
    expected, t, done = {}, 0.0, 0.0
    for k, work in enumerate(works):
        left = len(works) - k
        t += (work - done) / min(1.0, 2 / left)
        expected[work], done = t, work
    assert ended == pytest.approx(expected)
    assert cores.busy_time() == pytest.approx(sum(works))


def test_a_burst_with_a_vcpu_to_itself_is_waited_out_until_a_join_shares_it():
    env = Environment()
    cores = SharedCores(env, 2)
    journeys, log = {}, []

    def request(name, work, at):
        yield at
        burst = cores.start(work, math.inf, journeys[name])
        log.append((name, "own" if burst.event is None else "shared"))
        try:
            yield work if burst.event is None else burst.event
        finally:
            if burst.running:
                cores.leave(burst)
        log.append((round(env.now, 9), name, round(burst.attained, 9)))

    for name, at in (("a", 0.0), ("b", 0.2), ("c", 0.5)):
        journeys[name] = Journey(env, request(name, 1.0, at))
    run_until(env, 0.4)
    # Two bursts on two vCPUs: each request waits out its own work; the cores plan nothing.
    assert log == [("a", "own"), ("b", "own")]
    assert all(type(entry[3]) is Wake for entry in env._queue)
    run_until(env, 10.0)
    # c joins at 0.5: three on two vCPUs, each at 2/3. a has 0.5 s of CPU left: done at
    # 1.25; then two at full speed: b (0.2 left) at 1.45, c (0.5 left) at 1.75.
    assert log[2:] == [("c", "shared"), (1.25, "a", 1.0), (1.45, "b", 1.0), (1.75, "c", 1.0)]
    assert cores.busy_time() == pytest.approx(3.0)


def test_a_journey_waits_for_its_burst_and_a_deadline_on_the_cores_ends_it():
    env = Environment()
    cores = SharedCores(env, 1)
    log = []

    def burst(name, work, deadline):
        done = cores.start(work, deadline)
        yield done.event
        log.append((round(env.now, 9), name, done.expired, round(done.attained, 9)))

    Journey(env, burst("a", 1.0, 10.0))
    Journey(env, burst("b", 1.0, 1.0))
    run_until(env, 20.0)
    # b leaves at its deadline with 0.5 s; a, alone from then on, finishes at 1.5.
    assert log == [(1.0, "b", True, 0.5), (1.5, "a", False, 1.0)]


def test_the_default_is_first_come_first_served():
    engine = Engine(sim.load("baseline", ["run.duration=5", "run.warmup=1"]))
    assert all(i.vcpus.__class__ is Slots for i in engine.instances)
    engine = Engine(sim.load("baseline", [*PS, "run.duration=5", "run.warmup=1"]))
    assert all(i.vcpus.__class__ is SharedCores for i in engine.instances)


def test_a_bad_discipline_is_a_one_line_error(capsys):
    from sim.cli import main

    assert main(["run", "baseline", "--set", "instances.cpu_discipline=rr"]) == 2
    err = capsys.readouterr().err
    assert err == 'error: instances.cpu_discipline = "rr": must be one of "fcfs", "ps"\n'


def test_time_slicing_shortens_the_mean_and_the_books_stay_right():
    # cpu_bound (9 workers on 2 vCPUs, rho 0.85): shared vCPUs let short bursts past long
    # ones, so the app layer's mean drops; the CPU work and the utilisation do not change.
    fcfs = sim.run(sim.load("cpu_bound")).summary
    ps = sim.run(sim.load("cpu_bound", PS)).summary
    app_f, app_p = fcfs["latency"]["layers"]["app"], ps["latency"]["layers"]["app"]
    assert app_p["mean"] < app_f["mean"]
    assert app_p["service"] == app_f["service"]  # the same bursts, the same CPU seconds
    assert ps["utilisation"]["vcpus"] == pytest.approx(fcfs["utilisation"]["vcpus"], abs=1e-3)


def test_the_narration_tells_a_shared_burst_as_stretched():
    s = quiet(*PS, "instances.vcpus=1", "gunicorn.workers=2")
    _, results = run(s, [0.0, 0.0])
    result = Result(s, 1, results.runs)
    text = " ".join(result.trace("first").split())
    assert "1000.0 ms on a vCPU, stretched by 1000.0 ms sharing the 1 vCPU with other" in text


def test_health_checks_use_the_shared_cores_over_time():
    s = sim.load("flash_crowd", [*PS, "run.duration=900", "run.warmup=60"])
    result = sim.run(s)
    assert result.summary["requests"]["ok"] > 10000
    healthy = [h for h in result.log.health if h[2] == "healthy"]
    assert healthy  # checks answered on time-sliced vCPUs


#: A 95 % interval misses one time in twenty by design: at this seed every case lands inside.
SEED = 1
OPEN = [
    *PS,
    "gunicorn.workers=200",  # every request on a worker at once: the CPU is the only queue
    "gunicorn.backlog=100000",
    "gunicorn.timeout=2592000.0",
    "nginx.proxy_read_timeout=2592000.0",
    "nginx.max_connections=100000",
    "load_balancer.idle_timeout=2592000.0",
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("vcpus", "lam", "cpu"),
    [
        (1, 0.7, '{ kind = "exponential", mean = 1.0 }'),
        (1, 0.7, '{ kind = "lognormal", mean = 1.0, sigma = 1.0 }'),
        (1, 0.7, "1.0"),
        (2, 1.6, '{ kind = "exponential", mean = 1.0 }'),
        (2, 1.6, '{ kind = "lognormal", mean = 1.0, sigma = 1.0 }'),
    ],
    ids=["m-m-1", "m-lognormal-1", "m-d-1", "m-m-2", "m-lognormal-2"],
)
def test_processor_sharing_matches_theory_whatever_the_service(vcpus, lam, cpu):
    s = quiet(*OPEN, f"instances.vcpus={vcpus}", f"arrivals.rate={lam}", f"django.cpu={cpu}",
              "run.duration=12000", "run.warmup=1200")  # fmt: skip
    expected = (
        theory.mg1_ps_sojourn(lam, 1.0) if vcpus == 1 else theory.mgc_ps_sojourn(vcpus, lam, 1.0)
    )
    summaries = sim.run(s, SEED, replications=6).summaries
    sojourns = [u["latency"]["end_to_end"]["mean"] for u in summaries]
    _, low, high = theory.confidence_interval(sojourns)
    assert low <= expected <= high, f"W {expected:.4f} outside [{low:.4f}, {high:.4f}]"
    assert high - low < 0.25 * expected
