"""What a scenario may say: frozen dataclasses, one error, one set of checks.

A scenario is a tree of settings, one frozen, keyword-only dataclass per TOML section
(:class:`Scenario` at the root). Building one checks it: a bad value raises
:class:`ConfigError`, whose text is the one line a user sees (``gunicorn.workers = 0: must be
an integer >= 1``). Every default is sourced in ``sim/FACTS.md``.

Owns: the sections (``core.py`` for the request path, ``over_time.py`` for traffic, health
checks, the auto-scaling group, failures and the sampler), the checks (``checks.py``) and the
whole scenario (``scenario.py``). Imports only ``sim.theory`` (for the M/M/c check): no SimPy,
no files (``sim/loader.py`` reads them), nothing of the model.
"""

from sim.config.checks import ConfigError, show
from sim.config.core import (
    ArrivalsConfig,
    AssetsConfig,
    DistributionConfig,
    DjangoConfig,
    DnsConfig,
    GunicornConfig,
    InstancesConfig,
    LoadBalancerConfig,
    NetworkConfig,
    NginxConfig,
    PostgresConfig,
    RunConfig,
    TheoryConfig,
    UsersConfig,
    constant,
    exponential,
    lognormal,
)
from sim.config.over_time import (
    AsgConfig,
    FailureConfig,
    HealthCheckConfig,
    PolicyConfig,
    StepConfig,
    TimeseriesConfig,
    TrafficConfig,
)
from sim.config.scenario import Scenario, mm_c_parameters

__all__ = [
    "ArrivalsConfig",
    "AsgConfig",
    "AssetsConfig",
    "ConfigError",
    "DistributionConfig",
    "DjangoConfig",
    "DnsConfig",
    "FailureConfig",
    "GunicornConfig",
    "HealthCheckConfig",
    "InstancesConfig",
    "LoadBalancerConfig",
    "NetworkConfig",
    "NginxConfig",
    "PolicyConfig",
    "PostgresConfig",
    "RunConfig",
    "Scenario",
    "StepConfig",
    "TheoryConfig",
    "TimeseriesConfig",
    "TrafficConfig",
    "UsersConfig",
    "constant",
    "exponential",
    "lognormal",
    "mm_c_parameters",
    "show",
]
