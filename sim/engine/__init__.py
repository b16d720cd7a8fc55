"""Builds the world of one run and drives SimPy through it.

``world.py`` builds the components of ``sim/model/`` from a scenario and strings a request's
trip through them; ``over_time.py`` adds what a day brings (traffic that changes, health
checks, the auto-scaling group, failures, the sampler in ``sampler.py``); ``kernel.py`` drives
the requests' generators and SimPy's step loop, and is the only code of the project that
touches SimPy's private attributes. :func:`simulate` runs a scenario steady or over time, as
the scenario says, and returns a :class:`Run`: raw facts for ``sim/results/``. ``fluid/`` is
the other engine (``engine="fluid"``): the same control plane over a flow model of the
requests, for days and weeks.

May import ``sim.config``, ``sim.model``, ``sim.layers``; never the results or the figures.
"""

from __future__ import annotations

from sim.config import Scenario
from sim.config.checks import check_one_of
from sim.engine.over_time import OverTimeLog, simulate_over_time
from sim.engine.world import Engine, Run, rng_for, simulate_steady

__all__ = ["ENGINES", "Engine", "OverTimeLog", "Run", "check_engine", "rng_for", "simulate"]

#: ``des``: every request an event (the default); ``fluid``: requests as flows.
ENGINES = ("des", "fluid")


def check_engine(engine: str) -> None:
    """Refuse an unknown engine name in one line."""
    check_one_of("--engine", engine, ENGINES, " (des: every request an event; fluid: flows)")


def simulate(
    scenario: Scenario, seed: int | None = None, replication: int = 0, engine: str = "des"
) -> Run:
    """Run ``scenario`` once: over time when any of its sections over time is on
    (:attr:`~sim.config.Scenario.runs_over_time`), steady otherwise. The default seed is the
    scenario's ``run.seed``; replication ``r`` of seed ``s`` draws from its own streams.
    ``engine="fluid"`` moves the requests as flows (``fluid/``), always over time."""
    check_engine(engine)
    if engine == "fluid":
        from sim.engine.fluid import simulate_fluid

        return simulate_fluid(scenario, seed, replication)
    if scenario.runs_over_time:
        return simulate_over_time(scenario, seed, replication)
    return simulate_steady(scenario, seed, replication)
