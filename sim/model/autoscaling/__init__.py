"""The auto-scaling group: a thermostat for servers.

A thermostat reads the room every few minutes, compares the reading with its set point, and
switches the heating on only after the room has been cold for a while, then leaves it alone
long enough for the radiators to warm up. EC2 Auto Scaling does the same with servers:

* **metrics**: every alarm period, :class:`CloudWatch` aggregates one datapoint from the fleet
  (average CPU of the instances that count, request count, average latency). Instances still
  warming up are left out of the aggregate (FACTS.md, "EC2 Auto Scaling"), unless a
  scenario switches that off to show the oscillation it prevents.
* **alarms**: an :class:`Alarm` goes to ``ALARM`` after ``evaluation_periods`` consecutive
  breaching datapoints, to ``OK`` otherwise, and sits in ``INSUFFICIENT_DATA`` while it has
  none (which blocks scaling).
* **policies** (``[[asg.policies]]``, :class:`~sim.dynamics_config.PolicyConfig`): *simple*
  (one adjustment, then a cooldown that starts when the
  activity completes; DefaultCooldown 300 s), *step* (step size by breach size,
  keeps reacting, counts warming instances as capacity already on its way) and
  *target tracking* (a high alarm 3 x 1 min and a low alarm 15 x 1 min around a target;
  scale out if any policy says so, scale in only if all do).
* **the group**: :class:`AutoScalingGroup` keeps ``min <= desired <= max`` and reconciles the
  fleet towards ``desired``: launch (pending ~17 s, then application boot) or terminate
  (chosen by the termination policy, drained behind the load balancer first). An instance the
  load balancer reports unhealthy is replaced at once, cooldown or not.

The group drives a :class:`Fleet` (launch, start, terminate, read counters); the engine
provides the real one, unit tests a small fake. ``cloudwatch.py`` holds the datapoints and the
alarms, ``policies.py`` what each kind of policy does with an alarm, ``group.py`` the group.
Data flows: fleet counters -> CloudWatch datapoints -> alarms -> policies -> desired capacity
-> launches/terminations -> fleet.
"""

from sim.model.autoscaling.cloudwatch import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    Alarm,
    AlarmSpec,
    CloudWatch,
    target_tracking_alarms,
)
from sim.model.autoscaling.group import Activity, AutoScalingGroup, Fleet, Member

__all__ = [
    "ALARM",
    "INSUFFICIENT_DATA",
    "OK",
    "Activity",
    "Alarm",
    "AlarmSpec",
    "AutoScalingGroup",
    "CloudWatch",
    "Fleet",
    "Member",
    "target_tracking_alarms",
]
