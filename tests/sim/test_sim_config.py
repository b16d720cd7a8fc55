"""Settings: defaults, validation messages, overrides, distributions."""

from __future__ import annotations

import numpy as np
import pytest

from sim import loader
from sim.config import ConfigError, DistributionConfig, GunicornConfig, Scenario
from sim.config.checks import check_ipv4
from sim.model import distributions


def test_the_defaults_are_a_complete_valid_scenario():
    s = Scenario()
    assert s.gunicorn.workers == 2 * s.instances.vcpus + 1  # FACTS: the recommended (2 x cores) + 1
    assert s.load_balancer.surge_queue == 1024
    assert s.postgres.max_connections == 100


def test_the_baseline_file_is_the_embedded_defaults():
    shipped = loader.load("baseline")
    defaults = Scenario(name="baseline", description=shipped.description)
    assert shipped == defaults


def test_config_error_is_one_line_with_key_value_and_allowed():
    exc = ConfigError("gunicorn.workers", 0, "must be an integer >= 1")
    assert str(exc) == "gunicorn.workers = 0: must be an integer >= 1"
    assert str(exc.under("x")) == "x.gunicorn.workers = 0: must be an integer >= 1"


def test_twelve_thirty_four_fifty_six_seven_eighty_nine_is_not_an_address():
    with pytest.raises(ConfigError) as caught:
        check_ipv4("dns.address", "12.34.56.789")
    assert str(caught.value) == (
        'dns.address = "12.34.56.789": is not a valid IPv4 address (octet 789 > 255);'
        " allowed: four octets 0-255"
    )
    check_ipv4("dns.address", "12.34.56.78")


def test_threads_with_sync_means_gthread():
    g = GunicornConfig(threads=4)
    assert g.worker_class == "sync" and g.effective_worker_class == "gthread"
    assert g.slots == 5 * 4
    assert loader.notes(Scenario(gunicorn=g))
    assert not loader.notes(Scenario())


def test_overrides_are_read_as_toml_values():
    assert loader.parse_override("gunicorn.workers=9") == ("gunicorn.workers", 9)
    assert loader.parse_override("gunicorn.worker_class=gthread") == (
        "gunicorn.worker_class",
        "gthread",
    )
    assert loader.parse_override("dns.resolver_warm=false") == ("dns.resolver_warm", False)
    s = loader.load("baseline", ["gunicorn.workers=9", "django.cpu.mean=0.05"])
    assert s.gunicorn.workers == 9 and s.django.cpu.mean == 0.05


def test_a_bare_number_is_a_constant_distribution():
    s = loader.loads("[network]\nconnect = 0.25\n")
    assert s.network.connect == DistributionConfig(kind="constant", mean=0.25)


def test_nested_errors_name_the_whole_path():
    with pytest.raises(ConfigError) as caught:
        loader.loads('[django]\ncpu = { kind = "lognormal", mean = 0.0 }\n')
    assert caught.value.key_path == "django.cpu.mean"
    with pytest.raises(ConfigError) as caught:
        loader.loads('[django]\ncpu = { kind = "gamma", mean = 1.0 }\n')
    assert caught.value.key_path == "django.cpu.kind"
    with pytest.raises(ConfigError) as caught:
        loader.loads("[run]\nduration = 10.0\nwarmup = 10.0\n")
    assert caught.value.key_path == "run.warmup"


@pytest.mark.parametrize(
    ("config", "mean", "variance"),
    [
        (DistributionConfig(kind="constant", mean=0.3), 0.3, 0.0),
        (DistributionConfig(kind="exponential", mean=0.5), 0.5, 0.25),
        (DistributionConfig(kind="lognormal", mean=0.2, sigma=0.5), 0.2, (np.exp(0.25) - 1) * 0.04),
        (DistributionConfig(kind="empirical", samples=(1.0, 2.0, 6.0)), 3.0, 14 / 3),
    ],
)
def test_distributions_expose_their_mean_and_sampling_agrees(config, mean, variance):
    d = distributions.make(config)
    assert d.mean == pytest.approx(mean) and d.variance == pytest.approx(variance)
    draw = d.sampler(np.random.default_rng(3))
    sample = np.array([draw() for _ in range(40_000)])
    assert sample.mean() == pytest.approx(mean, rel=0.03, abs=1e-12)
    assert sample.var() == pytest.approx(variance, rel=0.08, abs=1e-12)


def test_samplers_are_reproducible_from_the_injected_generator():
    d = distributions.make(DistributionConfig(kind="exponential", mean=1.0))
    a, b = d.sampler(np.random.default_rng(9)), d.sampler(np.random.default_rng(9))
    assert [a() for _ in range(5000)] == [b() for _ in range(5000)]


