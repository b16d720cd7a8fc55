"""How a visitor reaches the lab: resolve quorum.us through the lab's DNS, then HTTPS to it.

Like a browser with one tab: look the name up (through :class:`~demo_app.stack.dns.
CachingResolver`, so repeated requests hit the cache), open TCP to the address, present
``quorum.us`` in TLS (SNI) and trust only the lab's CA, send ``Host: quorum.us``. Also a plain
HTTP probe straight to one Gunicorn instance, the way a load balancer's health check does.

Flow: name -> DNS (cached) -> address -> TCP + TLS -> HTTP/1.1 request -> :class:`Reply`.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import time
from dataclasses import dataclass, field

from demo_app.stack.certs import tls_files
from demo_app.stack.config import HOST, ZONE, LabConfig
from demo_app.stack.dns import CachingResolver


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

    def get(self, path: str, host: str = ZONE, headers: dict[str, str] | None = None) -> Reply:
        found = self.resolver.lookup(host)
        if found.address is None:
            raise LookupError(f"{host}: NXDOMAIN from the lab's DNS")
        start = time.perf_counter()
        raw = socket.create_connection((found.address, self.cfg.https_port), self.timeout)
        try:
            sock = self.context.wrap_socket(raw, server_hostname=host)
        except BaseException:
            raw.close()
            raise
        conn = http.client.HTTPSConnection(host, self.cfg.https_port, timeout=self.timeout)
        conn.sock = sock  # already connected to the address the lab's DNS gave
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
            f"{found.address}:{self.cfg.https_port}",
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
