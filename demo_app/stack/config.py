"""The lab's settings: ports, folders and sizes, from flags, environment and the last `up`.

Like a building's floor plan pinned by the door: everyone who comes later (status, scale,
kill, load, drills) reads the plan the lab was built from (``lab.json`` in the state folder)
instead of guessing. Flags and ``LAB_*`` environment variables only matter for ``up``; once a
lab runs, its saved plan wins.

Flow: CLI flags / environment -> :class:`LabConfig` (validated) -> ``lab.json`` -> every
other command.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import asdict, dataclass, replace
from pathlib import Path

#: Every address the lab binds. Nothing listens beyond this machine.
HOST = "127.0.0.1"
#: The zone the lab's DNS server is authoritative for, and the site's name.
ZONE = "quorum.us"
#: The load balancer's algorithms, in nginx's words (round robin is nginx's default).
BALANCE_CHOICES = ("round_robin", "least_conn")
#: The environment variable stamped on every process the lab starts, so `down` can prove
#: none is left behind by reading /proc, without extra packages.
MARKER = "QUORUM_LAB"


#: The lab's folder unless --state-dir or LAB_STATE_DIR says otherwise: the repository's var/lab,
#: whatever the working directory, so `status` finds the lab `up` started from anywhere.
DEFAULT_STATE_DIR = Path(__file__).resolve().parents[2] / "var" / "lab"


def state_dir_default(environ=None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env["LAB_STATE_DIR"]) if env.get("LAB_STATE_DIR") else DEFAULT_STATE_DIR


def write_new(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``path`` with ``mode`` from its creation (a key is never readable by others, even
    for a moment), through a temporary name so an interrupted write leaves no half file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)  # a leftover would keep its old mode
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


class LabError(Exception):
    """A problem the user can fix (bad flag, busy port, missing nginx): one line, exit 2."""

    exit_code = 2


@dataclass(frozen=True)
class LabConfig:
    """The shape of one lab.

    Usage::

        cfg = LabConfig.from_env(state_dir=Path("var/lab"), instances=2)
        cfg.instance_port(1)  # 8101
    """

    state_dir: Path
    dns_port: int = 8053  # not 5353: that is mDNS, which avahi holds on many laptops
    http_port: int = 8080
    https_port: int = 8443
    base_port: int = 8101
    instances: int = 2
    workers: int = 2
    timeout: int = 30
    balance: str = "round_robin"
    #: Threads per worker: above 1 Gunicorn runs gthread workers (its default is 1, sync).
    threads: int = 1
    #: Django's CONN_MAX_AGE in the instances: 0 closes each request's connection; N keeps
    #: each thread's connection for N seconds.
    conn_max_age: int = 0
    #: "" = SQLite (or the caller's DATABASE_URL, as before); a name = this lab's own
    #: PostgreSQL database and role of that name (connections.py makes them).
    postgres: str = ""
    #: Random, made by each `up` that starts a lab: nginx sends it in every response
    #: (X-Quorum-Lab) and the DNS server in a TXT record (_lab.quorum.us), so a client can
    #: tell this lab from any other server on its ports (client.running_lab). "" = none yet.
    lab_id: str = ""

    def __post_init__(self) -> None:
        for name in ("dns_port", "http_port", "https_port", "base_port"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                raise LabError(f"{name.replace('_', '-')} {port} is not a port: use 1-65535")
        if not 1 <= self.instances <= 16:
            raise LabError(f"instances {self.instances} is out of range: use 1-16")
        if self.base_port + self.instances - 1 > 65535:
            raise LabError(f"base-port {self.base_port} leaves no room for the instances")
        if not 1 <= self.workers <= 32:
            raise LabError(f"workers {self.workers} is out of range: use 1-32")
        if not 1 <= self.threads <= 64:
            raise LabError(f"threads {self.threads} is out of range: use 1-64")
        if not 0 <= self.conn_max_age <= 86400:
            raise LabError(f"conn-max-age {self.conn_max_age} is out of range: use 0-86400 seconds")
        if self.postgres and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", self.postgres):
            raise LabError(
                f"postgres {self.postgres!r} is not a database name: lower-case letters,"
                " digits and _, starting with a letter or _ (up to 63)"
            )
        if not 1 <= self.timeout <= 3600:
            raise LabError(f"timeout {self.timeout} is out of range: use 1-3600 seconds")
        ports = [
            ("dns-port", self.dns_port),
            ("http-port", self.http_port),
            ("https-port", self.https_port),
        ] + [
            (f"{name}'s port", self.instance_port(i))
            for i, name in enumerate(self.instance_names, start=1)
        ]
        seen: dict[int, str] = {}
        for what, port in ports:
            if port in seen:
                raise LabError(
                    f"{what} {port} is also the {seen[port]}: give each part of the lab its own"
                    " port (the instances use base-port .. base-port + instances - 1)"
                )
            seen[port] = what
        if self.balance not in BALANCE_CHOICES:
            allowed = ", ".join(BALANCE_CHOICES)
            raise LabError(f"balance {self.balance!r} is unknown: use one of {allowed}")
        # It goes into nginx.conf and a command line: hex digits only.
        if not re.fullmatch(r"[0-9a-f]{0,64}", self.lab_id):
            raise LabError(f"lab_id {self.lab_id!r} is not an id: up to 64 hex digits (0-9, a-f)")
        object.__setattr__(self, "state_dir", Path(self.state_dir).resolve())

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> LabConfig:
        """Defaults, then ``LAB_*`` variables, then explicit overrides (None means unset)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {"state_dir": state_dir_default(env)}
        for field, var in ENV_VARS.items():
            if var in env:
                text = field in ("balance", "postgres")
                values[field] = env[var] if text else _int(var, env[var])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @classmethod
    def load(cls, state_dir: Path) -> LabConfig | None:
        """The plan saved by the last `up` in ``state_dir``, or None if there is none."""
        path = Path(state_dir) / "lab.json"
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            data["state_dir"] = Path(data["state_dir"])
            return cls(**data)
        except (ValueError, TypeError, KeyError) as exc:
            raise LabError(f"{path} is not a lab plan ({exc}): remove it and run up") from None

    def save(self) -> None:
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        tmp = self.path("lab.json.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.path("lab.json"))

    def with_instances(self, n: int) -> LabConfig:
        return replace(self, instances=n)

    # -- derived names -----------------------------------------------------------------------

    def path(self, *parts: str) -> Path:
        return self.state_dir.joinpath(*parts)

    @property
    def logs(self) -> Path:
        return self.path("logs")

    @property
    def instance_names(self) -> list[str]:
        return [instance_name(i) for i in range(1, self.instances + 1)]

    def instance_port(self, index: int) -> int:
        return self.base_port + index - 1

    @property
    def site(self) -> str:
        """The URL a visitor types (resolved through the lab's DNS)."""
        return f"https://{ZONE}:{self.https_port}"

    def ports(self) -> list[tuple[int, str, str]]:
        """(port, protocol, what uses it and which flag moves it) for the port check."""
        found = [
            (self.dns_port, "udp", "DNS (--dns-port or LAB_DNS_PORT)"),
            (self.dns_port, "tcp", "DNS (--dns-port or LAB_DNS_PORT)"),
            (self.http_port, "tcp", "nginx HTTP (--http-port or LAB_HTTP_PORT)"),
            (self.https_port, "tcp", "nginx HTTPS (--https-port or LAB_HTTPS_PORT)"),
        ]
        for i, name in enumerate(self.instance_names, start=1):
            found.append((self.instance_port(i), "tcp", f"{name} (--base-port or LAB_BASE_PORT)"))
        return found


ENV_VARS = {
    "dns_port": "LAB_DNS_PORT",
    "http_port": "LAB_HTTP_PORT",
    "https_port": "LAB_HTTPS_PORT",
    "base_port": "LAB_BASE_PORT",
    "instances": "LAB_INSTANCES",
    "workers": "LAB_WORKERS",
    "timeout": "LAB_GUNICORN_TIMEOUT",
    "balance": "LAB_BALANCE",
    "threads": "LAB_THREADS",
    "conn_max_age": "LAB_CONN_MAX_AGE",
    "postgres": "LAB_POSTGRES",
}


def instance_name(index: int) -> str:
    """Instances are named like machines behind a load balancer: web-1, web-2, ..."""
    return f"web-{index}"


def instance_index(name: str, count: int) -> int:
    """web-2 -> 2, with a clear error naming the instances that exist."""
    names = [instance_name(i) for i in range(1, count + 1)]
    if name not in names:
        raise LabError(f"instance {name!r} is not in this lab: use one of {', '.join(names)}")
    return names.index(name) + 1


def _int(var: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise LabError(f"{var}={raw!r} is not a whole number") from None


def port_is_free(port: int, proto: str = "tcp") -> bool:
    """True when nothing on this machine holds ``port`` on 127.0.0.1."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        if proto == "tcp":
            # The same option nginx and Gunicorn set: a port in TIME_WAIT is not "taken".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def check_ports(ports: list[tuple[int, str, str]]) -> None:
    """Raise one clear line for the first port already taken."""
    for port, proto, what in ports:
        if not port_is_free(port, proto):
            raise LabError(
                f"port {port}/{proto} on {HOST} is already in use; it is for {what}: "
                "free it or choose another port"
            )


def free_ports(n: int) -> list[int]:
    """n distinct TCP ports the kernel says are free now (bind port 0); for tests and drills."""
    socks, ports = [], []
    try:
        for _ in range(n):
            sock = socket.socket()
            sock.bind((HOST, 0))
            socks.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in socks:
            sock.close()
    return ports
