"""DMARC facts: parse and validate records, find the policy by the RFC 9989 tree walk, check report destinations.

Pure parts: `select_dmarc`, `parse_dmarc`, `policy_for` (and `tree_walk_names` from `orgdomain`).
`collect_dmarc` asks DNS in two concurrent rounds:

1. `_dmarc.<From domain>`, every tree-walk name above it, and A/MX of the From domain (does it exist? that
   decides `sp` vs `np`), all at once. The result is then read in the order a sequential walk would read it,
   so it is the one a sequential walk gives; answers past the point where that walk stops are ignored.
2. `<policy domain>._report._dmarc.<host>` for every external report destination, all at once.

`exists` says whether a DMARC record applies to the From domain (its own or a parent's); `domain_exists` whether
the From domain itself exists (A or MX answered, even with NODATA → yes; NXDOMAIN → no, RFC 8020).
A failed lookup (timeout, SERVFAIL, …) that a sequential walk would reach makes what it decides `Unknown`, never
"missing": at `_dmarc.<From domain>` everything; at a parent the Organizational Domain, and the policy too unless
the From domain has its own record (which wins whatever the parents say).

Why not checkdmarc's `parse_dmarc_record`: for every `rua`/`ruf` address it looks up the destination's MX
records and, for external ones, the authorization record, one at a time through its own resolver, and it has
no switch to turn that off. Handing it a resolver that answers from nothing would turn those lookups into false
"no MX records" warnings. It also stops at the first error. So the tags are validated here (RFC 9989 §4.7/4.8
plus the RFC 7489 tags it removed), and checkdmarc is used where it does no lookups: its report-URI parser
(`parse_dmarc_report_uri`) and its table of the defined tags and their values (`dmarc_tags`).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

import idna
from checkdmarc.dmarc import InvalidDMARCReportURI, dmarc_tags, parse_dmarc_report_uri

from auditor.dns import Lookup
from auditor.facts.base import Unknown, unknown_from
from auditor.facts.model import DmarcFacts, DmarcReportDestination
from auditor.facts.orgdomain import psl_org_domain, select_org_domain, tree_walk_names

POLICIES = ("none", "quarantine", "reject")
# Tags RFC 7489 defined and RFC 9989 removed (Appendix A.6, C.5.2); older receivers still read them.
REMOVED_TAGS = ("pct", "rf", "ri")
KNOWN_TAGS = frozenset(dmarc_tags) | frozenset(REMOVED_TAGS)

# RFC 9989 §4.8 ABNF: dmarc-version = "v" equals %s"DMARC1", equals = *WSP "=" *WSP; the version tag comes
# first and is followed by a separator or the end. The tag name is case-insensitive, "DMARC1" is not.
_VERSION = re.compile(r"^[vV][ \t]*=[ \t]*DMARC1[ \t]*(?:;|$)")
# Something that was meant to be a DMARC record but that receivers ignore ("v=dmarc1", " v=DMARC1", "v=DMARC").
_NEAR_MISS = re.compile(r"^[\s\"']*v\s*=\s*dmarc", re.IGNORECASE)
_TAG = re.compile(r"^([A-Za-z]+)[ \t]*=[ \t]*(.*)$", re.DOTALL)
_PRINTABLE = re.compile(r"^[\x20-\x3a\x3c-\x7e]+$")  # dmarc-value: printing characters but ";"
_URI_SEPARATOR = re.compile(r"[ \t]*,[ \t]*")
_MAX_NAME = 253


def _show(text: str, limit: int = 120) -> str:
    """A value for a message: control and non-ASCII characters escaped, so a hostile record cannot move the
    terminal's cursor or fake lines in the report; long values cut."""
    shown = "".join(
        ch if 0x20 <= ord(ch) < 0x7F else ch.encode("unicode_escape").decode("ascii") for ch in text
    )
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


# -- selection -----------------------------------------------------------------------------------------------


def is_dmarc_record(value: str) -> bool:
    return _VERSION.match(value) is not None


