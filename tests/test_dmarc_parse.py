"""DMARC record selection, parsing, tag validation and the effective policy: pure functions, no DNS."""

from __future__ import annotations

import pytest

from auditor.facts.base import Unknown
from auditor.facts.dmarc import mailto_host, parse_dmarc, policy_for, select_dmarc


def _only_error(record: str) -> str:
    parsed = parse_dmarc(record)
    assert len(parsed.errors) == 1, parsed.errors
    assert not parsed.valid
    return parsed.errors[0]


# -- selection ---------------------------------------------------------------------------------------------


def test_select_keeps_records_starting_with_the_version_tag():
    records, near = select_dmarc(["v=spf1 -all", "v=DMARC1; p=none", "google-site-verification=abc"])
    assert records == ["v=DMARC1; p=none"]
    assert near == []


@pytest.mark.parametrize(
    "value", ["v=DMARC1", "v=DMARC1;", "V=DMARC1; p=none", "v = DMARC1 ; p=none", "v=DMARC1\t;p=none"]
)
def test_select_accepts_what_the_abnf_allows(value):
    assert select_dmarc([value]) == ([value], [])


@pytest.mark.parametrize(
    "value", ["v=dmarc1; p=none", " v=DMARC1; p=none", "v=DMARC; p=none", "v=DMARC1x; p=none"]
)
def test_select_reports_look_alikes_that_receivers_ignore(value):
    assert select_dmarc([value]) == ([], [value])


def test_select_returns_every_record_so_the_caller_sees_duplicates():
    records, _ = select_dmarc(["v=DMARC1; p=reject", "v=DMARC1; p=none"])
    assert records == ["v=DMARC1; p=reject", "v=DMARC1; p=none"]


# -- tags --------------------------------------------------------------------------------------------------


def test_minimal_valid_record():
    parsed = parse_dmarc("v=DMARC1; p=reject")
    assert parsed.valid and parsed.is_dmarc
    assert parsed.tags == {"p": "reject"}
    assert (parsed.p, parsed.sp, parsed.np, parsed.pct) == ("reject", None, None, None)
    assert (parsed.aspf, parsed.adkim, parsed.psd, parsed.t, parsed.fo) == ("r", "r", "u", "n", "0")
    assert parsed.errors == [] and parsed.warnings == []


def test_tag_names_are_lowercased_values_kept_as_written():
    parsed = parse_dmarc("v=DMARC1; P=Reject; RUA=mailto:DMARC@Example.ORG")
    assert parsed.tags == {"p": "Reject", "rua": "mailto:DMARC@Example.ORG"}
    assert parsed.p == "reject"
    assert parsed.rua == ["mailto:DMARC@Example.ORG"]


def test_every_defined_tag_is_read():
    parsed = parse_dmarc(
        "v=DMARC1; p=quarantine; sp=reject; np=none; adkim=s; aspf=s; t=y; psd=n; fo=d:s; "
        "rua=mailto:a@example.org; ruf=mailto:f@example.org"
    )
    assert parsed.valid, parsed.errors
    assert (parsed.p, parsed.sp, parsed.np) == ("quarantine", "reject", "none")
    assert (parsed.adkim, parsed.aspf, parsed.testing, parsed.psd, parsed.fo) == ("s", "s", True, "n", "d:s")
    assert parsed.rua == ["mailto:a@example.org"] and parsed.ruf == ["mailto:f@example.org"]


@pytest.mark.parametrize("tag", ["p", "sp", "np"])
def test_invalid_policy_values(tag):
    prefix = "" if tag == "p" else "p=none; "
    error = _only_error(f"v=DMARC1; {prefix}{tag}=rejected")
    assert error.startswith(f"{tag}=rejected is not a valid policy")
    assert getattr(parse_dmarc(f"v=DMARC1; {prefix}{tag}=rejected"), tag) is None


@pytest.mark.parametrize("tag", ["adkim", "aspf"])
def test_invalid_alignment_mode_falls_back_to_relaxed(tag):
    record = f"v=DMARC1; p=none; {tag}=strict"
    assert _only_error(record).startswith(f"{tag}=strict is not r (relaxed) or s (strict)")
    assert getattr(parse_dmarc(record), tag) == "r"


