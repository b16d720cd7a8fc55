"""The lab's authoritative DNS server for quorum.us, and a `dig`-like client with a cache.

Think of the receptionist who owns the company phone list: asked "where is quorum.us?", she
answers from her own list (authoritative), says how long the answer stays good (TTL 60 s, the
TTL of an AWS load balancer's record, sim/FACTS.md "DNS"), says "no such
person" for unknown names in the company (NXDOMAIN), and refuses questions about other
companies (REFUSED: she is not a recursive resolver). Every question goes into her log book.

The client side is the visitor's notebook: :class:`CachingResolver` asks the server once
(cold), then answers from its notebook until the TTL runs out (cached). `dig` prints both
times so the difference is visible.

Flow: UDP/TCP query on 127.0.0.1:<dns port> -> :class:`ZoneResolver` -> reply + one log line
(``logs/dns.log``: time, client, name, type, rcode, answer).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dnslib import QTYPE, RCODE, RR, SOA, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSServer

from demo_app.stack.config import HOST, ZONE

#: quorum.us and www.quorum.us point at the lab's load balancer (nginx on 127.0.0.1).
TTL = 60
RECORDS = {f"{ZONE}.": HOST, f"www.{ZONE}.": HOST}
#: The name whose TXT record is the running lab's id (lab.json's lab_id).
LAB_ID_NAME = f"_lab.{ZONE}."


class ZoneResolver(BaseResolver):
    """Answers for one zone from fixed tables (A and TXT records); NXDOMAIN inside it, REFUSED
    outside."""

    def __init__(
        self,
        zone: str = ZONE,
        records: dict[str, str] | None = None,
        ttl: int = TTL,
        texts: dict[str, str] | None = None,
    ):
        self.zone = zone.rstrip(".") + "."
        self.records = dict(RECORDS if records is None else records)
        self.texts = dict(texts or {})
        self.ttl = ttl
        # The start of authority goes into negative answers so resolvers may cache the "no".
        self.soa = RR(
            self.zone,
            QTYPE.SOA,
            ttl=ttl,
            rdata=SOA(f"ns.{self.zone}", f"hostmaster.{self.zone}", (1, 3600, 600, 86400, ttl)),
        )

    def resolve(self, request: DNSRecord, handler) -> DNSRecord:
        reply = request.reply(ra=0, aa=1)
        qname = str(request.q.qname).lower()
        qtype = QTYPE[request.q.qtype]
        if not (qname == self.zone or qname.endswith("." + self.zone)):
            reply.header.aa = 0
            reply.header.rcode = RCODE.REFUSED
        elif qname not in self.records and qname not in self.texts:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self.soa)
        else:
            if qtype in ("A", "ANY") and qname in self.records:
                reply.add_answer(
                    RR(request.q.qname, QTYPE.A, rdata=A(self.records[qname]), ttl=self.ttl)
                )
            if qtype in ("TXT", "ANY") and qname in self.texts:
                reply.add_answer(
                    RR(request.q.qname, QTYPE.TXT, rdata=TXT(self.texts[qname]), ttl=self.ttl)
                )
            if not reply.rr:
                # The name exists but has no record of this type: NOERROR, no answer (NODATA).
                reply.add_auth(self.soa)
        return reply


class QueryLog:
    """dnslib's logger interface, writing one tab-separated line per answered query."""

    def __init__(self, write):
        self.write = write

    def log_reply(self, handler, reply: DNSRecord) -> None:
        client = f"{handler.client_address[0]}:{handler.client_address[1]}"
        answer = ",".join(str(rr.rdata) for rr in reply.rr) or "-"
        when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        self.write(
            f"{when}\t{client}\t{handler.protocol}\t{reply.q.qname}\t{QTYPE[reply.q.qtype]}"
            f"\t{RCODE[reply.header.rcode]}\t{answer}\n"
        )

    def log_error(self, handler, exc) -> None:
        self.write(f"error\t{handler.client_address[0]}\t{exc}\n")

    def log_recv(self, *args) -> None: ...
    def log_send(self, *args) -> None: ...
    def log_request(self, *args) -> None: ...
    def log_truncated(self, *args) -> None: ...
    def log_data(self, *args) -> None: ...


class ZoneServer:
    """UDP and TCP servers for the zone on 127.0.0.1, running in background threads."""

    def __init__(
        self,
        port: int,
        log_path: Path | None = None,
        address: str = HOST,
        lab_id: str | None = None,
    ):
        self._lock = threading.Lock()
        self._log = open(log_path, "a", buffering=1) if log_path else None  # noqa: SIM115
        logger = QueryLog(self._write)
        resolver = ZoneResolver(texts={LAB_ID_NAME: lab_id} if lab_id else None)
        self.servers = [
            DNSServer(resolver, port=port, address=address, logger=logger),
            DNSServer(resolver, port=port, address=address, logger=logger, tcp=True),
        ]

    def _write(self, line: str) -> None:
        if self._log:
            with self._lock:
                self._log.write(line)

    def start(self) -> ZoneServer:
        for server in self.servers:
            server.start_thread()
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
            server.server.server_close()
        if self._log:
            self._log.close()