def select_dmarc(txt_values: list[str]) -> tuple[list[str], list[str]]:
    """(DMARC records, near misses) among the TXT values at a `_dmarc` name.

    A DMARC record starts with the version tag: `v=DMARC1`, `DMARC1` case-sensitive (RFC 9989 §4.8; spaces
    around `=` allowed). Everything else is discarded by receivers (§4.10 step 2); near misses are those that
    look like an attempt at DMARC (`v=dmarc1`, a leading space), so the audit can say why they are ignored.
    """
    records = [value for value in txt_values if is_dmarc_record(value)]
    near = [value for value in txt_values if not is_dmarc_record(value) and _NEAR_MISS.match(value)]
    return records, near


# -- parsing -------------------------------------------------------------------------------------------------


@dataclass
class ParsedDmarc:
    record: str  # verbatim
    is_dmarc: bool = False  # starts with v=DMARC1; if not, receivers ignore the whole record
    tags: dict[str, str] = field(default_factory=dict)  # lowercased name → value as written (first one wins)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    p: str | None = None  # valid values only; None when absent or invalid (see `tags` for what was written)
    sp: str | None = None
    np: str | None = None
    pct: int | None = None
    testing: bool = False  # t=y
    aspf: str = "r"
    adkim: str = "r"
    psd: str = "u"
    fo: str = "0"
    rua: list[str] = field(default_factory=list)
    ruf: list[str] = field(default_factory=list)
    rua_has_valid_uri: bool = False  # decides what an invalid p/sp/np means (RFC 9989 §4.10.1)
    policy_tags_valid: bool = True  # p, sp and np are each absent or valid

    @property
    def valid(self) -> bool:
        """A DMARC record without syntax errors."""
        return self.is_dmarc and not self.errors

    @property
    def t(self) -> str:
        return "y" if self.testing else "n"


def parse_dmarc(record: str) -> ParsedDmarc:
    """Every tag of a DMARC record checked; errors and warnings as plain sentences naming the tag and value."""
    parsed = ParsedDmarc(record=record)
    if not is_dmarc_record(record):
        start = record.split(";", 1)[0]
        parsed.errors.append(
            f"the record starts with {_show(start)!r}, not v=DMARC1 (exactly, in capitals, first); "
            "receivers ignore the whole record"
        )
        return parsed
    parsed.is_dmarc = True
    segments = record.split(";")
    order: list[str] = []
    for index, segment in enumerate(segments[1:], start=1):
        text = segment.strip(" \t")
        if not text:
            if index < len(segments) - 1:
                parsed.warnings.append("the record has an empty tag (two semicolons in a row); it is ignored")
            continue
        match = _TAG.match(text)
        if match is None or not match.group(2).strip(" \t"):
            parsed.errors.append(f"{_show(text)!r} is not a tag=value pair; receivers ignore it")
            continue
        name, value = match.group(1).lower(), match.group(2).strip(" \t")
        if name in parsed.tags:
            parsed.errors.append(
                f"{name} appears more than once ({name}={_show(parsed.tags[name])} and {name}={_show(value)}); "
                "a tag may appear only once and receivers may use either value or reject the record"
            )
            continue
        parsed.tags[name] = value
        order.append(name)
        if not _PRINTABLE.match(value):
            parsed.errors.append(
                f"{name}={_show(value)} contains characters a DMARC value cannot have "
                "(control characters, line breaks or non-ASCII); receivers discard the value"
            )
            continue
        _check_tag(parsed, name, value)
    if "p" not in parsed.tags:
        parsed.warnings.append(
            "the record has no p tag: RFC 9989 receivers treat it as p=none, RFC 7489 receivers "
            "may ignore the record (p was required there)"
        )
    elif order[0] != "p":
        parsed.warnings.append(
            "p is not the second tag (right after v=DMARC1): valid under RFC 9989, but some older "
            "RFC 7489 receivers expect it there"
        )
    if "fo" in parsed.tags and "ruf" not in parsed.tags:
        parsed.warnings.append(f"fo={_show(parsed.tags['fo'])} has no effect without a ruf tag")
    parsed.policy_tags_valid = all(
        name not in parsed.tags or getattr(parsed, name) is not None for name in ("p", "sp", "np")
    )
    return parsed


