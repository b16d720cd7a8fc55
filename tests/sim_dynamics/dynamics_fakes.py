"""Small in-memory stand-ins for the fleet, the load balancer and targets, used only by the
unit tests of the timing logic (scenario-level tests run the real engine)."""

from __future__ import annotations

from dataclasses import dataclass, field

VCPUS = 2


@dataclass(eq=False)
class FakeInstance:
    name: str
    az: str
    started: float | None = None
    dead: float | None = None
    util: float = 0.8


class FakeFleet:
    """Instances run at a fixed utilisation from the moment they start serving."""

    def __init__(self, env, util: float = 0.8, drain: float = 0.0) -> None:
        self.env = env
        self.util = util
        self.drain = drain
        self.instances: list[FakeInstance] = []
        self.started: list[tuple[float, str]] = []

    def launch(self, az: str) -> FakeInstance:
        inst = FakeInstance(f"f{len(self.instances) + 1}", az, util=self.util)
        self.instances.append(inst)
        return inst

    def start(self, inst: FakeInstance) -> None:
        inst.started = self.env.now
        self.started.append((self.env.now, inst.name))

    def terminate(self, inst: FakeInstance):
        inst.dead = self.env.now
        return self.env.timeout(self.drain if inst.started is not None else 0.0)

    def cpu_seconds(self, inst: FakeInstance) -> float:
        if inst.started is None:
            return 0.0
        end = self.env.now if inst.dead is None else inst.dead
        return inst.util * VCPUS * (end - inst.started)

    def vcpus(self, inst: FakeInstance) -> int:
        return VCPUS

    def lb_totals(self) -> tuple[int, float, int]:
        return (0, 0.0, 0)


@dataclass
class FakeLoadBalancer:
    env: object
    log: list[tuple[float, str, str]] = field(default_factory=list)

    def register(self, target) -> None:
        self.log.append((self.env.now, "register", target.name))

    def deregister(self, target) -> None:
        self.log.append((self.env.now, "deregister", target.name))


@dataclass(eq=False)
class FakeTarget:
    """Answers its health check after ``answer_after`` seconds while ``up``; never when down."""

    env: object
    name: str
    up: bool = True
    answer_after: float = 0.5
    in_flight: int = 0

    def probe(self):
        if not self.up:
            return self.env.event()  # a dead instance never answers
        return self.env.timeout(self.answer_after, value=True)
