"""The pure SPF editing helpers the SPF fixes are built from."""

from __future__ import annotations

import pytest

from auditor.fixes.spf_edit import (
    LookupLog,
    all_qualifier,
    build_record,
    count_lookups,
    flatten_addresses,
    insert_before_all,
    ip_terms,
    merge_records,
    redirect_to_include,
    remove_duplicates,
    set_all,
    split_terms,
)


def terms(record: str) -> list[str]:
    return split_terms(record)


def test_split_and_build_round_trip_drops_extra_spaces():
    assert split_terms("v=spf1  a   -all ") == ["a", "-all"]
    assert build_record(["a", "-all"]) == "v=spf1 a -all"
    assert split_terms("V=SPF1 mx") == ["mx"]


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("v=spf1 ip4:192.0.2.1 -all", "v=spf1 ip4:192.0.2.1 include:amazonses.com -all"),
        ("v=spf1 ip4:192.0.2.1 ?all", "v=spf1 ip4:192.0.2.1 include:amazonses.com ?all"),
        ("v=spf1 ip4:192.0.2.1", "v=spf1 ip4:192.0.2.1 include:amazonses.com"),
        (
            "v=spf1 ip4:192.0.2.1 redirect=_spf.example.org",
            "v=spf1 ip4:192.0.2.1 include:amazonses.com redirect=_spf.example.org",
        ),
        ("v=spf1 include:amazonses.com ~all", "v=spf1 include:amazonses.com ~all"),  # already there
        (
            "v=spf1 +include:AmazonSES.com ~all",
            "v=spf1 +include:AmazonSES.com ~all",
        ),  # same term, other spelling
    ],
)
def test_insert_before_all_keeps_the_qualifier(record, expected):
    assert build_record(insert_before_all(terms(record), "include:amazonses.com")) == expected


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("v=spf1 mx +all", "v=spf1 mx ~all"),
        ("v=spf1 mx all", "v=spf1 mx ~all"),
        ("v=spf1 mx ?all", "v=spf1 mx ~all"),
        ("v=spf1 mx", "v=spf1 mx ~all"),
        ("v=spf1 mx exp=explain.example.org", "v=spf1 mx ~all exp=explain.example.org"),
    ],
)
def test_set_all(record, expected):
    assert build_record(set_all(terms(record))) == expected
    assert all_qualifier(split_terms(expected)) == "~"


def test_redirect_becomes_include():
    assert redirect_to_include(["redirect=_spf.example.net"]) == ["include:_spf.example.net"]


def test_remove_duplicates_treats_plus_as_default_and_names_case_insensitive():
    kept, removed = remove_duplicates(
        ["include:a.example.net", "+include:A.example.net", "-include:a.example.net"]
    )
    assert kept == ["include:a.example.net", "-include:a.example.net"]
    assert removed == ["+include:A.example.net"]


def test_merge_keeps_every_mechanism_once_and_the_strictest_all():
    merged, notes = merge_records(
        ["v=spf1 include:amazonses.com ~all", "v=spf1 include:_spf.google.com include:amazonses.com -all"]
    )
    assert build_record(merged) == "v=spf1 include:amazonses.com include:_spf.google.com -all"
    assert any("strictest" in note for note in notes)


def test_merge_never_keeps_plus_all_when_another_all_exists():
    merged, _ = merge_records(["v=spf1 a +all", "v=spf1 mx ~all"])
    assert build_record(merged) == "v=spf1 a mx ~all"


def test_merge_turns_a_redirect_into_an_include():
    merged, notes = merge_records(["v=spf1 redirect=_spf.example.net", "v=spf1 ip4:192.0.2.1 -all"])
    assert build_record(merged) == "v=spf1 include:_spf.example.net ip4:192.0.2.1 -all"
    assert notes


LOG = LookupLog(
    [
        {"name": "example.org.", "type": "A", "outcome": "ok", "values": ["192.0.2.10"]},
        {"name": "example.org.", "type": "AAAA", "outcome": "ok", "values": ["2001:db8::10"]},
        {"name": "example.org.", "type": "MX", "outcome": "ok", "values": ["10 mx.example.org."]},
        {"name": "mx.example.org.", "type": "A", "outcome": "ok", "values": ["192.0.2.25"]},
        {"name": "mx.example.org.", "type": "AAAA", "outcome": "nodata", "values": []},
        {"name": "gone.example.org.", "type": "A", "outcome": "nxdomain", "values": []},
        {"name": "gone.example.org.", "type": "AAAA", "outcome": "nxdomain", "values": []},
        {"name": "slow.example.org.", "type": "A", "outcome": "timeout", "values": []},
        {"name": "slow.example.org.", "type": "AAAA", "outcome": "ok", "values": []},
    ]
)


def test_flatten_replaces_a_and_mx_with_their_addresses():
    flat = flatten_addresses(["a", "mx", "include:x.example.net", "-all"], "example.org", LOG)
    assert flat.terms == [
        "ip4:192.0.2.10",
        "ip6:2001:db8::10",
        "ip4:192.0.2.25",
        "include:x.example.net",
        "-all",
    ]
    assert set(flat.replaced) == {"a", "mx"}


def test_flatten_keeps_cidr_and_qualifier():
    flat = flatten_addresses(["~a:example.org/24//64"], "example.org", LOG)
    assert flat.terms == ["~ip4:192.0.2.0/24", "~ip6:2001:db8::/64"]


def test_flatten_leaves_terms_whose_lookups_failed_or_were_not_made():
    flat = flatten_addresses(
        ["a:slow.example.org", "a:never.example.org", "a:%{d}.example.org"], "example.org", LOG
    )
    assert flat.terms == ["a:slow.example.org", "a:never.example.org", "a:%{d}.example.org"]
    assert len(flat.kept) == 3 and not flat.replaced


def test_flatten_drops_a_term_that_matches_nothing():
    flat = flatten_addresses(["a:gone.example.org", "-all"], "example.org", LOG)
    assert flat.terms == ["-all"]
    assert flat.replaced == {"a:gone.example.org": []}


def test_flatten_ptr_only_with_known_sending_ips():
    assert flatten_addresses(["ptr"], "example.org", LOG).terms == ["ptr"]
    assert flatten_addresses(["ptr"], "example.org", LOG, ["192.0.2.7"]).terms == ["ip4:192.0.2.7"]


def test_lookup_log_prefers_an_answer_over_a_later_failure():
    log = LookupLog(
        [
            {"name": "a.example.", "type": "A", "outcome": "ok", "values": ["192.0.2.1"]},
            {"name": "A.example", "type": "A", "outcome": "timeout", "values": []},
        ]
    )
    assert log.answered("a.example", "A") == ["192.0.2.1"]


def test_ip_terms_skip_junk_and_repeat():
    assert ip_terms("+", ["192.0.2.1", "192.0.2.1", "not-an-ip"]) == ["ip4:192.0.2.1"]


def test_count_lookups_uses_branch_costs_and_ignores_redirect_next_to_all():
    count = count_lookups(
        [
            "mx",
            "include:a.example.net",
            "ip4:192.0.2.1",
            "include:new.example.net",
            "redirect=x.example",
            "~all",
        ],
        {"a.example.net": 4},
    )
    assert count.total == 1 + 5 + 1
    assert count.unknown == ["new.example.net"]
    redirect_only = count_lookups(["redirect=_spf.example.org"], {"_spf.example.org": 10})
    assert redirect_only.total == 11
