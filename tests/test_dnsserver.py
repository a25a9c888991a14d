"""The loopback DNS server every DNS test relies on, checked with plain dnspython queries (no auditor code)."""

from __future__ import annotations

import asyncio
import socket

import dns.asyncquery
import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from dnsserver import DnsServer, parse_zone_text

ZONE = """
$TTL 120
@        SOA   ns1 hostmaster 1 7200 900 1209600 300
@        TXT   "v=spf1 include:_spf.example.net -all"
@        MX    10 mail
mail     A     192.0.2.25
www      CNAME web
web      A     192.0.2.80
a.b.deep A     192.0.2.1
*.wild   TXT   "wildcard"
host.wild A    192.0.2.9
elsewhere.example.net. A 198.51.100.1
"""

BIG_TXT = " ".join(f'"{chr(97 + i) * 255}"' for i in range(16))  # 16 strings of 255 bytes: 4080 bytes


def ask(server: DnsServer, name: str, rdtype: str = "A", *, tcp: bool = False, timeout: float = 1.0, **make):
    query = dns.message.make_query(name, rdtype, **make)
    if tcp:
        return dns.query.tcp(query, server.host, port=server.port, timeout=timeout)
    return dns.query.udp(query, server.host, port=server.port, timeout=timeout, ignore_trailing=False)


def answer_texts(response: dns.message.Message) -> list[str]:
    return [
        f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} {rdata}"
        for rrset in response.answer
        for rdata in rrset
    ]


@pytest.fixture
def server(dns_server: DnsServer) -> DnsServer:
    dns_server.add_zone_text(ZONE, origin="example.org")
    return dns_server


def test_answers_from_zone_text_with_flags_and_echoed_question(server: DnsServer) -> None:
    response = ask(server, "example.org", "TXT")
    assert response.rcode() == dns.rcode.NOERROR
    assert answer_texts(response) == ['example.org. TXT "v=spf1 include:_spf.example.net -all"']
    assert response.answer[0].ttl == 120
    assert response.flags & dns.flags.AA and response.flags & dns.flags.RA and response.flags & dns.flags.QR
    assert [q.to_text() for q in response.question] == ["example.org. IN TXT"]


def test_relative_and_absolute_owner_names_both_land(server: DnsServer) -> None:
    assert answer_texts(ask(server, "example.org", "MX")) == ["example.org. MX 10 mail.example.org."]
    assert answer_texts(ask(server, "elsewhere.example.net", "A")) == [
        "elsewhere.example.net. A 198.51.100.1"
    ]


def test_names_are_case_insensitive(server: DnsServer) -> None:
    response = ask(server, "MAIL.Example.ORG", "A")
    assert response.rcode() == dns.rcode.NOERROR
    assert [rdata.to_text() for rdata in response.answer[0]] == ["192.0.2.25"]
    assert server.queries("mail.example.org")[0].name == "mail.example.org."


def test_nxdomain_for_absent_names_with_soa_in_authority(server: DnsServer) -> None:
    response = ask(server, "nope.example.org", "A")
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.answer == []
    assert [rrset.rdtype for rrset in response.authority] == [dns.rdatatype.SOA]
    assert ask(server, "nothing.invalid", "A").rcode() == dns.rcode.NXDOMAIN


def test_nodata_for_existing_name_and_empty_non_terminal(server: DnsServer) -> None:
    for name in ("mail.example.org", "b.deep.example.org", "deep.example.org"):
        response = ask(server, name, "TXT")
        assert response.rcode() == dns.rcode.NOERROR, name
        assert response.answer == [], name
        assert [rrset.name.to_text() for rrset in response.authority] == ["example.org."], name
    assert ask(server, "x.b.deep.example.org", "A").rcode() == dns.rcode.NXDOMAIN


