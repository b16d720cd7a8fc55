"""Scenario files: TOML in, a validated frozen :class:`~sim.config.Scenario` out.

Think of a customs desk: every item in the suitcase (every key in the file) is checked against
the declaration form (the dataclasses in ``sim/config/``); an item not on the form, or of the
wrong kind, is stopped with one line saying which item, what it was and what is allowed.

Flow: ``load(name_or_path, overrides)`` -> read the file (stdlib ``tomllib``) -> apply
``--set key.path=value`` overrides to the raw tables -> read a traffic ``series`` CSV into
numbers -> :func:`build` walks the dataclass fields generically (types from the annotations)
-> each dataclass validates its own values in ``__post_init__`` -> a
:class:`~sim.config.ConfigError` is re-raised with the full key path. Sections not given keep
their embedded defaults, so ``Scenario()`` is a complete scenario.

The only module of the model that reads files: scenario files and the rate series they name.
Imports ``sim.config`` only.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
import tomllib
import types
import typing
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from sim.config import ConfigError, DistributionConfig, Scenario
from sim.config.over_time import check_series

SCENARIO_DIR = "scenarios"


def shipped() -> list[str]:
    """Names of the scenarios shipped in ``sim/scenarios/``."""
    folder = resources.files("sim") / SCENARIO_DIR
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def locate(name_or_path: str) -> Path:
    """A shipped scenario's file by name (``baseline``) or a path to a ``.toml`` file."""
    if "/" not in name_or_path and not name_or_path.endswith(".toml"):
        candidate = Path(str(resources.files("sim") / SCENARIO_DIR / f"{name_or_path}.toml"))
        if candidate.is_file():
            return candidate
    path = Path(name_or_path)
    if not path.is_file():
        names = ", ".join(shipped())
        raise ConfigError(
            "scenario",
            name_or_path,
            f"no such file; allowed: a shipped scenario ({names}) or a path to a .toml file",
        )
    return path


#: A scenario file larger than this is not a scenario (the shipped ones are 2-5 KB).
MAX_FILE_BYTES = 10_000_000


def read(path: Path) -> dict[str, Any]:
    """The raw tables of a TOML file; any failure to read or parse it is one ConfigError."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(
                "scenario", str(path), f"is larger than {MAX_FILE_BYTES // 1_000_000} MB"
            )
        with path.open("rb") as f:
            return parse_toml(f.read().decode(), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("scenario", str(path), f"cannot be read: {exc}") from None


def parse_toml(text: str, where: str) -> dict[str, Any]:
    """Parsed TOML, or a one-line ConfigError whatever went wrong (a syntax error, or tables
    nested so deeply that the parser runs out of stack)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("scenario", where, f"is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError("scenario", where, "is not valid TOML: nested too deeply") from None


_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)((?:\[[0-9]+\])*)")


def key_steps(key: str) -> list[str | int] | None:
    """``"asg.policies[0].target"`` -> ``["asg", "policies", 0, "target"]``; None if the key
    is not a dotted path of names, each optionally indexed (an entry of an array of tables)."""
    steps: list[str | int] = []
    for part in key.split("."):
        match = _PART.fullmatch(part)
        if match is None:
            return None
        steps.append(match[1])
        steps.extend(int(i) for i in re.findall(r"[0-9]+", match[2]))
    return steps