# -- the client side -------------------------------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    """One answer as the client saw it."""

    name: str
    address: str | None  # None: the name does not exist
    ttl_left: float
    seconds: float
    source: str  # "server" (cold) or "cache"


def query(name: str, port: int, server: str = HOST, timeout: float = 2.0) -> tuple[str | None, int]:
    """Ask the lab's server for an A record: (address or None, ttl)."""
    request = DNSRecord.question(name, "A")
    try:
        raw = request.send(server, port, timeout=timeout)
    except OSError as exc:  # timeout or refused: the server is not running
        raise ConnectionError(f"no answer from DNS server {server}:{port} ({exc})") from None
    reply = DNSRecord.parse(raw)
    rcode = RCODE[reply.header.rcode]
    if rcode == "NXDOMAIN":
        return None, _negative_ttl(reply)
    if rcode == "REFUSED":
        raise LookupError(
            f"{name!r}: the server answered REFUSED: it answers only for names in {ZONE}"
            " and is not a recursive resolver (an IP address is not a name to look up)"
        )
    if rcode != "NOERROR":
        raise LookupError(f"{name!r}: the server answered {rcode}")
    for rr in reply.rr:
        if rr.rtype == QTYPE.A:
            return str(rr.rdata), rr.ttl
    return None, _negative_ttl(reply)


def query_txt(name: str, port: int, server: str = HOST, timeout: float = 2.0) -> list[str]:
    """The TXT strings the lab's server holds for ``name`` ([] for none)."""
    try:
        raw = DNSRecord.question(name, "TXT").send(server, port, timeout=timeout)
    except OSError as exc:
        raise ConnectionError(f"no answer from DNS server {server}:{port} ({exc})") from None
    reply = DNSRecord.parse(raw)
    return [
        b"".join(rr.rdata.data).decode(errors="replace") for rr in reply.rr if rr.rtype == QTYPE.TXT
    ]


def _negative_ttl(reply: DNSRecord) -> int:
    return min((rr.ttl for rr in reply.auth), default=0)


class CachingResolver:
    """A stub resolver's cache: keeps each answer for its TTL, like a browser or OS cache."""

    def __init__(self, port: int, server: str = HOST, clock=time.monotonic):
        self.port, self.server, self.clock = port, server, clock
        self._cache: dict[str, tuple[str | None, float]] = {}

    def lookup(self, name: str) -> Lookup:
        name = name.rstrip(".").lower()
        start = time.perf_counter()
        now = self.clock()
        cached = self._cache.get(name)
        if cached and cached[1] > now:
            address, expires = cached
            return Lookup(name, address, expires - now, time.perf_counter() - start, "cache")
        address, ttl = query(name, self.port, self.server)
        self._cache[name] = (address, self.clock() + ttl)
        return Lookup(name, address, float(ttl), time.perf_counter() - start, "server")


def dig(name: str, port: int, repeat: int = 3, interval: float = 0.0, out=sys.stdout) -> int:
    """Resolve ``name`` ``repeat`` times through a fresh cache and print each lookup's time."""
    resolver = CachingResolver(port)
    for i in range(repeat):
        if i and interval:
            time.sleep(interval)
        found = resolver.lookup(name)
        kind = "cold, asked the server" if found.source == "server" else "cached"
        answer = found.address or "NXDOMAIN"
        print(
            f"{found.name:<20} A {answer:<15} ttl {found.ttl_left:5.1f} s  "
            f"{found.seconds * 1000:8.3f} ms  ({kind} {HOST}:{port})",
            file=out,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m demo_app.stack.dns --port 8053 --log var/lab/logs/dns.log`` (supervisord)."""
    parser = argparse.ArgumentParser(prog="python -m demo_app.stack.dns")
    parser.add_argument("--port", type=int, default=8053)
    parser.add_argument("--log", type=Path)
    parser.add_argument("--lab-id", help=f"the lab's id, served as TXT {LAB_ID_NAME}")
    args = parser.parse_args(argv)
    server = ZoneServer(args.port, args.log, lab_id=args.lab_id).start()
    print(f"authoritative for {ZONE} on {HOST}:{args.port} (udp, tcp)", flush=True)
    try:
        while all(s.isAlive() for s in server.servers):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
