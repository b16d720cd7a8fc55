"""Arrival-rate profiles, thinning, CSV rate series and user sessions."""

from __future__ import annotations

import numpy as np
import pytest

from sim import loader
from sim.config import ConfigError
from sim.engine.kernel import Environment, Journey, run_until
from sim.model.workload import (
    Constant,
    FlashCrowd,
    RateSeries,
    SessionShape,
    Step,
    Weekday,
    arrival_times,
    breaks_of,
    expected_arrivals,
    next_break,
    sessions,
)


def test_profiles_have_the_shapes_they_promise():
    assert Step(before=5, after=20, at=100).rate(99.9) == 5
    assert Step(before=5, after=20, at=100).rate(100) == 20
    spike = FlashCrowd(base=10, peak=100, start=100, ramp=50, hold=100, decay=50)
    assert [spike.rate(t) for t in (0, 125, 150, 249, 275, 400)] == [10, 55, 100, 100, 55, 10]
    day = Weekday(night=2, peak=50, start_clock_h=0)
    hourly = [day.rate(h * 3600) for h in range(24)]
    assert int(np.argmax(hourly)) == 10
    assert hourly[3] == pytest.approx(2, abs=0.01)
    assert max(hourly) <= day.max_rate


@pytest.mark.parametrize(
    "profile",
    [
        Constant(rate_per_s=30),
        Step(before=10, after=40, at=500),
        FlashCrowd(base=5, peak=80, start=200, ramp=100, hold=300, decay=200),
    ],
)
def test_thinning_matches_the_integral_of_the_rate(profile):
    end = 1000.0
    expected = sum(profile.rate(t + 0.5) for t in range(int(end)))
    counts = [
        sum(1 for _ in arrival_times(profile, np.random.default_rng(seed), end))
        for seed in range(5)
    ]
    # Poisson: the mean of 5 runs is within 4 standard errors of the integral.
    assert abs(np.mean(counts) - expected) < 4 * np.sqrt(expected / 5)


@pytest.mark.parametrize(
    "profile",
    [
        Step(before=10, after=55, at=300),
        FlashCrowd(base=5, peak=80, start=200, ramp=100, hold=300, decay=200),
        FlashCrowd(base=5, peak=80, start=200, ramp=0, hold=300, decay=0),
        RateSeries((0.0, 60.0, 90.0), (5.0, 12.5, 0.0)),
    ],
)
def test_expected_arrivals_are_the_integral_of_a_piecewise_profile(profile):
    # Exact (these profiles are linear between their breaks), whatever the span: a span
    # ending on a step counts the rate before it, one starting there the rate after it.
    def integral(a, b, n=20_000):  # the midpoint rule, fine enough to judge by
        width = (b - a) / n
        return sum(profile.rate(a + (i + 0.5) * width) for i in range(n)) * width

    breaks = breaks_of(profile)
    for a, b in [(240.0, 300.0), (300.0, 360.0), (270.0, 330.0), (0.0, 1000.0), (210.0, 213.5)]:
        assert expected_arrivals(profile, a, b, breaks) == pytest.approx(integral(a, b), rel=1e-3)


def test_a_step_right_after_a_span_does_not_leak_into_it():
    step = Step(before=10, after=55, at=300)
    assert expected_arrivals(step, 240.0, 300.0, breaks_of(step)) == 600.0
    assert expected_arrivals(step, 300.0, 360.0, breaks_of(step)) == 55 * 60.0
    # Simpson's rule across the whole span, without the break, would count 17.5 requests/s.
    assert expected_arrivals(step, 240.0, 300.0) == pytest.approx(60 * 17.5)


def test_breaks_are_where_the_rate_jumps_or_bends():
    assert breaks_of(Constant(rate_per_s=3)) == () == breaks_of(Weekday(night=2, peak=50))
    spike = FlashCrowd(base=10, peak=100, start=100, ramp=50, hold=100, decay=50)
    assert breaks_of(spike) == (100, 150, 250, 300)
    assert [next_break(breaks_of(spike), t) for t in (0, 100, 149.9, 300)] == [
        100,
        150,
        150,
        np.inf,
    ]
    # A smooth profile is integrated as before: Simpson's rule over the span.
    day = Weekday(night=2, peak=50)
    r = day.rate
    assert expected_arrivals(day, 600.0, 630.0) == 30.0 * (r(600) + 4 * r(615) + r(630)) / 6


