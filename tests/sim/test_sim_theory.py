"""The model against queueing theory: Erlang C, Little's law, Jackson's tandem.

The oracles in sim/theory.py are first checked against the reference values in
sim/FACTS.md; then the simulation is run several times (replications, after a warm-up) and
the theory value must lie inside the 95 % confidence interval of the replications' means.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import sim
from sim import loader, theory
from sim.config import ConfigError, mm_c_parameters
from sim.engine import Engine, rng_for
from sim.results import Result
from sim.results.records import by_request, finished_at

SCENARIOS = Path(__file__).resolve().parents[2] / "sim" / "scenarios"


@pytest.mark.parametrize(
    ("c", "lam", "wait_probability", "wq"),
    [
        (1, 0.9, 0.9, 9.0),
        (2, 1.0, 1 / 3, 1 / 3),
        (3, 2.0, 0.4444, 0.4444),
        (5, 4.0, 0.554113, 0.554113),
        (10, 8.0, 0.409180, 0.204590),
    ],
)
def test_erlang_c_matches_the_reference_values(c, lam, wait_probability, wq):
    assert theory.erlang_c(c, lam) == pytest.approx(wait_probability, abs=5e-5)
    assert theory.mm_c_wq(c, lam, 1.0) == pytest.approx(wq, abs=5e-5)


def test_lq_and_w_follow_from_wq():
    assert theory.mm_c_lq(10, 8.0, 1.0) == pytest.approx(1.636721, abs=5e-6)
    assert theory.mm_c_w(2, 1.0, 1.0) == pytest.approx(1 / 3 + 1)
    assert theory.littles_l(2.0, 1.5) == 3.0
    assert theory.mm1_ps_sojourn(0.5, 1.0) == 2.0


def test_processor_sharing_formulas():
    # M/G/1-PS: E[S] / (1 - rho) whatever the distribution; M/M/1-PS is its special case.
    assert theory.mg1_ps_sojourn(0.5, 1.0) == theory.mm1_ps_sojourn(0.5, 1.0) == 2.0
    assert theory.mg1_ps_sojourn(0.8, 0.5) == pytest.approx(0.5 / 0.6)
    # One core shared is M/G/1-PS; c cores shared have M/M/c's mean sojourn (c = 2, lambda
    # = 1, mu = 1: Wq = 1/3, so W = 4/3).
    assert theory.mgc_ps_sojourn(1, 0.7, 1.0) == pytest.approx(theory.mg1_ps_sojourn(0.7, 1.0))
    assert theory.mgc_ps_sojourn(2, 1.0, 1.0) == pytest.approx(4 / 3)
    with pytest.raises(ValueError, match="rho"):
        theory.mg1_ps_sojourn(1.0, 1.0)


def test_erlang_c_refuses_an_unstable_queue():
    with pytest.raises(ValueError, match="rho"):
        theory.erlang_c(2, 2.0)


def test_erlang_c_does_not_overflow_for_many_servers():
    # 400 servers at rho 0.95: A^c / c! alone would overflow a float.
    assert 0.0 < theory.erlang_c(400, 380.0) < 1.0


def test_confidence_interval_uses_student_t():
    mean, low, high = theory.confidence_interval([1.0, 2.0, 3.0])
    assert mean - low == pytest.approx(high - mean)
    assert mean == 2.0
    assert high - mean == pytest.approx(4.303 * 1.0 / math.sqrt(3))
    assert math.isnan(theory.confidence_interval([5.0])[1])


#: A 95 % interval misses the true value one time in twenty by design, so a statistical test
#: at one fixed seed is a reproducible experiment rather than a proof: with this seed every
#: case below lands inside (and sim/theory.py was checked over 20 replications too).
SEED = 1


def mm_c(c: int, lam: float, duration: float):
    return sim.load(
        "mm_c",
        [
            f"gunicorn.workers={c}",
            f"instances.vcpus={c}",
            f"arrivals.rate={lam}",
            f"run.duration={duration}",
            f"run.warmup={duration / 10}",
        ],
    )


def queue_waits(s, replications: int) -> list[float]:
    """The mean wait in Gunicorn's backlog (Wq) of each replication."""
    summaries = sim.run(s, SEED, replications=replications).summaries
    return [summary["latency"]["layers"]["queue"]["wait"] for summary in summaries]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("c", "lam"),
    [(1, 0.5), (2, 1.4), (5, 4.0), (2, 1.8), (10, 9.2)],
    ids=["c1-rho0.5", "c2-rho0.7", "c5-rho0.8", "c2-rho0.9", "c10-rho0.92"],
)
def test_mm_c_wait_matches_erlang_c(c, lam):
    rho = lam / c
    # Enough customers for a useful interval: heavier traffic needs longer runs.
    customers = 10_000 if rho < 0.85 else 30_000
    s = mm_c(c, lam, customers / lam)
    sc, slam, mu = mm_c_parameters(s)
    assert (sc, slam, mu) == (c, lam, 1.0)
    expected = theory.mm_c_wq(c, lam, mu)
    _, low, high = theory.confidence_interval(queue_waits(s, 8))
    assert low <= expected <= high, f"Wq {expected:.4f} outside [{low:.4f}, {high:.4f}]"
    # ... and the interval is narrow enough to mean something.
    assert high - low < 0.5 * expected + 0.05


