"""nginx's access log (format ``lab``): its fields, and which requests failed.

Like a till roll read at closing time: one line per visitor, and the question is how many
left without what they came for. Status 500 and up is the obvious answer but not the whole
one: an instance that dies after sending its status line leaves nginx logging 200 with fewer
bytes than announced (0 when it died right after the headers), and a visitor who gave up
waiting is logged as 499. The rule, the same in the README's ``awk`` recipe, the drills and
``compare``:

- **5xx**: status 500 or more (nginx's own 502/504, or the app's 500/503 passed on);
- **499**: the client closed the connection before nginx could answer;
- **truncated**: a proxied answer (not to HEAD, not a 304) whose body is shorter than the
  ``Content-Length`` the instance announced (field 14), or, with none announced, a 200 with
  0 bytes.

A request nginx retried on another instance (several upstreams in field 8) that got its answer
there is not an error: nginx hid the failure from the visitor. It is counted as ``retried``.

Run ``python -m demo_app.stack.accesslog [LOG]`` for the counts of a log (default: the lab's).

Flow: a log line -> :func:`field` (1-based, like ``cut -f``) -> :func:`classify` -> counts.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

#: The fields of the ``lab`` log format, in order (field n is FIELDS[n - 1]).
FIELDS = (
    "time", "client", "method", "uri", "status", "bytes", "request_time", "upstream_addr",
    "upstream_status", "upstream_response_time", "instance", "request_id", "end",
    "content_length", "release",
)  # fmt: skip

#: The kinds of failed request, in the order they are checked.
ERRORS = ("5xx", "499", "truncated")


def field(line: str, n: int) -> str:
    """Field ``n`` (1-based, like ``cut -f``) of a TAB-separated log line, or ""."""
    parts = line.rstrip("\n").split("\t")
    return parts[n - 1] if len(parts) >= n else ""


def classify(line: str) -> str:
    """``5xx``, ``499``, ``truncated``, ``retried`` or ``ok`` for one line of the log."""
    try:
        status, sent = int(field(line, 5)), int(field(line, 6))
    except ValueError:
        return "ok"  # not a request line of this format
    if status >= 500:
        return "5xx"
    if status == 499:
        return "499"
    upstreams = field(line, 8)
    announced = field(line, 14)
    if upstreams not in ("", "-") and field(line, 3) != "HEAD" and status != 304:
        if announced.isdigit() and sent < int(announced):
            return "truncated"
        if not announced.isdigit() and status == 200 and sent == 0:
            return "truncated"
    if ", " in upstreams:
        return "retried"
    return "ok"


def is_error(line: str) -> bool:
    return classify(line) in ERRORS


def count(lines: Iterable[str]) -> Counter:
    """How many lines of each kind (``ok``, ``retried`` and the ERRORS)."""
    return Counter(classify(line) for line in lines if line.strip())


def summary(counts: Counter) -> str:
    total = sum(counts.values())
    errors = sum(counts[kind] for kind in ERRORS)
    kinds = ", ".join(f"{counts[kind]} {kind}" for kind in ERRORS)
    return (
        f"{total} requests, {errors} failed ({kinds}); "
        f"{counts['retried']} retried on another instance and answered"
    )


def releases_over_time(lines: Iterable[str], step: float = 5.0) -> list[tuple[float, Counter]]:
    """Which releases answered, per ``step`` seconds from the first line: a list of (start
    second, release -> requests). Lines nginx answered itself (no release) are left out; a
    window in which no instance answered is kept, empty."""
    points = []
    for line in lines:
        release = field(line, 15)
        try:
            end = float(field(line, 13))
        except ValueError:
            continue
        if release not in ("", "-"):
            points.append((end, release))
    if not points:
        return []
    t0 = min(t for t, _ in points)
    windows: list[Counter] = [
        Counter() for _ in range(int((max(t for t, _ in points) - t0) // step) + 1)
    ]
    for t, release in points:
        windows[int((t - t0) // step)][release] += 1
    return [(i * step, counts) for i, counts in enumerate(windows)]


def main(argv: list[str] | None = None) -> int:
    from demo_app.stack.config import state_dir_default

    parser = argparse.ArgumentParser(
        prog="python -m demo_app.stack.accesslog", description="count failed requests"
    )
    parser.add_argument("log", nargs="?", type=Path, help="default: the lab's nginx-access.log")
    args = parser.parse_args(argv)
    path = args.log or state_dir_default() / "logs" / "nginx-access.log"
    try:
        with open(path) as f:
            print(summary(count(f)))
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
