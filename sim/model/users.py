"""A closed population of users: each one waits for an answer before asking again.

Think of a pub quiz: every table sends one runner to the bar, the runner waits there for the
round, brings it back, and the table talks for a while before sending a runner again. However
slow the bar, there are never more runners at it than there are tables, and a slow bar means
fewer rounds, not a longer line.

That is how a load generator drives a site (locust's users, ``[users]`` in a scenario): ``N``
users, each sending a request, waiting for its response (a success or an error, the download
included; a 504 when nginx or the load balancer gives up, though a worker may go on),
thinking for a think time (locust's ``wait_time``: ``constant(z)``, ``between(a, b)``), and
again. It is a *closed* system, unlike the open stream of
``[arrivals]`` or the sessions of ``workload.py``, whose visitors keep coming however slow the
site is. Past saturation the two part ways: an open stream's queue grows without bound, a
closed one's is capped at ``N``, and the throughput settles at what the bottleneck serves
while each user's response time grows as ``R = N / X - Z`` (the interactive response-time
law, ``sim/theory.py``). Before saturation the users hardly wait and ``X = N / (R + Z)`` is
about ``N / Z`` for short responses.

Each user is a browser of its own: it resolves ``quorum.us`` through its own browser and OS
caches (``dns.py``), so its first request pays a lookup and the next ones within the cache's
lifetime do not. Users start at ``t = 0``, or one after another at ``spawn_rate`` users per
second, as a load generator ramps up; they send nothing new once the run is over.

A user's life is a generator the engine drives (floats: seconds to wait); ``trip`` is the
engine's part: it sends one request and waits until the client has its answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Iterator

from sim.config import ConfigError

#: Cycles in a row at one instant after which a user is taken to be stuck (see :func:`life`).
STUCK = 10_000


def start_times(count: int, spawn_rate: float | None) -> Iterator[float]:
    """When each of ``count`` users starts: all at 0, or user ``k`` at ``k / spawn_rate``."""
    for k in range(count):
        yield 0.0 if spawn_rate is None else k / spawn_rate


def life(
    env,
    number: int,
    start: float,
    think: Callable[[], float],
    trip: Callable[[int], Generator],
    end: float = math.inf,
) -> Generator:
    """User ``number``: from ``start`` until ``end``, a request (``trip(number)``, over when
    its answer is back), then ``think()`` seconds, and again."""
    yield max(start - env.now, 0.0)  # the engine drives it from here on
    instant = 0  # cycles in a row that took no time at all
    while env.now < end:
        began = env.now
        yield from trip(number)
        pause = think()
        if pause == 0 and env.now == began:
            # Answered in no time (an error before any cost) and no thinking: the user would
            # send for ever without the clock moving, and the run would never end.
            instant += 1
            if instant > STUCK:
                raise ConfigError(
                    "users.think_time",
                    0.0,
                    f"user {number} was answered {STUCK} times in a row at t = {began:g} s"
                    " without thinking, so the clock never moves; allowed: a think time > 0"
                    " or a path that takes time (network.connect, dns)",
                )
        else:
            instant = 0
        yield pause