def test_invalid_t_and_psd():
    assert _only_error("v=DMARC1; p=none; t=yes").startswith("t=yes is not y or n")
    assert _only_error("v=DMARC1; p=none; psd=x").startswith("psd=x is not y, n or u")
    assert parse_dmarc("v=DMARC1; p=none; psd=x").psd == "u"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("2", "unknown option '2'"), ("0:1", "combines 0 and 1"), ("d:d", "repeats an option")],
)
def test_invalid_fo(value, fragment):
    assert fragment in _only_error(f"v=DMARC1; p=none; fo={value}; ruf=mailto:f@example.org")


def test_fo_without_ruf_is_a_warning():
    parsed = parse_dmarc("v=DMARC1; p=none; fo=1")
    assert parsed.valid
    assert any("fo=1 has no effect without a ruf tag" in w for w in parsed.warnings)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("150", "pct=150 is out of range 0-100"),
        ("abc", "pct=abc is not a whole number from 0 to 100"),
        ("-5", "pct=-5 is not a whole number from 0 to 100"),
    ],
)
def test_invalid_pct(value, message):
    parsed = parse_dmarc(f"v=DMARC1; p=none; pct={value}")
    assert parsed.errors == [message]
    assert parsed.pct is None


@pytest.mark.parametrize("tag,value", [("pct", "50"), ("rf", "afrf"), ("ri", "86400")])
def test_removed_tags_warn_but_are_read(tag, value):
    parsed = parse_dmarc(f"v=DMARC1; p=none; {tag}={value}")
    assert parsed.valid
    assert parsed.warnings == [f"{tag}={value}: {tag} was removed in RFC 9989, still read by older receivers"]
    if tag == "pct":
        assert parsed.pct == 50


def test_invalid_ri_and_rf():
    assert _only_error("v=DMARC1; p=none; ri=soon").startswith("ri=soon is not a number of seconds")
    assert _only_error("v=DMARC1; p=none; ri=4294967296").startswith("ri=4294967296")
    assert _only_error("v=DMARC1; p=none; rf=afrf:x").startswith("rf=afrf:x is not a list")


def test_version_must_come_first_and_exactly():
    parsed = parse_dmarc("v=dmarc1; p=reject")
    assert not parsed.is_dmarc and not parsed.valid
    assert "not v=DMARC1" in parsed.errors[0]
    assert parsed.tags == {}


def test_p_not_second_is_a_warning_not_an_error():
    parsed = parse_dmarc("v=DMARC1; rua=mailto:a@example.org; p=reject")
    assert parsed.valid
    assert any("p is not the second tag" in w for w in parsed.warnings)


def test_missing_p_is_none_with_a_warning():
    parsed = parse_dmarc("v=DMARC1; rua=mailto:a@example.org")
    assert parsed.valid and parsed.p is None
    assert any("no p tag" in w for w in parsed.warnings)
    assert policy_for(parsed, inherited=False, domain_exists=True) == ("none", "p")


def test_unknown_tags_are_ignored_with_a_warning():
    parsed = parse_dmarc("v=DMARC1; p=none; foo=bar")
    assert parsed.valid
    assert parsed.warnings == ["foo=bar is not a DMARC tag; receivers ignore it"]


def test_duplicate_tag_is_an_error_and_the_first_value_is_kept():
    parsed = parse_dmarc("v=DMARC1; p=none; p=reject")
    assert parsed.p == "none"
    assert parsed.errors[0].startswith("p appears more than once (p=none and p=reject)")


def test_not_a_tag_value_pair():
    assert _only_error("v=DMARC1; p=none; reject").startswith("'reject' is not a tag=value pair")
    assert _only_error("v=DMARC1; p=none; rua=").startswith("'rua=' is not a tag=value pair")


def test_separators_whitespace_and_trailing_semicolon():
    parsed = parse_dmarc("v=DMARC1 ;\tp = reject ;  sp=none;")
    assert parsed.valid and parsed.warnings == []
    assert (parsed.p, parsed.sp) == ("reject", "none")
    assert any("two semicolons" in w for w in parse_dmarc("v=DMARC1;; p=none").warnings)


# -- report URIs -------------------------------------------------------------------------------------------


