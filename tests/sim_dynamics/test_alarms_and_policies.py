"""Exact timelines of the auto-scaling state machines: alarms, cooldown, warm-up, min/max."""

from __future__ import annotations

import simpy
from dynamics_fakes import FakeFleet
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.config import AsgConfig, PolicyConfig, StepConfig
from sim.model.autoscaling import ALARM, INSUFFICIENT_DATA, OK, Alarm, AlarmSpec, AutoScalingGroup


def feed(alarm: Alarm, values: list[float | None], period: float = 60.0) -> None:
    for i, v in enumerate(values, start=1):
        alarm.record(i * period, v)


def test_alarm_fires_after_n_breaching_periods_and_not_after_n_minus_1():
    spec = AlarmSpec(comparison=">", threshold=70, period=60, evaluation_periods=3)
    alarm = Alarm("cpu-high", spec)
    feed(alarm, [80, 80])
    assert alarm.state == OK
    alarm.record(180, 80)
    assert alarm.history == [(0, INSUFFICIENT_DATA), (60, OK), (180, ALARM)]


def test_one_calm_period_resets_the_count():
    alarm = Alarm("cpu-high", AlarmSpec(threshold=70, period=60, evaluation_periods=2))
    feed(alarm, [80, 60, 80, 80, 50])
    assert alarm.history == [(0, INSUFFICIENT_DATA), (60, OK), (240, ALARM), (300, OK)]


def test_no_data_is_insufficient_data_not_ok():
    alarm = Alarm("cpu-high", AlarmSpec(threshold=70, period=60, evaluation_periods=2))
    feed(alarm, [None, None, 90, None, None])
    assert alarm.history == [(0, INSUFFICIENT_DATA), (180, OK), (300, INSUFFICIENT_DATA)]


def test_comparisons_are_strict_or_not_as_written():
    at = Alarm("x", AlarmSpec(comparison=">=", threshold=70, period=1, evaluation_periods=1))
    above = Alarm("y", AlarmSpec(comparison=">", threshold=70, period=1, evaluation_periods=1))
    assert at.record(1, 70) == ALARM
    assert above.record(1, 70) == OK


def desired_log(group: AutoScalingGroup) -> list[tuple[float, str]]:
    return [(a.t, a.detail.split(" (")[0]) for a in group.activities if a.kind == "desired"]


def simple_group(env, **overrides) -> AutoScalingGroup:
    policy = PolicyConfig(
        kind="simple", threshold=50, period=60, evaluation_periods=1, adjustment=1
    )
    spec = dict(
        min=1,
        max=5,
        launch_time=10.0,
        boot_time=5.0,
        warmup=0.0,
        default_cooldown=300.0,
        policies=(policy,),
    )
    spec.update(overrides)
    return AutoScalingGroup(env, AsgConfig(**spec), FakeFleet(env, util=0.9))


def test_cooldown_blocks_a_second_simple_scaling_activity():
    env = simpy.Environment()
    group = simple_group(env)
    env.run(until=500)
    # t=60: in ALARM, 1 -> 2; the launch completes at 70 (EC2 running), so the cooldown runs to
    # 370; the ticks at 120..360 are blocked although the alarm stays in ALARM; 420 acts.
    assert desired_log(group) == [(0, "start at 1"), (60, "1 -> 2"), (420, "2 -> 3")]
    assert [a.t for a in group.activities if a.kind == "cooldown"] == [70, 430]


def test_without_cooldown_the_policy_reacts_every_period_until_max():
    env = simpy.Environment()
    group = simple_group(env, default_cooldown=0.0, max=3)
    env.run(until=500)
    assert desired_log(group) == [(0, "start at 1"), (60, "1 -> 2"), (120, "2 -> 3")]
    assert group.desired == 3


def test_warming_instances_are_excluded_from_the_metric():
    env = simpy.Environment()
    spec = AsgConfig(min=2, max=4, launch_time=10, boot_time=20, warmup=100, policies=())
    group = AutoScalingGroup(env, spec, FakeFleet(env, util=0.8))
    cw = group.cloudwatch
    env.run(until=200)  # both initial instances warm (running at 10, warm-up over at 110)
    group.set_desired(3, "test")
    group.reconcile()  # the third launches at 200: running 210, serving 230, warm at 310
    cw.datapoint("a", AlarmSpec(period=60))
    env.run(until=260)
    assert [m.id for m in group.counted()] == ["i-1", "i-2"]
    assert cw.datapoint("a", AlarmSpec(period=60)) == 80.0


