"""``python -m demo_app.stack <command>``: the one entry point of the local stack lab.

Commands: up, down, status, scale N, kill INSTANCE, dig NAME, load, drill KIND, calibrate,
compare, connections, deploy, rollback, releases. ``--state-dir`` (or ``LAB_STATE_DIR``, default
``var/lab``) picks the lab; every command after `up` reads the plan `up` saved there, so ports
are given once.
"""

from __future__ import annotations

import argparse
import sys
import xmlrpc.client
from pathlib import Path

from demo_app.stack.config import BALANCE_CHOICES, LabConfig, LabError, state_dir_default

DRILLS = ("instance-failure", "worker-timeout", "db-down", "deploy", "bad-deploy", "all")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m demo_app.stack",
        description="The quorum.us stack lab: DNS, nginx, Gunicorn instances under supervisord.",
    )
    parser.add_argument("--state-dir", type=Path, help="lab folder (LAB_STATE_DIR, var/lab)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="start the lab (idempotent)")
    up.add_argument("--instances", type=int, help="Gunicorn instances (LAB_INSTANCES, 2)")
    up.add_argument("--workers", type=int, help="sync workers per instance (LAB_WORKERS, 2)")
    up.add_argument("--threads", type=int, help="threads per worker, >1: gthread (LAB_THREADS, 1)")
    up.add_argument(
        "--conn-max-age", type=int, help="Django's CONN_MAX_AGE, s (LAB_CONN_MAX_AGE, 0)"
    )
    up.add_argument(
        "--postgres", metavar="NAME", help="its own PostgreSQL database and role (LAB_POSTGRES)"
    )
    up.add_argument("--timeout", type=int, help="Gunicorn timeout, s (LAB_GUNICORN_TIMEOUT, 30)")
    up.add_argument("--balance", choices=BALANCE_CHOICES, help="nginx algorithm (LAB_BALANCE)")
    up.add_argument("--dns-port", type=int, help="DNS udp+tcp port (LAB_DNS_PORT, 8053)")
    up.add_argument("--http-port", type=int, help="nginx HTTP port (LAB_HTTP_PORT, 8080)")
    up.add_argument("--https-port", type=int, help="nginx HTTPS port (LAB_HTTPS_PORT, 8443)")
    up.add_argument("--base-port", type=int, help="web-1's port; web-N = base+N-1 (8101)")

    sub.add_parser("down", help="stop everything and check that no process is left")
    sub.add_parser("status", help="a table of DNS, nginx and each instance")
    scale = sub.add_parser("scale", help="run N instances and reload nginx")
    scale.add_argument("n", type=int, metavar="N")
    kill = sub.add_parser("kill", help="SIGKILL one instance's Gunicorn master")
    kill.add_argument("instance", metavar="INSTANCE", help="e.g. web-1")
    kill.add_argument("--wait", action="store_true", help="wait for supervisord's restart")
    dig = sub.add_parser("dig", help="resolve through the lab's DNS: cold vs cached")
    dig.add_argument("name", nargs="?", default="quorum.us")
    dig.add_argument("--repeat", type=int, default=3)
    dig.add_argument("--interval", type=float, default=0.0, help="seconds between lookups")

    load = sub.add_parser("load", help="locust, headless: CSV results and a figure")
    load.add_argument("--users", type=int, default=10)
    load.add_argument("--spawn-rate", type=float, default=5.0)
    load.add_argument("--duration", type=int, default=30, help="seconds")
    load.add_argument("--rate", type=float, default=1.0, help="requests/s per user")
    load.add_argument("--name", default="load", help="results prefix in <state>/load/")

    drill = sub.add_parser("drill", help="failure drills under load")
    drill.add_argument("kind", choices=DRILLS)

    calibrate = sub.add_parser("calibrate", help="measure service times, write calibrated.toml")
    calibrate.add_argument("--requests", type=int, default=60, help="requests per probe")
    calibrate.add_argument(
        "--cpu", choices=("split", "pooled"), default="split", help="how the sim sees the cores"
    )
    calibrate.add_argument(
        "--load-seconds", type=int, default=20, help="steady load to read CPU per page (0: none)"
    )
    compare = sub.add_parser("compare", help="lab vs sim, closed loop, 0.2x-1.3x capacity")
    compare.add_argument("--duration", type=int, default=30, help="seconds per level")
    compare.add_argument("--quick", action="store_true", help="small loads (CI)")
    compare.add_argument(
        "--passes", type=int, default=2, help="sweeps, the second reversed (1-5; default 2)"
    )
    compare.add_argument(
        "--demand",
        default="measured",
        help="the sim's CPU per request: measured (default: each level's own), speed (the"
        " calibration's, scaled by the machine's speed at each level) or calibrated (as read)",
    )
    from demo_app.stack.compare import CPU_JITTER, JITTER_PERIOD

    compare.add_argument(
        "--cpu-jitter",
        type=float,
        default=None,
        metavar="CV",
        help=f"how much the sim's host speed moves every {JITTER_PERIOD:g} s, a coefficient of"
        f" variation (default {CPU_JITTER:g}; 0: one steady speed)",
    )
    conns = sub.add_parser(
        "connections", help="PostgreSQL connections held and refused at 2, 3 and 4 instances"
    )
    conns.add_argument("--fleets", default="2,3,4", help="fleet sizes, in order (2,3,4)")
    conns.add_argument("--limit", type=int, default=20, help="the database's CONNECTION LIMIT")
    conns.add_argument("--users", type=int, default=24, help="clients, each one request at a time")
    conns.add_argument("--duration", type=float, default=20, help="seconds per fleet")
    conns.add_argument("--path", help="the request each client repeats (one query, 200 ms)")
    conns.add_argument("--csv", type=Path, help="where the table goes (<state>/connections.csv)")
    deploy = sub.add_parser(
        "deploy", help="build a release (or pick one) and roll it over the instances (Ansible)"
    )
    which = deploy.add_mutually_exclusive_group()
    which.add_argument("--version", metavar="V", help="an existing release (see `releases`)")
    which.add_argument(
        "--ref", metavar="GITREF", help="build this commit, branch or tag (default: working tree)"
    )
    sub.add_parser("rollback", help="roll the instances back to the previous release")
    sub.add_parser("releases", help="the releases, and which one each instance runs")
    return parser


def config_for(args) -> LabConfig:
    state_dir = args.state_dir or state_dir_default()
    if args.command == "up":
        return LabConfig.from_env(
            state_dir=state_dir,
            instances=args.instances,
            workers=args.workers,
            threads=args.threads,
            conn_max_age=args.conn_max_age,
            postgres=args.postgres,
            timeout=args.timeout,
            balance=args.balance,
            dns_port=args.dns_port,
            http_port=args.http_port,
            https_port=args.https_port,
            base_port=args.base_port,
        )
    return LabConfig.load(state_dir) or LabConfig.from_env(state_dir=state_dir)


def run(args) -> int:
    cfg = config_for(args)
    if args.command in ("up", "down", "status", "scale", "kill"):
        from demo_app.stack import lab

        if args.command == "scale":
            return lab.scale(cfg, args.n)
        if args.command == "kill":
            return lab.kill(cfg, args.instance, wait=args.wait)
        return getattr(lab, args.command)(cfg)
    if args.command == "dig":
        from demo_app.stack.dns import dig

        if not 1 <= args.repeat <= 100:
            raise LabError(f"--repeat {args.repeat} is out of range: use 1-100")
        if not 0 <= args.interval <= 600:
            raise LabError(f"--interval {args.interval} is out of range: use 0-600 seconds")
        try:
            return dig(args.name, cfg.dns_port, args.repeat, args.interval)
        except ConnectionError as exc:
            raise LabError(f"{exc}: is the lab up?") from None
        except LookupError as exc:  # REFUSED: not a name in the lab's zone
            raise LabError(str(exc)) from None
        except UnicodeError:  # dnslib cannot encode it: an empty or over-long label
            raise LabError(
                f"{args.name!r} is not a host name: labels of 1-63 letters, digits or hyphens"
                " separated by dots"
            ) from None
    if args.command == "load":
        from demo_app.stack import load

        return load.run_load(
            cfg, args.users, args.spawn_rate, args.duration, args.rate, args.name
        ).exit_code
    if args.command in ("deploy", "rollback", "releases"):
        from demo_app.stack import deploy

        if args.command == "deploy":
            return deploy.deploy(cfg, version=args.version, ref=args.ref)
        return deploy.rollback(cfg) if args.command == "rollback" else deploy.show(cfg)
    if args.command == "drill":
        from demo_app.stack import drills

        return drills.run(cfg, args.kind)
    if args.command == "connections":
        from demo_app.stack import connections

        connections.run(
            cfg,
            connections.parse_fleets(args.fleets),
            limit=args.limit,
            users=args.users,
            duration=args.duration,
            path=args.path or connections.DEFAULT_PATH,
            out=args.csv,
        )
        return 0
    if args.command == "calibrate":
        from demo_app.stack import calibrate

        return calibrate.run(cfg, args.requests, cpu_model=args.cpu, load_seconds=args.load_seconds)
    from demo_app.stack import compare

    return compare.run(
        cfg,
        args.duration,
        quick=args.quick,
        passes=args.passes,
        demand=args.demand,
        cpu_jitter=args.cpu_jitter,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into `head`: stop quietly
        sys.stderr.close()
        return 0
    except (OSError, xmlrpc.client.Error) as exc:
        # supervisord, nginx or the DNS server stopped answering mid-command.
        print(f"error: {type(exc).__name__}: {exc} (see `status` and the logs)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
