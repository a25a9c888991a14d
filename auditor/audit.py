"""One audit: gather facts concurrently, run the rules, keep everything the renderers need."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from auditor import __version__
from auditor.dns import Resolver, ZoneOverlay
from auditor.errors import DnsUnreachable
from auditor.facts.align import compute_alignment
from auditor.facts.base import Unknown, to_jsonable
from auditor.facts.dkim import collect_dkim, selectors_to_probe
from auditor.facts.dmarc import collect_dmarc
from auditor.facts.model import DnsFacts, Facts, TargetFacts
from auditor.facts.mx import collect_mx
from auditor.facts.ptr import collect_ptr
from auditor.facts.sender import collect_envelope, own_ip_authorisation, sending_ips
from auditor.facts.smtp import collect_smtp
from auditor.facts.spf import collect_spf
from auditor.target import Target

SCHEMA = "inboxready/1"
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass
class AuditOptions:
    nameservers: list[tuple[str, int]] = field(default_factory=list)
    timeout: float = 3.0
    total_timeout: float = 30.0
    zone_files: list[Path] = field(default_factory=list)
    rules_dirs: list[Path] | None = None


@dataclass
class AuditResult:
    target: Target
    facts: Facts
    findings: list  # list[auditor.engine.Finding]
    generated_at: str
    records: list[dict] = field(default_factory=list)
    settings: list[dict] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        counts = {"critical": 0, "warning": 0, "info": 0, "passed": 0, "unknown": 0, "skipped": 0}
        for finding in self.findings:
            if finding.status == "fail":
                counts[finding.severity] += 1
            elif finding.status == "pass":
                counts["passed"] += 1
            elif finding.status == "unknown":
                counts["unknown"] += 1
            else:
                counts["skipped"] += 1
        return counts

    def failed(self) -> list:
        failing = [f for f in self.findings if f.status == "fail"]
        return sorted(failing, key=lambda f: SEVERITY_ORDER.get(f.severity, 9))

    def unknown(self) -> list:
        return [f for f in self.findings if f.status == "unknown"]

    def worst_severity(self) -> str | None:
        failing = self.failed()
        return failing[0].severity if failing else None

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "tool": {"name": "inboxready", "version": __version__},
            "generated_at": self.generated_at,
            "target": self.target.to_json(),
            "summary": self.summary,
            "findings": [f.to_json() for f in self.findings],
            "records": self.records,
            "settings": self.settings,
            "facts": {
                name: to_jsonable(getattr(self.facts, name))
                for name in self.facts.__dataclass_fields__
                if name != "target"
            },
        }


def make_resolver(options: AuditOptions) -> Resolver:
    overlay = ZoneOverlay.from_files(options.zone_files) if options.zone_files else None
    return Resolver(
        options.nameservers, timeout=options.timeout, total_timeout=options.total_timeout, overlay=overlay
    )


async def gather_facts(target: Target, resolver: Resolver) -> Facts:
    """Every collector at once; only what truly depends on another answer waits for it.

    The envelope domain (where SPF is evaluated) and a self-hosted server's addresses are looked up while
    DMARC, MX and DKIM are already under way; SPF starts as soon as the envelope is known, PTR as soon as
    the MX hosts and the sending addresses are.
    """
    ips_task = asyncio.ensure_future(sending_ips(resolver, target))
    envelope_task = asyncio.ensure_future(collect_envelope(resolver, target))
    selectors = selectors_to_probe(target.dkim_selectors, target.provider)

    async def spf_after_envelope():
        envelope, ips = await envelope_task, await ips_task
        target.sending_ips = ips
        # SPF is judged where receivers evaluate it: the envelope domain, when it is the user's. When the relay
        # uses its own return path, the From domain's record is audited instead: other mail relies on it.
        own_envelope = envelope.user_domain and envelope.source != "unknown-custom" and envelope.domain
        if envelope.domain and envelope.source != "unknown-custom":
            target.envelope_domain = envelope.domain
        spf = await collect_spf(resolver, envelope.domain if own_envelope else target.from_domain, ips)
        spf.role = "envelope" if own_envelope else "from"
        _relay_authorisation(target, spf, envelope)
        return spf

    async def mx_then_ptr():
        mx, ips = await collect_mx(resolver, target.from_domain), await ips_task
        return mx, await collect_ptr(resolver, mx, ips)

    spf, dmarc, (mx, ptr), dkim, envelope = await asyncio.gather(
        spf_after_envelope(),
        collect_dmarc(resolver, target.from_domain),
        mx_then_ptr(),
        collect_dkim(resolver, target.from_domain, selectors),
        envelope_task,
    )
    _infer_return_path_from_dkim(target, envelope, dkim)
    target.dkim_selectors_checked = list(dkim.selectors_checked)
    if isinstance(dmarc.org_domain, str) and dmarc.org_domain:
        target.org_domain = dmarc.org_domain
    smtp = collect_smtp(target)
    align = compute_alignment(target, spf, dmarc, dkim, envelope, smtp)
    return Facts(target=target_facts(target), spf=spf, dmarc=dmarc, mx=mx, ptr=ptr, dkim=dkim, envelope=envelope,
                 align=align, smtp=smtp, dns=dns_facts(resolver))


def target_facts(target: Target) -> TargetFacts:
    """The target as rules and templates read it."""
    return TargetFacts(
        domain=target.domain,
        from_address=target.from_address,
        from_domain=target.from_domain,
        envelope_domain=target.envelope_domain,
        org_domain=target.org_domain,
        self_hosted=target.self_hosted,
        sending_ips=list(target.sending_ips),
        provider_id=target.provider_id,
        provider_name=target.provider_name,
        relay_host=target.relay.host if target.relay else None,
    )


def _infer_return_path_from_dkim(target: Target, envelope, dkim) -> None:
    """SendGrid-style domain authentication sets up the DKIM CNAMEs and the return-path CNAME (em<N>) together.

    The return path's name holds an account number we cannot guess, but when the provider's DKIM CNAMEs are in
    place it exists too: saying "SPF not aligned" then would be a false alarm. The guess is stated.
    """
    provider = target.provider
    if (
        provider is None
        or envelope.source != "provider-default"
        or provider.spf.where != "provider"
        or provider.dkim.scheme != "cname"
        or not envelope.custom_name
        or not dkim.provider_selectors_found
    ):
        return
    envelope.source = "inferred"
    envelope.domain = envelope.custom_name.lower()
    envelope.user_domain = True
    target.envelope_domain = envelope.domain
    target.assumptions.append(
        f"{provider.name}'s DKIM records for {target.from_domain} are in place, so its domain authentication is "
        f"assumed to have set up the return path {envelope.custom_name} too (SPF aligned, hosted by "
        f"{provider.name}). Pass --envelope with the real name to have it checked."
    )


def _relay_authorisation(target: Target, spf, envelope) -> None:
    """Does the envelope domain's SPF tree include what the relay needs? (spf.provider-missing)"""
    provider = target.provider
    if target.self_hosted and envelope.user_domain:
        own_ip_authorisation(target, spf)  # no include to look for: the server's own address must pass
        return
    if provider is None or provider.self_hosted or not envelope.user_domain or envelope.source == "unknown-custom":
        return
    if provider.spf.include is None or provider.spf.where not in ("envelope", "custom-envelope"):
        return
    if provider.spf.where == "custom-envelope" and envelope.source not in ("custom", "flag", "settings"):
        return
    include = provider.spf_include(target.provider_values)
    spf.relay_include = include.text
    spf.relay_check = "include"
    if spf.status == "unknown":
        spf.relay_authorised = spf.exists  # the Unknown of the record lookup
        return
    wanted = {include.text.lower().rstrip(".")} | {a.lower().rstrip(".") for a in provider.spf.accepted}
    nodes = list(_nodes(spf.tree)) if spf.tree is not None else []
    if any(node.domain.lower() in wanted for node in nodes if node.via in ("include", "redirect")):
        spf.relay_authorised = True
    elif any(node.error and node.error.startswith("lookup failed") for node in nodes):
        spf.relay_authorised = Unknown("part of the SPF include tree could not be read")
    else:
        spf.relay_authorised = False


