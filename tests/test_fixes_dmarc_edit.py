"""The pure DMARC tag editing behind the DMARC fixes."""

from __future__ import annotations

import pytest

from auditor.facts.dmarc import parse_dmarc
from auditor.fixes.dmarc import build_dmarc, correct_dmarc, dmarc_pairs, get_tag, set_tag


def test_pairs_and_build_round_trip():
    pairs = dmarc_pairs("v=DMARC1;p=none; rua = mailto:d@example.org ;")
    assert pairs == [("p", "none"), ("rua", "mailto:d@example.org")]
    assert build_dmarc(pairs) == "v=DMARC1; p=none; rua=mailto:d@example.org"


def test_set_tag_replaces_in_place_or_adds_after_p():
    pairs = dmarc_pairs("v=DMARC1; p=none; sp=none; adkim=s")
    assert build_dmarc(set_tag(pairs, "sp", "quarantine")) == "v=DMARC1; p=none; sp=quarantine; adkim=s"
    assert build_dmarc(set_tag(pairs, "rua", "mailto:d@example.org")) == (
        "v=DMARC1; p=none; rua=mailto:d@example.org; sp=none; adkim=s"
    )
    assert get_tag(dmarc_pairs("v=DMARC1; aspf=r"), "p") is None


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("v=DMARC1; p=rejected; rua=mailto:d@example.org", "v=DMARC1; p=reject; rua=mailto:d@example.org"),
        ("v=DMARC1; p=none; aspf=x", "v=DMARC1; p=none; aspf=r"),
        ("v=DMARC1; p=none; adkim=strict", "v=DMARC1; p=none; adkim=s"),
        ("v=DMARC1; p=none; rua=d@example.org", "v=DMARC1; p=none; rua=mailto:d@example.org"),
        ("v=DMARC1; p=none; rua=mailto:ok@example.org,bogus", "v=DMARC1; p=none; rua=mailto:ok@example.org"),
        ("v=DMARC1; p=none; p=reject", "v=DMARC1; p=none"),
        ("v=DMARC1; p=none; pct=200; t=maybe; fo=7", "v=DMARC1; p=none"),
        ("v=DMARC1; p=none; garbage", "v=DMARC1; p=none"),
        ("v=DMARC1; p=blah", "v=DMARC1; p=none"),
        ("v=dmarc1; p=none", "v=DMARC1; p=none"),
        ("v=DMARC1; p=quarantine; sp=nothing", "v=DMARC1; p=quarantine"),
    ],
)
def test_correct_dmarc(record, expected):
    corrected, notes = correct_dmarc(record)
    assert corrected == expected
    assert notes
    assert parse_dmarc(corrected).valid


def test_a_valid_record_is_left_alone():
    record = "v=DMARC1; p=quarantine; rua=mailto:d@example.org; adkim=r"
    assert correct_dmarc(record) == (record, [])
