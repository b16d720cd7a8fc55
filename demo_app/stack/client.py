"""How a visitor reaches the lab: resolve quorum.us through the lab's DNS, then HTTPS to it.

Like a browser with one tab: look the name up (through :class:`~demo_app.stack.dns.
CachingResolver`, so repeated requests hit the cache), open TCP to the address, present
``quorum.us`` in TLS (SNI) and trust only the lab's CA, send ``Host: quorum.us``. Also a plain
HTTP probe straight to one Gunicorn instance, the way a load balancer's health check does.

And the question every notebook asks first: is *this checkout's* lab up, or is something else
on its ports? :func:`running_lab` answers by identity, not by port: the lab's state folder names
a random ``lab_id`` (made by `up`), and the server on the HTTPS port must present a certificate
from this lab's CA and send that same id (``X-Quorum-Lab``).

Flow: name -> DNS (cached) -> address -> TCP + TLS -> HTTP/1.1 request -> :class:`Reply`.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

from demo_app.stack.certs import tls_files
from demo_app.stack.config import HOST, ZONE, LabConfig, LabError, state_dir_default
from demo_app.stack.dns import LAB_ID_NAME, CachingResolver, query_txt


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    seconds: float
    address: str

    @property
    def instance(self) -> str | None:
        return self.headers.get("x-instance")

    @property
    def server_timing(self) -> dict[str, float]:
        """``Server-Timing`` as layer -> milliseconds (``app;dur=3.1, db;dur=0.4`` ...)."""
        return parse_server_timing(self.headers.get("server-timing", ""))


def parse_server_timing(value: str) -> dict[str, float]:
    found = {}
    for metric in value.split(","):
        parts = [p.strip() for p in metric.split(";")]
        if not parts[0]:
            continue
        for p in parts[1:]:
            if p.startswith("dur="):
                with contextlib.suppress(ValueError):
                    found[parts[0]] = float(p[4:])
    return found


class LabClient:
    """HTTPS to ``quorum.us`` as the lab's DNS resolves it, trusting only the lab's CA."""

    def __init__(self, cfg: LabConfig, timeout: float = 30.0):
        self.cfg = cfg
        self.timeout = timeout
        self.resolver = CachingResolver(cfg.dns_port)
        self.context = ssl.create_default_context(cafile=str(tls_files(cfg.path("tls")).ca))

    def address(self, host: str) -> str:
        """``host``'s address as the lab's DNS gives it (cached for its TTL)."""
        found = self.resolver.lookup(host)
        if found.address is None:
            raise LookupError(f"{host}: NXDOMAIN from the lab's DNS")
        return found.address

    def connect(self, host: str, address: str) -> http.client.HTTPSConnection:
        """TCP and TLS to ``address`` (what the lab's DNS gave for ``host``), ready to send."""
        raw = socket.create_connection((address, self.cfg.https_port), self.timeout)
        try:
            sock = self.context.wrap_socket(raw, server_hostname=host)
        except BaseException:
            raw.close()
            raise
        conn = http.client.HTTPSConnection(host, self.cfg.https_port, timeout=self.timeout)
        conn.sock = sock  # connected to the address the lab's DNS gave, not one of its own
        return conn

    def get(self, path: str, host: str = ZONE, headers: dict[str, str] | None = None) -> Reply:
        address = self.address(host)
        start = time.perf_counter()  # the connection and the request, not the lookup
        conn = self.connect(host, address)
        try:
            conn.request(
                "GET", path, headers={"Host": f"{host}:{self.cfg.https_port}"} | (headers or {})
            )
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        return Reply(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            body,
            time.perf_counter() - start,
            f"{address}:{self.cfg.https_port}",
        )


def get_plain(port: int, path: str, host: str = ZONE, timeout: float = 5.0) -> Reply:
    """Plain HTTP to 127.0.0.1:``port`` (a Gunicorn instance, or nginx's redirecting port)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        # X-Forwarded-Proto: the instance sees what nginx would tell it (no HTTPS redirect).
        conn.request("GET", path, headers={"Host": host, "X-Forwarded-Proto": "https"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    headers = {k.lower(): v for k, v in response.getheaders()}
    return Reply(response.status, headers, body, time.perf_counter() - start, f"{HOST}:{port}")


# -- is this checkout's lab up? --------------------------------------------------------------

#: The response header (added by nginx) that carries the running lab's id.
LAB_HEADER = "X-Quorum-Lab"


@dataclass(frozen=True)
class LabInfo:
    """This checkout's lab, up: it answered HTTPS on its port with its own id."""

    cfg: LabConfig
    healthy: bool  # /healthz through nginx answered 200 (every instance may still be down)
    dns: bool  # the lab's DNS server answers TXT _lab.quorum.us with the same id

    @property
    def lab_id(self) -> str:
        return self.cfg.lab_id

    @property
    def reason(self) -> str:
        return f"the lab in {self.cfg.state_dir} (id {self.lab_id}) answers on {self.cfg.site}"

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True)
class NoLab:
    """No lab of this checkout answers; ``reason`` says why, in one line."""

    state_dir: Path
    reason: str

    def __bool__(self) -> bool:
        return False


