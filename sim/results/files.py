"""Files: the results as text (JSON, CSV) and the one way to write them, all or nothing.

Every file of a run is made in memory first; :func:`write_files` writes each to a temporary
file beside its destination and renames them all only once all are written, so a failure (a
full disk, no permission) leaves nothing half-written, and a folder that cannot be used is
refused by :func:`check_folder` before anything runs. Same inputs, same bytes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sim.config import ConfigError
from sim.engine import OverTimeLog
from sim.results.records import ASSET_FIELDS, FIELDS, AssetRecord, Record
from sim.results.timeseries import columns

DIGITS = 6  # seconds rounded to the microsecond: readable, and stable across platforms


def to_json(document: dict) -> str:
    """Deterministic JSON text: key order as built, no NaN, a final newline."""
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def records_csv(
    rows: Iterable[Record] | Iterable[AssetRecord],
    replication: int | None = None,
    fields: tuple[str, ...] = FIELDS,
) -> str:
    """CSV text of the records (header :data:`~sim.results.records.FIELDS`, or ``fields``:
    :data:`~sim.results.records.ASSET_FIELDS` for the static files' records, plus a leading
    ``replication`` column when given)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = list(fields) if replication is None else ["replication", *fields]
    writer.writerow(header)
    for row in rows:
        cells = [
            "" if v is None else (f"{v:.{DIGITS}f}" if isinstance(v, float) else v) for v in row
        ]
        writer.writerow(cells if replication is None else [replication, *cells])
    return out.getvalue()


def assets_csv(rows: Iterable[AssetRecord]) -> str:
    """CSV text of the static files' records (``assets.csv``)."""
    return records_csv(rows, fields=ASSET_FIELDS)


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
    """Refuse, before anything runs, an output folder that cannot be made or written into:
    make it (and its missing parents), write and remove a file in it, and remove what was made,
    so a folder the permissions allow but the system refuses (``/proc/x``) is caught too."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(flag, str(folder), "is a file; allowed: a folder (made if missing)")
    made: list[Path] = []
    try:
        for parent in [*reversed(folder.parents), folder]:
            if parent.exists() and not parent.is_dir():
                raise ConfigError(flag, str(folder), f"cannot be made: {parent} is a file")
            if not parent.exists():
                parent.mkdir()
                made.append(parent)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(flag, str(folder), f"cannot be written: {folder} is not writable")
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(flag, str(folder), f"cannot be written: {exc.strerror or exc}") from None
    finally:
        for parent in reversed(made):
            with contextlib.suppress(OSError):
                parent.rmdir()


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


def over_time_files(log: OverTimeLog, table: list[dict[str, Any]]) -> dict[str, str]:
    """A run over time as file contents: ``timeseries.csv`` (one row per period, ``table``)
    and ``activities.csv`` (the scaling-activity log, failures and health changes)."""
    out = {"timeseries.csv": table_csv(table)}
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(["t", "source", "kind", "instance", "detail"])
    events = [(a.t, "asg", a.kind, a.instance, a.detail) for a in log.activities]
    events += [(t, "failure", kind, "", detail) for t, kind, detail in log.failures]
    events += [(t, "health_check", state, name, "") for t, name, state in log.health]
    for name, history in log.alarms.items():
        events += [(t, "alarm", state, "", name) for t, state in history]
    for t, *rest in sorted(events, key=lambda e: e[0]):
        w.writerow([f"{float(t):.3f}", *rest])
    out["activities.csv"] = text.getvalue()
    return out


def table_csv(table: list[dict[str, Any]]) -> str:
    text = io.StringIO()
    w = csv.DictWriter(text, fieldnames=columns(table), lineterminator="\n", restval="")
    w.writeheader()
    for row in table:
        w.writerow({k: _cell(v) for k, v in row.items()})
    return text.getvalue()


def _cell(v: Any) -> Any:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return v
