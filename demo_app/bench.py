"""What the trace middleware costs: CPU time per request of the JSON API, with it and without.

Like weighing the tracking label itself rather than two parcels on a busy post office's scale:
the middleware adds about 1 % to a request's CPU, far less than the noise of requests/s through
Gunicorn and sockets on a shared machine (ratios of 0.84 to 1.18 from one run to the next). So
this measures in one process, with no server and no client: one SQLite copy of the sample data,
two Django WSGI handlers built side by side from the same settings (one with
``TraceMiddleware``, one without), each called directly with the same request. It runs them in
pairs of batches, alternating which goes first, and counts the CPU time the process used per
request (``time.process_time``: SQLite runs inside the process, so the queries count too). Each
pair gives a ratio traced / untraced; the median and the quartiles of the ratios are printed.

``make bench`` (``python -m demo_app.bench``) prints; it never fails on speed.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PATH, QUERY = "/api/bills/", "page=2&page_size=25"
TRACE = "demo_app.tracing.middleware.TraceMiddleware"


def prepare(workdir: Path) -> None:
    """Settings for this process, and the sample data in a fresh SQLite file."""
    for name in ("DATABASE_URL", "TRACE_MIDDLEWARE", "DJANGO_SETTINGS_MODULE"):
        os.environ.pop(name, None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="demo_app.settings.production",
        SECRET_KEY=secrets.token_urlsafe(50),
        SQLITE_PATH=str(workdir / "bench.sqlite3"),
        STATIC_ROOT=str(workdir / "static"),
        INSTANCE_NAME="bench",
    )
    done = subprocess.run(
        [sys.executable, "-m", "demo_app.manage", "prepare_demo", "--no-static"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise SystemExit(f"demo_app.bench: prepare_demo failed: {lines[-1] if lines else ''}")


def handlers():
    """(traced, untraced): two WSGI handlers whose middleware differ only by TraceMiddleware."""
    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    django.setup()
    if TRACE not in settings.MIDDLEWARE:
        raise SystemExit(f"demo_app.bench: {TRACE} is not in MIDDLEWARE")
    traced = WSGIHandler()  # the middleware chain is built here, once
    with override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != TRACE]):
        untraced = WSGIHandler()
    return traced, untraced


def environ() -> dict:
    """A GET of the JSON view as nginx hands it on (X-Request-Start: the queue is timed too)."""
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": PATH,
        "QUERY_STRING": QUERY,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "HTTP_X_FORWARDED_PROTO": "https",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def call(app, base: dict) -> None:
    """One request through ``app``, its body read and closed as a WSGI server would."""
    statuses: list[str] = []
    request = dict(base, **{"wsgi.input": io.BytesIO(b"")})
    request["HTTP_X_REQUEST_START"] = f"t={time.time():.3f}"
    body = app(request, lambda status, headers, exc_info=None: statuses.append(status))
    try:
        for _chunk in body:
            pass
    finally:
        body.close()  # Django's request_finished: closes the database connection (CONN_MAX_AGE 0)
    if not statuses[0].startswith("200"):
        raise SystemExit(f"demo_app.bench: {PATH}?{QUERY} answered {statuses[0]}")


def timed(app, base: dict) -> float:
    """CPU seconds of one request through ``app``."""
    started = time.process_time()
    call(app, base)
    return time.process_time() - started


def measure(traced, untraced, base: dict, pairs: int) -> dict[bool, list[float]]:
    """CPU per request, traced (True) and untraced (False), from ``pairs`` alternating pairs.

    Each pair is one request through each handler, the order alternating from pair to pair:
    whatever the machine does meanwhile (other processes, frequency changes) falls on both
    sides alike. The collector runs between blocks of pairs, not inside a measured request."""
    cpu: dict[bool, list[float]] = {True: [], False: []}
    gc.disable()
    try:
        for i in range(pairs):
            if i % 100 == 0:
                gc.collect()
            order = (True, False) if i % 2 == 0 else (False, True)
            for is_traced in order:
                cpu[is_traced].append(timed(traced if is_traced else untraced, base))
    finally:
        gc.enable()
    return cpu


def block_ratios(cpu: dict[bool, list[float]], blocks: int = 10) -> list[float]:
    """The ratio of medians in each of ``blocks`` consecutive parts of the run."""
    size = max(1, len(cpu[True]) // blocks)
    return [
        statistics.median(cpu[True][i : i + size]) / statistics.median(cpu[False][i : i + size])
        for i in range(0, size * blocks, size)
        if cpu[True][i : i + size]
    ]


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """Bad input is one line naming it (argparse would add its usage line)."""
        self.exit(2, f"{self.prog}: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m demo_app.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=2000, help="request pairs (2000)")
    args = parser.parse_args(argv)
    if args.pairs < 10:
        parser.error(f"--pairs must be at least 10, got {args.pairs}")

    with tempfile.TemporaryDirectory(prefix="demo-bench-") as tmp:
        prepare(Path(tmp))
        (Path(tmp) / "static").mkdir()
        traced, untraced = handlers()
        base = environ()
        measure(traced, untraced, base, 50)  # warm both: imports, templates, the file cache
        cpu = measure(traced, untraced, base, args.pairs)
    plain_ms = statistics.median(cpu[False]) * 1000
    traced_ms = statistics.median(cpu[True]) * 1000
    ratio = traced_ms / plain_ms
    blocks = block_ratios(cpu)
    print(f"JSON API {PATH}?{QUERY}, called in-process: {args.pairs} alternating request pairs")
    print(f"CPU per request without tracing: {plain_ms:7.3f} ms  (median)")
    print(f"CPU per request with tracing:    {traced_ms:7.3f} ms")
    print(
        f"traced / untraced:               {ratio:7.3f}  (ratio of the medians; in {len(blocks)}"
        f" parts of the run {min(blocks):.3f} to {max(blocks):.3f})"
    )
    print(f"the trace middleware costs {traced_ms - plain_ms:.3f} ms of CPU per request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
