"""Exact timelines of health checks and draining against fake targets."""

from __future__ import annotations

import simpy
from dynamics_fakes import FakeLoadBalancer, FakeTarget

from sim.config import HealthCheckConfig
from sim.model.health import HealthChecker

CFG = HealthCheckConfig(
    interval=10, timeout=2, healthy_threshold=3, unhealthy_threshold=2, deregistration_delay=10
)


def checker(env, lb, unhealthy=None) -> HealthChecker:
    return HealthChecker(
        env,
        CFG,
        lb,
        probe=lambda t: t.probe(),
        in_flight=lambda t: t.in_flight,
        on_unhealthy=unhealthy.append if unhealthy is not None else None,
        name=lambda t: t.name,
    )


def test_target_leaves_after_unhealthy_threshold_and_returns_after_healthy_threshold():
    env = simpy.Environment()
    lb = FakeLoadBalancer(env)
    reported = []
    hc = checker(env, lb, reported)
    target = FakeTarget(env, "web-1")
    hc.watch(target)

    def outage():
        yield env.timeout(35)
        target.up = False
        yield env.timeout(20)
        target.up = True

    env.process(outage())
    env.run(until=100)
    # Checks at 0, 10, 20 answer after 0.5 s: healthy at 20.5 (third success). Down at 35:
    # checks at 40 and 50 time out at 42 and 52: unhealthy at 52. Up at 55: successes at
    # 60.5, 70.5, 80.5: healthy again at 80.5.
    assert hc.history == [
        (0, "web-1", "initial"),
        (20.5, "web-1", "healthy"),
        (52, "web-1", "unhealthy"),
        (80.5, "web-1", "healthy"),
    ]
    assert lb.log == [
        (20.5, "register", "web-1"),
        (52, "deregister", "web-1"),
        (80.5, "register", "web-1"),
    ]
    assert reported == [target]


def test_one_missed_check_below_the_threshold_changes_nothing():
    env = simpy.Environment()
    lb = FakeLoadBalancer(env)
    hc = checker(env, lb)
    target = FakeTarget(env, "web-1")
    hc.watch(target)

    def blip():
        yield env.timeout(35)
        target.up = False
        yield env.timeout(10)  # misses only the check at 40
        target.up = True

    env.process(blip())
    env.run(until=100)
    assert [s for _, _, s in hc.history] == ["initial", "healthy"]


def test_a_slow_answer_is_a_failure_like_no_answer():
    env = simpy.Environment()
    lb = FakeLoadBalancer(env)
    hc = checker(env, lb)
    target = FakeTarget(env, "busy", answer_after=2.5)  # workers all busy: beyond the timeout
    hc.watch(target)
    env.run(until=100)
    assert lb.log == []
    assert hc.history[-1][2] == "unhealthy"


def test_draining_ends_when_the_last_request_finishes():
    env = simpy.Environment()
    lb = FakeLoadBalancer(env)
    hc = checker(env, lb)
    target = FakeTarget(env, "web-1")
    hc.watch(target)
    env.run(until=25)
    target.in_flight = 2

    def finish():
        yield env.timeout(3.5)
        target.in_flight = 0

    env.process(finish())
    done = env.process(hc.drain(target))
    env.run(until=done)
    assert hc.history[-2:] == [(25, "web-1", "draining"), (29, "web-1", "unused")]
    assert lb.log[-1] == (25, "deregister", "web-1")


def test_draining_gives_up_after_the_deregistration_delay():
    env = simpy.Environment()
    lb = FakeLoadBalancer(env)
    hc = checker(env, lb)
    target = FakeTarget(env, "web-1", in_flight=1)
    hc.watch(target)
    env.run(until=25)
    done = env.process(hc.drain(target))
    env.run(until=done)
    assert hc.history[-2:] == [(25, "web-1", "draining"), (35, "web-1", "unused")]
    env.run(until=100)
    assert hc.history[-1] == (35, "web-1", "unused")  # no more checks after draining