def test_rua_list_with_spaces_size_suffix_and_other_schemes():
    parsed = parse_dmarc("v=DMARC1; p=none; rua=mailto:a@example.org!10m , https://reports.example.net/r")
    assert parsed.valid
    assert parsed.rua == ["mailto:a@example.org!10m", "https://reports.example.net/r"]
    assert parsed.rua_has_valid_uri
    assert any("size limit (!10m)" in w for w in parsed.warnings)
    assert any("'https://reports.example.net/r' is not a mailto: address" in w for w in parsed.warnings)


@pytest.mark.parametrize("uri", ["reports@example.org", "mailto:nobody", "mailto:a@localhost"])
def test_invalid_rua_uris(uri):
    parsed = parse_dmarc(f"v=DMARC1; p=none; rua={uri}")
    assert len(parsed.errors) == 1 and parsed.errors[0].startswith(f"rua URI '{uri}'")
    assert not parsed.rua_has_valid_uri
    assert parsed.rua == [uri]  # kept: the report shows what was published


def test_mailto_host():
    assert mailto_host("mailto:d@Reports.Example.NET!5m") == "reports.example.net"
    assert mailto_host("mailto:d@bücher.example") == "xn--bcher-kva.example"
    assert mailto_host("https://example.org/r") is None
    assert mailto_host("mailto:d@example..org") is None


def test_control_characters_and_markup_are_kept_verbatim_but_escaped_in_messages():
    record = "v=DMARC1; p=reject; rua=mailto:\x1b[2J<b>x</b>@evil.example"
    parsed = parse_dmarc(record)
    assert parsed.record == record
    assert parsed.tags["rua"] == "mailto:\x1b[2J<b>x</b>@evil.example"
    assert len(parsed.errors) == 1
    assert "\x1b" not in parsed.errors[0] and "\\x1b" in parsed.errors[0]
    assert parsed.errors[0].startswith("rua=")


# -- effective policy --------------------------------------------------------------------------------------


def _policy(record: str, inherited: bool, exists: bool | Unknown = True):
    return policy_for(parse_dmarc(record), inherited=inherited, domain_exists=exists)


def test_own_record_uses_p():
    assert _policy("v=DMARC1; p=quarantine; sp=reject; np=none", inherited=False) == ("quarantine", "p")


def test_inherited_existing_subdomain_uses_sp_then_p():
    assert _policy("v=DMARC1; p=quarantine; sp=reject; np=none", inherited=True) == ("reject", "sp")
    assert _policy("v=DMARC1; p=quarantine; np=none", inherited=True) == ("quarantine", "p")


def test_inherited_nonexistent_subdomain_uses_np_then_sp_then_p():
    assert _policy("v=DMARC1; p=none; sp=quarantine; np=reject", True, False) == ("reject", "np")
    assert _policy("v=DMARC1; p=none; sp=quarantine", True, False) == ("quarantine", "sp")
    assert _policy("v=DMARC1; p=quarantine", True, False) == ("quarantine", "p")


def test_unknown_existence_matters_only_when_sp_and_np_differ():
    unknown = Unknown("A x.: timeout")
    assert _policy("v=DMARC1; p=reject", True, unknown) == ("reject", "p")
    assert _policy("v=DMARC1; p=none; sp=reject; np=reject", True, unknown) == ("reject", "sp")
    assert _policy("v=DMARC1; p=none; np=reject", True, unknown) == (unknown, None)


def test_invalid_policy_with_a_valid_rua_acts_as_none():
    assert _policy("v=DMARC1; p=reject; sp=bogus; rua=mailto:a@example.org", False) == ("none", "p")
    assert _policy("v=DMARC1; p=bogus; rua=mailto:a@example.org", True) == ("none", "p")


def test_invalid_policy_without_a_valid_rua_means_no_dmarc():
    assert _policy("v=DMARC1; p=bogus", False) == (None, None)
    assert _policy("v=DMARC1; p=bogus; rua=reports@example.org", False) == (None, None)


def test_testing_flag_does_not_change_the_published_policy():
    parsed = parse_dmarc("v=DMARC1; p=reject; t=y")
    assert parsed.testing
    assert policy_for(parsed, inherited=False, domain_exists=True) == ("reject", "p")
