"""A SimPy model of the request path of a Django/PostgreSQL SaaS on AWS.

The public API, in two calls::

    import sim

    scenario = sim.load("baseline", ["gunicorn.workers=9"])   # a shipped name or a .toml path
    result = sim.run(scenario, replications=3)                # steady or over time, as it says
    print(result.text())
    result.summary["latency"]["end_to_end"]["p95"]

The package flows one way, each layer importing only those before it:
``config`` (what a scenario may say) <- ``model`` (the things modelled) <- ``engine`` (builds
the world and drives SimPy) <- ``results`` (records, statistics, text, files) <- ``figures``
(pure figure builders) <- the command line (``cli.py``, ``sweep.py``). ``layers.py`` (the
vocabulary of layers and outcomes) and ``theory.py`` (queueing formulas) sit below them all;
``loader.py`` reads scenario files into ``config``. ``tests/sim/test_sim_layout.py`` holds the
direction.

Names are imported on first use, so ``from sim.layers import LAYERS`` (as the demo app does)
does not load SimPy or numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.config import ConfigError, Scenario
    from sim.layers import LAYERS
    from sim.loader import load, loads
    from sim.results import Result

__all__ = ["LAYERS", "ConfigError", "Result", "Scenario", "load", "loads", "run"]

_WHERE = {
    "ConfigError": "sim.config",
    "LAYERS": "sim.layers",
    "Result": "sim.results",
    "Scenario": "sim.config",
    "load": "sim.loader",
    "loads": "sim.loader",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


def run(
    scenario: Scenario,
    seed: int | None = None,
    replications: int = 1,
    progress: bool = False,
    allow_large: bool = False,
    engine: str = "des",
) -> Result:
    """Simulate ``scenario`` ``replications`` times: steady, or over time when it has
    ``[traffic]``, ``[health_check]``, ``[asg]`` or ``[[failures]]``. The default seed is the
    scenario's ``run.seed``; replication ``i`` draws from its own independent streams, so the
    same scenario, seed and count give the same result. ``progress`` shows a bar on stderr.
    A run expected to need more than half of this machine's memory is refused with a
    :class:`ConfigError` giving the estimate, unless ``allow_large``.

    ``engine="fluid"`` moves requests as flows with the same control plane (always over
    time; seconds for a simulated day): the same summary, table and text, no per-request
    records (``sim/README.md``, "Long horizons")."""
    from sim.config import ConfigError, Scenario
    from sim.config.checks import MAX_REPLICATIONS, MAX_SEED, check_int
    from sim.engine import check_engine, simulate
    from sim.engine.size import check_size
    from sim.results import Result

    check_engine(engine)
    check_int("replications", replications, maximum=MAX_REPLICATIONS)
    if seed is not None:
        check_int("seed", seed, minimum=0, maximum=MAX_SEED)
    if not isinstance(scenario, Scenario):
        raise ConfigError("scenario", repr(scenario)[:60], "must be a Scenario (sim.load)")
    if engine == "des":  # the fluid engine keeps no request: its memory does not grow with them
        check_size(scenario, replications, allow_large=allow_large)
    seed = scenario.run.seed if seed is None else seed
    reps: Any = range(replications)
    if progress:
        import sys

        from tqdm import tqdm

        reps = tqdm(reps, desc=scenario.name, unit="run", file=sys.stderr)
    runs = tuple(simulate(scenario, seed, replication=i, engine=engine) for i in reps)
    return Result(scenario, seed, runs)
