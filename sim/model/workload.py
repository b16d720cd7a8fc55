"""Traffic over time: how many people want the site, and when.

Think of a coffee shop's day: a trickle at opening, a queue out of the door at 9, a lull, a
smaller lunch rush, and now and then a bus that empties thirty people in at once. An
arrival-rate *profile* is that curve, ``rate(t)`` in requests per second at simulated second
``t``. The engine never asks a profile for a list of requests: it draws arrival times from it
with :func:`arrival_times` (a non-homogeneous Poisson process, by thinning), so every profile
only has to answer two questions: the rate now, and the highest rate it will ever ask for.

Users are not requests. A visitor opens a *session*: the browser resolves ``quorum.us`` once,
keeps the answer for its cache lifetime (Chromium: a fixed 60 s for an OS-resolved answer,
sim/FACTS.md, "DNS"), and sends several requests separated by think time.
:func:`sessions` turns a profile into such users, so DNS lookups follow users, not requests.

Data flows one way: profile -> arrival times -> sessions -> the engine's ``send`` callback.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sim.config.over_time import check_series

#: Chromium's host cache lifetime for an OS-resolved answer (FACTS.md, "DNS").
DNS_CACHE_TTL_S = 60.0


class RateProfile(Protocol):
    """Anything with a rate in requests per second at time ``t`` and an upper bound on it.

    A profile may also list its ``breaks``: the instants, in order, where its rate jumps or
    its slope changes (a step, the corners of a flash crowd, a series' points). Between two
    breaks the rate is smooth, and at a break ``rate`` gives the value from there on. The
    fluid engine integrates the rate piece by piece (:func:`expected_arrivals`) and steps at the
    breaks; the discrete-event engine does not need them (thinning is exact)."""

    def rate(self, t: float) -> float: ...

    @property
    def max_rate(self) -> float: ...


@dataclass(frozen=True, kw_only=True)
class Constant:
    """The same rate all day: ``Constant(rate=20)``."""

    rate_per_s: float

    def rate(self, t: float) -> float:
        return self.rate_per_s

    @property
    def max_rate(self) -> float:
        return self.rate_per_s


@dataclass(frozen=True, kw_only=True)
class Step:
    """``before`` requests/s until ``at`` seconds, then ``after``: a marketing email landing."""

    before: float
    after: float
    at: float

    def rate(self, t: float) -> float:
        return self.before if t < self.at else self.after

    @property
    def max_rate(self) -> float:
        return max(self.before, self.after)

    @property
    def breaks(self) -> tuple[float, ...]:
        return (self.at,)


@dataclass(frozen=True, kw_only=True)
class FlashCrowd:
    """A spike: ``base`` until ``start``, a linear climb to ``peak`` over ``ramp`` seconds,
    ``hold`` seconds at the peak, and a linear fall back to ``base`` over ``decay`` seconds."""

    base: float
    peak: float
    start: float
    ramp: float = 60.0
    hold: float = 300.0
    decay: float = 300.0

    def rate(self, t: float) -> float:
        s = t - self.start
        if s < 0:
            return self.base
        if s < self.ramp:
            return self.base + (self.peak - self.base) * s / self.ramp
        s -= self.ramp
        if s < self.hold:
            return self.peak
        s -= self.hold
        if s < self.decay:
            return self.peak - (self.peak - self.base) * s / self.decay
        return self.base

    @property
    def max_rate(self) -> float:
        return max(self.base, self.peak)

    @property
    def breaks(self) -> tuple[float, ...]:
        climbed = self.start + self.ramp
        return (self.start, climbed, climbed + self.hold, climbed + self.hold + self.decay)


@dataclass(frozen=True, kw_only=True)
class Weekday:
    """An office-hours curve: quiet nights, a morning peak, a smaller afternoon hump.

    ``start_clock_h`` is the wall-clock hour at simulated time 0, so a one-hour run can start
    at 08:30 and climb into the peak. The shape is a sum of two Gaussian bumps over a floor
    (``night`` requests/s): the morning one reaches ``peak`` at ``peak_clock_h``, the afternoon
    one reaches ``afternoon_share`` of the peak's height at ``afternoon_clock_h``.
    """

    night: float
    peak: float
    peak_clock_h: float = 10.0
    afternoon_clock_h: float = 14.5
    afternoon_share: float = 0.7
    width_h: float = 1.5
    start_clock_h: float = 8.0

    def rate(self, t: float) -> float:
        h = (self.start_clock_h + t / 3600.0) % 24.0
        height = self.peak - self.night
        morning = math.exp(-0.5 * ((h - self.peak_clock_h) / self.width_h) ** 2)
        afternoon = self.afternoon_share * math.exp(
            -0.5 * ((h - self.afternoon_clock_h) / (1.5 * self.width_h)) ** 2
        )
        return self.night + height * min(1.0, morning + afternoon)

    @property
    def max_rate(self) -> float:
        return max(self.night, self.peak)


@dataclass(frozen=True)
class RateSeries:
    """A measured rate series: piecewise constant, ``rates[i]`` from ``times[i]`` on (the
    loader reads one from a ``t,rate`` CSV file, e.g. an export of last Tuesday's
    RequestCount)."""

    times: tuple[float, ...]
    rates: tuple[float, ...]

    def __post_init__(self) -> None:
        why = check_series(list(self.times), list(self.rates))
        if why:
            raise ValueError(why)

    def rate(self, t: float) -> float:
        i = int(np.searchsorted(self.times, t, side="right")) - 1
        return self.rates[max(i, 0)]

    @property
    def max_rate(self) -> float:
        return max(self.rates)

    @property
    def breaks(self) -> tuple[float, ...]:
        return self.times


def breaks_of(profile: RateProfile) -> tuple[float, ...]:
    """The profile's breaks (none for a smooth one)."""
    return getattr(profile, "breaks", ())


def next_break(breaks: Sequence[float], t: float) -> float:
    """The first of ``breaks`` (in order) after ``t``; infinity when none is left."""
    i = bisect_right(breaks, t)
    return breaks[i] if i < len(breaks) else math.inf


def expected_arrivals(
    profile: RateProfile, a: float, b: float, breaks: Sequence[float] = ()
) -> float:
    """The requests the profile expects over ``[a, b]``: its rate's integral, given its
    ``breaks``.

    Simpson's rule on each piece between two breaks: exact where the rate is linear (every
    profile but the weekday's, whose bumps are hours wide next to a step of seconds). A piece
    ends with the rate just before its end, not the value ``rate`` gives there, which belongs
    to the next piece: rule and jump side by side would count a step's new rate for a sixth
    of the piece before it (the minute before a step from 10 to 55 requests/s would expect
    the flow of 17.5)."""
    rate = profile.rate
    first, last = bisect_right(breaks, a), bisect_left(breaks, b)
    cuts = [a, *breaks[first:last], b]
    ends_on_break = last < len(breaks) and breaks[last] == b
    total = 0.0
    for i in range(len(cuts) - 1):
        u, v = cuts[i], cuts[i + 1]
        inner = i < len(cuts) - 2 or ends_on_break
        end = rate(math.nextafter(v, -math.inf)) if inner else rate(v)
        total += (v - u) * (rate(u) + 4 * rate((u + v) / 2) + end) / 6
    return total


def arrival_times(
    profile: RateProfile, rng: np.random.Generator, end: float, start: float = 0.0
) -> Iterator[float]:
    """Arrival instants of a Poisson process whose rate follows ``profile``, in ``[start, end)``.

    Thinning (Lewis and Shedler): draw candidates at the profile's maximum rate and keep each
    with probability ``rate(t) / max_rate``. Exact for any bounded profile.
    """
    top = profile.max_rate
    if top <= 0:
        return
    t = start
    rate = profile.rate
    while True:
        # Draw candidates in batches: one numpy call per 1024 candidates, not two per request.
        gaps = rng.exponential(1.0 / top, 1024).tolist()
        coins = (rng.random(1024) * top).tolist()
        for gap, coin in zip(gaps, coins, strict=True):
            t += gap
            if t >= end:
                return
            if coin < rate(t):
                yield t


@dataclass(frozen=True, kw_only=True)
class SessionShape:
    """How a visit looks: mean requests per visit, mean think time between them, DNS cache."""

    requests_per_session: float = 5.0
    think_time_s: float = 10.0
    dns_cache_ttl_s: float = DNS_CACHE_TTL_S

    def __post_init__(self) -> None:
        if not self.requests_per_session >= 1:
            raise ValueError(
                f"requests_per_session = {self.requests_per_session:g}; allowed: a number >= 1"
            )
        if not self.think_time_s >= 0:
            raise ValueError(f"think_time_s = {self.think_time_s:g}; allowed: a number >= 0")


class _PerSession:
    """Scales a request-rate profile down to a session-start rate."""

    def __init__(self, profile: RateProfile, per_session: float) -> None:
        self._profile = profile
        self._k = per_session

    def rate(self, t: float) -> float:
        return self._profile.rate(t) / self._k

    @property
    def max_rate(self) -> float:
        return self._profile.max_rate / self._k


#: ``send(resolve_dns)`` starts one request and returns a SimPy event that fires when it ends.
Send = Callable[[bool], object]
#: ``spawn(generator)`` has the engine drive a generator from now on (a journey, which waits
#: out the floats it yields as seconds and the events as events).
Spawn = Callable[[Generator], object]


def sessions(
    env,
    profile: RateProfile,
    shape: SessionShape,
    rng: np.random.Generator,
    send: Send,
    end: float = math.inf,
    *,
    spawn: Spawn,
):
    """Users arrive until ``end`` so that requests follow ``profile`` on average: a generator
    the engine drives (floats: seconds to wait), starting each visit with ``spawn``.

    Sessions start at ``rate(t) / requests_per_session``; each sends a geometric number of
    requests (mean ``requests_per_session``), waits for each response, thinks for an
    exponential time, and resolves DNS again only when its cached answer has expired. At
    ``t = 0`` the site is not empty: users who arrived before are mid-visit (see
    :func:`_already_browsing`), so the request rate starts at the profile's, not at zero.
    """
    per_session = _PerSession(profile, shape.requests_per_session)
    p_stop = 1.0 / shape.requests_per_session
    _already_browsing(env, per_session, shape, rng, send, end, p_stop, spawn)
    for t in arrival_times(per_session, rng, end=end):
        yield t - env.now
        n = int(rng.geometric(p_stop))
        thinks = rng.exponential(shape.think_time_s, size=n - 1).tolist() if n > 1 else []
        spawn(_session(env, shape, n, thinks, send, end))


def _already_browsing(
    env, per_session, shape, rng, send, end: float, p_stop: float, spawn: Spawn
) -> None:
    """Start the sessions that began before ``t = 0`` and still have requests to send.

    Their starts are drawn over a window long enough that hardly any earlier session is still
    going (ten mean session lengths); their requests before 0 are skipped (response times
    neglected), their DNS cache kept as those requests left it."""
    window = 10 * shape.requests_per_session * max(shape.think_time_s, 1.0)
    for start in arrival_times(per_session, rng, end=0.0, start=-window):
        n = int(rng.geometric(p_stop))
        thinks = rng.exponential(shape.think_time_s, size=n - 1).tolist() if n > 1 else []
        t, resolved_at = start, -math.inf
        for i in range(n):
            if t >= 0:
                spawn(_session(env, shape, n - i, thinks[i:], send, end, t, resolved_at))
                break
            if t - resolved_at >= shape.dns_cache_ttl_s:
                resolved_at = t
            if i < len(thinks):
                t += thinks[i]


def _session(
    env,
    shape: SessionShape,
    n: int,
    thinks: Sequence[float],
    send: Send,
    end: float = math.inf,
    first_at: float = 0.0,
    resolved_at: float = -math.inf,
):
    # One visit (started with ``spawn``): floats are seconds to wait, ``send``'s event the
    # response.
    if first_at > env.now:
        yield first_at - env.now
    for i in range(n):
        if env.now >= end:  # the run is over: users still browsing send nothing more
            return
        fresh = env.now - resolved_at < shape.dns_cache_ttl_s
        if not fresh:
            resolved_at = env.now
        yield send(not fresh)
        if i < len(thinks):
            yield thinks[i]


def profile_of(traffic) -> RateProfile:
    """The profile a ``[traffic]`` section (:class:`~sim.config.TrafficConfig`) describes."""
    c = traffic
    if c.profile == "constant":
        return Constant(rate_per_s=c.rate)
    if c.profile == "step":
        return Step(before=c.rate, after=c.after, at=c.at)
    if c.profile == "flash_crowd":
        return FlashCrowd(
            base=c.rate, peak=c.peak, start=c.start, ramp=c.ramp, hold=c.hold, decay=c.decay
        )
    if c.profile == "weekday":
        return Weekday(
            night=c.rate, peak=c.peak, peak_clock_h=c.peak_clock_h, start_clock_h=c.start_clock_h
        )
    return RateSeries(tuple(p[0] for p in c.points), tuple(p[1] for p in c.points))