def test_cname_chain_is_followed_like_a_recursive_resolver(server: DnsServer) -> None:
    server.add_zone_text("alias CNAME www", origin="example.org")
    assert answer_texts(ask(server, "alias.example.org", "A")) == [
        "alias.example.org. CNAME www.example.org.",
        "www.example.org. CNAME web.example.org.",
        "web.example.org. A 192.0.2.80",
    ]
    # Asking for the CNAME itself returns it alone.
    assert answer_texts(ask(server, "www.example.org", "CNAME")) == [
        "www.example.org. CNAME web.example.org."
    ]
    # A chain ending at a type the target lacks: NODATA with the chain.
    response = ask(server, "www.example.org", "TXT")
    assert response.rcode() == dns.rcode.NOERROR
    assert answer_texts(response) == ["www.example.org. CNAME web.example.org."]


def test_cname_to_nowhere_is_nxdomain_with_the_chain(server: DnsServer) -> None:
    server.add_record("dangling.example.org", "CNAME", "gone.example.net.")
    response = ask(server, "dangling.example.org", "A")
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert answer_texts(response) == ["dangling.example.org. CNAME gone.example.net."]


def test_cname_loop_and_overlong_chain_are_servfail(server: DnsServer) -> None:
    server.add_zone_text("loop1 CNAME loop2\nloop2 CNAME loop1", origin="example.org")
    assert ask(server, "loop1.example.org", "A").rcode() == dns.rcode.SERVFAIL
    chain = "\n".join(f"c{i} CNAME c{i + 1}" for i in range(15)) + "\nc15 A 192.0.2.1"
    server.add_zone_text(chain, origin="example.org")
    assert ask(server, "c14.example.org", "A").rcode() == dns.rcode.NOERROR  # a short chain is fine
    assert ask(server, "c0.example.org", "A").rcode() == dns.rcode.SERVFAIL


def test_wildcards_follow_rfc_4592(server: DnsServer) -> None:
    response = ask(server, "anything.wild.example.org", "TXT")
    assert answer_texts(response) == ['anything.wild.example.org. TXT "wildcard"']
    # An existing name is not covered by the wildcard; neither is a name below an existing one.
    assert ask(server, "host.wild.example.org", "TXT").answer == []
    assert ask(server, "sub.host.wild.example.org", "TXT").rcode() == dns.rcode.NXDOMAIN
    # The wildcard does not answer for its parent.
    assert ask(server, "wild.example.org", "TXT").answer == []


def test_data_accumulates_and_clear_drops_everything(server: DnsServer) -> None:
    server.add_record("example.org", "TXT", '"second" "record"')
    values = sorted(b"".join(rdata.strings).decode() for rdata in ask(server, "example.org", "TXT").answer[0])
    assert values == ["secondrecord", "v=spf1 include:_spf.example.net -all"]
    server.servfail("mail.example.org")
    server.clear()
    assert server.log == []
    assert ask(server, "example.org", "TXT").rcode() == dns.rcode.NXDOMAIN
    server.add_record("mail.example.org", "A", "192.0.2.26")
    assert ask(server, "mail.example.org", "A").rcode() == dns.rcode.NOERROR  # the servfail went too


def test_add_zone_file_takes_origin_from_name_or_directive(dns_server: DnsServer, tmp_path) -> None:
    named = tmp_path / "example.com.zone"
    named.write_text('@ 60 TXT "from the name"\nmail A 192.0.2.5\n')
    directive = tmp_path / "other.zone"
    directive.write_text('$ORIGIN example.edu.\n$TTL 60\n_dmarc TXT "v=DMARC1; p=none"\n')
    dns_server.add_zone_file(named)
    dns_server.add_zone_file(directive)
    assert answer_texts(ask(dns_server, "mail.example.com")) == ["mail.example.com. A 192.0.2.5"]
    assert answer_texts(ask(dns_server, "_dmarc.example.edu", "TXT")) == [
        '_dmarc.example.edu. TXT "v=DMARC1; p=none"'
    ]


