"""SPF: the term parser and macro expander (pure), and check_host() against the loopback DNS server.

The RFC 7208 suite (test_spf_rfc7208_suite.py) covers the results; these tests pin down what the suite
does not: the parsed shape of terms, the RFC's own macro examples, the counters and problem texts, which
lookups are (not) made, and that the lookups of one term go out together.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time

import pytest

from auditor.errors import AuditorError
from auditor.facts.spf_eval import SpfResult, check_host, ip6_nibbles, is_valid_domain
from auditor.facts.spf_terms import (
    EXP_MACRO_LETTERS,
    MacroExpand,
    Mechanism,
    Modifier,
    SpfSyntaxError,
    check_domain_spec,
    expand_macros,
    is_spf_record,
    parse_macro_string,
    parse_record,
    parse_term,
    truncate_domain,
)

# -- record selection and terms ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        ("v=spf1", True),
        ("v=spf1 -all", True),
        ("V=SpF1 ~all", True),
        ("v=spf10", False),
        ("v=spf1mx", False),
        ("spf2.0/pra ip4:192.0.2.1", False),
        (" v=spf1 -all", False),
        ("", False),
    ],
)
def test_record_selection(text: str, selected: bool) -> None:
    assert is_spf_record(text) is selected


def test_parse_record_collects_mechanisms_and_modifiers_in_order() -> None:
    record = parse_record(
        "v=spf1  +a mx/24//64 -include:_spf.example.net ?ptr ip4:192.0.2.0/24 foo=bar "
        "exp=explain.%{d} redirect=_spf.example.org ~all "
    )
    assert [m.text for m in record.mechanisms] == [
        "+a",
        "mx/24//64",
        "-include:_spf.example.net",
        "?ptr",
        "ip4:192.0.2.0/24",
        "~all",
    ]
    assert [m.result for m in record.mechanisms] == ["pass", "pass", "fail", "neutral", "pass", "softfail"]
    assert record.redirect is not None and record.redirect.value == "_spf.example.org"
    assert record.explanation is not None and record.explanation.value == "explain.%{d}"
    assert [m.name for m in record.unknown_modifiers] == ["foo"]
    assert record.has_all


def test_parse_term_a_with_domain_and_dual_cidr() -> None:
    term = parse_term("a:mail.example.com/24//64")
    assert isinstance(term, Mechanism)
    assert (term.name, term.domain_spec, term.cidr4, term.cidr6) == ("a", "mail.example.com", 24, 64)


def test_parse_term_domain_may_hold_colon_and_slash() -> None:
    term = parse_term("MX:foo:bar/baz.example.com")
    assert isinstance(term, Mechanism)
    assert (term.name, term.domain_spec, term.cidr4, term.cidr6) == ("mx", "foo:bar/baz.example.com", 32, 128)


def test_parse_term_ip_networks() -> None:
    ip4 = parse_term("-ip4:192.0.2.7/24")
    ip6 = parse_term("ip6:2001:DB8::/32")
    assert isinstance(ip4, Mechanism) and isinstance(ip6, Mechanism)
    assert ip4.network == ipaddress.ip_network("192.0.2.0/24")
    assert ip6.network == ipaddress.ip_network("2001:db8::/32")
    assert ip4.qualifier == "-" and ip4.result == "fail"


def test_parse_term_unknown_modifier_is_kept() -> None:
    term = parse_term("moo.cow-far_out=man:dog/cat")
    assert isinstance(term, Modifier)
    assert (term.name, term.value) == ("moo.cow-far_out", "man:dog/cat")


@pytest.mark.parametrize(
    "term",
    [
        "all.",
        "-all:x",
        "all/8",  # all takes nothing
        "include",
        "include:",
        "include:example.com/24",
        "a:",
        "a/33",
        "a//129",
        "a/24/64",
        "a:example.com:8080",
        "a:museum",
        "a:museum.",
        "a:abc.123",
        "a:example.-com",
        "a:foo.example.com\x00",
        "ptr/0",
        "ptr:",
        "ip4",
        "ip4:1.2.3",
        "ip4:1.2.3.4/33",
        "ip4:1.2.3.4/032",
        "ip4:01.2.3.4",
        "ip4:1.2.3.4//32",
        "ip4:1.2.3.4:8080",
        "ip6",
        "ip6::CAFE::BABE",
        "ip6:::1/129",
        "ip6:::1//33",
        "exists",
        "exists:",
        "exists:mail.example.com/24",
        "redirect:example.com",
        "redirect=",
        "redirect=-all",
        "exp=",
        "exp=%{r}.example.com",
        "1up=foo",
        "=all",
        "foo=%abc",
        "moo",
        "\x96all",
        "a:ctrl.example.com\rptr",
        "exists:%(ir).sbl.example.com",
        "exists:foo%.sbl.example.com",
        "a:%{a}.example.com",
        "a:%{d0}.example.com",
    ],
)
def test_parse_term_rejects(term: str) -> None:
    with pytest.raises(SpfSyntaxError):
        parse_term(term)


def test_parse_record_rejects_duplicate_modifiers_and_names_the_problem() -> None:
    with pytest.raises(SpfSyntaxError, match="exp="):
        parse_record("v=spf1 exp=a.example.com -all exp=b.example.com")
    with pytest.raises(SpfSyntaxError, match="redirect="):
        parse_record("v=spf1 redirect=a.example.com redirect=a.example.com")
    with pytest.raises(SpfSyntaxError, match="'moo'"):
        parse_record("v=spf1 ip4:192.0.2.1 -all moo")


@pytest.mark.parametrize(
    ("spec", "valid"),
    [
        ("example.com", True),
        ("example.com.", True),
        ("foo.example.xn--zckzah", True),
        ("%{d}", True),
        ("%{H}.bar", True),
        ("_spf.%{d2}", True),
        ("mail.example...com", True),  # valid syntax; not a usable name (see the evaluator)
        ("foo%%", True),  # domain-end may be any macro-expand, "%%" included
        ("%{d}com", False),  # ".toplabel" needs a literal dot
        ("foo.%%_", False),  # the text ends in the literal "_", not in a macro
        ("example", False),
        ("", False),
    ],
)
def test_check_domain_spec(spec: str, valid: bool) -> None:
    if valid:
        check_domain_spec(spec)
    else:
        with pytest.raises(SpfSyntaxError):
            check_domain_spec(spec)


# -- macros (RFC 7208 §7.4 examples) -------------------------------------------------------------------------

RFC_VALUES = {
    "s": "strong-bad@email.example.com",
    "l": "strong-bad",
    "o": "email.example.com",
    "d": "email.example.com",
    "i": "192.0.2.3",
    "v": "in-addr",
    "h": "mx.example.org",
    "p": "mx.example.org",
    "c": "192.0.2.3",
    "r": "receiver.example.net",
    "t": "1400000000",
}


def expand(text: str, values: dict[str, str] = RFC_VALUES, letters=EXP_MACRO_LETTERS) -> str:
    return expand_macros(parse_macro_string(text, letters=letters, allow_space=True), values)


@pytest.mark.parametrize(
    ("macro", "expansion"),
    [
        ("%{s}", "strong-bad@email.example.com"),
        ("%{o}", "email.example.com"),
        ("%{d}", "email.example.com"),
        ("%{d4}", "email.example.com"),
        ("%{d3}", "email.example.com"),
        ("%{d2}", "example.com"),
        ("%{d1}", "com"),
        ("%{dr}", "com.example.email"),
        ("%{d2r}", "example.email"),
        ("%{l}", "strong-bad"),
        ("%{l-}", "strong.bad"),
        ("%{lr}", "strong-bad"),
        ("%{lr-}", "bad.strong"),
        ("%{l1r-}", "strong"),
        ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
        ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
        ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
        ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
        ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
    ],
)
def test_rfc_macro_examples(macro: str, expansion: str) -> None:
    assert expand(macro) == expansion


def test_macro_escapes_and_url_encoding() -> None:
    assert expand("a%%b%_c%-d") == "a%b c%20d"
    values = dict(RFC_VALUES, l="~jack&jill=up-a_b3.c")
    assert expand("%{L}", values) == "~jack%26jill%3Dup-a_b3.c"
    assert expand("%{l}", values) == "~jack&jill=up-a_b3.c"
    assert expand("%{l2r+-}", dict(RFC_VALUES, l="foo-bar+zip+quux")) == "bar.foo"
    assert expand("%{R} at %{t}") == "receiver.example.net at 1400000000"


def test_macro_parse_shapes() -> None:
    tokens = parse_macro_string("x.%{D2r-+}.y")
    assert tokens == ["x.", MacroExpand("d", True, 2, True, "-+"), ".y"]


def test_exp_only_letters_and_spaces_are_refused_outside_explanations() -> None:
    for text in ("%{c}", "%{r}", "%{t}", "a b"):
        with pytest.raises(SpfSyntaxError):
            parse_macro_string(text)
        parse_macro_string(text, letters=EXP_MACRO_LETTERS, allow_space=True)


def test_non_ascii_explanation_text_is_a_syntax_error() -> None:
    with pytest.raises(SpfSyntaxError):
        parse_macro_string("\ufeffExplanation", letters=EXP_MACRO_LETTERS, allow_space=True)


def test_ip6_nibbles_and_rfc_ip6_example() -> None:
    nibbles = ip6_nibbles(ipaddress.IPv6Address("2001:db8::cb01"))
    assert nibbles == "2.0.0.1.0.D.B.8." + "0." * 20 + "C.B.0.1"
    values = dict(RFC_VALUES, i=nibbles, v="ip6")
    # RFC 7208 §7.4 writes the nibbles in lower case; DNS names ignore case, the suite's exp text wants upper.
    assert expand("%{ir}.%{v}._spf.%{d2}", values).lower() == (
        "1.0.b.c." + "0." * 20 + "8.b.d.0.1.0.0.2.ip6._spf.example.com"
    )


def test_truncate_domain() -> None:
    assert truncate_domain("example.com.") == "example.com"
    long_name = ".".join(["a" * 60] * 5) + ".example.com"  # 316 characters
    truncated = truncate_domain(long_name)
    assert len(truncated) <= 253 and long_name.endswith("." + truncated)
    assert truncated.split(".")[0] == "a" * 60  # whole labels only


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("example.com", True),
        ("a" * 63 + ".example.com", True),
        ("a" * 64 + ".example.com", False),
        ("a...example.com", False),
        ("localhost", False),
        ("[192.0.2.1]", False),
        ("192.0.2.1", False),
        ("", False),
    ],
)
def test_is_valid_domain(name: str, valid: bool) -> None:
    assert is_valid_domain(name) is valid


# -- check_host() against the loopback DNS server -------------------------------------------------------------


def txt(server, name: str, text: str) -> None:
    server.add_record(name, "TXT", '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')


def run(resolver, ip: str, sender: str, helo: str = "mail.example.net", **kwargs) -> SpfResult:
    domain = sender.rpartition("@")[2]
    return asyncio.run(check_host(resolver, ip, domain, sender, helo, **kwargs))


def test_include_pass_reports_the_term_and_counts(dns_server, make_resolver) -> None:
    txt(dns_server, "example.org", "v=spf1 a:nothing.example.org include:_spf.example.net -all")
    txt(dns_server, "_spf.example.net", "v=spf1 ip4:192.0.2.0/24 -all")
    result = run(make_resolver(), "192.0.2.10", "app@example.org")
    assert result == SpfResult(
        "pass", None, "include:_spf.example.net", lookups=2, void_lookups=1, problems=[]
    )


def test_fail_fetches_explanation_with_exp_only_macros(dns_server, make_resolver) -> None:
    txt(dns_server, "example.org", "v=spf1 mx -all exp=why.%{d}")
    dns_server.add_record("example.org", "MX", "10 mx.example.org.")
    dns_server.add_record("mx.example.org", "A", "192.0.2.1")
    txt(dns_server, "why.example.org", "%{c} may not send for %{o} (checked by %{r}, %{l})")
    result = run(make_resolver(), "198.51.100.7", "app@example.org", receiver="mx.receiver.example")
    assert result.result == "fail" and result.mechanism == "-all"
    assert (
        result.explanation
        == "198.51.100.7 may not send for example.org (checked by mx.receiver.example, app)"
    )


def test_explanation_is_not_fetched_unless_the_result_is_fail(dns_server, make_resolver) -> None:
    txt(dns_server, "example.org", "v=spf1 include:inner.example.org ~all exp=why.example.org")
    txt(dns_server, "inner.example.org", "v=spf1 -all exp=inner-why.example.org")
    txt(dns_server, "why.example.org", "not you")
    result = run(make_resolver(), "192.0.2.1", "app@example.org")
    assert (result.result, result.explanation) == ("softfail", None)
    fetched = {entry.name for entry in dns_server.queries(rdtype="TXT")}
    assert fetched == {"example.org.", "inner.example.org."}  # neither exp target was asked


def test_only_txt_is_asked_never_type_spf(dns_server, make_resolver) -> None:
    dns_server.add_record("example.org", "SPF", '"v=spf1 +all"')
    txt(dns_server, "example.org", "v=spf1 -all")
    assert run(make_resolver(), "192.0.2.1", "app@example.org").result == "fail"
    assert dns_server.queries(rdtype="SPF") == []


def test_servfail_is_temperror_not_none(dns_server, make_resolver) -> None:
    txt(dns_server, "example.org", "v=spf1 -all")
    dns_server.servfail("example.org", "TXT")
    result = run(make_resolver(), "192.0.2.1", "app@example.org")
    assert result.result == "temperror"
    assert result.problems == [
        "the DNS lookup of TXT example.org. failed (servfail: the DNS server answered SERVFAIL)"
    ]


def test_servfail_on_an_mx_host_is_temperror(dns_server, make_resolver) -> None:
    txt(dns_server, "example.org", "v=spf1 mx -all")
    dns_server.add_record("example.org", "MX", "10 mx1.example.org.")
    dns_server.add_record("example.org", "MX", "20 mx2.example.org.")
    dns_server.add_record("mx1.example.org", "A", "192.0.2.1")
    dns_server.add_record("mx2.example.org", "A", "192.0.2.2")
    dns_server.servfail("mx2.example.org", "A")
    assert run(make_resolver(), "198.51.100.1", "app@example.org").result == "temperror"


def test_ptr_lookup_error_is_no_match_not_temperror(dns_server, make_resolver) -> None:
    txt(dns_server, "example.org", "v=spf1 ptr ?all")
    dns_server.servfail("1.2.0.192.in-addr.arpa", "PTR")
    assert run(make_resolver(), "192.0.2.1", "app@example.org").result == "neutral"


def test_mx_address_lookups_go_out_together(dns_server, make_resolver) -> None:
    txt(dns_server, "example.org", "v=spf1 mx -all")
    for n in range(1, 6):
        dns_server.add_record("example.org", "MX", f"{n} mx{n}.example.org.")
        dns_server.add_record(f"mx{n}.example.org", "A", f"192.0.2.{n}")
        dns_server.delay(f"mx{n}.example.org", 0.3, "A")
    started = time.monotonic()
    result = run(make_resolver(timeout=2.0), "192.0.2.5", "app@example.org")
    elapsed = time.monotonic() - started
    assert (result.result, result.mechanism) == ("pass", "mx")
    assert elapsed < 1.0  # five 0.3 s lookups one after another would take 1.5 s


def test_eleven_mx_hosts_is_permerror(dns_server, make_resolver) -> None:
    txt(dns_server, "example.org", "v=spf1 mx ~all")
    for n in range(11):
        dns_server.add_record("example.org", "MX", f"{n} mx{n}.example.org.")
    result = run(make_resolver(), "192.0.2.5", "app@example.org")
    assert result.result == "permerror"
    assert "11 MX hosts" in result.problems[0]
    assert dns_server.queries(rdtype="A") == []  # refused before any address lookup


def test_ipv6_client_uses_aaaa_and_ip6_macros(dns_server, make_resolver) -> None:
    txt(dns_server, "example.org", "v=spf1 a exists:%{ir}.%{v}.list.example.org -all")
    dns_server.add_record("example.org", "AAAA", "2001:db8::1")
    nibbles_reversed = "1.0.b.c." + "0." * 20 + "8.b.d.0.1.0.0.2"
    dns_server.add_record(f"{nibbles_reversed}.ip6.list.example.org", "A", "127.0.0.2")
    result = run(make_resolver(), "2001:db8::cb01", "app@example.org")
    assert (result.result, result.mechanism) == ("pass", "exists:%{ir}.%{v}.list.example.org")
    assert [e.rdtype for e in dns_server.queries(name="example.org")] == ["TXT", "AAAA"]


def test_ipv4_mapped_client_is_ipv4(dns_server, make_resolver) -> None:
    txt(dns_server, "example.org", "v=spf1 ip6:::ffff:0:0/96 ip4:192.0.2.1 -all")
    result = run(make_resolver(), "::ffff:192.0.2.1", "app@example.org")
    assert (result.result, result.mechanism) == ("pass", "ip4:192.0.2.1")


def test_void_lookups_over_two_is_permerror(dns_server, make_resolver) -> None:
    txt(dns_server, "example.org", "v=spf1 a:x1.example.org mx:x2.example.org exists:x3.example.org -all")
    result = run(make_resolver(), "192.0.2.1", "app@example.org")
    assert (result.result, result.lookups, result.void_lookups) == ("permerror", 3, 3)
    assert "more than 2 lookups found nothing" in result.problems[0]


def test_lookup_limit_is_shared_by_includes(dns_server, make_resolver) -> None:
    dns_server.add_record("x.example.org", "A", "198.51.100.1")
    txt(
        dns_server,
        "four.example.org",
        "v=spf1 a:x.example.org a:x.example.org a:x.example.org a:x.example.org",
    )
    txt(
        dns_server,
        "five.example.org",
        "v=spf1 a:x.example.org a:x.example.org a:x.example.org a:x.example.org a",
    )
    dns_server.add_record("five.example.org", "A", "198.51.100.2")
    txt(dns_server, "at-limit.example.org", "v=spf1 include:four.example.org include:four.example.org -all")
    txt(dns_server, "over-limit.example.org", "v=spf1 include:four.example.org include:five.example.org -all")
    at_limit = run(make_resolver(), "192.0.2.1", "app@at-limit.example.org")
    assert (at_limit.result, at_limit.lookups) == ("fail", 10)
    over_limit = run(make_resolver(), "192.0.2.1", "app@over-limit.example.org")
    assert (over_limit.result, over_limit.lookups) == ("permerror", 11)
    assert "more than 10 DNS-querying terms" in over_limit.problems[0]
    assert "'a'" in over_limit.problems[0]  # the term that passed the limit


def test_p_macro_prefers_a_validated_subdomain(dns_server, make_resolver) -> None:
    txt(dns_server, "example.org", "v=spf1 -all exp=why.example.org")
    txt(dns_server, "why.example.org", "host %{p}")
    dns_server.add_record("1.2.0.192.in-addr.arpa", "PTR", "other.example.net.")
    dns_server.add_record("1.2.0.192.in-addr.arpa", "PTR", "mail.example.org.")
    dns_server.add_record("1.2.0.192.in-addr.arpa", "PTR", "fake.example.org.")
    dns_server.add_record("other.example.net", "A", "192.0.2.1")
    dns_server.add_record("mail.example.org", "A", "192.0.2.1")
    dns_server.add_record("fake.example.org", "A", "203.0.113.9")  # does not point back: not validated
    result = run(make_resolver(), "192.0.2.1", "app@example.org")
    assert result.explanation == "host mail.example.org"


def test_redirect_target_without_record_is_permerror(dns_server, make_resolver) -> None:
    txt(dns_server, "example.org", "v=spf1 redirect=_spf.example.org")
    result = run(make_resolver(), "192.0.2.1", "app@example.org")
    assert result.result == "permerror"
    assert result.problems == ["redirect target '_spf.example.org' (from example.org) has no SPF record"]


def test_empty_local_part_becomes_postmaster(dns_server, make_resolver) -> None:
    txt(dns_server, "example.org", "v=spf1 exists:%{l}.users.example.org -all")
    dns_server.add_record("postmaster.users.example.org", "A", "127.0.0.2")
    assert run(make_resolver(), "192.0.2.1", "@example.org").result == "pass"


def test_bad_ip_is_one_clear_error(make_resolver) -> None:
    with pytest.raises(AuditorError, match="not an IP address"):
        run(make_resolver(), "192.0.2.300", "app@example.org")
