"""Reverse DNS: PTR names of MX hosts' and the self-hosted sender's addresses, and whether they resolve back."""

from __future__ import annotations

import asyncio
import ipaddress

from auditor.dns import Resolver
from auditor.facts.base import Unknown, unknown_from
from auditor.facts.model import MxFacts, PtrCheck, PtrFacts

MAX_NAMES = 10  # RFC 7208 §4.6.4 caps PTR names looked at; a receiver does the same


def reverse_name(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer + "."


async def check_address(resolver: Resolver, ip: str, role: str, host: str | None = None) -> PtrCheck:
    check = PtrCheck(ip=ip, role=role, host=host)
    ptr = await resolver.query(reverse_name(ip), "PTR")
    check.outcome = ptr.outcome
    if ptr.failed:
        check.forward_confirmed = unknown_from(ptr)
        return check
    check.names = [name.rstrip(".") for name in ptr.values[:MAX_NAMES]]
    if not check.names:
        check.forward_confirmed = False
        return check
    family = "AAAA" if ipaddress.ip_address(ip).version == 6 else "A"
    forwards = await resolver.query_many([(name, family) for name in check.names])
    wanted = ipaddress.ip_address(ip)
    confirmed = any(
        ipaddress.ip_address(value) == wanted for lookup in forwards if lookup.outcome == "ok"
        for value in lookup.values
    )
    if not confirmed and any(lookup.failed for lookup in forwards):
        check.forward_confirmed = unknown_from(next(lookup for lookup in forwards if lookup.failed))
    else:
        check.forward_confirmed = confirmed
    return check


async def collect_ptr(resolver: Resolver, mx: MxFacts, sending_ips: list[str]) -> PtrFacts:
    facts = PtrFacts(sender_ips=list(sending_ips))
    jobs = [check_address(resolver, ip, "sender") for ip in sending_ips]
    for host in mx.hosts:
        jobs += [check_address(resolver, ip, "mx", host.host) for ip in host.addresses[:4]]
    facts.checks = list(await asyncio.gather(*jobs))
    senders = [c for c in facts.checks if c.role == "sender"]
    unknown_senders = [c for c in senders if c.outcome not in ("ok", "nxdomain", "nodata")]
    if unknown_senders:
        facts.sender_missing = facts.sender_missing_count = unknown_from_check(unknown_senders[0])
    else:
        facts.sender_missing = [c.ip for c in senders if not c.names]
        facts.sender_missing_count = len(facts.sender_missing)
    with_names = [c for c in facts.checks if c.names]
    unknown = [c for c in with_names if isinstance(c.forward_confirmed, Unknown)]
    if unknown:
        facts.mismatch = facts.mismatch_count = unknown[0].forward_confirmed
    else:
        facts.mismatch = [f"{c.ip} → {', '.join(c.names)}" for c in with_names if not c.forward_confirmed]
        facts.mismatch_count = len(facts.mismatch)
    if unknown_senders or unknown:
        facts.status = "unknown" if senders and unknown_senders else facts.status
    return facts


def unknown_from_check(check: PtrCheck) -> Unknown:
    return Unknown(f"PTR {reverse_name(check.ip)}: {check.outcome}")