def parse_override(text: str) -> tuple[str, Any]:
    """``"gunicorn.workers=9"`` -> ``("gunicorn.workers", 9)``; the value is read as TOML
    (``true``, ``0.5``, ``"gthread"``), falling back to a bare string (``gthread``). An entry
    of an array of tables is named by its index: ``asg.policies[0].target=60``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or key_steps(key) is None:
        raise ConfigError(
            "--set",
            text,
            "must look like key.path=value, e.g. gunicorn.workers=9 or asg.policies[0].target=60",
        )
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    except RecursionError:
        raise ConfigError("--set", text[:60], "the value is nested too deeply") from None
    return key, value


def apply_overrides(
    tables: dict[str, Any], overrides: list[tuple[str, Any]], cls: type = Scenario
) -> dict[str, Any]:
    """A copy of ``tables`` with each ``(key.path, value)`` set, creating tables on the way.

    ``name[i]`` steps into entry ``i`` of an array of tables the file already has (entries
    are not created). ``cls`` is the dataclass the tables describe, so a key that does not
    exist is named before indexing into it, and a distribution the file gives as a bare number
    (a constant) becomes a table when one of its keys is set.
    """
    result = _deep_copy(tables)
    for key, value in overrides:
        steps = key_steps(key)
        if steps is None:
            raise ConfigError("--set", key, "must look like key.path or name[index].key")
        node: Any = result
        hint: Any = cls
        for i, step in enumerate(steps):
            path = _path(steps[: i + 1])
            if isinstance(step, int):
                if not 0 <= step < len(node):
                    where = _path(steps[:i])
                    entries = {0: "none", 1: f"only {where}[0]"}.get(
                        len(node), f"{where}[0] to {where}[{len(node) - 1}]"
                    )
                    raise ConfigError(key, value, f"no such entry; {where} has {entries}")
                hint = _item(hint)
            else:
                known = _hints(hint) if dataclasses.is_dataclass(hint) else None
                if known is not None and step not in known and i + 1 < len(steps):
                    allowed = ", ".join(f.name for f in dataclasses.fields(hint))
                    raise ConfigError(key, value, f"unknown key {path}; allowed keys: {allowed}")
                hint = known.get(step) if known is not None else None
            if i + 1 == len(steps):
                node[step] = value
            elif isinstance(steps[i + 1], int):
                child = node.get(step) if isinstance(step, str) else node[step]
                if not isinstance(child, list):
                    raise ConfigError(
                        key, value, f"no such entry; the scenario has no {path} array"
                    )
                node = child
            else:
                if typing.get_origin(hint) is tuple:
                    example = _path([*steps[: i + 1], 0, *steps[i + 1 :]])
                    raise ConfigError(
                        key, value, f"{path} is an array: name an entry, e.g. {example}"
                    )
                if hint is not None and not dataclasses.is_dataclass(hint):
                    raise ConfigError(key, value, f"{path} is a single setting, not a table")
                child = node.setdefault(step, {}) if isinstance(step, str) else node[step]
                if hint is DistributionConfig and _is_number(child):
                    child = node[step] = {"kind": "constant", "mean": child}
                if not isinstance(child, dict):
                    raise ConfigError(path, child, f"is not a table, so {key} cannot be set")
                node = child
    return result


def _path(steps: list[str | int]) -> str:
    out = ""
    for step in steps:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def _item(hint: Any) -> Any:
    """The item type of a ``tuple[X, ...]`` field."""
    return typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else None


def load(name_or_path: str, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override and validate a scenario. Raises ConfigError with a one-line message."""
    return load_noted(name_or_path, overrides)[0]


def load_noted(
    name_or_path: str, overrides: list[str] | tuple[str, ...] = ()
) -> tuple[Scenario, list[str]]:
    """:func:`load`, and the :func:`notes` on what the model does differently from what the
    file and the overrides say (for the command line to print)."""
    path = locate(name_or_path)
    tables = read(path)
    tables = apply_overrides(tables, [parse_override(o) for o in overrides])
    tables.setdefault("name", path.stem)
    _beside(tables, path.parent)
    s = build(Scenario, tables)
    return s, notes(s, tables)


def _beside(tables: dict[str, Any], folder: Path | None) -> None:
    """Read the rate series a ``[traffic]`` section names into its ``points``. A relative
    ``series`` path names a file next to the scenario's own file first (then in the working
    directory, then among the shipped scenarios), so the scenario means the same file wherever
    it is run from."""
    traffic = tables.get("traffic")
    if not isinstance(traffic, dict) or not traffic.get("enabled"):
        return
    name = traffic.get("series")
    if traffic.get("profile") != "series" or not isinstance(name, str) or not name:
        return
    path = series_path(name, folder)
    traffic["series"] = str(path)
    try:
        times, rates = read_series(path)
    except ValueError as exc:
        raise ConfigError("traffic.series", str(path), str(exc)) from None
    traffic["points"] = [[t, r] for t, r in zip(times, rates, strict=True)]