def test_counting_warming_instances_drags_the_average_down():
    env = simpy.Environment()
    spec = AsgConfig(min=2, max=4, launch_time=10, boot_time=20, warmup=100, exclude_warming=False)
    group = AutoScalingGroup(env, spec, FakeFleet(env, util=0.8))
    env.run(until=200)
    group.set_desired(3, "test")
    group.reconcile()
    group.cloudwatch.datapoint("a", AlarmSpec(period=60))
    env.run(until=260)  # the newcomer served from 230: 30 s of 60 at 80 %
    value = group.cloudwatch.datapoint("a", AlarmSpec(period=60))
    assert value == (80 + 80 + 40) / 3


def test_all_instances_warming_means_insufficient_data_and_no_scaling():
    env = simpy.Environment()
    policy = PolicyConfig(kind="simple", threshold=10, period=60, evaluation_periods=1)
    spec = AsgConfig(min=1, max=3, launch_time=10, boot_time=5, warmup=1000, policies=(policy,))
    group = AutoScalingGroup(env, spec, FakeFleet(env, util=0.9))
    env.run(until=600)
    assert group.alarms["p0-cpu"].history == [(0, INSUFFICIENT_DATA)]
    assert group.desired == 1


def test_step_scaling_picks_the_step_by_breach_size_and_counts_warming_capacity():
    env = simpy.Environment()
    steps = (StepConfig(lower=0, upper=20, adjustment=1), StepConfig(lower=20, adjustment=3))
    policy = PolicyConfig(kind="step", threshold=60, period=60, evaluation_periods=1, steps=steps)
    spec = AsgConfig(min=2, max=10, launch_time=0, boot_time=0, warmup=100, policies=(policy,))
    group = AutoScalingGroup(env, spec, FakeFleet(env, util=0.9))  # 90 %: breach 30, step +3
    env.run(until=300)
    # 60: everyone warming, no data. 120: +3. 180: the three newcomers (warm until 220) count
    # as capacity on its way, so +3 asks for nothing more. 240: warm, still 90 %: +3 again.
    assert desired_log(group) == [(0, "start at 2"), (120, "2 -> 5"), (240, "5 -> 8")]


def test_target_tracking_scales_out_after_three_high_minutes():
    env = simpy.Environment()
    policy = PolicyConfig(kind="target_tracking", target=45)
    spec = AsgConfig(min=2, max=6, launch_time=10, boot_time=5, warmup=0, policies=(policy,))
    group = AutoScalingGroup(env, spec, FakeFleet(env, util=0.9))
    env.run(until=181)
    # 2 instances at 90 % against a 45 % target: ceil(2 x 90 / 45) = 4, at the third minute.
    assert desired_log(group)[1:] == [(180, "2 -> 4")]


def test_target_tracking_scales_in_after_fifteen_low_minutes_only():
    env = simpy.Environment()
    policy = PolicyConfig(kind="target_tracking", target=50)
    spec = AsgConfig(
        min=1, max=6, desired=4, launch_time=0, boot_time=0, warmup=0, policies=(policy,)
    )
    group = AutoScalingGroup(env, spec, FakeFleet(env, util=0.1))
    env.run(until=15 * 60 - 1)
    assert group.desired == 4
    env.run(until=15 * 60 + 1)
    assert desired_log(group)[1:] == [(900, "4 -> 1")]


def test_unhealthy_instance_is_replaced_despite_cooldown():
    env = simpy.Environment()
    group = simple_group(env, min=2)
    env.run(until=100)  # a scale-out at 60 started a cooldown until 370
    victim = group.members[0]
    group.report_unhealthy(victim.instance)
    env.run(until=101)
    kinds = [(a.kind, a.instance) for a in group.activities if a.t == 100]
    assert kinds == [("terminate", victim.id), ("launch", "i-4"), ("terminated", victim.id)]
    assert len(group.live()) == group.desired == 3


def test_default_termination_policy_prefers_the_fuller_zone():
    env = simpy.Environment()
    spec = AsgConfig(min=1, max=5, desired=3, azs=("a", "b"), launch_time=1, boot_time=1)
    group = AutoScalingGroup(env, spec, FakeFleet(env))
    env.run(until=10)
    assert [m.az for m in group.live()] == ["a", "b", "a"]
    group.set_desired(2, "test")
    group.reconcile()
    assert sorted(m.az for m in group.live()) == ["a", "b"]


