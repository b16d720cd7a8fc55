"""A closed population of users ([users]): exact timelines, the settings, and the theory.

Timelines use the quiet path (tests/sim/sim_helpers.py: every cost zero or constant), so who
sent what when is worked out by hand. The theory: the finite-source queue M/M/c//N
(sim/theory.py, from its birth-death chain) for exponential think and service times, and the
interactive response-time law R = N / X - Z for any distributions, each checked on
replications after a warm-up, as the Erlang C tests do.
"""

from __future__ import annotations

import itertools
import math

import pytest
from sim_helpers import QUIET, ends, layer, quiet, run

import sim
from sim import loader, theory
from sim.cli import main
from sim.config import ConfigError
from sim.engine import Engine
from sim.engine.kernel import Environment
from sim.engine.world import GiveUps
from sim.results import Result

USERS = ["users.enabled=true"]


def arrivals_by_user(engine: Engine) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for req in sorted(engine.requests, key=lambda r: r.id):
        out.setdefault(req.client, []).append(round(req.arrival, 9))
    return out


# -- exact timelines -------------------------------------------------------------------------


def test_two_users_on_one_worker_take_turns_and_think_after_each_answer():
    s = quiet(*USERS, "users.count=2", "users.think_time=0.5", "run.duration=4.6")
    engine, results = run(s, [])
    # User 0 is served 0-1, thinks until 1.5, waits for user 1 (served 1-2), is served 2-3,
    # thinks until 3.5 ... user 1 waits from 0 to 1, is served 1-2, thinks until 2.5, waits
    # for user 0 until 3, is served 3-4. Never more than one request each.
    assert ends(results) == {
        0: (200, 0.0, 1.0),
        1: (200, 0.0, 2.0),
        2: (200, 1.5, 3.0),
        3: (200, 2.5, 4.0),
        4: (200, 3.5, 5.0),
        5: (200, 4.5, 6.0),
    }
    assert arrivals_by_user(engine) == {0: [0.0, 1.5, 3.5], 1: [0.0, 2.5, 4.5]}
    waits = [round(r.wait, 9) for r in layer(results, "queue")]
    assert waits == [0.0, 1.0, 0.5, 0.5, 0.5, 0.5]


def test_an_error_is_an_answer_too_and_the_user_thinks_after_it():
    # No backlog: a request that finds the only worker busy is refused at once (502).
    s = quiet(*USERS, "users.count=2", "users.think_time=0.3", "gunicorn.backlog=0",
              "run.duration=1.5")  # fmt: skip
    _, results = run(s, [])
    assert ends(results) == {
        0: (200, 0.0, 1.0),  # user 0
        1: (502, 0.0, 0.0),  # user 1, refused, thinks 0.3 s, refused again ...
        2: (502, 0.3, 0.3),
        3: (502, 0.6, 0.6),
        4: (502, 0.9, 0.9),
        5: (200, 1.2, 2.2),  # ... until the worker is free (user 0 thinks from 1.0 to 1.3)
        6: (502, 1.3, 1.3),  # user 0, back from thinking, finds user 1 on the worker
    }


def test_a_user_waits_for_the_download_before_thinking():
    s = quiet(*USERS, "users.count=1", "users.think_time=0.5", "network.download=0.25",
              "run.duration=4.0")  # fmt: skip
    engine, results = run(s, [])
    # Served 0-1, downloaded 1-1.25, thinks 0.5: the next request leaves at 1.75.
    assert arrivals_by_user(engine) == {0: [0.0, 1.75, 3.5]}
    assert [round(r.end, 9) for r in layer(results, "download")] == [1.25, 3.0, 4.75]


def test_a_504_answers_the_user_while_the_worker_goes_on():
    s = quiet(*USERS, "users.count=2", "users.think_time=0.5", "django.cpu=3.0",
              "nginx.proxy_read_timeout=5.0", "run.duration=6.0")  # fmt: skip
    engine, results = run(s, [])
    # User 1 waits for the worker until 3 and would be answered at 6, but nginx answers 504
    # at 5: user 1 thinks from 5, not from 6, and sends again at 5.5. User 0's second
    # request (3.5) gets the worker at 6 and would be answered at 9: a 504 at 8.5.
    assert arrivals_by_user(engine) == {0: [0.0, 3.5], 1: [0.0, 5.5]}
    assert ends(results) == {
        0: (200, 0.0, 3.0),
        1: (504, 0.0, 5.0),
        2: (504, 3.5, 8.5),
        3: (504, 5.5, 10.5),  # served 9-12, nginx gave up at 10.5
    }


