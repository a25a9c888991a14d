"""One audit: gather facts concurrently, run the rules, keep everything the renderers need."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from auditor import __version__
from auditor.dns import Resolver, ZoneOverlay
from auditor.errors import DnsUnreachable
from auditor.facts.base import to_jsonable
from auditor.facts.dmarc import collect_dmarc
from auditor.facts.model import DnsFacts, Facts, TargetFacts
from auditor.facts.mx import collect_mx
from auditor.facts.ptr import collect_ptr
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
    """Every collector at once; PTR waits for the MX hosts it checks."""

    async def mx_then_ptr():
        mx = await collect_mx(resolver, target.from_domain)
        return mx, await collect_ptr(resolver, mx, target.sending_ips)

    spf, dmarc, (mx, ptr) = await asyncio.gather(
        collect_spf(resolver, target.envelope_domain, target.sending_ips),
        collect_dmarc(resolver, target.from_domain),
        mx_then_ptr(),
    )
    if isinstance(dmarc.org_domain, str) and dmarc.org_domain:
        target.org_domain = dmarc.org_domain
    target_facts = TargetFacts(
        domain=target.domain,
        from_address=target.from_address,
        from_domain=target.from_domain,
        envelope_domain=target.envelope_domain,
        org_domain=target.org_domain,
        self_hosted=target.self_hosted,
        sending_ips=list(target.sending_ips),
    )
    return Facts(target=target_facts, spf=spf, dmarc=dmarc, mx=mx, ptr=ptr, dns=dns_facts(resolver))


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


async def audit_async(target: Target, options: AuditOptions, rules=None) -> AuditResult:
    from auditor.engine import evaluate, load_rules

    rules = rules if rules is not None else load_rules(options.rules_dirs)
    resolver = make_resolver(options)
    facts = await gather_facts(target, resolver)
    if resolver.unreachable():
        raise DnsUnreachable(
            f"DNS unreachable: no answer from {', '.join(resolver.nameservers) or 'the system resolver'} "
            f"within {options.timeout:g}s; nothing could be audited"
        )
    findings = evaluate(rules, facts)
    generated = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return AuditResult(target=target, facts=facts, findings=findings, generated_at=generated)


def run_audit(target: Target, options: AuditOptions, rules=None) -> AuditResult:
    return asyncio.run(audit_async(target, options, rules))
