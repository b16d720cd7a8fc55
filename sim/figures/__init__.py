"""Pure figure builders: results in, matplotlib figures out, never a run of the model.

Think of a doctor's charts pinned at the end of a bed: they are drawn from the nurses' notes
(the records, the summary, the time series), never by examining the patient again.

``plots.py`` draws one run (latency distribution, time per layer, one request's waterfall),
``dashboard.py`` a run over time, ``tradeoff.py`` a sweep; :func:`png` turns a figure into PNG
bytes with no timestamp, so the bytes depend only on the data. matplotlib is imported inside
the functions: it costs about a second at start-up, which a command that only prints a summary
should not pay. May import ``sim.results`` and everything below it; never the CLI.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes, without a creation timestamp."""
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=120, metadata={"Software": None})
    return out.getvalue()


def run_figures(result) -> dict[str, bytes]:
    """The figures ``python -m sim run --figures`` writes for a :class:`~sim.results.Result`:
    ``latency.png``, ``layers.png``, ``waterfall.png`` and, over time, ``dashboard.png`` (a
    fluid run, which keeps no request: ``layers.png`` and ``dashboard.png``)."""
    from sim.figures import dashboard, plots
    from sim.results import narrate

    name = result.scenario.name
    run = result.run
    if result.engine == "fluid":
        # No per-request records: the layers from the summary and the dashboard only.
        figures = {
            "layers.png": plots.layer_breakdown(
                result.summary, f"{name}: where the time goes, by layer"
            ),
            "dashboard.png": dashboard.dashboard(result, f"{name}: the run over time"),
        }
        return {file: png(fig) for file, fig in figures.items()}
    figures = {
        "latency.png": plots.latency_distribution(
            result.records, run.window, f"{name}: end-to-end latency"
        ),
        "layers.png": plots.layer_breakdown(
            result.summary, f"{name}: where the time goes, by layer"
        ),
    }
    typical = narrate.pick(result.records, "typical", run.window)
    if typical is not None:
        what = "page" if result.scenario.assets.enabled else "request"
        figures["waterfall.png"] = plots.waterfall(
            result.records,
            typical,
            f"{name}: a typical {what} (request {typical})",
            result.assets_of(typical),
        )
    if result.table is not None:
        figures["dashboard.png"] = dashboard.dashboard(result, f"{name}: the run over time")
    return {file: png(fig) for file, fig in figures.items()}
