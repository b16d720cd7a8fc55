"""Who used the machine's CPU during a measurement: the lab, the load generator, or others.

Like reading the electricity meter and each appliance's own meter before and after an hour:
the house total (``/proc/stat``), the lab's processes (``/proc/<pid>/stat`` of every process
carrying the lab's marker) and the load generator (this process and the children it waited
for, such as locust, through ``getrusage``); what is left over is everything else. A measured
latency means little if a quarter of the cores went to someone else's job, so `calibrate` and
`compare` print this beside their results.

Flow: snapshot -> (measured work) -> snapshot -> :class:`CpuShare` in cores.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

from demo_app.stack.config import LabConfig
from demo_app.stack.supervisor import lab_processes

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Snapshot:
    wall: float
    busy: float  # seconds of CPU the whole machine spent busy
    lab: dict[int, float]  # pid -> CPU seconds so far
    client: float  # CPU seconds of this process and its waited-for children (locust)


@dataclass(frozen=True)
class CpuShare:
    """Average cores in use over the interval, by whom."""

    cores: int
    machine: float
    lab: float
    load: float

    @property
    def other(self) -> float:
        return max(0.0, self.machine - self.lab - self.load)

    def line(self) -> str:
        return (
            f"cpu {self.machine:.2f} of {self.cores} cores busy: lab {self.lab:.2f}, "
            f"load generator {self.load:.2f}, other processes {self.other:.2f}"
        )


def machine_busy() -> float:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / TICK


def process_cpu(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(stat[11]) + int(stat[12])) / TICK  # utime + stime (fields 14, 15)


def snapshot(cfg: LabConfig) -> Snapshot:
    lab = {}
    for pid, _command in lab_processes(cfg):
        used = process_cpu(pid)
        if used is not None:
            lab[pid] = used
    client = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        client += usage.ru_utime + usage.ru_stime
    return Snapshot(time.monotonic(), machine_busy(), lab, client)


def lab_seconds(before: Snapshot, after: Snapshot) -> float:
    """CPU seconds the lab's processes used between two snapshots."""
    # Processes that started during the interval count from zero; those that ended are lost.
    return sum(used - before.lab.get(pid, 0.0) for pid, used in after.lab.items())


def share(before: Snapshot, after: Snapshot) -> CpuShare:
    seconds = max(1e-9, after.wall - before.wall)
    lab = lab_seconds(before, after)
    return CpuShare(
        os.cpu_count() or 1,
        (after.busy - before.busy) / seconds,
        lab / seconds,
        (after.client - before.client) / seconds,
    )
