"""collect_dmarc against the loopback DNS server: failures, duplicates, inheritance, report destinations."""

from __future__ import annotations

import asyncio

from test_dmarc_treewalk import txt

from auditor.facts.base import Unknown, to_jsonable
from auditor.facts.dmarc import collect_dmarc

FAST = 0.4  # seconds: dropped queries time out quickly, so the file stays fast


def publish(server, name: str, *values: str) -> None:
    for value in values:
        server.add_record(name, "TXT", txt(value))


def collect(make_resolver, domain: str, **kwargs):
    return asyncio.run(collect_dmarc(make_resolver(**kwargs), domain))


# -- failed lookups ----------------------------------------------------------------------------------------


def test_timeout_at_the_from_domain_is_unknown_not_missing(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=reject")
    dns_server.drop("_dmarc.social.example.org")
    facts = collect(make_resolver, "social.example.org", timeout=FAST)
    assert facts.status == "unknown"
    for value in (facts.exists, facts.record, facts.effective_policy, facts.org_domain):
        assert isinstance(value, Unknown)
        assert "_dmarc.social.example.org" in value.reason and "timeout" in value.reason
    assert facts.exists is not False and facts.record is not None
    assert isinstance(facts.rua_unauthorized, Unknown)


def test_servfail_on_a_parent_leaves_an_own_record_standing(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=quarantine")
    dns_server.servfail("_dmarc.org")
    facts = collect(make_resolver, "example.org")
    assert facts.status == "ok"
    assert facts.record == "v=DMARC1; p=quarantine"
    assert facts.effective_policy == "quarantine"
    # A record at _dmarc.org without psd=y would have made "org" the Organizational Domain: not known.
    assert isinstance(facts.org_domain, Unknown) and "servfail" in facts.org_domain.reason


def test_servfail_on_a_parent_without_an_own_record_is_unknown(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=reject")
    dns_server.servfail("_dmarc.example.org")
    dns_server.add_record("social.example.org", "A", "192.0.2.10")
    facts = collect(make_resolver, "social.example.org")
    assert facts.status == "unknown"
    assert isinstance(facts.record, Unknown) and isinstance(facts.effective_policy, Unknown)
    assert "_dmarc.example.org" in facts.record.reason


def test_nothing_published_is_missing(dns_server, make_resolver):
    dns_server.add_record("example.org", "A", "192.0.2.1")
    facts = collect(make_resolver, "example.org")
    assert facts.status == "ok"
    assert facts.exists is False and facts.record is None and facts.effective_policy is None
    assert facts.org_domain == "example.org" and facts.org_domain_psl == "example.org"
    assert facts.walk == ["_dmarc.example.org", "_dmarc.org"]


# -- several records ---------------------------------------------------------------------------------------


def test_multiple_records_at_the_from_domain_are_discarded_and_the_parent_applies(dns_server, make_resolver):
    publish(dns_server, "_dmarc.social.example.org", "v=DMARC1; p=reject", "v=DMARC1; p=none")
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=none; sp=quarantine")
    facts = collect(make_resolver, "social.example.org")
    assert facts.multiple is True
    assert facts.multiple_at == ["_dmarc.social.example.org"]
    assert facts.record_domain == "example.org" and facts.inherited
    assert (facts.effective_policy, facts.policy_tag) == ("quarantine", "sp")


def test_record_split_into_several_strings_is_joined(dns_server, make_resolver):
    dns_server.add_record("_dmarc.example.org", "TXT", '"v=DMARC1; p=rej" "ect"')
    facts = collect(make_resolver, "example.org")
    assert facts.record == "v=DMARC1; p=reject" and facts.effective_policy == "reject"


def test_look_alike_record_is_explained(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=dmarc1; p=reject")
    facts = collect(make_resolver, "example.org")
    assert facts.exists is False and facts.record is None
    assert facts.syntax_valid is False
    assert "looks like DMARC" in facts.syntax_errors[0] and "v=dmarc1; p=reject" in facts.syntax_errors[0]


# -- inherited policies ------------------------------------------------------------------------------------


def test_existing_subdomain_inherits_sp(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=none; sp=reject; np=quarantine")
    dns_server.add_record("social.example.org", "MX", "10 mail.example.org.")
    facts = collect(make_resolver, "social.example.org")
    assert facts.domain_exists is True
    assert (facts.effective_policy, facts.policy_tag) == ("reject", "sp")
    assert (facts.p, facts.sp, facts.np) == ("none", "reject", "quarantine")


def test_nonexistent_from_domain_inherits_np(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=none; sp=reject; np=quarantine")
    facts = collect(make_resolver, "nope.example.org")  # NXDOMAIN: nothing at or below the name
    assert facts.domain_exists is False
    assert (facts.effective_policy, facts.policy_tag) == ("quarantine", "np")


def test_nonexistent_from_domain_falls_back_to_sp_then_p(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=none; sp=reject")
    publish(dns_server, "_dmarc.example.net", "v=DMARC1; p=quarantine")
    assert collect(make_resolver, "nope.example.org").effective_policy == "reject"
    facts = collect(make_resolver, "nope.example.net")
    assert (facts.effective_policy, facts.policy_tag) == ("quarantine", "p")


def test_unknown_existence_with_different_sp_and_np_is_unknown(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=none; sp=reject; np=quarantine")
    dns_server.servfail("social.example.org")
    facts = collect(make_resolver, "social.example.org")
    assert isinstance(facts.domain_exists, Unknown)
    assert isinstance(facts.effective_policy, Unknown)
    assert facts.status == "unknown"
    assert facts.record == "v=DMARC1; p=none; sp=reject; np=quarantine"


def test_own_record_ignores_sp_and_testing_is_reported(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=quarantine; sp=none; t=y; pct=50")
    facts = collect(make_resolver, "example.org")
    assert (facts.effective_policy, facts.policy_tag) == ("quarantine", "p")
    assert facts.testing is True and facts.pct == 50
    assert any("pct was removed in RFC 9989" in w for w in facts.warnings)


def test_invalid_p_with_and_without_rua(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=block; rua=mailto:d@example.org")
    publish(dns_server, "_dmarc.example.net", "v=DMARC1; p=block")
    with_rua = collect(make_resolver, "example.org")
    assert with_rua.effective_policy == "none" and with_rua.syntax_valid is False
    assert "p=block is not a valid policy (none, quarantine or reject)" in with_rua.syntax_errors
    without = collect(make_resolver, "example.net")
    assert without.effective_policy is None and without.exists is True
    assert any("apply no DMARC at all" in w for w in without.warnings)


# -- report destinations -----------------------------------------------------------------------------------


def test_internal_destination_needs_no_authorization(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=none; rua=mailto:d@reports.example.org")
    facts = collect(make_resolver, "example.org")
    [destination] = facts.destinations
    assert (destination.host, destination.external, destination.authorized) == (
        "reports.example.org",
        False,
        True,
    )
    assert destination.query is None
    assert not [q for q in dns_server.queries(rdtype="TXT") if "_report" in q.name]
    assert facts.rua_unauthorized == [] and facts.rua_unauthorized_count == 0


def test_external_destination_without_authorization(dns_server, make_resolver):
    publish(
        dns_server,
        "_dmarc.example.org",
        "v=DMARC1; p=none; rua=mailto:d@example.org,mailto:x@dmarc.example.net!10m",
    )
    facts = collect(make_resolver, "example.org")
    external = [d for d in facts.destinations if d.external]
    assert [d.host for d in external] == ["dmarc.example.net"]
    assert external[0].query == "example.org._report._dmarc.dmarc.example.net"
    assert external[0].outcome == "nxdomain" and external[0].authorized is False
    assert facts.rua_unauthorized == ["mailto:x@dmarc.example.net!10m"] and facts.rua_unauthorized_count == 1


def test_external_destination_with_authorization(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=none; rua=mailto:x@dmarc.example.net")
    publish(dns_server, "example.org._report._dmarc.dmarc.example.net", "v=DMARC1;")
    facts = collect(make_resolver, "example.org")
    assert facts.destinations[0].authorized is True
    assert facts.rua_unauthorized == [] and facts.rua_unauthorized_count == 0


def test_external_destination_with_a_wildcard_authorization(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=none; rua=mailto:x@dmarc.example.net")
    publish(dns_server, "*._report._dmarc.dmarc.example.net", "v=DMARC1")
    facts = collect(make_resolver, "example.org")
    assert facts.destinations[0].authorized is True
    assert facts.rua_unauthorized_count == 0


def test_non_dmarc_txt_does_not_authorize(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=none; rua=mailto:x@dmarc.example.net")
    publish(dns_server, "example.org._report._dmarc.dmarc.example.net", "v=spf1 -all")
    facts = collect(make_resolver, "example.org")
    assert facts.destinations[0].outcome == "ok" and facts.destinations[0].authorized is False
    assert facts.rua_unauthorized_count == 1


def test_failed_authorization_lookup_is_unknown(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=none; rua=mailto:x@dmarc.example.net")
    dns_server.servfail("example.org._report._dmarc.dmarc.example.net")
    facts = collect(make_resolver, "example.org")
    assert isinstance(facts.destinations[0].authorized, Unknown)
    assert isinstance(facts.rua_unauthorized, Unknown) and isinstance(facts.rua_unauthorized_count, Unknown)
    assert facts.effective_policy == "none" and facts.status == "ok"


def test_inherited_record_checks_destinations_for_the_policy_domain(dns_server, make_resolver):
    publish(dns_server, "_dmarc.example.org", "v=DMARC1; p=reject; rua=mailto:x@dmarc.example.net")
    dns_server.add_record("social.example.org", "A", "192.0.2.10")
    facts = collect(make_resolver, "social.example.org")
    assert facts.destinations[0].query == "example.org._report._dmarc.dmarc.example.net"


def test_ruf_and_non_mailto_uris(dns_server, make_resolver):
    publish(
        dns_server,
        "_dmarc.example.org",
        "v=DMARC1; p=none; rua=https://reports.example.net/dmarc; ruf=mailto:f@dmarc.example.net",
    )
    facts = collect(make_resolver, "example.org")
    assert facts.rua == ["https://reports.example.net/dmarc"]
    assert any("is not a mailto: address" in w for w in facts.warnings)
    [destination] = facts.destinations
    assert destination.uri == "mailto:f@dmarc.example.net" and destination.authorized is False
    assert facts.rua_unauthorized == []  # ruf destinations are listed, but rua_unauthorized is about rua


# -- hostile content ---------------------------------------------------------------------------------------


def test_markup_and_control_characters_are_kept_verbatim(dns_server, make_resolver):
    record = 'v=DMARC1; p=reject; rua=mailto:<script>alert("x")</script>@evil.example; x=\x07\x1b[31m'
    publish(dns_server, "_dmarc.example.org", record)
    facts = collect(make_resolver, "example.org")
    assert facts.record == record
    assert facts.tags["rua"] == 'mailto:<script>alert("x")</script>@evil.example'
    assert facts.tags["x"] == "\x07\x1b[31m"
    assert to_jsonable(facts)["record"] == record
    assert all(
        "\x1b" not in message and "\x07" not in message for message in facts.syntax_errors + facts.warnings
    )
    assert facts.effective_policy == "reject"
