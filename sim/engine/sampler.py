"""The sampler: the gauges of the world, written down every period.

Think of a ship's log: every watch, the officer writes down the same things (speed, heading,
engines running), whatever happened in between. :class:`Sampler` is that officer. Every
``period`` seconds it reads the gauges of the world (instances desired, booting, in service
and draining; each instance's CPU over the period; Gunicorn backlogs; the surge queue; alarm
states) and appends one flat row. It only reads counters the components keep anyway, so it
changes nothing it measures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class Sampler:
    """Appends a row of gauges to :attr:`rows` every ``period`` seconds.

    ``instances()`` returns every instance that has existed (with ``state``, ``id``,
    ``vcpus.capacity``, ``busy_vcpu_time()``, ``backlog_length``, ``busy_workers``); ``lb`` has
    ``surge``; ``group`` (optional) is the :class:`~sim.model.autoscaling.AutoScalingGroup`.

    ``cpu_<id>`` is each instance's CPU over the period; ``cpu_mean`` averages the instances
    the group's CPU metric counts (``AutoScalingGroup.counted``), or without a group the
    instances in service, so the line is the one the scaling alarms compare with thresholds.
    """

    def __init__(
        self,
        env,
        period: float,
        instances: Callable[[], list[Any]],
        lb: Any,
        group: Any = None,
        db: Any = None,
    ) -> None:
        self.env = env
        self.period = period
        self.instances = instances
        self.lb = lb
        self.group = group
        self.db = db
        self.rows: list[dict[str, Any]] = []
        self._busy: dict[Any, float] = {}
        env.process(self._run())

    def _run(self):
        while True:
            yield self.env.timeout(self.period)
            self.rows.append(self.sample())

    def _counted(self) -> set[int]:
        # The fleet average takes the instances the group's CPU metric takes (in service and
        # warmed up, unless the scenario counts warming ones too); without a group, those in
        # service. A booting instance averaged in at 0 % would drag the line down for nothing.
        if self.group is not None:
            return {m.instance.id for m in self.group.counted()}
        return {i.id for i in self.instances() if i.state == "in_service"}

    def sample(self) -> dict[str, Any]:
        now = self.env.now
        row: dict[str, Any] = {"t": now}
        states = [i.state for i in self.instances()]
        if self.group is not None:
            row["desired"] = self.group.desired
            row["pending"] = self.group.count("pending")
            row["booting"] = self.group.count("booting") + row["pending"]
        else:
            row["desired"] = sum(1 for s in states if s != "terminated")
            row["booting"] = states.count("booting")
        row["in_service"] = states.count("in_service")
        row["healthy"] = len(self.lb.routable())
        row["draining"] = states.count("draining")
        cpus = []
        counted = self._counted()
        backlog = busy = 0
        for inst in self.instances():
            total = inst.busy_vcpu_time()
            before = self._busy.get(inst.id, total if inst.state == "terminated" else 0.0)
            self._busy[inst.id] = total
            if inst.state == "terminated" and total == before:
                continue
            cpu = 100.0 * (total - before) / (inst.vcpus.capacity * self.period)
            row[f"cpu_{inst.id}"] = round(cpu, 3)
            if inst.id in counted:
                cpus.append(cpu)
            backlog += inst.backlog_length
            busy += inst.busy_workers
        row["cpu_mean"] = round(float(np.mean(cpus)), 3) if cpus else float("nan")
        row["backlog"] = backlog
        row["busy_workers"] = busy
        row["surge_queue"] = len(self.lb.surge)
        if self.db is not None:
            row["db_connections"] = self.db.connections
        if self.group is not None:
            for name, alarm in self.group.alarms.items():
                row[f"alarm_{name}"] = alarm.state
        return row
