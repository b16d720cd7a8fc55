"""From raw runs to what people read: records, statistics, time series, text, narration, files.

========================  ==========================================================
``records.py``            one named record per request per layer (the only row format)
``statistics.py``         the summary of a run, replications combined with 95 % CIs
``timeseries.py``         per-period request statistics joined with the sampled gauges
``text.py``               the printed report
``narrate.py``            one request told hop by hop
``files.py``              JSON and CSV, written all or nothing
========================  ==========================================================

:class:`Result` gathers the runs of one scenario (one per replication) and computes each of
these on demand. May import ``sim.engine``, ``sim.model``, ``sim.config``, ``sim.layers`` and
``sim.theory``; never the figures, the CLI or matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sim.config import ConfigError, Scenario
from sim.engine import Run
from sim.engine.fluid import FluidRun
from sim.results import files, fluid, narrate, records, statistics, text, timeseries
from sim.results.records import AssetRecord, Record

__all__ = ["AssetRecord", "Record", "Result"]


@dataclass(frozen=True, eq=False)
class Result:
    """The runs of one scenario, one per replication, and everything computed from them.

    >>> import sim
    >>> result = sim.run(sim.load("mm_c", ["run.duration=200"]))
    >>> result.summary["requests"]["ok"] > 0
    True

    ``summary`` is the first replication's summary (``sim/SCHEMA.md``), ``document`` all of
    them with means and 95 % confidence intervals (what ``python -m sim run --json`` prints),
    ``text()`` the printed report, ``records`` the first replication's records, ``table`` its
    time series (runs over time only), ``trace()`` one request told hop by hop, ``files()``
    everything ``--out`` writes except the figures (``sim.figures`` draws those).

    A fluid run (``engine == "fluid"``) has the same summary, document, table and text, and
    no per-request records: ``records``, ``records_of``, ``arrays`` and ``trace()`` raise a
    :class:`~sim.config.ConfigError` saying so (``fluid.NO_RECORDS``).
    """

    scenario: Scenario
    seed: int
    runs: tuple[Run, ...]

    @classmethod
    def of(cls, *runs: Run) -> Result:
        """The result of runs made by the engine directly (tests, experiments)."""
        return cls(runs[0].scenario, runs[0].seed, runs)

    @property
    def engine(self) -> str:
        """``"des"`` or ``"fluid"``: the engine that made the runs."""
        return "fluid" if isinstance(self.runs[0], FluidRun) else "des"

    def _no_records(self) -> None:
        if self.engine == "fluid":
            raise ConfigError("--engine", "fluid", fluid.NO_RECORDS)

    @property
    def run(self) -> Run:
        """The first replication's run."""
        return self.runs[0]

    @property
    def log(self):
        """The first run's log over time (activities, alarms, health, failures), or None."""
        return self.runs[0].over_time

    @cached_property
    def arrays(self):
        """The first run's requests as arrays (``arrival``, ``end``, ``status``)."""
        self._no_records()
        return statistics.request_arrays(self.runs[0])

    def records_of(self, replication: int = 0) -> list[Record]:
        """The records of one replication, request after request."""
        self._no_records()
        if replication == 0:
            return self.records
        return records.of_requests(self.runs[replication].requests)

    @cached_property
    def records(self) -> list[Record]:
        self._no_records()
        return records.of_requests(self.runs[0].requests)

    @cached_property
    def asset_records(self) -> list[AssetRecord]:
        """The first replication's static files, one record per file of every page (empty
        when ``[assets]`` is off)."""
        self._no_records()
        return records.of_assets(self.runs[0].requests)

    def assets_of(self, request_id: int) -> list[AssetRecord]:
        """The static files of one page (request) of the first replication."""
        return [a for a in self.asset_records if a.page == request_id]

    @cached_property
    def summaries(self) -> list[dict]:
        if self.engine == "fluid":
            return [fluid.summary(run) for run in self.runs]
        out = [statistics.summary(self.runs[0], self.records)]
        for run in self.runs[1:]:
            out.append(statistics.summary(run, records.of_requests(run.requests)))
        return out

    @property
    def summary(self) -> dict:
        return self.summaries[0]

    @cached_property
    def document(self) -> dict:
        doc = statistics.combine(self.summaries, self.scenario.name, self.seed)
        if self.engine == "fluid":
            doc["engine"] = "fluid"
            doc["warnings"] = list(self.runs[0].warnings)
        return doc

    @cached_property
    def table(self) -> list[dict[str, Any]] | None:
        """The first replication's time series (one row per period), or None for a steady run."""
        run = self.runs[0]
        if run.over_time is None:
            return None
        if self.engine == "fluid":
            return timeseries.merge(run.over_time.samples, fluid.windows(run))
        return timeseries.table(run, self.arrays)

    def text(self) -> str:
        """The printed report: the summary, and what happened over time if it ran over time."""
        report = text.format_summary(self.document)
        if self.table is not None:
            report += text.describe(self.runs[0].over_time, self.table)
        if self.engine == "fluid":
            report += fluid.describe(self.runs[0])
        return report

    def trace(self, how: str = "typical") -> str | None:
        """One request of the first replication told hop by hop (``narrate.PICKS``), or None
        when the run has no such request."""
        rid = narrate.pick(self.records, how, self.runs[0].window)
        if rid is None:
            return None
        why = {
            "typical": ", a typical one (median end-to-end time of the successful requests)",
            "first": ", the very first (empty browser, OS and resolver caches)",
            "slowest": ", the slowest successful one",
            "error": ", the first that failed",
        }[how]
        return narrate.narrate(self.records, rid, self.scenario, why, self.assets_of(rid))

    def files(self) -> dict[str, str]:
        """``summary.json``, ``summary.txt``, ``records.csv`` (every replication),
        ``assets.csv`` (the first replication's static files, with ``[assets]`` on) and, for a
        run over time, ``timeseries.csv`` and ``activities.csv``: file name -> contents."""
        out = {"summary.json": files.to_json(self.document), "summary.txt": self.text()}
        if self.engine == "fluid":
            pass  # no records.csv: a fluid run keeps no request
        elif len(self.runs) == 1:
            out["records.csv"] = files.records_csv(self.records)
        else:
            parts = [files.records_csv(self.records_of(i), replication=i)
                     for i in range(len(self.runs))]  # fmt: skip
            out["records.csv"] = parts[0] + "".join(p.split("\n", 1)[1] for p in parts[1:])
        if self.engine != "fluid" and self.scenario.assets.enabled:
            out["assets.csv"] = files.assets_csv(self.asset_records)
        if self.table is not None:
            out.update(files.over_time_files(self.runs[0].over_time, self.table))
        return out