def test_a_user_in_the_surge_queue_is_answered_at_the_idle_timeout():
    s = quiet(*USERS, "users.count=2", "users.think_time=0.5", "django.cpu=3.0",
              "nginx.max_connections=1", "load_balancer.idle_timeout=2.0",
              "run.duration=2.4")  # fmt: skip
    engine, results = run(s, [])
    # User 1 waits in the surge queue behind user 0's request (0-3) and gets a 504 from the
    # load balancer at 2.0, then thinks until 2.5: nothing more before the end at 2.4. User
    # 0's answer (at 3.0) is itself later than 2.0: a 504 too.
    assert ends(results) == {0: (504, 0.0, 2.0), 1: (504, 0.0, 2.0)}
    assert arrivals_by_user(engine) == {0: [0.0], 1: [0.0]}


def test_the_moments_users_give_up_share_one_wake_up():
    env = Environment()
    give_ups = GiveUps(env)
    answered = {name: env.event() for name in "abc"}
    fired = {}
    for name, event in answered.items():
        event.callbacks.append(lambda _, name=name: fired.__setitem__(name, env.now))
    for at, name in ((5.0, "a"), (6.0, "b"), (7.0, "c")):
        give_ups.add(answered[name], at)
    assert len(env._queue) == 1  # three moments, one wake-up
    env.timeout(1.0).callbacks.append(lambda _: answered["a"].succeed())  # answered in time
    env.run()
    assert fired == {"a": 1.0, "b": 6.0, "c": 7.0}


def test_users_are_spawned_at_the_spawn_rate_and_stop_at_the_end_of_the_run():
    s = quiet(*USERS, "users.count=3", "users.spawn_rate=2.0", "users.think_time=2.0",
              "gunicorn.workers=3", "django.cpu=0.5", "run.duration=5.0")  # fmt: skip
    engine, _ = run(s, [])
    # User k starts at k / 2; each cycle is 0.5 s of work and 2 s of thinking; nothing new
    # is sent at or after 5.0 (user 0 would send again at exactly 5.0).
    assert arrivals_by_user(engine) == {0: [0.0, 2.5], 1: [0.5, 3.0], 2: [1.0, 3.5]}


def test_think_times_are_drawn_from_the_distribution_given():
    s = quiet(*USERS, "users.count=1", "django.cpu=0.0", "run.duration=2000",
              'users.think_time={ kind = "uniform", low = 1.0, high = 3.0 }')  # fmt: skip
    engine, _ = run(s, [])
    times = arrivals_by_user(engine)[0]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1.0 and max(gaps) <= 3.0
    assert sum(gaps) / len(gaps) == pytest.approx(2.0, rel=0.05)  # about 1000 draws
    assert max(gaps) - min(gaps) > 1.8  # spread over the whole interval


def test_each_user_resolves_dns_through_its_own_browser_cache():
    s = quiet(*USERS, "users.count=3", "users.think_time=10.0", "django.cpu=0.1",
              "gunicorn.workers=3", "dns.browser_ttl=60.0", "dns.record_ttl=60.0",
              "dns.resolver_hit=0.01", "run.duration=100.0")  # fmt: skip
    engine, results = run(s, [])
    outcome = {r.request: r.outcome for r in layer(results, "dns")}
    for client in range(3):
        mine = sorted((r for r in engine.requests if r.client == client), key=lambda r: r.id)
        seen = [(round(r.arrival, 3), outcome[r.id]) for r in mine]
        # A lookup on the first request and again once the browser's 60 s are over; the
        # requests in between are answered by the browser's cache.
        looked_up = [t for t, o in seen if o != "browser-cache"]
        assert len(looked_up) == 2 and looked_up[0] < 1.0 and 60.0 <= looked_up[1] < 72.0, seen