def test_scaling_in_early_with_newest_instance_kills_a_booting_instance():
    env = simpy.Environment()
    spec = AsgConfig(
        min=1, max=5, launch_time=10, boot_time=100, termination_policy="newest_instance"
    )
    group = AutoScalingGroup(env, spec, FakeFleet(env))
    env.run(until=200)
    group.set_desired(2, "out")
    group.reconcile()
    env.run(until=250)
    group.set_desired(1, "in")
    group.reconcile()
    terminated = [a for a in group.activities if a.kind == "terminate"]
    assert [(a.t, a.instance, a.detail) for a in terminated] == [
        (250, "i-2", "scale in (was booting)")
    ]


@st.composite
def random_groups(draw):
    lo = draw(st.integers(0, 3))
    hi = draw(st.integers(max(lo, 1), 6))
    desired = draw(st.one_of(st.none(), st.integers(lo, hi)))
    policies = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["simple", "step", "target_tracking"]))
        adjustment = draw(st.integers(-3, 3).filter(bool))
        policies.append(
            PolicyConfig(
                kind=kind,
                comparison=draw(st.sampled_from([">", "<"])),
                threshold=draw(st.floats(0, 100)),
                period=draw(st.sampled_from([30.0, 60.0])),
                evaluation_periods=draw(st.integers(1, 3)),
                adjustment=adjustment,
                cooldown=draw(st.sampled_from([None, 0.0, 45.0])),
                steps=(
                    StepConfig(lower=-1e9, upper=0, adjustment=-1),
                    StepConfig(lower=0, adjustment=adjustment),
                ),
                target=draw(st.floats(5, 95)),
                high_periods=draw(st.integers(1, 3)),
                low_periods=draw(st.integers(1, 4)),
            )
        )
    spec = AsgConfig(
        min=lo,
        max=hi,
        desired=desired,
        launch_time=draw(st.floats(0, 30)),
        boot_time=draw(st.floats(0, 60)),
        warmup=draw(st.sampled_from([None, 0.0, 40.0])),
        exclude_warming=draw(st.booleans()),
        termination_policy=draw(st.sampled_from(["default", "oldest_instance", "newest_instance"])),
        policies=tuple(policies),
    )
    utils = draw(st.lists(st.floats(0, 1), min_size=1, max_size=20))
    kills = draw(st.lists(st.floats(0, 1200), max_size=4))
    return spec, utils, kills


@settings(max_examples=60, deadline=None)
@given(random_groups())
def test_min_desired_max_and_live_capacity_always_hold(case):
    spec, utils, kills = case
    env = simpy.Environment()
    fleet = FakeFleet(env, drain=7.0)
    group = AutoScalingGroup(env, spec, fleet)
    violations = []

    def weather():
        for u in utils * 10:
            for inst in fleet.instances:
                inst.util = u
            yield env.timeout(65)

    def failures():
        for t in sorted(kills):
            yield env.timeout(t - env.now)
            serving = [m for m in group.members if m.lifecycle == "in_service"]
            if serving:
                group.report_unhealthy(serving[0].instance)

    def monitor():
        while True:
            yield env.timeout(0.7)
            live = len(group.live())
            if not (spec.min <= group.desired <= spec.max) or live != group.desired:
                violations.append((env.now, spec.min, group.desired, spec.max, live))

    env.process(weather())
    env.process(failures())
    env.process(monitor())
    env.run(until=1300)
    assert violations == []


def test_a_datapoint_hinges_its_alarm_when_it_alone_decides_within_its_spread():
    alarm = Alarm("cpu-high", AlarmSpec(comparison=">", threshold=55, evaluation_periods=2))
    feed(alarm, [60])
    assert not alarm.hinges_on(2.0)  # the window is not full: nothing was decided
    alarm.record(120, 54.0)  # OK, by 1 point, the other datapoint breaching: it decided
    assert alarm.state == OK and alarm.hinges_on(2.0) and not alarm.hinges_on(0.5)
    alarm.record(180, 56.0)  # 54 does not breach: 56 decided nothing
    assert not alarm.hinges_on(2.0)
    alarm.record(240, 56.5)  # ALARM, by 1.5 points
    assert alarm.state == ALARM and alarm.hinges_on(2.0)
    alarm.record(300, None)
    assert not alarm.hinges_on(2.0)
