"""Statistics computed afterwards from the flat records: throughput, errors, latency,
utilisation; replications folded into means with 95 % confidence intervals; CSV and JSON.

Think of a shop's till rolls: the tills only print one line per sale as it happens, and the
accountant works out the day's takings, the busiest hour and the average basket afterwards,
from the rolls alone. Here the records (one row per request per layer, ``request.py``) are the
till rolls, and nothing below needs to know how the requests arrived.

Which requests count: those arriving in the measurement window ``[warmup, duration)``.
Latency statistics use the successful ones (status 200); errors are counted by status and by
outcome. The JSON summary's schema is documented in ``sim/SCHEMA.md`` (``schema_version``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from sim.config import ConfigError
from sim.engine import Results
from sim.layers import LAYERS
from sim.request import FIELDS, OK
from sim.theory import confidence_interval

SCHEMA_VERSION = 1
#: HTTP statuses always present in ``status_counts`` (others are added when they occur).
STATUSES = ("200", "500", "502", "503", "504")
#: The sections of a summary whose keys depend on what happened: counts, 0 when absent.
COUNTS = ("status_counts", "error_outcomes")
DIGITS = 6  # seconds rounded to the microsecond: readable, and stable across platforms


def _r(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), DIGITS)


def requests_of(rows: Iterable[tuple]) -> dict[int, list[tuple]]:
    """Rows grouped by request id (in order of appearance)."""
    grouped: dict[int, list[tuple]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    return grouped


def _stats(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p50": None, "p95": None, "p99": None}
    a = np.asarray(values)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"mean": _r(a.mean()), "p50": _r(p50), "p95": _r(p95), "p99": _r(p99)}


def summary(results: Results) -> dict:
    """The summary of one run, as a JSON-ready dict with a stable key order."""
    start, end = results.window
    seconds = end - start
    by_request = requests_of(results.rows)
    status_counts = dict.fromkeys(STATUSES, 0)
    outcomes: dict[str, int] = {}
    e2e, e2e_wait, e2e_service = [], [], []
    layer_total: dict[str, list[float]] = {layer: [] for layer in LAYERS}
    layer_wait: dict[str, list[float]] = {layer: [] for layer in LAYERS}
    layer_service: dict[str, list[float]] = {layer: [] for layer in LAYERS}
    arrived = 0
    for rows in by_request.values():
        arrival = rows[0][2]
        if not start <= arrival < end:
            continue
        arrived += 1
        status = rows[0][10]
        key = str(status)
        status_counts[key] = status_counts.get(key, 0) + 1
        if status != 200:
            # The failed layer's outcome: not always the last row (a worker killed after its
            # queries has an ``ok`` db row after the failed app row); dns rows name a cache.
            why = next((r[9] for r in reversed(rows) if r[9] != OK and r[1] != "dns"), rows[-1][9])
            outcomes[why] = outcomes.get(why, 0) + 1
            continue
        wait = service = 0.0
        for row in rows:
            layer, w, s = row[1], row[5], row[6]
            wait += w
            service += s
            layer_total[layer].append(w + s)
            layer_wait[layer].append(w)
            layer_service[layer].append(s)
        e2e.append(max(row[4] for row in rows) - arrival)
        e2e_wait.append(wait)
        e2e_service.append(service)
    ok = status_counts["200"]
    layers = {}
    for layer in LAYERS:
        entry = {"count": len(layer_total[layer]), **_stats(layer_total[layer])}
        entry["wait"] = _r(np.mean(layer_wait[layer])) if layer_wait[layer] else None
        entry["service"] = _r(np.mean(layer_service[layer])) if layer_service[layer] else None
        layers[layer] = entry
    end_to_end = _stats(e2e)
    end_to_end["wait"] = _r(np.mean(e2e_wait)) if e2e else None
    end_to_end["service"] = _r(np.mean(e2e_service)) if e2e else None
    utilisation = {
        k: _r(results.busy[k] / results.capacity[k]) if results.capacity[k] else None
        for k in ("workers", "vcpus", "db_connections", "db_cpu")
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "scenario": results.scenario.name,
        "seed": results.seed,
        "window": {"start": _r(start), "end": _r(end), "seconds": _r(seconds)},
        "requests": {
            "arrived": arrived,
            "ok": ok,
            "errors": arrived - ok,
            "unfinished": results.counters["sent"] - results.counters["finished"],
        },
        "throughput_per_s": _r(ok / seconds),
        "status_counts": dict(sorted(status_counts.items())),
        "error_outcomes": dict(sorted(outcomes.items())),
        "latency": {"end_to_end": end_to_end, "layers": layers},
        "utilisation": utilisation,
        "counters": {
            "spillover": results.counters["spillover"],
            "killed_workers": results.counters["killed_workers"],
            "refused_db_connections": results.counters["refused_db_connections"],
        },
    }


def _flatten(d: dict, prefix: str = "") -> dict[str, float]:
    flat = {}
    for key, value in d.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, path + "."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[path] = value
    return flat


def combine(runs: Sequence[dict], scenario: str, seed: int) -> dict:
    """The JSON document for ``R`` replications: every numeric summary value as a mean with
    a 95 % confidence interval across replications (``null`` bounds for one run), and the
    runs themselves."""
    # A count a run never saw (an error cause, a status) is 0 there, not missing: every run
    # gets every count any run has, so a cause seen in one replication of three is averaged
    # in rather than dropped. A value without data (null) is left out where it is missing.
    union = {k: sorted({key for run in runs for key in run[k]}) for k in COUNTS}

    def filled(run: dict) -> dict:
        out = {k: v for k, v in run.items() if k not in ("schema_version", "seed")}
        for k in COUNTS:
            out[k] = {key: run[k].get(key, 0) for key in union[k]}
        return out

    flats = [_flatten(filled(run)) for run in runs]
    keys = [k for k in flats[0] if all(k in f for f in flats)]
    across = {}
    for key in keys:
        mean, low, high = confidence_interval([f[key] for f in flats])
        across[key] = {"mean": _r(mean), "ci95": [_r(low), _r(high)]}
    return {
        "schema_version": SCHEMA_VERSION,
        "scenario": scenario,
        "seed": seed,
        "replications": len(runs),
        "across_replications": across,
        "runs": list(runs),
    }


def to_json(document: dict) -> str:
    """Deterministic JSON text: key order as built, no NaN, a final newline."""
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def rows_to_csv(rows: Iterable[tuple], replication: int | None = None) -> str:
    """CSV text of the records (header :data:`sim.request.FIELDS`, plus ``replication``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = list(FIELDS) if replication is None else ["replication", *FIELDS]
    writer.writerow(header)
    for row in rows:
        cells = [
            "" if v is None else (f"{v:.{DIGITS}f}" if isinstance(v, float) else v) for v in row
        ]
        writer.writerow(cells if replication is None else [replication, *cells])
    return out.getvalue()


def write_atomically(path: Path, text: str | bytes) -> None:
    """Write through a temporary file in the same folder, then rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _temporary(path: Path, text: str | bytes) -> str:
    """A temporary file beside ``path`` holding ``text``, with the usual mode."""
    mode = "wb" if isinstance(text, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it the usual mode
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def check_folder(folder: Path, flag: str = "--out") -> None:
    """Refuse, before anything runs, an output folder that cannot be made or written into."""
    try:
        if folder.exists():
            if not folder.is_dir():
                raise ConfigError(
                    flag, str(folder), "is a file; allowed: a folder (made if missing)"
                )
            where = folder
        else:
            where = next(p for p in folder.parents if p.exists())
            if not where.is_dir():
                raise ConfigError(flag, str(folder), f"cannot be made: {where} is a file")
        if not os.access(where, os.W_OK | os.X_OK):
            raise ConfigError(flag, str(folder), f"cannot be written: {where} is not writable")
    except OSError as exc:
        raise ConfigError(flag, str(folder), f"cannot be used: {exc.strerror or exc}") from None


def write_files(folder: Path, files: dict[str, str | bytes], flag: str = "--out") -> None:
    """Write every file into ``folder`` (made if missing), or none: each goes to a temporary
    file first and all are renamed only once all are written. A failure (disk full, no
    permission) removes what was made and becomes a one-line :class:`ConfigError`."""
    made: list[Path] = []
    temps: list[tuple[str, Path]] = []
    renamed: list[Path] = []
    try:
        for parent in [*reversed(folder.parents), folder]:
            if not parent.exists():
                parent.mkdir()
                made.append(parent)
        for name, content in files.items():
            temps.append((_temporary(folder / name, content), folder / name))
        for tmp, path in temps:
            os.replace(tmp, path)
            renamed.append(path)
    except OSError as exc:
        for tmp, path in temps:
            Path(tmp).unlink(missing_ok=True)
            if path in renamed:  # a rename failed after others: no mix of old and new files
                path.unlink(missing_ok=True)
        for parent in reversed(made):
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise ConfigError(flag, str(folder), f"cannot be written: {exc.strerror or exc}") from None


# ---------------------------------------------------------------------------------------------
# The printed summary.


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1000:.1f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f} %"


def format_summary(document: dict) -> str:
    """A short human-readable report of a :func:`combine` document."""
    runs = document["runs"]
    first = runs[0]
    across = document["across_replications"]
    r = document["replications"]

    def value(path: str, fmt) -> str:
        entry = across.get(path)
        if entry is None:
            return "-"
        text = fmt(entry["mean"])
        low, high = entry["ci95"]
        if r > 1 and low is not None:
            text += f" [{fmt(low)}, {fmt(high)}]"
        return text

    w = first["window"]
    lines = [
        f"scenario {document['scenario']}: seed {document['seed']}, {r} replication"
        f"{'s' if r != 1 else ''}, measured from {w['start']:g} s to {w['end']:g} s"
        + (" (mean [95 % CI])" if r > 1 else ""),
        f"  requests    {value('requests.arrived', lambda x: f'{x:.0f}')} arrived,"
        f" {value('requests.ok', lambda x: f'{x:.0f}')} ok,"
        f" throughput {value('throughput_per_s', lambda x: f'{x:.2f}')} req/s",
        "  errors      "
        + "  ".join(
            f"{code}: {value(f'status_counts.{code}', lambda x: f'{x:.0f}')}"
            for code in first["status_counts"]
            if code != "200"
        ),
    ]
    reasons = sorted({k for run in runs for k in run["error_outcomes"]})
    if reasons:
        per_run = [
            f"{k} {sum(run['error_outcomes'].get(k, 0) for run in runs) / r:g}" for k in reasons
        ]
        lines.append("  because     " + ", ".join(per_run))
    e = "latency.end_to_end."
    lines.append(
        f"  latency     mean {value(e + 'mean', _ms)} ms, p50 {value(e + 'p50', _ms)},"
        f" p95 {value(e + 'p95', _ms)}, p99 {value(e + 'p99', _ms)} ms"
    )
    lines.append(
        f"              of which waiting {value(e + 'wait', _ms)} ms,"
        f" being served {value(e + 'service', _ms)} ms"
    )
    lines.append(f"  {'layer':<10}{'mean':>9}{'p50':>9}{'p95':>9}{'p99':>9}{'wait':>9}"
                 f"{'service':>9}  (ms)")  # fmt: skip
    for layer in LAYERS:
        s = first["latency"]["layers"][layer]
        if not s["count"]:
            continue
        cells = [value(f"latency.layers.{layer}.{k}", _ms) if r == 1 else
                 _ms(across.get(f"latency.layers.{layer}.{k}", {}).get("mean"))
                 for k in ("mean", "p50", "p95", "p99", "wait", "service")]  # fmt: skip
        lines.append(f"  {layer:<10}" + "".join(f"{c:>9}" for c in cells))
    u = "utilisation."
    lines.append(
        f"  utilisation workers {value(u + 'workers', _pct)}, vCPUs {value(u + 'vcpus', _pct)},"
        f" DB connections {value(u + 'db_connections', _pct)},"
        f" DB CPU {value(u + 'db_cpu', _pct)}"
    )
    return "\n".join(lines) + "\n"


def completed_per_s(results) -> float:
    """Successful responses finished inside the measured window, per second: what the
    instance delivered, not what was sent to it."""
    start, end = results.window
    done = sum(
        1
        for rows in requests_of(results.rows).values()
        if rows[0][10] == 200 and start <= max(r[4] for r in rows) < end
    )
    return done / (end - start)