def test_the_mm_c_scenario_refuses_rho_of_one_or_more():
    with pytest.raises(ConfigError) as caught:
        sim.load("mm_c", ["arrivals.rate=5.0"])
    assert caught.value.key_path == "arrivals.rate"
    assert "rho" in str(caught.value)


def test_the_tails_the_mm_c_check_uses():
    # M/M/1: an arrival finds k or more waiting with probability rho^(k+1); its sojourn is
    # exponential with rate mu - lambda.
    assert theory.mm_c_queue_tail(1, 0.9, 1.0, 3) == pytest.approx(0.9**4)
    assert theory.mm_c_sojourn_tail(1, 0.9, 1.0, 20.0) == pytest.approx(math.exp(-0.1 * 20))
    # theta = c mu - lambda equal to mu: the other branch of the formula, still continuous.
    assert theory.mm_c_sojourn_tail(3, 1.0, 0.5, 4.0) == pytest.approx(
        theory.mm_c_sojourn_tail(3, 1.0 + 1e-7, 0.5, 4.0), rel=1e-5
    )
    assert theory.mm_c_sojourn_tail(5, 4.0, 1.0, 0.0) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("override", "key", "allowed"),
    [
        ("gunicorn.backlog=10", "gunicorn.backlog = 10", "must be >= 73 for theory.model mm_c"),
        ("nginx.max_connections=40", "nginx.max_connections = 40", "must be >= 78"),
        ("gunicorn.timeout=10", "gunicorn.timeout = 10.0", "must be >= 16.9 s"),
        ("nginx.proxy_read_timeout=10", "nginx.proxy_read_timeout = 10.0", "would take longer"),
        ("load_balancer.idle_timeout=10", "load_balancer.idle_timeout = 10.0", "must be >= "),
        ("nginx.latency=0.0005", "nginx.latency = 0.0005", "must be 0 for theory.model mm_c"),
        ("network.connect=0.06", "network.connect = 0.06", "must be 0"),
        ("dns.resolver_hit=0.008", "dns.resolver_hit = 0.008", "must be 0"),
        ("dns.packet_loss=0.01", "dns.packet_loss = 0.01", "must be 0"),
        ("traffic.enabled=true", "traffic.enabled = true", "must be false"),
        ("health_check.enabled=true", "health_check.enabled = true", "must be false"),
        ("asg.enabled=true", "asg.enabled = true", "must be false"),
    ],
)
def test_the_mm_c_scenario_refuses_what_an_m_m_c_queue_does_not_have(
    override, key, allowed, capsys
):
    from sim.cli import main

    assert main(["run", "mm_c", "--set", override]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {key}: ") and allowed in err and err.count("\n") == 1, err


def test_the_mm_c_scenario_refuses_a_failure_and_only_it_is_checked():
    text = (SCENARIOS / "mm_c.toml").read_text()
    with pytest.raises(ConfigError) as caught:
        loader.loads(text + '[[failures]]\nkind = "crash"\nat = 100.0\n')
    assert str(caught.value) == 'failures = ["crash"]: must be empty for theory.model mm_c'
    # Without [theory] model = "mm_c" the same settings are an ordinary scenario.
    loader.loads(text.replace('model = "mm_c"', 'model = "none"'), ["gunicorn.backlog=10"])


def test_with_no_query_the_cost_per_query_changes_nothing():
    short = ["run.duration=200", "run.warmup=20"]
    plain = sim.run(sim.load("mm_c", short)).summary
    heavy = sim.run(sim.load("mm_c", [*short, "django.cpu_per_query=0.5"])).summary
    assert plain == heavy


def test_littles_law_holds_against_the_busy_time_counters():
    # L: the time-average number of busy Gunicorn workers, from the slots' own busy-time
    # books. lambda W: the requests arriving in the window times their mean time holding a
    # worker (Django's start to end, db included), from the records. Two different sources.
    s = sim.load("baseline", ["run.duration=400", "run.warmup=40"])
    result = sim.run(s)
    start, end = result.run.window
    big_l = result.run.busy["workers"] / (end - start)
    app = [r for r in result.records if r.layer == "app" and start <= r.arrival < end]
    held = [r.end - r.arrival for r in app]
    lam_w = len(held) / (end - start) * (sum(held) / len(held))
    assert big_l == pytest.approx(lam_w, rel=0.02)


def test_littles_law_holds_against_the_number_in_system_sampled_over_time():
    # A queue that queues (rho 0.8): L sampled every 0.1 s from the instance's count of
    # requests inside, against lambda W from the records (every other cost is zero, so a
    # request is inside the instance from its arrival to its end).
    s = mm_c(3, 2.4, 4000.0)
    engine = Engine(s, rng_for(s.run.seed))
    samples = []

    def count(engine):
        env, inst = engine.env, engine.instances[0]
        yield env.timeout(s.run.warmup)
        while env.now < s.run.duration:
            samples.append(inst.outstanding)
            yield env.timeout(0.1)

    engine.processes.append(count)
    result = Result.of(engine.run())
    start, end = result.run.window
    big_l = sum(samples) / len(samples)
    spans = [(g[0].arrival, finished_at(g)) for g in by_request(result.records).values()]
    inside = [b - a for a, b in spans if start <= a < end]
    lam_w = len(inside) / (end - start) * (sum(inside) / len(inside))
    assert big_l == pytest.approx(lam_w, rel=0.03)
    assert big_l > 4  # people queue: L = Lq + 2.4 in service, about 5 by Erlang C


TANDEM = [
    "instances.vcpus=2",  # station 1: two vCPUs, exponential CPU bursts (mu1 = 2.5 / s)
    "gunicorn.workers=100",  # workers never the bottleneck
    "gunicorn.backlog=100000",
    'django.cpu={ kind = "exponential", mean = 0.4 }',
    "django.queries=1",
    "django.cpu_per_query=0.0",  # nothing after the query: a pure two-station tandem
    "postgres.vcpus=1",  # station 2: one database CPU (mu2 = 2 / s)
    'postgres.query={ kind = "exponential", mean = 0.5 }',
    "postgres.max_connections=1000",
    "postgres.conn_max_age=2592000.0",  # longer than the run: kept
    "arrivals.rate=1.5",
]


@pytest.mark.slow
def test_two_station_tandem_matches_jackson():
    from sim_helpers import QUIET

    s = loader.loads(QUIET, [*TANDEM, "run.duration=5000", "run.warmup=500"])
    lam = s.arrivals.rate
    expected = theory.jackson_tandem_w(lam, [(2, 2.5), (1, 2.0)])
    sojourns = []
    for summary in sim.run(s, SEED, replications=8).summaries:
        layers = summary["latency"]["layers"]
        sojourns.append(layers["app"]["mean"] + layers["db"]["mean"])
    _, low, high = theory.confidence_interval(sojourns)
    assert low <= expected <= high, f"W {expected:.4f} outside [{low:.4f}, {high:.4f}]"
