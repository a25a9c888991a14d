"""auditor.dns against the loopback DNS server: every outcome, TCP fallback, cache, caps, deadline, overlay."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from dnsserver import DnsServer

from auditor import dns as adns
from auditor.dns import (
    ERROR,
    NODATA,
    NXDOMAIN,
    OK,
    REFUSED,
    SERVFAIL,
    TIMEOUT,
    Lookup,
    Resolver,
    ZoneOverlay,
    absolute,
    load_zone_file,
    parse_nameserver,
)
from auditor.errors import AuditorError

ZONE = """
@         SOA   ns1 hostmaster 1 7200 900 1209600 300
@         TXT   "v=spf1 include:_spf.example.net -all"
@         MX    10 mail
@         MX    20 backup.example.net.
mail      A     192.0.2.25
mail      AAAA  2001:db8::25
split     TXT   "v=spf1 ip4:192.0.2.0/24 " "-all"
www       CNAME web
web       A     192.0.2.80
alias     CNAME www
dangling  CNAME gone.example.net.
twice     CNAME dangling
loop1     CNAME loop2
loop2     CNAME loop1
s1._domainkey TXT "v=DKIM1; p=MIIB"
"""

BIG_TXT = " ".join(f'"{chr(97 + i) * 255}"' for i in range(16))
SHORT = 0.3  # timeout for lookups that are meant to time out


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def server(dns_server: DnsServer) -> DnsServer:
    dns_server.add_zone_text(ZONE, origin="example.org")
    return dns_server


def closed_port() -> int:
    """A UDP port on loopback with nobody listening (the kernel answers port-unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- outcomes ------------------------------------------------------------------------------------------


def test_ok_txt_keeps_logical_value_and_strings(server, make_resolver) -> None:
    lookup = run(make_resolver().query("Split.Example.org", "txt"))
    assert (lookup.name, lookup.rdtype, lookup.outcome, lookup.source) == (
        "split.example.org.",
        "TXT",
        OK,
        "dns",
    )
    assert lookup.values == ("v=spf1 ip4:192.0.2.0/24 -all",)
    assert lookup.txt_strings == (("v=spf1 ip4:192.0.2.0/24 ", "-all"),)
    assert lookup.answered and not lookup.failed and not lookup.empty
    assert lookup.to_json()["values"] == ["v=spf1 ip4:192.0.2.0/24 -all"]


def test_ok_mx_and_addresses_in_text_form(server, make_resolver) -> None:
    async def main(resolver: Resolver) -> list[Lookup]:
        return await resolver.query_many(
            [("example.org", "MX"), ("mail.example.org", "A"), ("mail.example.org", "AAAA")]
        )

    mx, a, aaaa = run(main(make_resolver()))
    assert sorted(mx.values) == ["10 mail.example.org.", "20 backup.example.net."]
    assert a.values == ("192.0.2.25",)
    assert aaaa.values == ("2001:db8::25",)


def test_nxdomain_and_nodata_are_answers_not_failures(server, make_resolver) -> None:
    async def main(resolver: Resolver) -> list[Lookup]:
        return await resolver.query_many(
            [("nope.example.org", "TXT"), ("mail.example.org", "TXT"), ("_domainkey.example.org", "TXT")]
        )

    nx, nodata, empty_non_terminal = run(main(make_resolver()))
    assert nx.outcome == NXDOMAIN and nx.empty and nx.answered
    assert nodata.outcome == NODATA and nodata.empty and nodata.answered
    assert empty_non_terminal.outcome == NODATA
    assert nx.values == nodata.values == ()


def test_drop_is_a_timeout_never_a_missing_record(server, make_resolver) -> None:
    server.drop("example.org", "TXT")
    lookup = run(make_resolver(timeout=SHORT).query("example.org", "TXT"))
    assert lookup.outcome == TIMEOUT
    assert lookup.failed and not lookup.empty and not lookup.answered
    assert lookup.error and "0.3" in lookup.error
    assert lookup.duration_ms < 1000  # bounded by the timeout, not by dnspython's back-off
    assert len(server.queries("example.org", "TXT")) >= 1


def test_servfail_and_refused(server, make_resolver) -> None:
    server.servfail("mail.example.org")
    server.refuse("web.example.org")

    async def main(resolver: Resolver) -> list[Lookup]:
        return await resolver.query_many([("mail.example.org", "A"), ("web.example.org", "A")])

    servfail, refused = run(main(make_resolver()))
    assert (servfail.outcome, servfail.error) == (SERVFAIL, "the DNS server answered SERVFAIL")
    assert (refused.outcome, refused.error) == (REFUSED, "the DNS server refused the query")
    assert servfail.failed and refused.failed


def test_invalid_name_or_type_is_an_error_without_asking(server, make_resolver) -> None:
    resolver = make_resolver()
    for name, rdtype in (
        ("a..example.org", "A"),
        ("x" * 64 + ".example.org", "A"),
        ("ok.example.org", "NOPE"),
    ):
        lookup = run(resolver.query(name, rdtype))
        assert lookup.outcome == ERROR and lookup.error, name
    assert server.log == []


def test_record_count_is_bounded(dns_server, make_resolver) -> None:
    dns_server.add_zone_text(
        "\n".join(f"many A 10.0.{i // 256}.{i % 256}" for i in range(130)), "example.org"
    )
    lookup = run(make_resolver().query("many.example.org", "A"))
    assert lookup.outcome == OK
    assert len(lookup.values) == adns.MAX_RECORDS and lookup.truncated_records


# -- TCP fallback ----------------------------------------------------------------------------------------


def test_big_txt_falls_back_to_tcp(server, make_resolver) -> None:
    server.add_zone_text(f"big TXT {BIG_TXT}", origin="example.org")
    lookup = run(make_resolver().query("big.example.org", "TXT"))
    assert lookup.outcome == OK
    assert lookup.values == ("".join(chr(97 + i) * 255 for i in range(16)),)
    assert [len(s) for s in lookup.txt_strings[0]] == [255] * 16
    assert [entry.transport for entry in server.queries("big.example.org", "TXT")] == ["udp", "tcp"]


def test_truncated_small_answer_is_retried_over_tcp(server, make_resolver) -> None:
    server.truncate("mail.example.org", "A")
    lookup = run(make_resolver().query("mail.example.org", "A"))
    assert lookup.outcome == OK and lookup.values == ("192.0.2.25",)
    assert [entry.transport for entry in server.queries("mail.example.org")] == ["udp", "tcp"]


# -- cache, in-flight sharing, concurrency cap ------------------------------------------------------------


def test_concurrent_askers_share_one_query_and_later_ones_hit_the_cache(server, make_resolver) -> None:
    server.delay("example.org", 0.2)
    resolver = make_resolver()

    async def main() -> tuple[Lookup, Lookup, Lookup]:
        first, second = await asyncio.gather(
            resolver.query("example.org", "TXT"), resolver.query("EXAMPLE.org.", "TXT")
        )
        third = await resolver.query("example.org", "TXT")
        return first, second, third

    first, second, third = run(main())
    assert first.outcome == OK and first == second == third
    assert len(server.queries("example.org", "TXT")) == 1
    assert resolver.stats.queries == 1 and resolver.stats.cache_hits == 2
    assert len(resolver.log) == 1


def test_different_types_are_different_questions(server, make_resolver) -> None:
    resolver = make_resolver()
    run(resolver.query_many([("mail.example.org", "A"), ("mail.example.org", "AAAA")]))
    assert sorted(e.rdtype for e in server.queries("mail.example.org")) == ["A", "AAAA"]


def test_failed_outcomes_are_cached_too(server, make_resolver) -> None:
    server.servfail("mail.example.org")
    resolver = make_resolver()
    run(resolver.query("mail.example.org", "A"))
    run(resolver.query("mail.example.org", "A"))  # a second event loop: the cache still works
    assert len(server.queries("mail.example.org")) == 1
    assert [lookup.outcome for lookup in resolver.failed_lookups()] == [SERVFAIL]


def test_one_resolver_serves_several_event_loops(server, make_resolver) -> None:
    server.delay("mail.example.org", 0.05)
    server.delay("web.example.org", 0.05)
    resolver = make_resolver(concurrency=1)  # contended, so the semaphore really waits in both loops
    questions = [("mail.example.org", "A"), ("web.example.org", "A")]
    first = run(resolver.query_many(questions))
    second = run(resolver.query_many([("mail.example.org", "AAAA"), ("web.example.org", "AAAA")]))
    assert [lookup.outcome for lookup in first] == [OK, OK]
    assert [lookup.outcome for lookup in second] == [OK, NODATA]


def test_a_cancelled_asker_does_not_take_the_waiters_with_it(server, make_resolver) -> None:
    server.delay("web.example.org", 0.2)
    resolver = make_resolver()

    async def main() -> Lookup:
        owner = asyncio.create_task(resolver.query("web.example.org", "A"))
        await asyncio.sleep(0.02)
        waiter = asyncio.create_task(resolver.query("web.example.org", "A"))
        await asyncio.sleep(0.02)
        owner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await owner
        return await waiter

    lookup = run(main())
    assert lookup.outcome == OK and lookup.values == ("192.0.2.80",)


def test_concurrency_cap_limits_queries_in_flight(server, make_resolver) -> None:
    names = [f"n{i}.example.org" for i in range(6)]
    for name in names:
        server.add_record(name, "A", "192.0.2.1")
        server.delay(name, 0.15)

    capped = run(make_resolver(concurrency=2).query_many([(n, "A") for n in names]))
    assert all(lookup.outcome == OK for lookup in capped)
    assert server.peak_concurrency == 2

    server.log.clear()
    server.peak_concurrency = 0
    uncapped = run(make_resolver(concurrency=32).query_many([(n, "A") for n in names]))
    assert all(lookup.outcome == OK for lookup in uncapped)
    assert server.peak_concurrency == 6


# -- the overall deadline --------------------------------------------------------------------------------


def test_total_timeout_cuts_a_slow_lookup_and_refuses_new_ones(server, make_resolver) -> None:
    server.drop("example.org", "TXT")
    resolver = make_resolver(timeout=5.0, total_timeout=0.3)
    slow = run(resolver.query("example.org", "TXT"))
    assert slow.outcome == TIMEOUT
    assert slow.duration_ms < 2000  # the 5 s lookup timeout did not apply
    late = run(resolver.query("mail.example.org", "A"))
    assert late.outcome == TIMEOUT and "overall time limit" in (late.error or "")
    assert server.queries("mail.example.org") == []


def test_total_timeout_also_bounds_waiting_for_a_slot(server, make_resolver) -> None:
    names = [f"q{i}.example.org" for i in range(4)]
    for name in names:
        server.add_record(name, "A", "192.0.2.1")
        server.delay(name, 0.25)
    resolver = make_resolver(concurrency=1, total_timeout=0.4)
    lookups = run(resolver.query_many([(n, "A") for n in names]))
    assert lookups[0].outcome == OK
    assert [lookup.outcome for lookup in lookups[2:]] == [TIMEOUT, TIMEOUT]
    assert "overall time limit" in (lookups[-1].error or "")
    assert len(server.log) < 4


# -- CNAMEs ----------------------------------------------------------------------------------------------


def test_cname_chain_is_reported(server, make_resolver) -> None:
    async def main(resolver: Resolver) -> list[Lookup]:
        return await resolver.query_many(
            [
                ("alias.example.org", "A"),
                ("www.example.org", "TXT"),
                ("dangling.example.org", "A"),
                ("twice.example.org", "A"),
            ]
        )

    followed, nodata, dangling, twice = run(main(make_resolver()))
    assert followed.outcome == OK and followed.values == ("192.0.2.80",)
    assert followed.cname_chain == ("www.example.org.", "web.example.org.")
    assert followed.to_json()["cname_chain"] == ["www.example.org.", "web.example.org."]
    assert (nodata.outcome, nodata.cname_chain) == (NODATA, ("web.example.org.",))
    assert (dangling.outcome, dangling.cname_chain) == (NXDOMAIN, ("gone.example.net.",))
    assert (twice.outcome, twice.cname_chain) == (NXDOMAIN, ("dangling.example.org.", "gone.example.net."))


def test_cname_query_returns_the_alias_itself(server, make_resolver) -> None:
    lookup = run(make_resolver().query("www.example.org", "CNAME"))
    assert lookup.outcome == OK and lookup.values == ("web.example.org.",) and lookup.cname_chain == ()


def test_cname_loop_ends_and_is_not_ok(server, make_resolver) -> None:
    lookup = run(make_resolver().query("loop1.example.org", "TXT"))
    assert lookup.outcome not in (OK, NODATA, NXDOMAIN)
    assert lookup.failed


# -- the zone overlay ------------------------------------------------------------------------------------


OVERLAY = """
$TTL 300
@          TXT   "v=spf1 include:amazonses.com -all"
_dmarc     TXT   "v=DMARC1; p=quarantine"
bounce     CNAME feedback.provider.example.
mail       CNAME mail2
mail2      CNAME mail
*.wild     TXT   "wild"
a.b.deep   A     192.0.2.1
"""


@pytest.fixture
def overlay_file(tmp_path: Path) -> Path:
    path = tmp_path / "example.org.zone"
    path.write_text(OVERLAY)
    return path


def test_overlay_answers_inside_its_origin_without_asking(server, make_resolver, overlay_file) -> None:
    resolver = make_resolver(overlay=ZoneOverlay.from_files([overlay_file]))

    async def main() -> list[Lookup]:
        return await resolver.query_many(
            [
                ("example.org", "TXT"),  # the server has another value: the file wins
                ("_dmarc.example.org", "TXT"),
                ("web.example.org", "A"),  # on the server only: NXDOMAIN, the file is the whole zone
                ("x.wild.example.org", "TXT"),
                ("deep.example.org", "A"),
                ("_dmarc.example.org", "MX"),
            ]
        )

    spf, dmarc, shadowed, wild, empty_non_terminal, nodata = run(main())
    assert spf.values == ("v=spf1 include:amazonses.com -all",) and spf.source == "zone"
    assert dmarc.values == ("v=DMARC1; p=quarantine",)
    assert shadowed.outcome == NXDOMAIN and shadowed.source == "zone"
    assert wild.values == ("wild",)
    assert empty_non_terminal.outcome == NODATA
    assert nodata.outcome == NODATA
    assert server.log == []
    assert resolver.stats.overlay_answers == 6 and resolver.stats.queries == 0


def test_overlay_passes_other_names_to_dns(server, make_resolver, overlay_file) -> None:
    server.add_record("elsewhere.example.net", "TXT", '"from dns"')
    resolver = make_resolver(overlay=ZoneOverlay.from_files([overlay_file]))
    lookup = run(resolver.query("elsewhere.example.net", "TXT"))
    assert (lookup.outcome, lookup.values, lookup.source) == (OK, ("from dns",), "dns")
    assert len(server.queries("elsewhere.example.net")) == 1


def test_cname_leaving_the_overlay_continues_in_dns(server, make_resolver, overlay_file) -> None:
    server.add_record("feedback.provider.example", "MX", "10 inbound.provider.example.")
    resolver = make_resolver(overlay=ZoneOverlay.from_files([overlay_file]))
    lookup = run(resolver.query("bounce.example.org", "MX"))
    assert lookup.outcome == OK and lookup.values == ("10 inbound.provider.example.",)
    assert lookup.cname_chain == ("feedback.provider.example.",)
    assert lookup.source == "zone"
    assert [entry.name for entry in server.log] == ["feedback.provider.example."]


def test_cname_loop_inside_the_overlay_ends(server, make_resolver, overlay_file) -> None:
    lookup = run(make_resolver(overlay=ZoneOverlay.from_files([overlay_file])).query("mail.example.org", "A"))
    assert lookup.outcome == ERROR and lookup.error
    assert server.log == []


def test_overlay_origin_from_directive_and_most_specific_zone_wins(tmp_path) -> None:
    parent = tmp_path / "parent.zone"
    parent.write_text('$ORIGIN example.org.\n$TTL 60\n@ TXT "parent"\nsub TXT "parent view"\n')
    child = tmp_path / "sub.example.org.zone"
    child.write_text('$TTL 60\n@ TXT "child view"\n')
    overlay = ZoneOverlay.from_files([parent, child])
    assert overlay.answer("example.org.", "TXT")[0] == OK
    outcome, rdatas, _, _ = overlay.answer("sub.example.org.", "TXT")
    assert outcome == OK and [b"".join(r.strings) for r in rdatas] == [b"child view"]
    assert overlay.answer("example.com.", "TXT") is None


def test_load_zone_file_errors_are_one_clear_line(tmp_path) -> None:
    with pytest.raises(AuditorError, match="cannot read"):
        load_zone_file(tmp_path / "missing.example.zone")
    bad = tmp_path / "bad.example.zone"
    bad.write_text("@ TXT\n@ NOTATYPE 1\n")
    with pytest.raises(AuditorError, match="not a valid zone file"):
        load_zone_file(bad)


# -- reachability and nameserver specs --------------------------------------------------------------------


def test_unreachable_when_every_lookup_timed_out(server, make_resolver) -> None:
    for name in ("example.org", "_dmarc.example.org"):
        server.drop(name)
    resolver = make_resolver(timeout=SHORT)
    run(resolver.query_many([("example.org", "TXT"), ("_dmarc.example.org", "TXT")]))
    assert resolver.unreachable()


def test_unreachable_when_nobody_listens() -> None:
    resolver = Resolver(nameservers=[("127.0.0.1", closed_port())], timeout=SHORT)
    lookup = run(resolver.query("example.org", "TXT"))
    assert lookup.outcome in (TIMEOUT, ERROR)
    assert resolver.unreachable()


def test_reachable_when_anything_answered(server, make_resolver) -> None:
    server.drop("example.org")
    server.servfail("mail.example.org")
    resolver = make_resolver(timeout=SHORT)
    assert not resolver.unreachable()  # nothing asked yet
    run(resolver.query_many([("example.org", "TXT"), ("mail.example.org", "A")]))
    assert not resolver.unreachable()  # a SERVFAIL is an answer from a live server


def test_servers_on_one_address_keep_their_own_ports(server) -> None:
    dead = ("127.0.0.1", closed_port())
    resolver = Resolver(nameservers=[server.nameserver, dead], timeout=1.0)
    assert resolver.nameservers == [f"127.0.0.1:{server.port}", f"127.0.0.1:{dead[1]}"]
    assert run(resolver.query("mail.example.org", "A")).values == ("192.0.2.25",)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("192.0.2.1", ("192.0.2.1", 53)),
        (" 192.0.2.1:5353 ", ("192.0.2.1", 5353)),
        ("2001:db8::1", ("2001:db8::1", 53)),
        ("[2001:db8::1]", ("2001:db8::1", 53)),
        ("[::1]:5300", ("::1", 5300)),
    ],
)
def test_parse_nameserver(spec: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "dns.example",
        "192.0.2.1:",
        "192.0.2.1:0",
        "192.0.2.1:70000",
        "192.0.2.1:x",
        "[::1]x",
        "[::1]:",
        "300.1.1.1",
    ],
)
def test_parse_nameserver_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(AuditorError, match="--nameserver"):
        parse_nameserver(spec)


def test_absolute() -> None:
    assert absolute(" Example.ORG ") == "example.org."
    assert absolute("example.org.") == "example.org."