def running_lab(state_dir: Path | str | None = None, timeout: float = 3.0) -> LabInfo | NoLab:
    """This checkout's lab if it is up (a truthy :class:`LabInfo`), else a falsy :class:`NoLab`
    whose ``reason`` says what was found instead. Usage::

        lab = running_lab()
        print(lab.reason if not lab else lab.cfg.site)

    Up means: the state folder (``LAB_STATE_DIR`` or ``var/lab``) holds a plan with a lab id,
    and a live HTTPS request to its nginx port, trusting only this lab's CA, comes back with
    that id in ``X-Quorum-Lab``. Any other server on the port (a leftover lab of another
    checkout, an unrelated program) is "no lab"."""
    folder = Path(state_dir) if state_dir is not None else state_dir_default()
    try:
        cfg = LabConfig.load(folder)
    except LabError as exc:
        return NoLab(folder, str(exc))
    if cfg is None:
        return NoLab(folder, f"no lab plan in {folder} (lab.json): this lab was never started")
    if not cfg.lab_id:
        return NoLab(
            folder,
            f"{folder / 'lab.json'} has no lab_id (an older `up` wrote it): run `down`, then `up`",
        )
    ca = tls_files(cfg.path("tls")).ca
    if not ca.exists():
        return NoLab(folder, f"this lab's CA {ca} is missing: run `down`, then `up`")
    where = f"{HOST}:{cfg.https_port}"
    try:
        status, seen = _lab_id_at(cfg, ca, timeout)
    except ConnectionRefusedError:
        return NoLab(folder, f"nothing listens on {where}: this checkout's lab is down (run `up`)")
    except ssl.SSLCertVerificationError as exc:
        return NoLab(
            folder,
            f"the server on {where} has a certificate this lab's CA did not sign"
            f" ({exc.verify_message}): another lab or another program holds the port",
        )
    except ssl.SSLError as exc:
        return NoLab(
            folder,
            f"the server on {where} does not speak TLS as the lab's nginx does"
            f" ({exc.reason or exc}): another program holds the port",
        )
    except (OSError, http.client.HTTPException) as exc:
        return NoLab(
            folder,
            f"no HTTPS answer from {where} ({type(exc).__name__}: {exc}): not this lab",
        )
    if seen is None:
        return NoLab(folder, f"the server on {where} sent no {LAB_HEADER} header: not a lab")
    if seen != cfg.lab_id:
        return NoLab(
            folder,
            f"the server on {where} is lab {seen}, but this checkout's lab is {cfg.lab_id}:"
            " another lab holds the port",
        )
    try:
        dns = query_txt(LAB_ID_NAME, cfg.dns_port, timeout=timeout) == [cfg.lab_id]
    except ConnectionError:
        dns = False
    return LabInfo(cfg, healthy=status == 200, dns=dns)


def _lab_id_at(cfg: LabConfig, ca: Path, timeout: float) -> tuple[int, str | None]:
    """(status, X-Quorum-Lab) of ``GET /healthz`` on the lab's HTTPS port, as quorum.us."""
    context = ssl.create_default_context(cafile=str(ca))
    raw = socket.create_connection((HOST, cfg.https_port), timeout)
    try:
        sock = context.wrap_socket(raw, server_hostname=ZONE)
    except BaseException:
        raw.close()
        raise
    conn = http.client.HTTPSConnection(ZONE, cfg.https_port, timeout=timeout)
    conn.sock = sock
    try:
        conn.request("GET", "/healthz", headers={"Host": f"{ZONE}:{cfg.https_port}"})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    return response.status, response.getheader(LAB_HEADER)
