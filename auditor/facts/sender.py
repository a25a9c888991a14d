"""Who sends: the envelope (Return-Path) domain the relay will use, and a self-hosted server's own addresses.

These come first in an audit because SPF is evaluated at the envelope domain, and a self-hosted sender's
IP decides what SPF and reverse DNS must say.
"""

from __future__ import annotations

import asyncio

from auditor.dns import Resolver
from auditor.facts.base import unknown_from
from auditor.facts.model import EnvelopeFacts
from auditor.target import Target


async def sending_ips(resolver: Resolver, target: Target) -> list[str]:
    """A self-hosted server sends from the public address of the instance domain (stated as an assumption)."""
    if not target.self_hosted or target.sending_ips:
        return list(target.sending_ips)
    a, aaaa = await resolver.query_many([(target.domain, "A"), (target.domain, "AAAA")])
    return list(a.values) + list(aaaa.values)


async def collect_envelope(resolver: Resolver, target: Target) -> EnvelopeFacts:
    provider = target.provider
    from_domain = target.from_domain
    if target.envelope_override:
        facts = EnvelopeFacts(domain=target.envelope_override, source=target.envelope_source)
        facts.user_domain = _within(target.envelope_override, target.org_domain or from_domain, from_domain)
        if provider is not None:
            await _check_requirements(resolver, target, facts)
        return facts
    if provider is None or provider.self_hosted or provider.envelope.default == "from":
        return EnvelopeFacts(domain=from_domain, source="from")

    custom = provider.envelope.custom
    candidate = provider.render(custom.name, target.provider_values) if custom is not None else None
    if candidate is not None and not candidate.placeholder:
        facts = EnvelopeFacts(domain=candidate.text.lower().rstrip("."), source="custom",
                              custom_name=candidate.text.lower().rstrip("."))
        configured = await _check_requirements(resolver, target, facts)
        if configured is True or provider.envelope.default == "custom":
            return facts
        if configured is not False:  # the probe failed: we cannot tell which return path is used
            facts.status = "unknown"
            return facts
    default = provider.envelope.default
    if default == "custom":  # the custom name needs an account value we do not know
        return EnvelopeFacts(
            domain=from_domain, source="unknown-custom",
            custom_name=candidate.text if candidate is not None else None,
            note=f"{provider.name} uses a return path under your domain whose name depends on your account.",
        )
    facts = EnvelopeFacts(domain=provider.render(default, target.provider_values).text.lower(),
                          source="provider-default", user_domain=False,
                          custom_name=candidate.text if candidate is not None else None)
    if candidate is not None and candidate.placeholder:
        facts.note = (
            f"If you set up a custom return path with {provider.name} ({candidate.text}), pass it with "
            "--envelope so it can be checked."
        )
    return facts


async def _check_requirements(resolver: Resolver, target: Target, facts: EnvelopeFacts):
    """Look at the envelope name: is something published there, and is it what the provider needs?

    Returns True (configured), False (nothing there) or None (the lookups failed).
    """
    provider = target.provider
    custom = provider.envelope.custom if provider is not None else None
    name = facts.domain
    mx, cname, txt = await asyncio.gather(
        resolver.query(name, "MX"), resolver.query(name, "CNAME"), resolver.query(name, "TXT")
    )
    lookups = (mx, cname, txt)
    facts.mx_hosts = [value.split(" ", 1)[1].rstrip(".") for value in mx.values]
    facts.cname_target = cname.values[0].rstrip(".") if cname.outcome == "ok" else None
    if custom is not None:
        if custom.mx:
            facts.required_mx = provider.render(custom.mx, target.provider_values).text.lower().rstrip(".")
        if custom.cname:
            facts.required_cname = provider.render(custom.cname, target.provider_values).text.lower().rstrip(".")
    failed = [lookup for lookup in lookups if lookup.failed]
    anything = any(lookup.outcome == "ok" for lookup in lookups)
    if failed and not anything:
        facts.custom_configured = unknown_from(failed[0])
        facts.requirement_met = unknown_from(failed[0])
        return None
    facts.custom_configured = anything
    if facts.required_mx:
        facts.requirement_met = facts.required_mx in facts.mx_hosts if not mx.failed else unknown_from(mx)
    elif facts.required_cname and "<" not in facts.required_cname:
        facts.requirement_met = facts.cname_target == facts.required_cname if not cname.failed else unknown_from(cname)
    return anything


def _within(name: str, org: str, from_domain: str) -> bool:
    name = name.lower().rstrip(".")
    return any(name == d or name.endswith("." + d) for d in {org, from_domain} if d)
