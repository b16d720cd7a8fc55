"""What each kind of scaling policy does when its alarm reports.

Think of three drivers keeping a car at 100 km/h: one presses the pedal a fixed amount when
the speedometer has read too low for a while and then waits to feel the effect (*simple*
scaling, with its cooldown); one presses harder the further below the speed is, and keeps
adjusting (*step* scaling, which counts instances still warming up as capacity on its way);
one works out the pedal position the target speed needs (*target tracking*: the capacity that
brings the metric back to the target, out if any policy says so, in only if all agree and
nothing is warming up). ``sim/FACTS.md``, "EC2 Auto Scaling".

Each function returns the handler the group calls after every datapoint of the policy's alarm.
"""

from __future__ import annotations

import math
from typing import Any

from sim.config import PolicyConfig
from sim.model.autoscaling.cloudwatch import ALARM, Alarm


def simple(group, policy: PolicyConfig):
    """One adjustment when the alarm is in ALARM, then nothing until the cooldown is over."""
    cooldown = group.spec.default_cooldown if policy.cooldown is None else policy.cooldown

    def handle(alarm: Alarm) -> None:
        if alarm.state != ALARM or group.simple_busy or group.env.now < group.cooldown_until:
            return
        if not group.set_desired(group.desired + policy.adjustment, f"{alarm.name} in ALARM"):
            return
        group.simple_busy = True
        group.env.process(_cooldown_after(group, group.reconcile(), cooldown))

    return handle


def _cooldown_after(group, events: list[Any], cooldown: float):
    # The cooldown starts when the activity completes (after draining, for terminations).
    yield group.env.all_of(events)
    group.simple_busy = False
    group.cooldown_until = group.env.now + cooldown
    group.log("cooldown", "", f"until t={group.cooldown_until:g}")


def step(group, policy: PolicyConfig):
    """The step whose interval holds the breach; keeps reacting while activities run."""

    def handle(alarm: Alarm) -> None:
        if alarm.state != ALARM or alarm.last_value is None:
            return
        breach = alarm.last_value - alarm.spec.threshold
        chosen = next((s for s in policy.steps if s.lower <= breach < s.upper), None)
        if chosen is None or chosen.adjustment == 0:
            return
        adjustment = chosen.adjustment
        if adjustment > 0:
            # Warming instances are capacity already on its way: do not add them twice.
            warming = sum(1 for m in group.live() if group.warming(m))
            target = max(group.desired, group.desired - warming + adjustment)
        else:
            target = group.desired + adjustment
        if group.set_desired(target, f"{alarm.name} step {adjustment:+d}"):
            group.reconcile()

    return handle


def target_tracking(group, policy: PolicyConfig, high: Alarm, low: Alarm):
    """Keep the metric near the target with the two managed alarms (high 3 x 1 min, low
    15 x 1 min): out to the capacity the high reading needs, in to what the low one needs."""

    def proposal(alarm: Alarm) -> int:
        # Capacity the measured instances need; warming ones already count in `desired`.
        return math.ceil(len(group.counted()) * alarm.last_value / policy.target)

    def handle(_: Alarm) -> None:
        if high.state == ALARM and high.last_value is not None:
            if group.set_desired(max(group.desired, proposal(high)), f"{high.name} in ALARM"):
                group.reconcile()
        elif (
            low.state == ALARM
            and low.last_value is not None
            # Scale in only if every target-tracking policy agrees, and not while
            # instances are still warming up.
            and all(lo.state == ALARM for _, lo in group.target_tracking)
            and not any(group.warming(m) for m in group.live())
        ):
            target = max(1, proposal(low))
            if target < group.desired and group.set_desired(target, f"{low.name} in ALARM"):
                group.reconcile()

    return handle
