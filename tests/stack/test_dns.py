"""The lab's DNS server answers its zone authoritatively and the client caches for the TTL."""

from __future__ import annotations

import pytest
from dnslib import RCODE, DNSRecord

from demo_app.stack.config import free_ports
from demo_app.stack.dns import TTL, CachingResolver, ZoneServer, query, query_txt


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("dns") / "dns.log"
    port = free_ports(1)[0]
    zone = ZoneServer(port, log).start()
    yield port, log
    zone.stop()


def ask(port: int, name: str, qtype: str = "A", tcp: bool = False) -> DNSRecord:
    return DNSRecord.parse(DNSRecord.question(name, qtype).send("127.0.0.1", port, tcp=tcp))


@pytest.mark.parametrize("name", ["quorum.us", "www.quorum.us", "QUORUM.US"])
@pytest.mark.parametrize("tcp", [False, True])
def test_zone_names_get_an_authoritative_a_record_with_ttl_60(server, name, tcp):
    reply = ask(server[0], name, tcp=tcp)
    assert reply.header.aa == 1
    assert RCODE[reply.header.rcode] == "NOERROR"
    assert [(str(rr.rdata), rr.ttl) for rr in reply.rr] == [("127.0.0.1", 60)]


def test_unknown_name_in_the_zone_is_nxdomain_with_the_soa(server):
    reply = ask(server[0], "api.quorum.us")
    assert RCODE[reply.header.rcode] == "NXDOMAIN"
    assert reply.rr == []
    assert [str(rr.rname) for rr in reply.auth] == ["quorum.us."]


def test_names_outside_the_zone_are_refused(server):
    reply = ask(server[0], "example.com")
    assert RCODE[reply.header.rcode] == "REFUSED"
    assert reply.header.aa == 0


def test_a_name_without_that_record_type_is_nodata(server):
    reply = ask(server[0], "quorum.us", "MX")
    assert RCODE[reply.header.rcode] == "NOERROR"
    assert reply.rr == []


def test_the_labs_id_is_a_txt_record_of_its_own_name(tmp_path):
    port = free_ports(1)[0]
    zone = ZoneServer(port, lab_id="0123456789abcdef").start()
    try:
        assert query_txt("_lab.quorum.us", port) == ["0123456789abcdef"]
        reply = ask(port, "_lab.quorum.us", "TXT", tcp=True)
        assert reply.header.aa == 1 and [rr.ttl for rr in reply.rr] == [TTL]
        assert query("_lab.quorum.us", port) == (None, TTL)  # the name has no address (NODATA)
        assert RCODE[ask(port, "_lab.quorum.us").header.rcode] == "NOERROR"
        assert query_txt("quorum.us", port) == []
    finally:
        zone.stop()


def test_without_a_lab_id_there_is_no_such_name(server):
    assert RCODE[ask(server[0], "_lab.quorum.us", "TXT").header.rcode] == "NXDOMAIN"


def test_every_query_is_logged_with_name_type_and_rcode(server):
    port, log = server
    query("quorum.us", port)
    query("nope.quorum.us", port)
    lines = [line.split("\t") for line in log.read_text().splitlines()]
    seen = [(f[3], f[4], f[5]) for f in lines]
    assert ("quorum.us.", "A", "NOERROR") in seen
    assert ("nope.quorum.us.", "A", "NXDOMAIN") in seen


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_resolver_asks_once_then_answers_from_cache_until_the_ttl_expires(server):
    port, log = server
    clock = FakeClock()
    resolver = CachingResolver(port, clock=clock)
    before = len(log.read_text().splitlines())
    first = resolver.lookup("quorum.us")
    clock.now += TTL - 1
    second = resolver.lookup("quorum.us")
    clock.now += 2
    third = resolver.lookup("quorum.us")
    assert [first.source, second.source, third.source] == ["server", "cache", "server"]
    assert second.address == "127.0.0.1"
    assert second.ttl_left == pytest.approx(1.0)
    # Only the two cold lookups reached the server.
    assert len(log.read_text().splitlines()) - before == 2


def test_resolver_caches_nxdomain_too(server):
    resolver = CachingResolver(server[0], clock=FakeClock())
    assert [resolver.lookup("gone.quorum.us").source for _ in range(2)] == ["server", "cache"]
    assert resolver.lookup("gone.quorum.us").address is None


def test_no_server_is_a_connection_error():
    with pytest.raises(ConnectionError, match="no answer"):
        query("quorum.us", free_ports(1)[0], timeout=0.3)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("example.com", "'example.com': the server answered REFUSED: it answers only for names in"),
        ("12.34.56.789", "'12.34.56.789': the server answered REFUSED"),
        ("a..quorum.us", "'a..quorum.us' is not a host name"),
        ("x" * 64 + ".quorum.us", "is not a host name: labels of 1-63"),
    ],
)
def test_dig_of_a_name_the_lab_does_not_serve_is_one_line(server, tmp_path, capsys, name, message):
    from demo_app.stack.__main__ import main
    from demo_app.stack.config import LabConfig

    LabConfig(state_dir=tmp_path, dns_port=server[0]).save()
    assert main(["--state-dir", str(tmp_path), "dig", name]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_dig_refuses_a_negative_interval(tmp_path, capsys):
    from demo_app.stack.__main__ import main

    assert main(["--state-dir", str(tmp_path), "dig", "--interval", "-1"]) == 2
    assert "--interval -1.0 is out of range: use 0-600 seconds" in capsys.readouterr().err