def _check_tag(parsed: ParsedDmarc, name: str, value: str) -> None:
    lowered = value.lower()  # tag values are case-insensitive ABNF literals (RFC 5234 §2.3), URIs aside
    if name in ("p", "sp", "np"):
        if lowered in POLICIES:
            setattr(parsed, name, lowered)
        else:
            parsed.errors.append(f"{name}={_show(value)} is not a valid policy (none, quarantine or reject)")
    elif name in ("adkim", "aspf"):
        if lowered in ("r", "s"):
            setattr(parsed, name, lowered)
        else:
            parsed.errors.append(
                f"{name}={_show(value)} is not r (relaxed) or s (strict); receivers use the default r"
            )
    elif name == "t":
        if lowered in ("y", "n"):
            parsed.testing = lowered == "y"
        else:
            parsed.errors.append(f"t={_show(value)} is not y or n; receivers use the default n")
    elif name == "psd":
        if lowered in ("y", "n", "u"):
            parsed.psd = lowered
        else:
            parsed.errors.append(f"psd={_show(value)} is not y, n or u; receivers use the default u")
    elif name == "fo":
        _check_fo(parsed, value)
    elif name in ("rua", "ruf"):
        _check_uris(parsed, name, value)
    elif name in REMOVED_TAGS:
        _check_removed(parsed, name, value)
    elif name != "v":
        parsed.warnings.append(f"{name}={_show(value)} is not a DMARC tag; receivers ignore it")
    else:
        parsed.errors.append("v appears again after the start of the record")


def _check_fo(parsed: ParsedDmarc, value: str) -> None:
    options = [option.strip(" \t").lower() for option in value.split(":")]
    allowed = set(dmarc_tags["fo"]["values"])
    bad = [option for option in options if option not in allowed]
    if bad:
        parsed.errors.append(
            f"fo={_show(value)} has an unknown option {_show(bad[0])!r} (allowed: 0, 1, d, s, "
            "colon-separated); receivers use the default fo=0"
        )
    elif "0" in options and "1" in options:
        parsed.errors.append(
            f"fo={_show(value)} combines 0 and 1, which exclude each other; receivers use fo=0"
        )
    elif len(options) != len(set(options)):
        parsed.errors.append(f"fo={_show(value)} repeats an option; receivers use the default fo=0")
    else:
        parsed.fo = ":".join(options)


def _check_uris(parsed: ParsedDmarc, name: str, value: str) -> None:
    uris = [uri for uri in _URI_SEPARATOR.split(value) if uri]
    setattr(parsed, name, uris)
    valid = 0
    for uri in uris:
        try:
            parts = parse_dmarc_report_uri(uri)
        except InvalidDMARCReportURI:
            parsed.errors.append(
                f"{name} URI {_show(uri)!r} is not a valid report address (expected e.g. "
                "mailto:dmarc-reports@example.org); receivers ignore it"
            )
            continue
        if parts["scheme"] != "mailto":
            parsed.warnings.append(
                f"{name} URI {_show(uri)!r} is not a mailto: address; receivers only have to support "
                "mailto:, so most will not send reports there"
            )
            valid += 1
            continue
        host = mailto_host(uri)
        if host is None:
            parsed.errors.append(
                f"{name} URI {_show(uri)!r} does not end in a valid domain name; receivers ignore it"
            )
            continue
        valid += 1
        if parts["size_limit"]:
            parsed.warnings.append(
                f"{name} URI {_show(uri)!r} has a size limit (!{_show(parts['size_limit'])}): obsolete in "
                "RFC 9989 (reporters ignore it), older receivers may send incomplete reports"
            )
    if name == "rua":
        parsed.rua_has_valid_uri = valid > 0


def _check_removed(parsed: ParsedDmarc, name: str, value: str) -> None:
    parsed.warnings.append(
        f"{name}={_show(value)}: {name} was removed in RFC 9989, still read by older receivers"
    )
    if name == "pct":
        if not value.isdigit() or len(value) > 3:
            parsed.errors.append(f"pct={_show(value)} is not a whole number from 0 to 100")
        elif int(value) > 100:
            parsed.errors.append(f"pct={_show(value)} is out of range 0-100")
        else:
            parsed.pct = int(value)
    elif name == "ri":
        if not value.isdigit() or int(value) >= 2**32:
            parsed.errors.append(f"ri={_show(value)} is not a number of seconds (0 to 4294967295)")
    elif name == "rf" and not all(part.isalpha() for part in _URI_SEPARATOR.split(value)):
        parsed.errors.append(f"rf={_show(value)} is not a list of report format names (e.g. afrf)")


