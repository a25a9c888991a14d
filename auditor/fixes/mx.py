"""MX fixes: an MX that names an alias (CNAME) is pointed at the alias's canonical name (RFC 2181 §10.3)."""

from __future__ import annotations

from typing import Any

from auditor.fixes.context import FixContext, RecordChange, absolute, register


def canonical_name(ctx: FixContext, host: Any) -> str | None:
    """Where the alias chain ends: the address lookups' CNAME chain (followed to the end), else the CNAME."""
    for rdtype in ("A", "AAAA"):
        entry = ctx.log.get(host.host, rdtype)
        if entry and entry.get("cname_chain"):
            return absolute(entry["cname_chain"][-1])
    return absolute(host.cname_target) if host.cname_target else None


@register("mx.canonical")
def canonical(ctx: FixContext, finding: Any) -> None:
    mx = ctx.facts.mx
    for host in mx.hosts:
        if not host.cname_target:
            continue
        target = canonical_name(ctx, host)
        if target is None or target == absolute(host.host):
            continue
        note = (
            f"{host.host} is an alias (CNAME) for {target.rstrip('.')}; an MX must name the host itself. "
            f"If {target.rstrip('.')} is not under your control, check with its operator that it is meant to "
            "receive your mail; when they move it, update this record."
        )
        ctx.add_record(
            finding,
            RecordChange(
                "replace",
                mx.domain,
                "MX",
                f"{host.preference} {target}",
                f"{host.preference} {absolute(host.host)}",
                False,
                note,
            ),
        )