def series_path(name: str, base_dir: Path | None = None) -> Path:
    """Where a ``traffic.series`` file is: an absolute path as it is; a relative one next to
    the scenario (``base_dir``), in the working directory, or among the shipped scenarios."""
    path = Path(name)
    if path.is_absolute():
        return path
    for folder in (base_dir, Path.cwd(), Path(__file__).parent / SCENARIO_DIR):
        if folder is not None and (folder / path).is_file():
            return folder / path
    return path


def read_series(path: str | Path) -> tuple[list[float], list[float]]:
    """``(times, rates)`` from a ``t,rate`` CSV file (one header line), e.g. an export of last
    Tuesday's RequestCount; a bad file raises ``ValueError`` naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise ValueError(f"cannot read rate series {path}: {why}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip() for c in rows[0]] != ["t", "rate"]:
        raise ValueError(f"{path}: first line must be the header 't,rate'")
    times: list[float] = []
    rates: list[float] = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            t, r = (float(c) for c in row)
        except ValueError:
            raise ValueError(
                f"{path} line {lineno}: expected two numbers 't,rate', got {','.join(row)!r}"
            ) from None
        times.append(t)
        rates.append(r)
    why = check_series(times, rates)
    if why:
        raise ValueError(f"{path}: {why}")
    return times, rates


def loads(text: str, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Like :func:`load`, from TOML text (for tests and notebooks)."""
    tables = parse_toml(text, "<text>")
    tables = apply_overrides(tables, [parse_override(o) for o in overrides])
    _beside(tables, None)
    return build(Scenario, tables)


#: Sections switched on by their ``enabled`` key: the rest of the section waits for it.
SWITCHED = ("users", "traffic", "health_check", "asg", "assets")


def notes(s: Scenario, tables: dict[str, Any] | None = None) -> list[str]:
    """Things the model changed on the scenario's behalf, as Gunicorn itself would, and (given
    the raw ``tables`` the scenario was built from) settings it reads but cannot use."""
    out = []
    g = s.gunicorn
    if g.worker_class == "sync" and g.threads > 1:
        out.append(
            f'gunicorn.threads = {g.threads} with worker_class "sync": Gunicorn runs'
            ' "gthread" workers instead, and so does the model'
        )
    if tables is None:
        return out

    def given(section: str) -> list[str]:
        table = tables.get(section)
        return (
            [f"{section}.{k}" for k in table if k != "enabled"] if isinstance(table, dict) else []
        )

    for section in SWITCHED:
        keys = given(section)
        if keys and not getattr(s, section).enabled:
            out.append(
                f"{_list(keys)} {'changes' if len(keys) == 1 else 'change'} nothing:"
                f" [{section}] is off (set {section}.enabled = true to use it)"
            )
    if s.asg.enabled and "instances.count" in given("instances"):
        out.append(
            "instances.count changes nothing: the auto-scaling group sizes the fleet"
            " (asg.min, asg.desired)"
        )
    if s.traffic.enabled and "arrivals.rate" in given("arrivals"):
        out.append(
            "arrivals.rate changes nothing: [traffic] sets the arrival rate (traffic.profile,"
            " traffic.rate)"
        )
    if s.users.enabled:
        if "arrivals.rate" in given("arrivals"):
            out.append(
                "arrivals.rate changes nothing: [users] sends the requests (users.count,"
                " users.think_time)"
            )
        if "dns.clients" in given("dns"):
            out.append(
                "dns.clients changes nothing: with [users] each user is a browser of its own"
                " (users.count browsers)"
            )
    if s.assets.enabled:
        out.extend(_asset_notes(s, given("assets")))
    keys = given("timeseries")
    if keys and not s.runs_over_time:
        out.append(
            f"{_list(keys)} {'changes' if len(keys) == 1 else 'change'} nothing: the scenario"
            " does not run over time (no [traffic], [health_check] or [asg] enabled, no"
            " [[failures]])"
        )
    return out