@pytest.mark.parametrize("name", ["cpu_bound", "instance_failure", "slow_queries"])
def test_a_partial_distribution_override_keeps_the_default_kind(name):
    # These files leave django.cpu at its embedded default: a lognormal, mean 25 ms, sigma 0.5.
    s = loader.load(name, ["django.cpu.mean=0.05"])
    assert s.django.cpu == DistributionConfig(kind="lognormal", mean=0.05, sigma=0.5)
    s = loader.load(name, ["django.cpu.sigma=0.8"])
    assert s.django.cpu == DistributionConfig(kind="lognormal", mean=0.025, sigma=0.8)


def test_a_partial_distribution_table_in_a_file_keeps_the_default_kind_too():
    s = loader.loads("[network]\nconnect = { mean = 0.1 }\n")
    assert s.network.connect == DistributionConfig(kind="lognormal", mean=0.1, sigma=0.3)
    # A bare number is a whole distribution, a constant; setting its mean keeps it constant.
    s = loader.load("baseline", ["nginx.latency.mean=0.002"])
    assert s.nginx.latency == DistributionConfig(kind="constant", mean=0.002)
    s = loader.load("baseline", ["django.cpu.kind=exponential"])
    assert (s.django.cpu.kind, s.django.cpu.mean) == ("exponential", 0.025)


def test_entries_of_arrays_of_tables_can_be_set_by_index():
    s = loader.load("weekday", ["asg.policies[0].target=60"])
    assert s.asg.policies[0].kind == "target_tracking" and s.asg.policies[0].target == 60.0
    s = loader.load("instance_failure", ["failures[0].at=120"])
    assert (s.failures[0].kind, s.failures[0].at) == ("crash", 120.0)
    s = loader.load("flash_crowd", ["asg.policies[0].steps[1].adjustment=2"])
    assert [step.adjustment for step in s.asg.policies[0].steps] == [1, 2]
    assert s.asg.policies[1].threshold == 25.0  # the other entry is untouched


@pytest.mark.parametrize(
    ("name", "override", "message"),
    [
        (
            "weekday",
            "asg.policies[0].targt=60",
            "asg.policies[0].targt = 60: unknown key; allowed keys: kind, metric, comparison,"
            " threshold, period, evaluation_periods, adjustment, cooldown, steps, target,"
            " high_periods, low_periods, low_ratio",
        ),
        (
            "instance_failure",
            "failures[0].when=1",
            "failures[0].when = 1: unknown key; allowed keys: kind, at, duration, instance, az,"
            " factor, error_rate, instances",
        ),
        (
            "weekday",
            "asg.policies[1].target=60",
            "asg.policies[1].target = 60: no such entry; asg.policies has only asg.policies[0]",
        ),
        (
            "weekday",
            "failures[0].at=60",
            "failures[0].at = 60: no such entry; the scenario has no failures array",
        ),
        (
            "weekday",
            "asg.policies.target=60",
            "asg.policies.target = 60: asg.policies is an array: name an entry, e.g."
            " asg.policies[0].target",
        ),
        (
            "weekday",
            "asg.policies[0]={ targt = 60 }",
            "asg.policies[0].targt = 60: unknown key; allowed keys: kind,",
        ),
    ],
)
def test_a_bad_entry_of_an_array_of_tables_is_one_toml_like_line(name, override, message):
    with pytest.raises(ConfigError) as caught:
        loader.load(name, [override])
    assert str(caught.value).startswith(message)
    assert "{'" not in str(caught.value)  # no Python dict


@pytest.mark.parametrize(
    ("name", "overrides", "note"),
    [
        ("baseline", ["asg.max=6"], "asg.max changes nothing: [asg] is off"),
        ("baseline", ["health_check.interval=10"], "health_check.interval changes nothing"),
        ("baseline", ["traffic.rate=5"], "traffic.rate changes nothing: [traffic] is off"),
        ("weekday", ["instances.count=4"], "instances.count changes nothing: the auto-scaling"),
        ("weekday", ["arrivals.rate=4"], "arrivals.rate changes nothing: [traffic] sets"),
        ("baseline", ["timeseries.period=30"], "timeseries.period changes nothing"),
        (
            "instance_failure",
            ["asg.enabled=false"],
            "asg.min, asg.max, asg.launch_time, asg.boot_time and asg.health_check_grace change"
            " nothing: [asg] is off",
        ),
    ],
)
def test_a_setting_the_model_cannot_use_gets_a_note(name, overrides, note):
    _, notes = loader.load_noted(name, overrides)
    assert len(notes) == 1 and notes[0].startswith(note), notes


@pytest.mark.parametrize("name", loader.shipped())
def test_the_shipped_scenarios_set_nothing_the_model_ignores(name):
    assert loader.load_noted(name)[1] == []