def mailto_host(uri: str) -> str | None:
    """The A-label host of a `mailto:` report URI (the `!size` suffix dropped), or None when it has none."""
    try:
        parts = parse_dmarc_report_uri(uri)
    except InvalidDMARCReportURI:
        return None
    if parts["scheme"] != "mailto" or "@" not in parts["address"]:
        return None
    host = parts["address"].rpartition("@")[2].rstrip(".")
    if not host or ".." in host or host.startswith(".") or "." not in host:
        return None
    try:
        host = idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        return None
    return host.lower()


# -- policy --------------------------------------------------------------------------------------------------


def policy_for(
    parsed: ParsedDmarc, *, inherited: bool, domain_exists: bool | Unknown
) -> tuple[str | None | Unknown, str | None]:
    """(effective policy, the tag that gave it) for the From domain under this record (RFC 9989 §4.10.1).

    Own record: p. Inherited from a parent: sp for an existing From domain, np for a non-existent one (np falls
    back to sp, sp to p). No p: none. An invalid p, sp or np: none when rua has a valid URI, else no DMARC
    processing at all (None).
    """
    if not parsed.is_dmarc:
        return None, None
    if not parsed.policy_tags_valid:
        return ("none", "p") if parsed.rua_has_valid_uri else (None, None)
    if not inherited:
        return parsed.p or "none", "p"
    existing = ("sp", parsed.sp) if parsed.sp else ("p", parsed.p or "none")
    missing = ("np", parsed.np) if parsed.np else existing
    if isinstance(domain_exists, Unknown):
        return (existing[1], existing[0]) if existing[1] == missing[1] else (domain_exists, None)
    tag, policy = existing if domain_exists else missing
    return policy, tag


# -- the tree walk -------------------------------------------------------------------------------------------


@dataclass
class _WalkReading:
    """What a sequential RFC 9989 walk over the answers sees."""

    walk: list[str] = field(default_factory=list)  # _dmarc names, in order, up to where the walk stops
    found: dict[str, ParsedDmarc] = field(default_factory=dict)  # domain → its single DMARC record
    multiple_at: list[str] = field(default_factory=list)
    near_misses: dict[str, list[str]] = field(default_factory=dict)  # domain → ignored DMARC look-alikes
    failed: Lookup | None = None  # the first lookup the walk reached that got no answer
    stopped_by_psd: str | None = None  # the domain whose psd=y/n record stopped the walk


def _read_walk(names: list[str], lookups: dict[str, Lookup]) -> _WalkReading:
    reading = _WalkReading()
    for domain in names:
        lookup = lookups[domain]
        reading.walk.append(_dmarc_name(domain))
        if lookup.failed:
            reading.failed = reading.failed or lookup
            continue
        records, near = select_dmarc(list(lookup.values))
        if near:
            reading.near_misses[domain] = near
        if len(records) > 1:
            reading.multiple_at.append(_dmarc_name(domain))  # all discarded; the walk goes on (§4.10 step 2)
            continue
        if not records:
            continue
        parsed = parse_dmarc(records[0])
        reading.found[domain] = parsed
        # §4.10 steps 2 and 7 (as in RFC 9989 / draft -41): one record with psd=y or psd=n stops the walk.
        if parsed.psd in ("y", "n"):
            reading.stopped_by_psd = domain
            break
    return reading


def _dmarc_name(domain: str) -> str:
    return f"_dmarc.{domain}"


def _domain_exists(lookups: list[Lookup]) -> bool | Unknown:
    """RFC 8020: NXDOMAIN means the name (and everything below it) does not exist; NODATA means it does."""
    if any(lookup.outcome in ("ok", "nodata") for lookup in lookups):
        return True
    if any(lookup.outcome == "nxdomain" for lookup in lookups):
        return False
    return unknown_from(lookups[0])