def test_parse_zone_text_accepts_soa_anywhere_and_default_ttl() -> None:
    records = parse_zone_text(
        "@ SOA a b 1 2 3 4 5\nother.test. SOA c d 1 2 3 4 5\nx A 192.0.2.1", "example.org."
    )
    assert [(name.to_text(), ttl) for name, ttl, _ in records] == [
        ("example.org.", 300),
        ("other.test.", 300),
        ("x.example.org.", 300),
    ]


def test_udp_truncates_big_answers_and_tcp_carries_them(server: DnsServer) -> None:
    server.add_zone_text(f"big TXT {BIG_TXT}", origin="example.org")
    udp = ask(server, "big.example.org", "TXT")
    assert udp.flags & dns.flags.TC
    assert udp.answer == []
    # The client's EDNS buffer size counts: 4096 bytes is still too small for 4 KB of TXT plus headers.
    assert ask(server, "big.example.org", "TXT", use_edns=0, payload=4096).flags & dns.flags.TC
    tcp = ask(server, "big.example.org", "TXT", tcp=True)
    assert not tcp.flags & dns.flags.TC
    assert [len(s) for s in tcp.answer[0][0].strings] == [255] * 16
    assert [entry.transport for entry in server.queries("big.example.org")] == ["udp", "udp", "tcp"]


def test_edns_payload_size_lets_a_medium_answer_through_udp(server: DnsServer) -> None:
    server.add_zone_text("medium TXT " + " ".join(['"' + "m" * 200 + '"'] * 4), origin="example.org")
    assert ask(server, "medium.example.org", "TXT").flags & dns.flags.TC  # over 512 without EDNS
    response = ask(server, "medium.example.org", "TXT", use_edns=0, payload=1232)
    assert not response.flags & dns.flags.TC
    assert len(response.answer[0][0].strings) == 4


def test_truncate_behaviour_forces_tc_over_udp_only(server: DnsServer) -> None:
    server.truncate("mail.example.org", "A")
    udp = ask(server, "mail.example.org", "A")
    assert udp.flags & dns.flags.TC and udp.answer == []
    assert answer_texts(ask(server, "mail.example.org", "A", tcp=True)) == ["mail.example.org. A 192.0.2.25"]
    assert not ask(server, "mail.example.org", "TXT").flags & dns.flags.TC  # only the type asked for


def test_tcp_connection_carries_several_queries(server: DnsServer) -> None:
    with socket.create_connection(server.nameserver, timeout=2) as sock:
        first = dns.message.make_query("mail.example.org", "A")
        second = dns.message.make_query("web.example.org", "A")
        dns.query.send_tcp(sock, first)
        dns.query.send_tcp(sock, second)
        answers = {}
        for _ in range(2):
            response, _ = dns.query.receive_tcp(sock, expiration=None)
            answers[response.id] = answer_texts(response)
    assert answers == {
        first.id: ["mail.example.org. A 192.0.2.25"],
        second.id: ["web.example.org. A 192.0.2.80"],
    }


def test_servfail_refuse_and_per_type_behaviours(server: DnsServer) -> None:
    server.servfail("MAIL.example.org.", "TXT")  # case and trailing dot do not matter
    server.refuse("web.example.org")
    assert ask(server, "mail.example.org", "TXT").rcode() == dns.rcode.SERVFAIL
    assert ask(server, "mail.example.org", "A").rcode() == dns.rcode.NOERROR
    assert ask(server, "web.example.org", "A").rcode() == dns.rcode.REFUSED
    # A behaviour applies to names reached through a CNAME as well.
    assert ask(server, "www.example.org", "A").rcode() == dns.rcode.REFUSED


