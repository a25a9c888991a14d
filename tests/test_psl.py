"""The RFC 7489 Organizational Domain via the bundled Public Suffix List, against the PSL project's own tests.

`psl-test_psl.txt` is the PSL project's `tests/test_psl.txt` as shipped in publicsuffixlist 1.1.2.20261023.
Its expected values depend on the list version. With the list bundled in that release (VERSION
2026-10-22_08-36-41_UTC) all 78 active lines agree, so `KNOWN_DIFFERENCES` is empty; when a newer list moves a
suffix (as `.mm` and `uk.com` have moved in the past), add the line here with the reason instead of editing the
data file.
"""

from __future__ import annotations

import re

import pytest
from conftest import SHARED_TESTDATA

from auditor.facts.orgdomain import psl_org_domain, psl_registrable_domain

PSL_TESTS = SHARED_TESTDATA / "psl-test_psl.txt"
_LINE = re.compile(r"^(//)?\s*checkPublicSuffix\((null|'[^']*'),\s*(null|'[^']*')\);")

# input → (value we get, why it differs from the file). Empty: the bundled list agrees with every active line.
KNOWN_DIFFERENCES: dict[str | None, tuple[str | None, str]] = {}


def _value(token: str) -> str | None:
    return None if token == "null" else token[1:-1]


def _cases(commented: bool) -> list[tuple[str | None, str | None]]:
    cases = []
    for line in PSL_TESTS.read_text(encoding="utf-8").splitlines():
        match = _LINE.match(line.strip())
        if match and bool(match.group(1)) == commented:
            cases.append((_value(match.group(2)), _value(match.group(3))))
    return cases


ACTIVE = _cases(commented=False)
COMMENTED = _cases(commented=True)


def test_the_data_file_has_the_documented_shape():
    assert len(ACTIVE) == 78
    assert len(COMMENTED) == 4


@pytest.mark.parametrize(("domain", "expected"), ACTIVE, ids=[repr(c[0]) for c in ACTIVE])
def test_registrable_domain_matches_the_psl_project(domain, expected):
    if domain in KNOWN_DIFFERENCES:
        expected = KNOWN_DIFFERENCES[domain][0]
    assert psl_registrable_domain(domain) == expected


@pytest.mark.parametrize(("domain", "upstream"), COMMENTED, ids=[repr(c[0]) for c in COMMENTED])
def test_commented_out_local_lines_are_a_documented_difference(domain, upstream):
    # Upstream comments these out: "local" is a special-use name, not in the list. publicsuffixlist applies the
    # PSL's implicit "*" rule to unknown TLDs (accept_unknown=True, as for `example.example` above), so
    # `example.local` is registrable where the commented lines expect null. Mail domains never end in .local.
    assert upstream is None
    labels = domain.split(".")
    expected = None if len(labels) == 1 else ".".join(labels[-2:])
    assert psl_registrable_domain(domain) == expected


def test_org_domain_is_the_domain_itself_for_a_public_suffix():
    assert psl_org_domain("co.uk") == "co.uk"
    assert psl_org_domain("com") == "com"


def test_org_domain_normalises_case_and_the_trailing_dot():
    assert psl_org_domain("Social.Example.ORG.") == "example.org"
    assert psl_org_domain("mail.example.co.uk") == "example.co.uk"


def test_org_domain_uses_the_private_section_like_rfc7489_receivers():
    # blogspot.com is in the PSL's private section: an RFC 7489 receiver sees each blog as its own organization.
    assert psl_org_domain("a.b.example.blogspot.com") == "example.blogspot.com"