# -- collection ----------------------------------------------------------------------------------------------


async def collect_dmarc(resolver, from_domain: str) -> DmarcFacts:
    """Every field of `DmarcFacts` for the From domain (an A-label domain without the trailing dot)."""
    start = from_domain.strip().lower().removesuffix(".")
    names = [start, *tree_walk_names(start)]
    facts = DmarcFacts(domain=start, org_domain_psl=psl_org_domain(start))
    # Round 1: the whole walk plus the existence check at once. The From domain's existence only matters when
    # its policy is inherited (sp vs np), but asking now costs nothing on the critical path. A and MX: the MX
    # answer is shared with the MX collector through the resolver's cache; NODATA for either means it exists.
    answers = await asyncio.gather(
        *(resolver.query(_dmarc_name(name), "TXT") for name in names),
        resolver.query(start, "A"),
        resolver.query(start, "MX"),
    )
    lookups = dict(zip(names, answers[: len(names)], strict=True))
    facts.domain_exists = _domain_exists(list(answers[len(names) :]))
    reading = _read_walk(names, lookups)
    facts.walk = reading.walk
    facts.multiple_at = reading.multiple_at
    facts.multiple = bool(reading.multiple_at)
    for domain, near in reading.near_misses.items():
        target = facts.syntax_errors if domain == start else facts.warnings
        for value in near:
            target.append(
                f"_dmarc.{domain} has a TXT record that looks like DMARC but receivers ignore it, because it "
                f"does not start with v=DMARC1 exactly: {_show(value)!r}"
            )
    facts.syntax_valid = not facts.syntax_errors

    start_lookup = lookups[start]
    if start_lookup.failed:
        # Nothing is known: the From domain's own record, if any, would take precedence over everything else.
        return _unknown(facts, start_lookup, multiple_known=bool(reading.multiple_at))

    # Organizational Domain (§4.10.2): decided by every name the walk reaches, so any failure there leaves it open.
    org_domain: str | Unknown
    if reading.failed is not None:
        org_domain = unknown_from(reading.failed)
    else:
        org_domain = select_org_domain(start, ((d, p.psd) for d, p in reading.found.items()))
    facts.org_domain = org_domain

    # Policy (§4.10.1): the From domain's own record, else the Organizational Domain's, else the PSD's.
    if start in reading.found:
        policy_domain: str | None = start
    elif reading.failed is not None:
        return _unknown(facts, reading.failed, multiple_known=bool(reading.multiple_at))
    elif isinstance(org_domain, str) and org_domain in reading.found:
        policy_domain = org_domain
    elif reading.stopped_by_psd and reading.found[reading.stopped_by_psd].psd == "y":
        policy_domain = reading.stopped_by_psd
    else:
        policy_domain = None

    if policy_domain is None:
        facts.exists, facts.record = False, None
        return facts

    parsed = reading.found[policy_domain]
    facts.exists = True
    facts.record = parsed.record
    facts.record_domain = policy_domain
    facts.inherited = policy_domain != start
    _fill_from_record(facts, parsed)
    facts.effective_policy, facts.policy_tag = policy_for(
        parsed, inherited=facts.inherited, domain_exists=facts.domain_exists
    )
    if not parsed.policy_tags_valid:
        facts.warnings.append(
            "because p, sp or np is invalid, RFC 9989 receivers act as if the record said p=none"
            if parsed.rua_has_valid_uri
            else "because p, sp or np is invalid and rua has no valid address, receivers apply no DMARC at all"
        )
    if isinstance(facts.effective_policy, Unknown):
        facts.status = "unknown"

    # Round 2: authorization records of external report destinations.
    policy_org = _policy_org_domain(policy_domain, start, org_domain, reading)
    facts.destinations = await _check_destinations(resolver, policy_domain, policy_org, parsed)
    unauthorized = [d.uri for d in facts.destinations if d.uri in parsed.rua and d.authorized is False]
    undecided = [d for d in facts.destinations if d.uri in parsed.rua and isinstance(d.authorized, Unknown)]
    if unauthorized or not undecided:
        # Definitely unauthorized addresses are a finding even while another one could not be checked.
        facts.rua_unauthorized, facts.rua_unauthorized_count = unauthorized, len(unauthorized)
    else:
        facts.rua_unauthorized = facts.rua_unauthorized_count = undecided[0].authorized
    return facts


