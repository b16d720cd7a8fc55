"""Small scenarios for exact timelines: every cost zero or constant unless a test says so."""

from __future__ import annotations

from sim import loader
from sim.config import Scenario
from sim.engine import Engine
from sim.results import Record, Result

#: A path where nothing takes time and nothing is random: tests switch on what they check.
QUIET = """
name = "quiet"
[run]
duration = 100.0
warmup = 0.0
drain = 1000.0
[dns]
browser_ttl = 1e9
os_hit = 0.0
resolver_hit = 0.0
authoritative_miss = 0.0
full_miss = 0.0
[network]
connect = 0.0
download = 0.0
[load_balancer]
latency = 0.0
[nginx]
latency = 0.0
[instances]
count = 1
vcpus = 8
[gunicorn]
workers = 1
[django]
cpu = 1.0
queries = 0
cpu_per_query = 0.0
[postgres]
connect_cost = 0.0
query = 0.0
rtt = 0.0
"""


def quiet(*overrides: str) -> Scenario:
    """The quiet scenario with ``key.path=value`` overrides."""
    return loader.loads(QUIET, list(overrides))


def run(s: Scenario, arrivals: list[float], setup=None) -> tuple[Engine, Result]:
    """Run ``s`` with requests arriving at exactly ``arrivals``; ``setup(engine)`` may add
    processes before the run."""
    engine = Engine(s, arrivals=arrivals)
    if setup is not None:
        setup(engine)
    return engine, Result.of(engine.run())


def layer(results: Result, name: str) -> list[Record]:
    return [r for r in results.records if r.layer == name]


def ends(results: Result) -> dict[int, tuple]:
    """Per request: (status, arrival, end of its last record)."""
    out: dict[int, list] = {}
    for r in results.records:
        entry = out.setdefault(r.request, [r.status, r.arrival, r.end])
        entry[2] = max(entry[2], r.end)
    return {k: (v[0], round(v[1], 9), round(v[2], 9)) for k, v in sorted(out.items())}
