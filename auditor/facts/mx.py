"""MX facts: hosts and preferences, CNAME targets (RFC 2181 §10.3), addresses, null MX (RFC 7505), implicit MX."""

from __future__ import annotations

import asyncio

from auditor.dns import Lookup, Resolver
from auditor.facts.base import Unknown, unknown_from
from auditor.facts.model import MxFacts, MxHost

MAX_HOSTS = 20  # more MX hosts than this tell nothing new and cost lookups


def parse_mx(values: tuple[str, ...] | list[str]) -> list[tuple[int, str]]:
    """`"10 mx.example.org."` strings → sorted (preference, host) pairs. Pure."""
    pairs = []
    for value in values:
        preference, _, host = value.partition(" ")
        pairs.append((int(preference), host.lower()))
    return sorted(pairs)


async def collect_mx(resolver: Resolver, domain: str) -> MxFacts:
    facts = MxFacts(domain=domain)
    mx = await resolver.query(domain, "MX")
    if mx.failed:
        reason = unknown_from(mx)
        facts.status = "unknown"
        facts.exists = facts.cname_hosts = facts.cname_count = reason
        facts.unresolvable_hosts = facts.unresolvable_count = reason
        return facts
    pairs = parse_mx(mx.values)
    facts.exists = bool(pairs)
    if not pairs:
        a, aaaa = await resolver.query_many([(domain, "A"), (domain, "AAAA")])
        facts.implicit = a.outcome == "ok" or aaaa.outcome == "ok"
        facts.implicit_addresses = list(a.values + aaaa.values)
        return facts
    facts.null_mx = pairs == [(0, ".")]
    facts.null_mx_mixed = any(host == "." for _, host in pairs) and len(pairs) > 1
    real = [(pref, host) for pref, host in pairs if host != "."][:MAX_HOSTS]
    facts.hosts = list(await asyncio.gather(*(_host(resolver, pref, host) for pref, host in real)))
    failed = [h for h in facts.hosts if isinstance(h.resolvable, Unknown)]
    if failed:
        reason = h_reason = failed[0].resolvable
        facts.unresolvable_hosts = facts.unresolvable_count = reason
        facts.cname_hosts = facts.cname_count = h_reason
    else:
        facts.unresolvable_hosts = [h.host for h in facts.hosts if not h.resolvable]
        facts.unresolvable_count = len(facts.unresolvable_hosts)
    if not failed:
        facts.cname_hosts = [h.host for h in facts.hosts if h.cname_target]
        facts.cname_count = len(facts.cname_hosts)
    return facts


async def _host(resolver: Resolver, preference: int, host: str) -> MxHost:
    a, aaaa, cname = await resolver.query_many([(host, "A"), (host, "AAAA"), (host, "CNAME")])
    entry = MxHost(host=host.rstrip("."), preference=preference)
    entry.addresses = list(a.values + aaaa.values)
    entry.outcome = _combined(a, aaaa)
    if cname.outcome == "ok":
        entry.cname_target = cname.values[0].rstrip(".")
    elif a.cname_chain or aaaa.cname_chain:
        entry.cname_target = (a.cname_chain or aaaa.cname_chain)[-1].rstrip(".")
    if entry.addresses:
        entry.resolvable = True
    elif a.failed or aaaa.failed:
        entry.resolvable = unknown_from(a if a.failed else aaaa)
    else:
        entry.resolvable = False
    return entry


def _combined(a: Lookup, aaaa: Lookup) -> str:
    if a.outcome == "ok" or aaaa.outcome == "ok":
        return "ok"
    return a.outcome if a.failed else aaaa.outcome