def test_same_seed_same_arrivals():
    a = list(arrival_times(Constant(rate_per_s=5), np.random.default_rng(7), 100))
    b = list(arrival_times(Constant(rate_per_s=5), np.random.default_rng(7), 100))
    assert a == b and len(a) > 0


def test_rate_series_from_csv(tmp_path):
    f = tmp_path / "rates.csv"
    f.write_text("t,rate\n0,5\n60,12.5\n120,0\n")
    series = RateSeries(*(tuple(column) for column in loader.read_series(f)))
    assert [series.rate(t) for t in (0, 59, 60, 119, 500)] == [5, 5, 12.5, 12.5, 0]
    assert series.max_rate == 12.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("t,rate\n0,5\n60,-1\n", "rate -1 at t=60"),
        ("t,rate\n0,5\n0,6\n", "times must increase"),
        ("time,rps\n0,5\n", "header 't,rate'"),
        ("t,rate\n0,five\n", "line 2: expected two numbers"),
        ("t,rate\n", "at least one"),
    ],
)
def test_bad_rate_series_is_refused_with_one_line(tmp_path, text, message):
    f = tmp_path / "rates.csv"
    f.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        loader.read_series(f)
    assert "\n" not in str(info.value)


def test_a_series_can_be_written_inline_as_points():
    s = loader.loads(
        '[traffic]\nenabled = true\nprofile = "series"\npoints = [[0, 5], [60, 12.5]]\n'
    )
    assert s.traffic.points == ((0.0, 5.0), (60.0, 12.5))
    with pytest.raises(ConfigError, match=r"traffic\.points = .*rate -1 at t=60"):
        loader.loads('[traffic]\nenabled = true\nprofile = "series"\npoints = [[0, 5], [60, -1]]\n')


def visits(env, rate: float, shape: SessionShape, seed: int, send):
    """Start the sessions of a constant profile, driven as the engine drives them."""

    def spawn(generator):
        return Journey(env, generator)

    rng = np.random.default_rng(seed)
    spawn(sessions(env, Constant(rate_per_s=rate), shape, rng, send, spawn=spawn))


def test_dns_lookups_follow_users_not_requests():
    env = Environment()
    sent: list[tuple[float, bool]] = []

    def send(resolve: bool):
        sent.append((env.now, resolve))
        return env.timeout(0.2)

    shape = SessionShape(requests_per_session=8, think_time_s=5, dns_cache_ttl_s=60)
    visits(env, 20, shape, 3, send)
    run_until(env, 600)
    lookups = sum(1 for _, r in sent if r)
    # Most sessions end within the 60 s cache: about one lookup per session (1/8 of the
    # requests), a little more for the long ones that resolve again; never one per request.
    assert 0.1 < lookups / len(sent) < 0.2
    assert 15 < len(sent) / 600 < 25  # requests still follow the profile's 20/s


def test_a_long_session_resolves_again_after_the_cache_expires():
    env = Environment()
    sent: list[tuple[float, bool]] = []

    def send(resolve: bool):
        sent.append((round(env.now, 6), resolve))
        return env.timeout(1.0)

    from sim.model.workload import _session

    Journey(env, _session(env, SessionShape(dns_cache_ttl_s=60), 4, [29.0, 29.0, 29.0], send))
    run_until(env, 1000)
    assert sent == [(0, True), (30, False), (60, True), (90, False)]


def test_users_are_already_browsing_at_the_start():
    env = Environment()
    sent: list[float] = []

    def send(resolve: bool):
        sent.append(env.now)
        return env.timeout(0.2)

    shape = SessionShape(requests_per_session=8, think_time_s=10)
    visits(env, 20, shape, 5, send)
    run_until(env, 300)
    first = sum(1 for t in sent if t < 30) / 30
    later = sum(1 for t in sent if 150 <= t < 300) / 150
    # Without the visitors already mid-visit the first half minute would run at about half rate.
    assert abs(first - 20) < 3 and abs(later - 20) < 2
