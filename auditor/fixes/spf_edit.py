"""Pure SPF record editing: the building blocks the SPF fixes combine. No DNS here.

A record is handled as its list of terms (the text after `v=spf1`, split on spaces), so every edit keeps
the terms it does not touch exactly as the user wrote them. Addresses that `a`/`mx` terms stand for come
from the audit's lookup log (`LookupLog`), never from a new query.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from auditor.facts.spf_terms import Mechanism, SpfSyntaxError, parse_term

VERSION = "v=spf1"
LOOKUP_LIMIT = 10
DNS_TERMS = frozenset({"include", "a", "mx", "ptr", "exists"})
# Strictest first: when records are merged, the strictest `all` any of them had wins (never `+all`).
ALL_STRICTNESS = ("-", "~", "?", "+")


# -- terms ---------------------------------------------------------------------------------------------------


def split_terms(record: str) -> list[str]:
    """The terms of a record, without the version: `"v=spf1 a  -all"` → `["a", "-all"]`."""
    words = record.split(" ")
    if words and words[0].lower() == VERSION:
        words = words[1:]
    return [w for w in words if w]


def build_record(terms: Iterable[str]) -> str:
    return " ".join([VERSION, *terms])


@dataclass(frozen=True)
class TermInfo:
    """A term as far as editing needs it; lenient, so a record with a syntax error can still be edited."""

    text: str
    qualifier: str  # "+", "-", "~", "?"; "" for modifiers
    name: str  # lowercase mechanism or modifier name
    value: str | None  # the domain-spec or address, CIDR suffix removed (a, mx)
    modifier: bool
    mechanism: Mechanism | None = None  # the strict parse, when the term is valid

    @property
    def key(self) -> str:
        """What makes two terms the same: `+` is the default qualifier, names are case-insensitive."""
        if self.modifier:
            return f"{self.name}={(self.value or '').lower()}"
        rest = self.text.lstrip("+-~?")
        rest = rest[len(self.name) :] if rest.lower().startswith(self.name) else rest
        return f"{self.qualifier}{self.name}{rest.lower()}"


def term_info(text: str) -> TermInfo:
    try:
        parsed = parse_term(text)
    except SpfSyntaxError:
        parsed = None
    if isinstance(parsed, Mechanism):
        return TermInfo(text, parsed.qualifier, parsed.name, parsed.domain_spec, False, parsed)
    if parsed is not None:
        return TermInfo(text, "", parsed.name, parsed.value, True)
    # Not valid: keep enough to recognise it (and leave it alone).
    head, sep, rest = text.partition("=")
    if sep and head.isalnum() and text[:1] not in "+-~?":
        return TermInfo(text, "", head.lower(), rest, True)
    qualifier = text[0] if text[:1] in "+-~?" else "+"
    body = text.lstrip("+-~?")
    name, _, value = body.partition(":")
    return TermInfo(text, qualifier, name.split("/", 1)[0].lower(), value or None, False)


def is_all(text: str) -> bool:
    info = term_info(text)
    return not info.modifier and info.name == "all"


def all_qualifier(terms: list[str]) -> str | None:
    for text in terms:
        if is_all(text):
            return term_info(text).qualifier
    return None


def modifier_value(terms: list[str], name: str) -> str | None:
    for text in terms:
        info = term_info(text)
        if info.modifier and info.name == name:
            return info.value
    return None


def include_term(domain: str) -> str:
    return f"include:{domain.rstrip('.')}"


def _mechanism_end(terms: list[str]) -> int:
    """Where a new mechanism goes when there is no `all`: after the last mechanism, before trailing modifiers."""
    position = len(terms)
    while position > 0 and term_info(terms[position - 1]).modifier:
        position -= 1
    return position


def has_term(terms: list[str], text: str) -> bool:
    key = term_info(text).key
    return any(term_info(t).key == key for t in terms)


def insert_before_all(terms: list[str], new: str) -> list[str]:
    """`new` added before the `all` (which keeps its qualifier); unchanged when the record already has it."""
    if has_term(terms, new):
        return list(terms)
    out = list(terms)
    index = next((i for i, t in enumerate(out) if is_all(t)), None)
    out.insert(_mechanism_end(out) if index is None else index, new)
    return out


def set_all(terms: list[str], qualifier: str = "~") -> list[str]:
    """Every `all` replaced by `<qualifier>all`; one added at the end of the mechanisms when there is none."""
    new = f"{qualifier}all"
    if not any(is_all(t) for t in terms):
        out = list(terms)
        out.insert(_mechanism_end(out), new)
        return out
    out: list[str] = []
    for text in terms:
        if is_all(text):
            if new not in out:
                out.append(new)
        else:
            out.append(text)
    return out


def redirect_to_include(terms: list[str]) -> list[str]:
    """`redirect=X` becomes `include:X`: needed before an `all` can be added (any `all` disables redirect)."""
    out = []
    for text in terms:
        info = term_info(text)
        out.append(include_term(info.value or "") if info.modifier and info.name == "redirect" else text)
    return out


def remove_duplicates(terms: list[str]) -> tuple[list[str], list[str]]:
    """(terms with repeats removed, the repeats). The first of two identical terms wins."""
    seen: set[str] = set()
    kept: list[str] = []
    removed: list[str] = []
    for text in terms:
        key = term_info(text).key
        if key in seen:
            removed.append(text)
        else:
            seen.add(key)
            kept.append(text)
    return kept, removed


def merge_records(records: list[str]) -> tuple[list[str], list[str]]:
    """One record's terms from several (RFC 7208 §3.2 allows one), and notes on what had to be decided.

    Mechanisms keep their order, first record first, each once. Of the `all` terms the strictest is kept
    (never `+all` when another is there), at the end. A `redirect` of a record without `all` becomes an include
    (a merged record with an `all` would ignore it); `exp=` is kept once.
    """
    notes: list[str] = []
    mechanisms: list[str] = []
    qualifiers: list[str] = []
    exp: str | None = None
    for record in records:
        terms = split_terms(record)
        record_has_all = any(is_all(t) for t in terms)
        for text in terms:
            info = term_info(text)
            if not info.modifier and info.name == "all":
                qualifiers.append(info.qualifier)
            elif info.modifier and info.name == "redirect":
                if record_has_all:
                    notes.append(f"dropped {text}: receivers ignore it in a record that has an all term")
                else:
                    mechanisms.append(include_term(info.value or ""))
                    notes.append(
                        f"{text} became {include_term(info.value or '')} so the merged record keeps it"
                    )
            elif info.modifier and info.name == "exp":
                exp = exp or text
            else:
                mechanisms.append(text)
    merged, _ = remove_duplicates(mechanisms)
    if qualifiers:
        strictest = min(qualifiers, key=ALL_STRICTNESS.index)
        if len(set(qualifiers)) > 1:
            notes.append(
                f"the records ended differently; the merged record keeps the strictest, {strictest}all"
            )
        merged.append(f"{strictest}all")
    if exp:
        merged.append(exp)
    return merged, notes


# -- lookups ----------------------------------------------------------------------------------------------------


class LookupLog:
    """The audit's DNS answers (`facts.dns.lookups`), to look up what a term resolved to without DNS."""

    def __init__(self, lookups: Iterable[dict]):
        self._by: dict[tuple[str, str], dict] = {}
        for entry in lookups:
            key = (_absolute(entry.get("name", "")), str(entry.get("type", "")).upper())
            previous = self._by.get(key)
            # A later cache hit or retry never hides an answer we already have.
            if previous is None or previous.get("outcome") not in ("ok", "nxdomain", "nodata"):
                self._by[key] = entry

    def get(self, name: str, rdtype: str) -> dict | None:
        return self._by.get((_absolute(name), rdtype.upper()))

    def answered(self, name: str, rdtype: str) -> list[str] | None:
        """The values of an answered lookup ([] for NXDOMAIN/NODATA); None when not asked or it failed."""
        entry = self.get(name, rdtype)
        if entry is None or entry.get("outcome") not in ("ok", "nxdomain", "nodata"):
            return None
        return list(entry.get("values", []))

    def addresses(self, name: str) -> list[str] | None:
        a, aaaa = self.answered(name, "A"), self.answered(name, "AAAA")
        if a is None or aaaa is None:
            return None
        return a + aaaa

    def mx_hosts(self, name: str) -> list[str] | None:
        values = self.answered(name, "MX")
        if values is None:
            return None
        hosts = [v.split(" ", 1)[1] for v in values if " " in v]
        return [h for h in hosts if h != "."]