def test_a_user_answered_in_no_time_who_never_thinks_is_refused_not_run_for_ever(tmp_path, capsys):
    # No backlog, no cost before the instance: user 1 is refused at once, again and again,
    # at t = 0, while user 0 holds the only worker.
    sets = [*USERS, "users.count=2", "users.think_time=0.0", "gunicorn.backlog=0"]
    with pytest.raises(ConfigError) as caught:
        run(quiet(*sets), [])
    assert caught.value.key_path == "users.think_time"
    assert "user 1 was answered 10000 times in a row at t = 0 s" in str(caught.value)
    # ... and on the command line: one line, exit status 2.
    scenario = tmp_path / "stuck.toml"
    scenario.write_text(QUIET)
    assert main(["run", str(scenario), *(a for s in sets for a in ("--set", s))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: users.think_time = 0.0: user 1 was answered") and (
        err.count("\n") == 1
    )


def test_the_number_inside_never_exceeds_the_users():
    # Far past saturation: 30 users with no think time on one worker. An open stream would
    # pile up; the closed population keeps at most 30 requests in flight.
    s = quiet(*USERS, "users.count=30", "users.think_time=0.0", "django.cpu=0.1",
              "run.duration=60.0", "run.warmup=10.0")  # fmt: skip
    engine = Engine(s)
    inside = []

    def watch(engine):
        while engine.env.now < 60.0:
            inside.append(engine.sent - len(engine.requests))
            yield engine.env.timeout(0.05)

    engine.processes.append(watch)
    result = Result.of(engine.run())
    assert max(inside) == 30
    assert result.summary["throughput_per_s"] == pytest.approx(10.0, rel=0.01)
    # R = N / X - Z: 30 users, 10 answers a second, no thinking: 3 s each.
    assert result.summary["users"]["response_time"] == pytest.approx(3.0, rel=0.02)


def test_the_same_seed_gives_the_same_users_and_another_seed_others():
    s = sim.load("baseline", [*USERS, "users.count=20", "run.duration=60", "run.warmup=5"])
    a, b = sim.run(s, 3), sim.run(s, 3)
    assert a.records == b.records
    assert sim.run(s, 4).records != a.records


def test_the_summary_and_its_text_say_what_the_users_did():
    s = sim.load("baseline", [*USERS, "users.count=20", "run.duration=120", "run.warmup=20"])
    result = sim.run(s)
    users = result.summary["users"]
    assert list(users) == [
        "count",
        "think_time",
        "answered_per_s",
        "response_time",
        "response_time_law",
    ]
    assert users["count"] == 20 and users["think_time"] == 1.0
    assert users["answered_per_s"] == pytest.approx(20 / (1.0 + users["response_time"]), rel=0.1)
    assert "  users       20 users thinking 1 s on average:" in result.text()
    assert "users" not in sim.run(sim.load("baseline", ["run.duration=20", "run.warmup=2"])).summary


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("users.count=0", "users.count = 0: must be an integer in [1, 100,000]"),
        (
            "users.spawn_rate=0",
            "users.spawn_rate = 0.0: must be a number of users per second in (0, 100,000]",
        ),
        (
            "users.think_time=-1.0",
            "users.think_time.mean = -1.0: must be a number in [0, 2,592,000] s",
        ),
        (
            'users.think_time={ kind = "uniform", low = 3.0, high = 1.0 }',
            "users.think_time.high = 1.0: must be >= low (3)",
        ),
        ("traffic.enabled=true", "users.enabled = true: must be false when traffic.enabled"),
    ],
)
def test_bad_user_settings_are_one_line_errors(override, message, capsys):
    assert main(["run", "baseline", "--set", "users.enabled=true", "--set", override]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err


def test_an_mm_c_scenario_has_no_users():
    with pytest.raises(ConfigError) as caught:
        sim.load("mm_c", USERS)
    assert str(caught.value) == "users.enabled = true: must be false for theory.model mm_c"


def test_notes_say_what_users_make_moot_and_what_is_moot_without_them():
    _, on = loader.load_noted("baseline", [*USERS, "arrivals.rate=5", "dns.clients=9"])
    assert any(n.startswith("arrivals.rate changes nothing: [users]") for n in on)
    assert any(n.startswith("dns.clients changes nothing") for n in on)
    _, off = loader.load_noted("baseline", ["users.count=5"])
    assert off == [
        "users.count changes nothing: [users] is off (set users.enabled = true to use it)"
    ]


def test_a_uniform_distribution_has_its_midpoint_as_mean():
    s = loader.loads(QUIET, ['users.think_time={ kind = "uniform", low = 1.0, high = 5.0 }'])
    assert s.users.think_time.mean == 3.0  # the default's mean (1 s) does not carry over
    with pytest.raises(ConfigError) as caught:
        loader.loads(QUIET, ['users.think_time={ kind = "exponential", mean = 1.0, low = 2.0 }'])
    assert str(caught.value) == 'users.think_time.low = 2.0: only kind "uniform" takes low and high'


# -- theory ----------------------------------------------------------------------------------


def test_the_finite_source_queue_by_hand():
    # Two users, one server, think and service of mean 1: p = (1, 2, 2) / 5, X = 0.8,
    # L = 1.2, R = L / X = 1.5 = N / X - Z.
    x, r, p = theory.finite_source(1, 2, 1.0, 1.0)
    assert p == pytest.approx([0.2, 0.4, 0.4])
    assert x == pytest.approx(0.8) and r == pytest.approx(1.5)
    assert theory.response_time_law(2, x, 1.0) == pytest.approx(r)
    # One user never waits: X = 1 / (Z + S); as many servers as users, nobody waits either.
    assert theory.finite_source(1, 1, 3.0, 1.0)[:2] == pytest.approx((0.25, 1.0))
    assert theory.finite_source(4, 4, 2.0, 0.5)[1] == pytest.approx(0.5)
    # No thinking: every user is always at the servers, which are always busy.
    assert theory.finite_source(2, 5, 0.0, 1.0)[:2] == pytest.approx((2.0, 2.5))
    # Thousands of users do not overflow, and past saturation X is the servers' capacity.
    x, r, _ = theory.finite_source(5, 3000, 1.0, 1.0)
    assert x == pytest.approx(5.0) and r == pytest.approx(3000 / 5 - 1)
    with pytest.raises(ValueError):
        theory.finite_source(0, 3, 1.0, 1.0)


#: A 95 % interval misses one time in twenty by design: at this seed every case lands inside.
SEED = 1
#: The quiet path with nothing but the queue: no limit or timeout within reach.
CLOSED = [
    *USERS,
    "gunicorn.backlog=100000",
    "gunicorn.timeout=2592000.0",
    "nginx.proxy_read_timeout=2592000.0",
    "nginx.max_connections=100000",
    "load_balancer.idle_timeout=2592000.0",
    'django.cpu={ kind = "exponential", mean = 1.0 }',
]


@pytest.mark.parametrize(
    ("c", "n", "z"),
    [
        pytest.param(1, 5, 3.0, marks=pytest.mark.slow),
        (2, 10, 5.0),  # a few seconds: checked by the fast suite too
        pytest.param(2, 20, 5.0, marks=pytest.mark.slow),
    ],
    ids=["c1-n5", "c2-n10", "c2-n20-past-saturation"],
)
def test_the_closed_queue_matches_the_finite_source_formula(c, n, z):
    s = quiet(*CLOSED, f"gunicorn.workers={c}", f"instances.vcpus={c}", f"users.count={n}",
              f'users.think_time={{ kind = "exponential", mean = {z} }}',
              "run.duration=4000", "run.warmup=400")  # fmt: skip
    x_expected, r_expected, _ = theory.finite_source(c, n, z, 1.0)
    summaries = sim.run(s, SEED, replications=6).summaries
    for key, expected in (("response_time", r_expected), ("answered_per_s", x_expected)):
        _, low, high = theory.confidence_interval([u["users"][key] for u in summaries])
        assert low <= expected <= high, f"{key} {expected:.4f} outside [{low:.4f}, {high:.4f}]"
        assert high - low < 0.1 * expected


@pytest.mark.slow
@pytest.mark.parametrize(
    "think",
    ['{ kind = "uniform", low = 1.0, high = 3.0 }', "2.0"],
    ids=["uniform-think", "constant-think"],
)
def test_the_response_time_law_holds_on_the_whole_path(think):
    # The whole path (DNS, TCP + TLS, queries, lognormal CPU, the download), saturated at
    # 400 users on two instances: R from the records equals N / X - Z, whatever the
    # distributions, up to the edges of the window.
    s = sim.load("baseline", [*USERS, "users.count=400", f"users.think_time={think}",
                              "run.duration=300", "run.warmup=60"])  # fmt: skip
    for summary in sim.run(s, SEED, replications=2).summaries:
        users = summary["users"]
        assert users["response_time"] == pytest.approx(users["response_time_law"], rel=0.03)
        assert users["response_time"] > 0.5  # the workers are the bottleneck: people queue
        assert summary["utilisation"]["workers"] > 0.9


def test_closed_users_and_the_law_on_one_short_run():
    # The fast version of the above: the law within a few per cent on a short run.
    s = quiet(*CLOSED, "users.count=8", "users.think_time=2.0", "gunicorn.workers=2",
              "instances.vcpus=2", "run.duration=600", "run.warmup=60")  # fmt: skip
    users = sim.run(s, SEED).summary["users"]
    assert users["response_time"] == pytest.approx(users["response_time_law"], rel=0.05)
    assert not math.isnan(users["answered_per_s"]) and users["answered_per_s"] > 1.0


def test_a_closed_population_runs_over_time_too():
    # Health checks and a crash with users: the users keep going, errors included.
    s = sim.load("instance_failure", [*USERS, "traffic.enabled=false", "users.count=40",
                                      "run.duration=400", "run.warmup=40"])  # fmt: skip
    result = sim.run(s)
    assert result.summary["users"]["count"] == 40
    assert result.summary["requests"]["ok"] > 1000
    assert result.run.counters["sent"] == result.run.counters["finished"]
