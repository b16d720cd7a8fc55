"""The one error of a bad setting, and the checks every section uses to raise it.

Think of the settings screen of a phone: each value has a range the screen will not let you
leave, and a bad value is refused on the spot with a one-line reason. :class:`ConfigError` is
that reason (``key.path = value: what is allowed``); the ``check_*`` functions below are the
ranges, each saying in its message what it allows.
"""

from __future__ import annotations

import datetime
import ipaddress
import math
from typing import Any


def show(value: Any) -> str:
    """Render a value the way it would be written in TOML (strings in double quotes, tables
    inline: ``{ target = 60 }``, arrays in brackets)."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {show(v)}" for k, v in value.items())
        return f"{{ {inner} }}" if inner else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, int) and abs(value) >= 10**16:
        return f"{value:.3g}"  # a 30-digit count is named by its size, not spelled out
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()  # TOML's own dates and times, as the file wrote them
    return repr(value)


class ConfigError(ValueError):
    """A bad setting: ``str()`` is the one-line message ``key.path = value: what is allowed``.

    >>> str(ConfigError("gunicorn.workers", 0, "must be an integer >= 1"))
    'gunicorn.workers = 0: must be an integer >= 1'
    """

    def __init__(self, key_path: str, value: Any, allowed: str) -> None:
        self.key_path = key_path
        self.value = value
        self.allowed = allowed
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.key_path} = {show(self.value)}: {self.allowed}"

    def under(self, prefix: str) -> ConfigError:
        """The same error with its key path placed under the section ``prefix``."""
        path = f"{prefix}.{self.key_path}" if prefix and self.key_path else prefix or self.key_path
        return ConfigError(path, self.value, self.allowed)


# The largest values a real system could have. Past them a setting is a typo or a joke, and a
# run would take longer than anyone waits or more memory than a laptop has; each error names
# the range, so the user knows what was meant.
MAX_RATE = 1e5  # requests/s: far beyond quorum.us's busiest hour, and a day of it fits a run
MAX_SECONDS = 30 * 86_400  # a month of simulated time: any duration, delay or time of day
MAX_INSTANCES = 1_000  # an auto-scaling group's instances
MAX_WORKERS = 1_000  # Gunicorn workers on an instance, or threads in a worker
MAX_SLOTS = 10_000  # workers x threads: requests one instance serves at once
MAX_VCPUS = 1_024  # the largest EC2 instances have a few hundred
MAX_QUEUE = 1_000_000  # listen backlogs, surge queues, connection limits
MAX_CLIENTS = 1_000_000  # browsers behind one resolver (each keeps its own caches)
MAX_USERS = 100_000  # a closed population of users (each a journey of its own)
MAX_QUERIES = 1_000  # queries of one request
MAX_SEED = 2**63 - 1
MAX_SAMPLES = 1_000_000  # measured values of an empirical distribution
MAX_REPLICATIONS = 1_000  # independent runs of one scenario at once
MAX_ASSETS = 1_000  # static files of one page (the heaviest pages reference a few hundred)
MAX_ASSET_BYTES = 100_000_000  # one static file: 100 MB (a large video is a download, not a page)
MAX_BANDWIDTH = 100_000  # Mbit/s of a client's downlink: 100 Gbit/s
MAX_CONNECTIONS_PER_HOST = 1_000  # a browser's connections to one host (Chromium: 6)


def number_text(x: float) -> str:
    """A bound as people write it: ``2,592,000``, ``100,000``, ``0.5``."""
    if isinstance(x, int):  # an exact bound stays exact (the largest seed has 19 digits)
        return f"{x:,}"
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:g}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_int(key: str, value: int, *, minimum: int = 1, maximum: int | None = None) -> None:
    """A count: an integer no smaller than ``minimum`` (1 unless said otherwise) and, when
    given, no larger than ``maximum``."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    if maximum is None:
        if not ok:
            raise ConfigError(key, value, f"must be an integer >= {minimum}")
    elif not (ok and value <= maximum):
        span = f"[{number_text(minimum)}, {number_text(maximum)}]"
        raise ConfigError(key, value, f"must be an integer in {span}")