def test_drop_never_answers_but_logs(server: DnsServer) -> None:
    server.drop("mail.example.org")
    with pytest.raises(dns.exception.Timeout):
        ask(server, "mail.example.org", timeout=0.2)
    with pytest.raises(dns.exception.Timeout):
        ask(server, "mail.example.org", tcp=True, timeout=0.2)
    assert [entry.transport for entry in server.queries("mail.example.org", "A")] == ["udp", "tcp"]
    assert ask(server, "web.example.org").rcode() == dns.rcode.NOERROR


def test_a_delayed_name_does_not_hold_up_others(server: DnsServer) -> None:
    server.delay("mail.example.org", 0.4)
    finished: list[str] = []

    async def timed(name: str, tcp: bool) -> None:
        query = dns.message.make_query(name, "A")
        send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
        response = await send(query, server.host, port=server.port, timeout=2)
        assert response.rcode() == dns.rcode.NOERROR
        finished.append(f"{name} {'tcp' if tcp else 'udp'}")

    async def main() -> None:
        slow = [asyncio.create_task(timed("mail.example.org", tcp)) for tcp in (False, True)]
        await asyncio.sleep(0.05)
        await asyncio.gather(timed("web.example.org", False), timed("web.example.org", True), *slow)

    asyncio.run(main())
    assert set(finished[:2]) == {"web.example.org udp", "web.example.org tcp"}
    assert server.peak_concurrency >= 2  # both slow answers were pending at once


def test_latency_delays_every_answer(server: DnsServer) -> None:
    server.set_latency(0.3)
    with pytest.raises(dns.exception.Timeout):
        ask(server, "web.example.org", timeout=0.1)
    assert ask(server, "web.example.org", timeout=2).rcode() == dns.rcode.NOERROR


def test_garbage_does_not_kill_the_server(server: DnsServer) -> None:
    response_bytes = ask(server, "web.example.org").to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for junk in (b"", b"\x00", b"garbage that is not dns", b"\xff" * 600, response_bytes):
            sock.sendto(junk, server.nameserver)
    with socket.create_connection(server.nameserver, timeout=2) as sock:
        sock.sendall(b"\x00\x05hello")
    assert ask(server, "web.example.org").rcode() == dns.rcode.NOERROR
    assert ask(server, "web.example.org", tcp=True).rcode() == dns.rcode.NOERROR
    assert [entry.name for entry in server.log] == ["web.example.org."] * 3  # junk is not logged


def test_queries_filter_the_log(server: DnsServer) -> None:
    ask(server, "web.example.org", "A")
    ask(server, "Web.Example.org", "AAAA")
    ask(server, "mail.example.org", "A", tcp=True)
    assert [(e.name, e.rdtype) for e in server.queries("web.example.org.")] == [
        ("web.example.org.", "A"),
        ("web.example.org.", "AAAA"),
    ]
    assert [e.name for e in server.queries(rdtype="a")] == ["web.example.org.", "mail.example.org."]
    assert [e.transport for e in server.queries()] == ["udp", "udp", "tcp"]
    assert server.log[0].time <= server.log[1].time <= server.log[2].time


def test_same_port_for_udp_and_tcp_and_stop_frees_it() -> None:
    with DnsServer() as server:
        server.add_record("t.example", "A", "192.0.2.1")
        host, port = server.nameserver
        assert (host, port) == ("127.0.0.1", server.port) and port > 0
        assert ask(server, "t.example", tcp=False).rcode() == dns.rcode.NOERROR
        assert ask(server, "t.example", tcp=True).rcode() == dns.rcode.NOERROR
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", port))  # would fail if the server still held the port


def test_two_servers_run_side_by_side() -> None:
    with DnsServer() as first, DnsServer() as second:
        first.add_record("x.example", "A", "192.0.2.1")
        second.add_record("x.example", "A", "192.0.2.2")
        assert first.port != second.port
        assert answer_texts(ask(first, "x.example")) == ["x.example. A 192.0.2.1"]
        assert answer_texts(ask(second, "x.example")) == ["x.example. A 192.0.2.2"]
