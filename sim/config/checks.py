"""The one error of a bad setting, and the checks every section uses to raise it.

Think of the settings screen of a phone: each value has a range the screen will not let you
leave, and a bad value is refused on the spot with a one-line reason. :class:`ConfigError` is
that reason (``key.path = value: what is allowed``); the ``check_*`` functions below are the
ranges, each saying in its message what it allows.
"""

from __future__ import annotations

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
        raise ConfigError(key, value, f"must be an integer in [{minimum}, {maximum:,}]")


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
    raise ConfigError(key, value, f"must be a number in {side}{low:g}, {high:g}]{unit}")


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