def _absolute(name: str) -> str:
    name = name.strip().lower()
    return name if name.endswith(".") else name + "."


def ip_terms(qualifier: str, addresses: Iterable[str], cidr4: int = 32, cidr6: int = 128) -> list[str]:
    """`ip4:`/`ip6:` terms for addresses, with the CIDR length of the `a`/`mx` term they replace."""
    prefix = "" if qualifier == "+" else qualifier
    out: list[str] = []
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        length = cidr4 if address.version == 4 else cidr6
        network = ipaddress.ip_network(f"{address}/{length}", strict=False)
        shown = str(network.network_address) if network.prefixlen == network.max_prefixlen else str(network)
        term = f"{prefix}ip{address.version}:{shown}"
        if term not in out:
            out.append(term)
    return out


@dataclass
class Flattened:
    terms: list[str]
    # a/mx/ptr term → the ip terms that replace it ([] when it matched no address)
    replaced: dict[str, list[str]] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)  # a/mx/ptr terms that could not be replaced, with why


def flatten_addresses(
    terms: list[str], domain: str, log: LookupLog, sending_ips: Iterable[str] = ()
) -> Flattened:
    """`a`, `mx` (and `ptr`, when the sending IPs are known) replaced by the ip4/ip6 terms they resolve to.

    Only when every lookup the term needs was answered in this audit; terms with macros stay (they depend on
    the message). `ptr` stands for "hosts whose reverse name is in this domain", which only the sending IPs
    the audit knows can replace. A term whose names resolve to nothing is dropped (it can never match).
    """
    result = Flattened(terms=[])
    for text in terms:
        info = term_info(text)
        mechanism = info.mechanism
        if info.modifier or info.name not in ("a", "mx", "ptr") or mechanism is None:
            result.terms.append(text)
            continue
        target = mechanism.domain_spec or domain
        if "%" in target:
            result.kept.append(f"{text} (uses a macro)")
            result.terms.append(text)
            continue
        addresses = _addresses_for(info.name, target, log, list(sending_ips))
        if addresses is None:
            result.kept.append(f"{text} (its addresses were not all looked up in this audit)")
            result.terms.append(text)
            continue
        replacement = ip_terms(mechanism.qualifier, addresses, mechanism.cidr4, mechanism.cidr6)
        result.replaced[text] = replacement
        result.terms.extend(t for t in replacement if t not in result.terms)
    return result


