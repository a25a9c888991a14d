"""Who sends: the envelope (Return-Path) domain the relay will use, and a self-hosted server's own addresses.

These come first in an audit because SPF is evaluated at the envelope domain, and a self-hosted sender's
IP decides what SPF and reverse DNS must say.
"""

from __future__ import annotations

import asyncio
import re

from auditor.dns import Resolver
from auditor.facts.base import Unknown, unknown_from
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
        facts = EnvelopeFacts(
            domain=candidate.text.lower().rstrip("."),
            source="custom",
            custom_name=candidate.text.lower().rstrip("."),
        )
        configured = await _check_requirements(resolver, target, facts)
        if configured is True or provider.envelope.default == "custom":
            return facts
        if configured is not False:  # the probe failed: we cannot tell which return path is used
            facts.status = "unknown"
            return facts
    default = provider.envelope.default
    if default == "custom":  # the custom name needs an account value we do not know
        return EnvelopeFacts(
            domain=from_domain,
            source="unknown-custom",
            custom_name=candidate.text if candidate is not None else None,
            note=f"{provider.name} uses a return path under your domain whose name depends on your account.",
        )
    facts = EnvelopeFacts(
        domain=provider.render(default, target.provider_values).text.lower(),
        source="provider-default",
        user_domain=False,
        custom_name=candidate.text if candidate is not None else None,
    )
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
            facts.required_cname = (
                provider.render(custom.cname, target.provider_values).text.lower().rstrip(".")
            )
    failed = [lookup for lookup in lookups if lookup.failed]
    anything = any(lookup.outcome == "ok" for lookup in lookups)
    if failed and not anything:
        facts.custom_configured = unknown_from(failed[0])
        facts.requirement_met = unknown_from(failed[0])
        return None
    facts.custom_configured = anything
    mx_wanted = _name_pattern(facts.required_mx) if facts.required_mx else None
    cname_wanted = _name_pattern(facts.required_cname) if facts.required_cname else None
    if mx_wanted is not None:
        facts.requirement_met = (
            any(mx_wanted.fullmatch(host.lower()) for host in facts.mx_hosts)
            if not mx.failed
            else unknown_from(mx)
        )
    elif cname_wanted is not None:
        target_name = (facts.cname_target or "").lower()
        facts.requirement_met = (
            bool(cname_wanted.fullmatch(target_name)) if not cname.failed else unknown_from(cname)
        )
    return anything


def _name_pattern(rendered: str) -> re.Pattern[str] | None:
    """A rendered provider name as a pattern, with account values we do not know (`<region>`) as wildcards.

    Resend's `feedback-smtp.<region>.amazonses.com` then accepts the MX of whichever region the account uses,
    and SendGrid's `<sendgrid_account>.sendgrid.net` any name under sendgrid.net. A name that is nothing but
    an account value (Brevo's `<brevo_return_path_target>`) cannot be judged: None.
    """
    parts = [p for p in re.split(r"(<[^<>]+>)", rendered.lower()) if p]
    if all(p.startswith("<") for p in parts):
        return None
    return re.compile("".join(".+" if p.startswith("<") else re.escape(p) for p in parts))


def own_ip_authorisation(target: Target, spf) -> None:
    """Self-hosted: does the server's own address pass SPF at the envelope domain? (spf.provider-missing)

    A self-hosted server needs no include: its public addresses must match the record (ip4:, ip6:, a, mx).
    The answer is the RFC 7208 check_host() result for every sending address: True when all pass, False
    when one does not (fail, softfail, neutral, none, permerror), Unknown when a lookup failed on the way
    (temperror) or the server's addresses are not known.
    """
    spf.relay_check = "own-ip"
    spf.relay_include = None
    if spf.status == "unknown":
        spf.relay_authorised = spf.exists  # the Unknown of the record lookup
        return
    if not target.sending_ips:
        spf.relay_authorised = Unknown(
            f"the server's public address is not known: {target.domain} has no A/AAAA address that answered"
        )
        return
    results = [spf.sender_results.get(ip) for ip in target.sending_ips]
    if all(result == "pass" for result in results):
        spf.relay_authorised = True
    elif any(result in ("fail", "softfail", "neutral", "none", "permerror") for result in results):
        spf.relay_authorised = False
    else:
        failed = [ip for ip, result in zip(target.sending_ips, results, strict=True) if result != "pass"]
        spf.relay_authorised = Unknown(f"SPF for {', '.join(failed)} could not be evaluated (temperror)")


def _within(name: str, org: str, from_domain: str) -> bool:
    name = name.lower().rstrip(".")
    return any(name == d or name.endswith("." + d) for d in {org, from_domain} if d)