def _fill_from_record(facts: DmarcFacts, parsed: ParsedDmarc) -> None:
    facts.tags = dict(parsed.tags)
    facts.p, facts.sp, facts.np = parsed.p, parsed.sp, parsed.np
    facts.testing = parsed.testing
    facts.pct = parsed.pct
    facts.aspf, facts.adkim = parsed.aspf, parsed.adkim
    facts.syntax_errors = facts.syntax_errors + parsed.errors
    facts.syntax_valid = not facts.syntax_errors
    facts.warnings = facts.warnings + parsed.warnings
    facts.rua, facts.ruf = list(parsed.rua), list(parsed.ruf)


def _unknown(facts: DmarcFacts, lookup: Lookup, *, multiple_known: bool) -> DmarcFacts:
    reason = unknown_from(lookup)
    facts.status = "unknown"
    facts.exists = facts.record = facts.effective_policy = reason
    if not isinstance(facts.org_domain, Unknown):
        facts.org_domain = reason
    facts.multiple = True if multiple_known else reason
    facts.syntax_valid = reason
    facts.rua_unauthorized = facts.rua_unauthorized_count = reason
    return facts


def _policy_org_domain(
    policy_domain: str, start: str, org_domain: str | Unknown, reading: _WalkReading
) -> str:
    """The Organizational Domain of the domain whose record applies, for the "external destination" test.

    The tree walk's answer where we have it (the policy domain is the From domain or its Organizational
    Domain); a PSD record's domain is its own boundary; the PSL when the walk's answer is open.
    """
    if policy_domain == reading.stopped_by_psd and reading.found[policy_domain].psd == "y":
        return policy_domain
    if isinstance(org_domain, str):
        return org_domain
    return psl_org_domain(policy_domain)


async def _check_destinations(
    resolver, policy_domain: str, policy_org: str, parsed: ParsedDmarc
) -> list[DmarcReportDestination]:
    """RFC 9990 §4 (and RFC 9991 for ruf): a destination outside the policy domain's Organizational Domain
    must publish `<policy domain>._report._dmarc.<host>` TXT "v=DMARC1" (a wildcard `*._report._dmarc.<host>`
    answers that query too).

    The destination host's Organizational Domain comes from the Public Suffix List, not a tree walk of its own:
    a walk per host would cost up to eight more queries each and a third round trip, and for report mailboxes
    (the operator's own domain or a reporting service's) the two agree in practice. The policy domain's side
    uses the tree walk the audit already did, which is what RFC 9990 receivers compare.
    """
    destinations: list[DmarcReportDestination] = []
    pending: list[tuple[DmarcReportDestination, str]] = []
    for uri in [*parsed.rua, *(u for u in parsed.ruf if u not in parsed.rua)]:
        host = mailto_host(uri)
        if host is None:
            continue  # not a mailto: URI, or not a valid one: already a warning or an error from the parser
        external = host != policy_domain and psl_org_domain(host) != policy_org
        destination = DmarcReportDestination(uri=uri, host=host, external=external)
        destinations.append(destination)
        if not external:
            continue
        query = f"{policy_domain}._report._dmarc.{host}"
        destination.query = query
        if len(query) > _MAX_NAME or any(len(label) > 63 for label in query.split(".")):
            # Longer than DNS allows: no record can authorize this destination (RFC 9990 §4).
            destination.outcome, destination.authorized = "name-too-long", False
            continue
        pending.append((destination, query))
    lookups = await asyncio.gather(*(resolver.query(query, "TXT") for _, query in pending))
    for (destination, _), lookup in zip(pending, lookups, strict=True):
        destination.outcome = lookup.outcome
        if lookup.failed:
            destination.authorized = unknown_from(lookup)
        else:
            destination.authorized = any(is_dmarc_record(value) for value in lookup.values)
    return destinations