def _nodes(node):
    yield node
    for child in node.children:
        yield from _nodes(child)


def dns_facts(resolver: Resolver) -> DnsFacts:
    failed = resolver.failed_lookups()
    return DnsFacts(
        nameservers=resolver.nameservers,
        queries=resolver.stats.queries,
        cache_hits=resolver.stats.cache_hits,
        overlay_answers=resolver.stats.overlay_answers,
        failed=[f"{lookup.rdtype} {lookup.name}: {lookup.outcome}" for lookup in failed],
        failed_count=len(failed),
        lookups=[lookup.to_json() for lookup in resolver.log],
    )


async def audit_async(target: Target, options: AuditOptions, rules=None, probe_options=None) -> AuditResult:
    from auditor.engine import evaluate, load_rules

    rules = rules if rules is not None else load_rules(options.rules_dirs)
    resolver = make_resolver(options)
    if probe_options is not None:
        # The live SMTP check runs beside the DNS audit: it waits on the network, not on DNS answers.
        facts, probed = await asyncio.gather(gather_facts(target, resolver), run_probe(target, probe_options, resolver))
        facts.probe = probed
    else:
        facts = await gather_facts(target, resolver)
    if resolver.unreachable():
        raise DnsUnreachable(
            f"DNS unreachable: no answer from {', '.join(resolver.nameservers) or 'the system resolver'} "
            f"within {options.timeout:g}s; nothing could be audited"
        )
    findings = evaluate(rules, facts)
    generated = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    result = AuditResult(target=target, facts=facts, findings=findings, generated_at=generated)
    from auditor.fixes import propose_fixes

    propose_fixes(result)  # exact records and setting lines for every failed finding a change can fix
    return result


def run_audit(target: Target, options: AuditOptions, rules=None, probe_options=None) -> AuditResult:
    return asyncio.run(audit_async(target, options, rules, probe_options))


def probe_settings(target: Target):
    """The settings the probe uses: the app's own, or ones made from --smtp/--from for a bare check."""
    from auditor.appconfig.model import SmtpSettings
    from auditor.errors import AuditorError

    if target.settings is not None and target.settings.host:
        return target.settings
    if target.relay is None:
        raise AuditorError("--probe needs a relay: give --env FILE or --smtp HOST[:PORT]")
    return SmtpSettings(host=target.relay.host, port=target.relay.port or 587, tls=target.relay.tls or "starttls",
                        from_address=target.from_address, helo_domain=target.domain, instance_domain=target.domain)


async def run_probe(target: Target, probe_options, resolver: Resolver):
    from auditor.probe import probe

    provider = target.provider
    if provider is not None:
        if not probe_options.alternative_ports:
            probe_options.alternative_ports = [(p.port, p.tls) for p in provider.ports]
        probe_options.provider_name = probe_options.provider_name or provider.name
        if not probe_options.auth_hints:
            probe_options.auth_hints = list(provider.auth_hints)
    return await probe(probe_settings(target), probe_options, resolver)
