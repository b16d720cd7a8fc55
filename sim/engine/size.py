"""How big a run will be, before it starts: requests, memory, CPU time.

A run keeps every finished request (and, for its statistics, one record per layer), so its
memory grows with the number of requests: about 4 KB each, measured with ``tracemalloc`` on
``baseline`` and ``weekday``. A scenario asking for more than half of this machine's memory is
refused before anything runs, with the estimate, unless the caller allows it; a long one gets
a note of how long to expect. The expected number of requests is the arrival rate integrated
over the run (the traffic profile's, or the constant rate).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from sim.config import ConfigError, Scenario
from sim.model.workload import profile_of

#: Memory per finished request with its records (measured; see the docstring).
BYTES_PER_REQUEST = 4_096
#: Memory per static file of a page (``[assets]``), with its record: about 150 bytes measured
#: with ``tracemalloc`` on ``baseline`` with 30 files a page, rounded up.
BYTES_PER_FILE = 256
#: Requests simulated per CPU second, roughly, on a laptop core (``make bench``): for notes.
REQUESTS_PER_CPU_SECOND = 15_000
#: A run refused without being allowed: more than this share of the machine's memory.
MEMORY_SHARE = 0.5


@dataclass(frozen=True)
class Estimate:
    """What a run (all its replications) is expected to cost."""

    requests: float
    bytes: float
    cpu_seconds: float


def expected_requests(s: Scenario) -> float:
    """The mean number of requests arriving in ``[0, run.duration)``."""
    duration = s.run.duration
    if not s.traffic.enabled:
        return s.arrivals.rate * duration
    profile = profile_of(s.traffic)
    steps = max(1_000, min(100_000, int(duration / 60)))  # a point a minute, at least 1,000
    width = duration / steps
    return sum(profile.rate((k + 0.5) * width) for k in range(steps)) * width


def estimate(s: Scenario, replications: int = 1) -> Estimate:
    requests = expected_requests(s) * replications
    per_request = BYTES_PER_REQUEST
    if s.assets.enabled:  # a page's files are kept with it
        per_request += BYTES_PER_FILE * len(s.assets.sizes)
    return Estimate(requests, requests * per_request, requests / REQUESTS_PER_CPU_SECOND)


def machine_memory() -> float:
    """This machine's physical memory in bytes (infinite where the system does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return math.inf


def check_size(s: Scenario, replications: int = 1, *, allow_large: bool = False) -> Estimate:
    """The run's estimate; a :class:`ConfigError` if it needs more than half the machine's
    memory and ``allow_large`` is false."""
    e = estimate(s, replications)
    memory = machine_memory()
    if not allow_large and e.bytes > MEMORY_SHARE * memory:
        many = f" x {replications} replications" if replications > 1 else ""
        raise ConfigError(
            "run.duration",
            s.run.duration,
            f"about {_count(e.requests)} requests{many} would need about {_gb(e.bytes)} of"
            f" memory, more than half of this machine's {_gb(memory)}; shorten the run or lower"
            " the rate, or allow it (--allow-large)",
        )
    return e


def _count(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.1f} million"
    return f"{n:,.0f}"


def _gb(n: float) -> str:
    return f"{n / 2**30:.1f} GB"


def note(e: Estimate) -> str | None:
    """A line for a run expected to take minutes, or None."""
    if e.cpu_seconds < 120:
        return None
    return (
        f"about {_count(e.requests)} requests to simulate: expect about"
        f" {e.cpu_seconds / 60:.0f} minutes"
    )
