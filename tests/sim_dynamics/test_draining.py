"""Draining on the real engine: a scale-in deregisters the instance, lets its requests finish
for up to the deregistration delay, then cuts off what is left with 502."""

from __future__ import annotations

import numpy as np

import sim
from sim import loader
from sim.model.instance import INSTANCE_STOPPED

# Requests spend 8 s waiting on the database (not on a CPU), so some are always in flight.
# A scale-in policy that is always in ALARM removes the oldest instance at t = 60 s.
SCENARIO = """
[run]
duration = 150.0
warmup = 10.0
drain = 30.0
[traffic]
enabled = true
profile = "constant"
rate = 1.0
sessions = false
[django]
cpu = 0.01
queries = 1
cpu_per_query = 0.0
[postgres]
rtt = 8.0
vcpus = 64
[gunicorn]
workers = 17
[health_check]
enabled = true
interval = 5.0
timeout = 2.0
healthy_threshold = 2
unhealthy_threshold = 2
deregistration_delay = %s
[asg]
enabled = true
min = 1
max = 2
desired = 2
termination_policy = "oldest_instance"
[[asg.policies]]
kind = "simple"
comparison = "<="
threshold = 100.0
period = 60.0
evaluation_periods = 1
adjustment = -1
"""


def drained(delay: float):
    over = sim.run(loader.loads(SCENARIO % delay))
    victim = [(t, state) for t, name, state in over.log.health if name == "instance 0"]
    return over, victim


def test_requests_in_flight_finish_within_the_delay_and_new_ones_go_elsewhere():
    over, victim = drained(20.0)
    assert victim[0] == (0, "healthy")
    assert victim[1] == (60, "draining")
    t_unused = victim[2][0]
    assert victim[2][1] == "unused" and 60 < t_unused <= 60 + 8 + 1  # last request + a poll
    assert set(over.arrays["status"]) == {200}
    served_by_victim = [row for row in over.records if row.layer == "queue" and row.instance == 0]
    assert served_by_victim and max(row.arrival for row in served_by_victim) < 60


def test_whatever_is_still_in_flight_after_the_delay_fails_with_502():
    over, victim = drained(3.0)
    assert victim[1:] == [(60, "draining"), (63, "unused")]
    r = over.arrays
    cut = r["end"][r["status"] == 502]
    assert cut.size > 0 and np.all(cut == 63)
    rows = over.records
    outcomes = {
        r.outcome for r in rows if r.status == 502 and r.layer in ("queue", "app", "db")
    } - {"ok"}
    assert outcomes == {INSTANCE_STOPPED}