def _addresses_for(kind: str, target: str, log: LookupLog, sending_ips: list[str]) -> list[str] | None:
    if kind == "a":
        return log.addresses(target)
    if kind == "ptr":
        return sending_ips or None
    hosts = log.mx_hosts(target)
    if hosts is None:
        return None
    found: list[str] = []
    for host in hosts:
        addresses = log.addresses(host)
        if addresses is None:
            return None
        found += addresses
    return found


# -- counting -------------------------------------------------------------------------------------------------


@dataclass
class LookupCount:
    total: int  # lower bound when `unknown` is not empty
    unknown: list[str] = field(default_factory=list)  # includes whose own cost this audit did not measure
    per_term: dict[str, int] = field(default_factory=dict)


def count_lookups(terms: list[str], branch_costs: dict[str, int]) -> LookupCount:
    """DNS-querying terms of a record plus the cost of each include/redirect branch (RFC 7208 §4.6.4).

    `branch_costs` maps an include/redirect domain to the lookups *inside* its record tree (what
    `SpfNode.cost` holds); the include term itself adds one.
    """
    has_all = any(is_all(t) for t in terms)
    count = LookupCount(total=0)
    for text in terms:
        info = term_info(text)
        if info.modifier:
            if info.name != "redirect" or has_all:
                continue
        elif info.name not in DNS_TERMS:
            continue
        cost = 1
        if info.name in ("include", "redirect") and info.value:
            domain = info.value.lower().rstrip(".")
            if domain in branch_costs:
                cost += branch_costs[domain]
            elif "%" not in domain:
                count.unknown.append(domain)
        count.per_term[text] = cost
        count.total += cost
    return count
