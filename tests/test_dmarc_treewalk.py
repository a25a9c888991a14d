"""RFC 9989 tree walk: the 12 vectors of dmarcbis-treewalk-vectors.yml, served by the loopback DNS server."""

from __future__ import annotations

import asyncio

import pytest
import yaml
from conftest import SHARED_TESTDATA

from auditor.facts.dmarc import collect_dmarc
from auditor.facts.orgdomain import select_org_domain, tree_walk_names

VECTORS = yaml.safe_load((SHARED_TESTDATA / "dmarcbis-treewalk-vectors.yml").read_text(encoding="utf-8"))[
    "cases"
]


def txt(value: str) -> str:
    """A TXT value in zone-file presentation form: quoted, escaped, split into 255-octet strings."""
    data = value.encode("utf-8")
    chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
    return " ".join('"' + "".join(_escape(byte) for byte in chunk) + '"' for chunk in chunks)


def _escape(byte: int) -> str:
    if byte in b'"\\':
        return "\\" + chr(byte)
    return chr(byte) if 0x20 <= byte < 0x7F else f"\\{byte:03d}"


def test_there_are_twelve_vectors():
    assert len(VECTORS) == 12


@pytest.mark.parametrize("case", [c for c in VECTORS if "queries" in c], ids=lambda c: c["id"])
def test_tree_walk_names_match_the_vector_queries(case):
    expected = [name.removeprefix("_dmarc.") for name in case["queries"]]
    assert [case["start"], *tree_walk_names(case["start"])] == expected


SEVEN = ["b.c.d.e.f.example.com", "c.d.e.f.example.com", "d.e.f.example.com", "e.f.example.com"]
SEVEN += ["f.example.com", "example.com", "com"]


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("com", []),
        ("example.com", ["com"]),
        ("b.c.d.e.f.example.com", SEVEN[1:]),  # 7 labels: drop one
        # Exactly 8 labels: "drop leftmost labels until 7 remain" is one label, as for shorter names.
        ("a.b.c.d.e.f.example.com.", SEVEN),
        ("x.a.b.c.d.e.f.example.com", SEVEN),  # 9 labels: cut to 7
    ],
)
def test_tree_walk_names_shortcut(domain, expected):
    names = tree_walk_names(domain)
    assert names == expected
    assert len(names) <= 7  # at most 8 queries with the start name


def test_select_org_domain_rules():
    assert select_org_domain("a.mail.example.com", []) == "a.mail.example.com"
    assert (
        select_org_domain("a.mail.example.com", [("mail.example.com", "u"), ("example.com", "u")])
        == "example.com"
    )
    assert select_org_domain("a.mail.example.com", [("mail.example.com", "n"), ("example.com", "u")]) == (
        "mail.example.com"
    )
    assert select_org_domain("a.mail.example.com", [("com", "y")]) == "example.com"
    # psd=y at the start domain itself does not make the name below it anything: rule 3 applies.
    assert select_org_domain("bank.example", [("bank.example", "y")]) == "bank.example"


@pytest.mark.parametrize("case", VECTORS, ids=lambda c: c["id"])
def test_vector(case, dns_server, make_resolver):
    for owner, strings in case["zone"].items():
        for value in strings:
            dns_server.add_record(owner, "TXT", txt(value))
    facts = asyncio.run(collect_dmarc(make_resolver(), case["start"]))

    assert facts.status == "ok"
    assert facts.org_domain == case["org_domain"]
    if "policy_domain" in case:
        assert facts.record_domain == case["policy_domain"]
        assert facts.exists is (case["policy_domain"] is not None)
        if case["policy_domain"] is not None:
            published = case["zone"]["_dmarc." + case["policy_domain"]]
            assert facts.record in published
            assert facts.inherited is (case["policy_domain"] != case["start"])
        else:
            assert facts.record is None and facts.effective_policy is None
    if "queries" in case:
        assert facts.walk == case["queries"]
        asked = {entry.name.removesuffix(".") for entry in dns_server.queries(rdtype="TXT")}
        assert asked == set(case["queries"])


def test_duplicate_records_are_reported(dns_server, make_resolver):
    case = next(c for c in VECTORS if c["id"] == "duplicate-records-discarded")
    for owner, strings in case["zone"].items():
        for value in strings:
            dns_server.add_record(owner, "TXT", txt(value))
    facts = asyncio.run(collect_dmarc(make_resolver(), case["start"]))
    assert facts.multiple is True
    assert facts.multiple_at == ["_dmarc.example.com"]


def test_walk_stops_at_psd_n_and_later_names_do_not_count(dns_server, make_resolver):
    case = next(c for c in VECTORS if c["id"] == "psd-n-stops-walk")
    for owner, strings in case["zone"].items():
        for value in strings:
            dns_server.add_record(owner, "TXT", txt(value))
    # A sequential walk never reaches _dmarc.example.com or _dmarc.com; their answers must not matter.
    dns_server.servfail("_dmarc.com")
    facts = asyncio.run(collect_dmarc(make_resolver(), case["start"]))
    assert facts.walk == ["_dmarc.a.mail.example.com", "_dmarc.mail.example.com"]
    assert facts.org_domain == "mail.example.com"
    assert facts.record_domain == "mail.example.com"
    assert facts.status == "ok"
