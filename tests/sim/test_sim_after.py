"""The CPU a worker spends after the response (``django.cpu_after``): exact timelines on both
disciplines, the books, a closed loop at saturation against the response-time law, and the
engines and reductions that refuse it.

After the response has gone, Gunicorn closes the connection and logs, Django sends
``request_finished``: the worker and a vCPU stay busy, the client does not wait. So the
answer comes when Django is done, and the next request in the backlog starts only after the
work after the response.
"""

from __future__ import annotations

import pytest
from sim_helpers import ends, quiet, run

import sim
from sim import theory
from sim.config import ConfigError

AFTER = ['django.cpu_after={ kind = "constant", mean = 0.5 }']


def test_the_answer_does_not_wait_but_the_next_request_does():
    # One worker, Django 1 s, then 0.5 s after the response: the first answer at 1.0, the
    # second request (arrived at 0.1) starts at 1.5, when the worker is free again.
    engine, results = run(quiet(*AFTER, "instances.vcpus=1"), [0.0, 0.1])
    assert ends(results) == {0: (200, 0.0, 1.0), 1: (200, 0.1, 2.5)}
    # The vCPU and the worker were busy for both bursts and both afters.
    inst = engine.instances[0]
    assert inst.busy_vcpu_time() == pytest.approx(3.0)
    assert inst.busy_worker_time() == pytest.approx(3.0)
    # Without it, the second starts as soon as the first is answered.
    _, plain = run(quiet("instances.vcpus=1"), [0.0, 0.1])
    assert ends(plain) == {0: (200, 0.0, 1.0), 1: (200, 0.1, 2.0)}


def test_light_load_latency_is_djangos_alone():
    _, results = run(quiet(*AFTER), [0.0, 5.0, 10.0])
    assert ends(results) == {0: (200, 0.0, 1.0), 1: (200, 5.0, 6.0), 2: (200, 10.0, 11.0)}


def test_work_after_the_response_takes_its_turn_on_the_vcpus():
    # First come, first served: two workers on one vCPU. Request 0 runs 0-1; request 1
    # (arrived at 0.5, on the second worker) has waited for the vCPU since, so it runs 1-2,
    # and request 0's after-work, in line from 1.0, runs 2-2.5: its worker is free at 2.5.
    fcfs = quiet(*AFTER, "instances.vcpus=1", "gunicorn.workers=2")
    engine, results = run(fcfs, [0.0, 0.5, 2.1])
    # Request 2 (at 2.1) finds request 1's worker busy with its after-work (2.5-3.0) and
    # request 0's free only at 2.5: it starts there, and shares nothing (first come).
    assert ends(results) == {0: (200, 0.0, 1.0), 1: (200, 0.5, 2.0), 2: (200, 2.1, 4.0)}
    assert engine.instances[0].busy_vcpu_time() == pytest.approx(4.5)
    # Time-sliced: request 1 shares the vCPU with request 0 from 0.5 (each at half speed:
    # request 0 is done at 1.5, request 1 half done), then with request 0's after-work: 0.5 s
    # of CPU left each, at half speed, both done at 2.5.
    ps = quiet(*AFTER, "instances.vcpus=1", "gunicorn.workers=2", "instances.cpu_discipline=ps")
    engine, results = run(ps, [0.0, 0.5])
    assert ends(results) == {0: (200, 0.0, 1.5), 1: (200, 0.5, 2.5)}
    assert engine.instances[0].busy_vcpu_time() == pytest.approx(3.0)


@pytest.mark.parametrize("discipline", ["fcfs", "ps"])
def test_a_saturated_closed_loop_serves_one_request_per_burst_and_after(discipline):
    # Three users who never think, one worker: the worker is always busy, 1.5 s a request, so
    # X = 1 / 1.5 and each user's response time is N / X - Z = 4.5 s.
    s = quiet(*AFTER, f"instances.cpu_discipline={discipline}", "instances.vcpus=1",
              "users.enabled=true", "users.count=3", "users.think_time=0.0",
              "gunicorn.backlog=100", "run.duration=300", "run.warmup=30")  # fmt: skip
    users = sim.run(s).summary["users"]
    assert users["answered_per_s"] == pytest.approx(1 / 1.5, rel=0.02)
    assert users["response_time"] == pytest.approx(
        theory.response_time_law(3, 1 / 1.5, 0.0), rel=0.02
    )


def test_none_by_default_and_the_kept_outputs_do_not_draw_for_it():
    s = sim.load("baseline")
    assert s.django.cpu_after.kind == "constant" and s.django.cpu_after.mean == 0


def test_the_mm_c_reduction_and_the_fluid_engine_refuse_it():
    with pytest.raises(ConfigError, match=r"django.cpu_after.*must be 0 for theory.model mm_c"):
        sim.load("mm_c", AFTER)
    s = sim.load("weekday", AFTER)
    with pytest.raises(ConfigError, match="does not model the CPU a worker spends after"):
        sim.run(s, engine="fluid")


def test_a_negative_cost_after_the_response_is_a_one_line_error():
    with pytest.raises(ConfigError, match=r"django\.cpu_after"):
        sim.load("baseline", ['django.cpu_after={ kind = "constant", mean = -1.0 }'])


def test_a_cost_that_is_not_there_is_known_as_such_whatever_its_kind():
    from sim.config import DistributionConfig

    zero = [
        DistributionConfig(kind="constant", mean=0.0),
        DistributionConfig(kind="empirical", samples=(0.0, 0.0)),
        DistributionConfig(kind="uniform", low=0.0, high=0.0),
    ]
    some = [
        DistributionConfig(kind="constant", mean=0.001),
        DistributionConfig(kind="empirical", samples=(0.0, 0.002)),
        DistributionConfig(kind="uniform", low=0.0, high=0.001),
        DistributionConfig(kind="exponential", mean=0.001),
    ]
    assert all(d.always_zero for d in zero) and not any(d.always_zero for d in some)