def check_number(
    key: str,
    value: float,
    *,
    low: float = 0.0,
    strict: bool = False,
    high: float | None = None,
    unit: str = "",
) -> None:
    """A finite number ``>= low`` (``> low`` when ``strict``) and, when given, ``<= high``."""
    ok = _is_number(value) and math.isfinite(value)
    ok = ok and (value > low if strict else value >= low)
    if high is not None:
        ok = ok and value <= high
    if ok:
        return
    unit = f" {unit}" if unit else ""
    if high is None:
        raise ConfigError(key, value, f"must be a number {'>' if strict else '>='} {low:g}{unit}")
    side = "(" if strict else "["
    span = f"{side}{number_text(low)}, {number_text(high)}]"
    raise ConfigError(key, value, f"must be a number in {span}{unit}")


def check_seconds(key: str, value: float, *, positive: bool = False) -> None:
    """A duration or a time in seconds: finite, >= 0 (> 0 when ``positive``), at most
    :data:`MAX_SECONDS` (30 days)."""
    check_number(key, value, strict=positive, high=MAX_SECONDS, unit="s (at most 30 days)")


def check_rate(key: str, value: float, *, positive: bool = False) -> None:
    """A rate in requests per second: >= 0 (> 0 when ``positive``), at most :data:`MAX_RATE`."""
    check_number(key, value, strict=positive, high=MAX_RATE, unit="requests/s")


def check_positive(key: str, value: float, *, high: float | None = None, unit: str = "") -> None:
    """A duration or rate that must be strictly positive and finite."""
    check_number(key, value, strict=True, high=high, unit=unit)


def check_non_negative(
    key: str, value: float, *, high: float | None = None, unit: str = ""
) -> None:
    """A duration that may be zero (a cost that can be switched off) but not negative."""
    check_number(key, value, high=high, unit=unit)


def check_within(
    key: str, value: float, low: float, high: float, what: str, *, integer: bool = False
) -> None:
    """A number (an integer with ``integer``) in ``[low, high]``; ``what`` says whose range."""
    kind = (int,) if integer else (int, float)
    if isinstance(value, bool) or not (isinstance(value, kind) and low <= value <= high):
        number = "an integer" if integer else "a number"
        raise ConfigError(key, value, f"must be {number} in [{low:g}, {high:g}] ({what})")


def check_optional_seconds(key: str, value: float | None, default: str) -> None:
    """A duration that may be left out (None: ``default`` applies), else a number >= 0."""
    if value is not None and not (_is_number(value) and 0 <= value < math.inf):
        raise ConfigError(
            key, value, f"must be a number of seconds >= 0 (leave it out for {default})"
        )


def check_probability(key: str, value: float) -> None:
    """A probability: a number in [0, 1]."""
    if not (_is_number(value) and 0.0 <= value <= 1.0):
        raise ConfigError(key, value, "must be a probability in [0, 1]")


def check_one_of(key: str, value: Any, options: tuple[Any, ...], note: str = "") -> None:
    """A choice among named options; ``note`` adds context to the message."""
    if value not in options:
        listed = ", ".join(show(o) for o in options)
        raise ConfigError(key, value, f"must be one of {listed}{note}")


def check_ipv4(key: str, value: str) -> None:
    """A dotted-quad IPv4 address; ``12.34.56.789`` is refused (an octet above 255)."""
    try:
        ipaddress.IPv4Address(value)
    except ValueError as exc:
        octets = value.split(".") if isinstance(value, str) else []
        big = [o for o in octets if o.isdigit() and int(o) > 255]
        why = f"octet {big[0]} > 255" if big else str(exc)
        raise ConfigError(
            key, value, f"is not a valid IPv4 address ({why}); allowed: four octets 0-255"
        ) from None
