"""Organizational Domains: the RFC 9989 DNS tree walk's pure parts, and the RFC 7489 Public Suffix List way.

RFC 9989 (§4.10, §4.10.2) finds the Organizational Domain from DMARC records in DNS; this module holds the
parts that need no DNS: which names the walk queries and how the answer is picked from the records found.
RFC 7489 (§3.2) used the Public Suffix List instead; many receivers still do, so the audit reports both.
The list is the one bundled with `publicsuffixlist` (offline, never downloaded at run time).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

# RFC 9989 §4.10 step 5: a start name with this many labels or more is cut to WALK_SHORTCUT_LABELS - 1 labels,
# so a walk makes at most WALK_SHORTCUT_LABELS queries whatever the depth of the name.
WALK_SHORTCUT_LABELS = 8


def _labels(domain: str) -> list[str]:
    domain = domain.strip().lower().removesuffix(".")
    return domain.split(".") if domain else []


def tree_walk_names(domain: str) -> list[str]:
    """The domains an RFC 9989 §4.10 tree walk queries after the start domain, in order (the TLD included).

    Fewer than 8 labels: drop the leftmost label; 8 or more: drop leftmost labels until 7 remain; then one label
    at a time down to the TLD. `a.b.c.d.e.f.g.h.i.j.mail.example.com` → `g.h.i.j.mail.example.com`, …, `com`.
    """
    labels = _labels(domain)
    if len(labels) < 2:
        return []
    current = labels[-min(len(labels) - 1, WALK_SHORTCUT_LABELS - 1) :]
    names = []
    while current:
        names.append(".".join(current))
        current = current[1:]
    return names


def select_org_domain(start: str, found: Iterable[tuple[str, str]]) -> str:
    """RFC 9989 §4.10.2: the Organizational Domain from the names where the walk found one DMARC record.

    `found` holds (domain, psd value) pairs, psd being "y", "n" or "u". From the longest name to the shortest:
    a `psd=n` record names the Organizational Domain itself; a `psd=y` record (not at the start domain) puts
    it one label below; otherwise the name with the fewest labels wins. Nothing found: the start domain.
    """
    start_labels = _labels(start)
    start = ".".join(start_labels)
    records = sorted(
        ((".".join(_labels(d)), psd) for d, psd in found), key=lambda item: -len(_labels(item[0]))
    )
    for domain, psd in records:
        if psd == "n":
            return domain
        if psd == "y" and domain != start:
            # One label below the PSD, on the path to the start domain. If the 8-label shortcut skipped that
            # level, this is still the right name: it is a suffix of the start domain either way.
            return ".".join(start_labels[-(len(_labels(domain)) + 1) :])
    if records:
        return min(records, key=lambda item: len(_labels(item[0])))[0]
    return start


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    # Built once on first use (parsing the bundled list takes a few milliseconds). The whole list, ICANN and
    # private sections, as RFC 7489 receivers such as OpenDMARC and checkdmarc use it.
    return PublicSuffixList()


def psl_registrable_domain(domain: str | None) -> str | None:
    """The PSL "registrable domain" (public suffix plus one label), or None for a public suffix itself.

    The semantics of the PSL project's `checkPublicSuffix` tests: case-insensitive, None for empty input or a
    leading dot, unknown TLDs treated as public suffixes (the PSL's implicit `*` rule).
    """
    if not domain:
        return None
    domain = domain.strip().lower()
    if domain.endswith(".") and not domain.endswith(".."):
        domain = domain[:-1]  # an absolute name: same domain
    if not domain or domain.startswith("."):
        return None
    return _psl().privatesuffix(domain)


def psl_org_domain(domain: str) -> str:
    """The RFC 7489 Organizational Domain: the registrable domain, or the domain itself when it is a public
    suffix (`co.uk` is its own Organizational Domain for an RFC 7489 receiver)."""
    cleaned = ".".join(_labels(domain))
    return psl_registrable_domain(cleaned) or cleaned
