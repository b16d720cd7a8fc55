"""min <= desired <= max, never more than max instances alive, and utilisation a fraction, over
random scenarios run through the real engine (the fake-fleet property in
test_alarms_and_policies.py covers many more policy shapes quickly; this one checks the wiring)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim import loader


@st.composite
def scenarios(draw):
    lo = draw(st.integers(0, 2))
    hi = draw(st.integers(max(lo, 1), 4))
    kind = draw(st.sampled_from(["simple", "step", "target_tracking"]))
    comparison = draw(st.sampled_from([">", "<"]))
    adjustment = draw(st.sampled_from([-2, -1, 1, 2]))
    crash = draw(st.one_of(st.none(), st.floats(20, 250)))
    text = f"""
[run]
duration = 300.0
warmup = 10.0
drain = 20.0
seed = {draw(st.integers(0, 1000))}
[traffic]
enabled = true
profile = "step"
rate = {draw(st.floats(1, 10)):.3f}
after = {draw(st.floats(1, 30)):.3f}
at = {draw(st.floats(0, 300)):.3f}
sessions = {str(draw(st.booleans())).lower()}
[health_check]
enabled = {str(draw(st.booleans())).lower()}
interval = 10.0
timeout = 5.0
healthy_threshold = 2
[asg]
enabled = true
min = {lo}
max = {hi}
launch_time = {draw(st.floats(0, 30)):.3f}
boot_time = {draw(st.floats(0, 60)):.3f}
default_cooldown = {draw(st.sampled_from([0.0, 60.0, 300.0]))}
{draw(st.sampled_from(["", "warmup = 0.0", "warmup = 60.0"]))}
exclude_warming = {str(draw(st.booleans())).lower()}
termination_policy = "{draw(st.sampled_from(["default", "oldest_instance", "newest_instance"]))}"
[[asg.policies]]
kind = "{kind}"
comparison = "{comparison}"
threshold = {draw(st.floats(0, 100)):.3f}
period = 30.0
evaluation_periods = {draw(st.integers(1, 2))}
adjustment = {adjustment}
steps = [{{ lower = -1000.0, upper = 0.0, adjustment = -1 }}, {{ lower = 0.0, adjustment = 2 }}]
target = {draw(st.floats(10, 90)):.3f}
high_periods = 1
low_periods = 2
[timeseries]
period = 5.0
"""
    if crash is not None:
        text += f'[[failures]]\nkind = "crash"\nat = {crash:.3f}\n'
    return lo, hi, text


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_group_stays_within_min_and_max_on_the_real_engine(case):
    lo, hi, text = case
    over = sim.run(loader.loads(text))
    for row in over.table:
        assert lo <= row["desired"] <= hi
        assert row["in_service"] + row["booting"] <= hi
    # Busy time over capacity time: a crashed or drained instance stops counting in both.
    for key, value in over.summary["utilisation"].items():
        assert value is None or 0.0 <= value <= 1.0, (key, value)
