"""What the trace middleware costs: requests/s of the JSON API with it and without it.

Like weighing a parcel with and without its tracking label on the same scale on the same
afternoon: two Gunicorn servers run side by side on one SQLite copy of the sample data, one
with ``TRACE_MIDDLEWARE=1`` and one with ``TRACE_MIDDLEWARE=0``, and a few client threads
drive ``/api/bills/`` on each in alternating rounds, so machine load hits both alike. Each side
keeps its best round; the ratio traced / untraced must stay at or above 0.95.
``make bench`` (``python -m demo_app.bench``) prints both rates and the ratio; the exit status
is 1 when the ratio is below target.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "demo_app" / "gunicorn.conf.py"
PATH = "/api/bills/?page=2&page_size=25"
TARGET = 0.95


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TRACE_MIDDLEWARE"}}
    env.update(
        DJANGO_SETTINGS_MODULE="demo_app.settings.production",
        SECRET_KEY=secrets.token_urlsafe(50),
        SQLITE_PATH=str(workdir / "bench.sqlite3"),
        STATIC_ROOT=str(workdir / "static"),
        GUNICORN_ACCESS_LOG="/dev/null",
    )
    return env


def start_server(env: dict[str, str], traced: bool, workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    server_env = {
        **env,
        "TRACE_MIDDLEWARE": "1" if traced else "0",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "INSTANCE_NAME": "bench-traced" if traced else "bench-plain",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(CONF)],
        cwd=REPO,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"demo_app.bench: gunicorn exited with {proc.returncode}")
        try:
            if get(port, "/healthz") == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("demo_app.bench: gunicorn did not answer /healthz within 30 s")


def get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def one_round(port: int, requests: int, threads: int) -> float:
    """Requests per second for ``requests`` GETs of the JSON view from ``threads`` threads."""

    def worker(n: int) -> None:
        for _ in range(n):
            status = get(port, PATH)
            if status != 200:
                raise RuntimeError(f"{PATH} answered {status}")

    shares = [requests // threads + (i < requests % threads) for i in range(threads)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, shares))
    return requests / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo_app.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--requests", type=int, default=200, help="requests per round (200)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds per server (8)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (4)")
    parser.add_argument("--workers", type=int, default=2, help="Gunicorn workers each (2)")
    args = parser.parse_args(argv)
    for name in ("requests", "rounds", "threads", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")

    with tempfile.TemporaryDirectory(prefix="demo-bench-") as tmp:
        env = base_env(Path(tmp))
        prepared = subprocess.run(
            [sys.executable, "-m", "demo_app.manage", "prepare_demo", "--no-static"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        if prepared.returncode != 0:
            print(prepared.stderr, file=sys.stderr)
            return 1
        servers = {traced: start_server(env, traced, args.workers) for traced in (True, False)}
        best = {True: 0.0, False: 0.0}
        try:
            for traced in (True, False):  # warm both up: imports, connections, caches
                one_round(servers[traced][1], args.requests // 4, args.threads)
            for i in range(args.rounds):
                order = (True, False) if i % 2 == 0 else (False, True)
                for traced in order:
                    rate = one_round(servers[traced][1], args.requests, args.threads)
                    best[traced] = max(best[traced], rate)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
            for proc, _ in servers.values():
                proc.wait(timeout=30)
    ratio = best[True] / best[False]
    verdict = "target met" if ratio >= TARGET else "below target"
    print(f"JSON API without tracing: {best[False]:8,.0f} requests / s  ({PATH})")
    print(f"JSON API with tracing:    {best[True]:8,.0f} requests / s")
    print(f"ratio:                    {ratio:8.3f}  (target >= {TARGET}: {verdict})")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
