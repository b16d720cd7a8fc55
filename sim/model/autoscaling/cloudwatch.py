"""CloudWatch: one datapoint per period from the fleet's counters, and alarms on them.

Think of a smoke detector: it samples the air every few seconds and sounds only when several
samples in a row are bad, so a burnt toast does not evacuate the building. An :class:`Alarm`
is that detector on one metric: ``ALARM`` after ``evaluation_periods`` breaching datapoints in
a row, ``OK`` otherwise, ``INSUFFICIENT_DATA`` while it has none. :class:`CloudWatch` turns the
fleet's cumulative counters (CPU seconds, requests, latency sums) into those datapoints,
leaving instances still warming up out of the aggregate (``sim/FACTS.md``, "EC2 Auto
Scaling").
"""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.config import PolicyConfig

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
#: Target tracking's managed alarms use 1-minute datapoints (FACTS.md).
TARGET_TRACKING_PERIOD_S = 60.0

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


# --- alarms from policies ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AlarmSpec:
    """``metric comparison threshold`` for ``evaluation_periods`` periods of ``period`` s.

    CloudWatch basic monitoring publishes 5-minute datapoints, detailed monitoring 1-minute
    ones; an alarm of 2 x 300 s fires after ten breaching minutes (FACTS.md).
    """

    metric: str = "cpu"
    comparison: str = ">"
    threshold: float = 70.0
    period: float = 300.0
    evaluation_periods: int = 2

    @classmethod
    def of(cls, p: PolicyConfig) -> AlarmSpec:
        return cls(
            metric=p.metric,
            comparison=p.comparison,
            threshold=p.threshold,
            period=p.period,
            evaluation_periods=p.evaluation_periods,
        )


def target_tracking_alarms(p: PolicyConfig) -> tuple[AlarmSpec, AlarmSpec]:
    """AWS's two managed alarms: above the target for ``high_periods`` (3) x 60 s, below
    ``low_ratio`` x target for ``low_periods`` (15) x 60 s (FACTS.md). AWS manages these
    alarms on 1-minute datapoints whatever ``period`` says."""
    high = AlarmSpec(
        metric=p.metric,
        comparison=">",
        threshold=p.target,
        period=TARGET_TRACKING_PERIOD_S,
        evaluation_periods=p.high_periods,
    )
    low = AlarmSpec(
        metric=p.metric,
        comparison="<",
        threshold=p.target * p.low_ratio,
        period=TARGET_TRACKING_PERIOD_S,
        evaluation_periods=p.low_periods,
    )
    return high, low


# --- CloudWatch: datapoints and alarms ----------------------------------------------------


class Alarm:
    """A CloudWatch alarm fed one datapoint (or ``None``: no data) per period.

    ALARM when the last ``evaluation_periods`` datapoints all exist and all breach; OK when at
    least one of them exists; INSUFFICIENT_DATA when none does. ``history`` records state
    changes as ``(t, state)``.
    """

    def __init__(self, name: str, spec: AlarmSpec, t0: float = 0.0) -> None:
        self.name = name
        self.spec = spec
        self.state = INSUFFICIENT_DATA
        self.last_value: float | None = None
        self.history: list[tuple[float, str]] = [(t0, INSUFFICIENT_DATA)]
        self._window: deque[float | None] = deque(maxlen=spec.evaluation_periods)
        self._breaches = COMPARISONS[spec.comparison]

    def record(self, t: float, value: float | None) -> str:
        self.last_value = value
        self._window.append(value)
        present = [v for v in self._window if v is not None]
        if not present:
            state = INSUFFICIENT_DATA
        elif len(present) == self.spec.evaluation_periods and all(
            self._breaches(v, self.spec.threshold) for v in present
        ):
            state = ALARM
        else:
            state = OK
        if state != self.state:
            self.state = state
            self.history.append((t, state))
        return state

    def hinges_on(self, spread: float) -> bool:
        """Whether the newest datapoint decided the state within ``spread`` of the threshold:
        it lies that close, and the others of the window all breach, so that a draw a little
        to its other side would have given the other state."""
        window = list(self._window)
        newest = window[-1] if window else None
        if newest is None or abs(newest - self.spec.threshold) > spread:
            return False
        others = window[:-1]
        full = len(window) == self.spec.evaluation_periods
        return full and all(v is not None and self._breaches(v, self.spec.threshold)
                            for v in others)  # fmt: skip


class CloudWatch:
    """Turns the fleet's cumulative counters into one datapoint per alarm period."""

    def __init__(self, group) -> None:
        # The group (``group.py``): its fleet, its members and which of them count.
        self.group = group
        self._cpu: dict[str, dict[str, float]] = {}
        self._lb: dict[str, tuple[int, float, int]] = {}
        #: alarm -> how much its last CPU datapoint scatters from run to run (one standard
        #: deviation, in points), where the fleet can tell (``cpu_noise``: the fluid engine's)
        self.spread: dict[str, float] = {}

    def datapoint(self, key: str, spec: AlarmSpec) -> float | None:
        if spec.metric == "cpu":
            return self._cpu_average(key, spec.period)
        totals = self.group.fleet.lb_totals()
        before = self._lb.get(key, (0, 0.0, 0))
        self._lb[key] = totals
        requests = totals[0] - before[0]
        if spec.metric == "request_count":
            return float(requests)
        if spec.metric == "request_count_per_target":
            n = len(self.group.counted())
            return requests / n if n else None
        done = totals[2] - before[2]
        return (totals[1] - before[1]) / done if done else None

    def _cpu_average(self, key: str, period: float) -> float | None:
        fleet = self.group.fleet
        previous = self._cpu.get(key, {})
        now = {m.id: fleet.cpu_seconds(m.instance) for m in self.group.members if m.live()}
        self._cpu[key] = now
        # Each counted instance's CPU-seconds over the period, and what 100 % of them is.
        shares = [
            (now[m.id] - previous.get(m.id, 0.0), fleet.vcpus(m.instance) * period)
            for m in self.group.counted()
        ]
        if not shares:
            return None
        noise = getattr(fleet, "cpu_noise", None)
        if noise is not None:
            # Each instance's CPU-seconds scatter with variance ``noise(period)`` per
            # CPU-second; the datapoint is their mean percentage.
            kappa = noise(period)
            var = sum(kappa * max(used, 0.0) * (100.0 / full) ** 2 for used, full in shares)
            self.spread[key] = math.sqrt(var) / len(shares)
        return float(np.mean([100.0 * used / full for used, full in shares]))