def _asset_notes(s: Scenario, keys: list[str]) -> list[str]:
    """Settings of ``[assets]`` that the chosen path for the files never reads."""
    a = s.assets
    unused = {
        "assets.hit_ratio": not a.cdn,
        "assets.edge_latency": not a.cdn,
        "assets.origin_latency": not a.cdn,
        "assets.rtt": a.cdn,
        "assets.whitenoise_cpu": a.server != "django",
        "assets.nginx_file": a.server != "nginx",
    }
    why = {
        "assets.hit_ratio": "assets.cdn is false: every file comes from the instances",
        "assets.edge_latency": "assets.cdn is false: every file comes from the instances",
        "assets.origin_latency": "assets.cdn is false: every file comes from the instances",
        "assets.rtt": "assets.cdn is true: files come from the edge (assets.edge_latency)",
        "assets.whitenoise_cpu": 'assets.server is "nginx": no file reaches Django',
        "assets.nginx_file": 'assets.server is "django": WhiteNoise serves the files',
    }
    return [f"{k} changes nothing: {why[k]}" for k in keys if unused.get(k)]


def _list(keys: list[str]) -> str:
    return keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + " and " + keys[-1]


# ---------------------------------------------------------------------------------------------
# The generic builder: any frozen dataclass from a TOML table.


def build(cls: type, table: Any, prefix: str = "", base: Any = None) -> Any:
    """An instance of dataclass ``cls`` from a TOML table, checking keys and types.

    ``base`` is the value the table is read over: a section's keys left out keep their values
    there. A nested section's base is its field's embedded default, so ``[django] cpu = {
    mean = 0.05 }`` (or ``--set django.cpu.mean=0.05``) keeps the default's lognormal kind and
    sigma. A bare number is a whole distribution of its own: a constant.
    """
    if cls is DistributionConfig and _is_number(table):
        table, base = {"kind": "constant", "mean": table}, None
    if not isinstance(table, dict):
        raise ConfigError(prefix, table, f"must be a table of {cls.__name__} settings")
    hints = _hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    for key in table:
        if key not in hints:
            raise ConfigError(
                _join(prefix, key), table[key], f"unknown key; allowed keys: {', '.join(known)}"
            )
    values = {}
    for key, raw in table.items():
        hint = hints[key]
        default = _default(cls, key, base) if dataclasses.is_dataclass(hint) else None
        values[key] = _convert(hint, raw, _join(prefix, key), default)
    if base is not None:
        values = {**{name: getattr(base, name) for name in known}, **values}
    try:
        return cls(**values)
    except ConfigError as exc:
        raise exc.under(prefix) from None


def _default(cls: type, key: str, base: Any) -> Any:
    """The value field ``key`` of ``cls`` has before the table is read: the base's, else the
    field's embedded default."""
    if base is not None:
        return getattr(base, key)
    f = _fields(cls)[key]
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


@cache
def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(hint: Any, raw: Any, path: str, default: Any = None) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, raw, path, default)
    if origin is typing.Literal:
        if raw not in typing.get_args(hint):
            allowed = ", ".join(f'"{a}"' for a in typing.get_args(hint))
            raise ConfigError(path, raw, f"must be one of {allowed}")
        return raw
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(raw, list):
            raise ConfigError(path, raw, f"must be an array of {_kind(item)}")
        return tuple(_convert(item, x, f"{path}[{i}]") for i, x in enumerate(raw))
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(options[0], raw, path)
    if hint is bool:
        if not isinstance(raw, bool):
            raise ConfigError(path, raw, "must be true or false")
        return raw
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ConfigError(path, raw, "must be an integer")
        return raw
    if hint is float:
        if not _is_number(raw):
            raise ConfigError(path, raw, "must be a number")
        return float(raw)
    if hint is str:
        if not isinstance(raw, str):
            raise ConfigError(path, raw, "must be a string")
        return raw
    return raw


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and not math.isnan(x)


def _kind(hint: Any) -> str:
    if dataclasses.is_dataclass(hint):
        return "tables"
    return {float: "numbers", int: "integers", str: "strings", bool: "booleans"}.get(hint, "values")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _deep_copy(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _deep_copy(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_deep_copy(v) for v in x]
    return x
