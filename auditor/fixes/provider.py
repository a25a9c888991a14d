"""Provider records: the DNS records a relay asks for (DKIM CNAMEs, custom return path / MAIL FROM, SPF).

Values come from the provider profile (`rules/providers/*.yaml`), filled with what the audit knows (the From
domain, the relay's region). Account-specific parts stay `<name>` and the record is `placeholder: true`, with
where in the provider's console to find the value. An SPF TXT the provider asks for at a name that already
has SPF is merged into that record (through the SPF plan), never published beside it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from auditor.fixes.context import FixContext, RecordChange, absolute, explain, register
from auditor.fixes.spf import spf_plan
from auditor.fixes.spf_edit import split_terms, term_info

NO_PROVIDER = (
    "inboxready does not know your relay, so it cannot name its records; "
    "run it with --env, --smtp or --provider."
)
USER_ENVELOPE = ("flag", "settings", "custom")
BUILTIN_WHERE = {"region": "the region in your relay's SMTP host name (for example eu-west-1)"}


def rendered_record(ctx: FixContext, provider: Any, name_t: str, rdtype: str, value_t: str, purpose: str):
    values = ctx.provider_values()
    name, value = provider.render(name_t, values), provider.render(value_t, values)
    missing = list(dict.fromkeys(name.missing + value.missing))
    text = value.text
    if rdtype in ("CNAME", "MX") and not missing:
        text = text if text.endswith(".") else text + "."
    where = None
    if missing:
        where = "; ".join(
            f"<{m}>: {provider.placeholders.get(m) or BUILTIN_WHERE.get(m, 'your ' + provider.name + ' console')}"
            for m in missing
        )
    note = f"{provider.name}: {purpose}."
    return RecordChange("add", name.text, rdtype, text, None, bool(missing), note, where)


def _already_published(ctx: FixContext, change: RecordChange) -> bool:
    values = ctx.log.answered(change.name, change.type) or []
    wanted = change.value.lower().rstrip(".")
    return any(v.lower().rstrip(".") == wanted for v in values)


def propose_provider_records(ctx: FixContext, finding: Any, select: Callable[[Any], bool]) -> None:
    provider = ctx.provider
    if provider is None:
        explain(finding, NO_PROVIDER)
        return
    for template in provider.records:
        if not select(template):
            continue
        change = rendered_record(
            ctx, provider, template.name, template.type, template.value, template.purpose
        )
        propose(ctx, finding, change)


def propose(ctx: FixContext, finding: Any, change: RecordChange) -> None:
    """One provider record, unless it is published already; SPF at an existing SPF name goes into its plan."""
    if _already_published(ctx, change):
        return
    if change.type == "MX" and _receives_mail_elsewhere(ctx, change):
        explain(
            finding,
            f"{ctx.provider.name} asks for MX records at {change.name.rstrip('.')}, which already receives mail "
            "through other servers: send through a subdomain (e.g. mg."
            + change.name.rstrip(".")
            + ") instead "
            "of changing them.",
        )
        return
    spf = ctx.facts.spf
    if (
        change.type == "TXT"
        and change.value.lower().startswith("v=spf1")
        and absolute(change.name) == absolute(spf.domain)
        and spf.records
    ):
        plan = spf_plan(ctx)
        for text in split_terms(change.value):
            info = term_info(text)
            if info.name == "include" and not info.modifier and text not in plan.includes:
                plan.includes.append(text)
        plan.want("include", finding)
        return
    ctx.add_record(finding, change)


def _receives_mail_elsewhere(ctx: FixContext, change: RecordChange) -> bool:
    """An MX the provider wants at a name whose mail already goes to other hosts: adding it would send part
    of the domain's incoming mail to the provider."""
    mx = ctx.facts.mx
    if absolute(change.name) != absolute(mx.domain) or not mx.hosts:
        return False
    wanted = change.value.split(" ", 1)[-1].lower().rstrip(".")
    return all(host.host.lower().rstrip(".") != wanted for host in mx.hosts)


def _is_dkim(template: Any) -> bool:
    return "_domainkey" in template.name


@register("provider.records")
def all_records(ctx: FixContext, finding: Any) -> None:
    """Every record the relay asks for."""
    propose_provider_records(ctx, finding, lambda template: True)


@register("dkim.provider-records")
def dkim_records(ctx: FixContext, finding: Any) -> None:
    """The relay's DKIM records (selector CNAMEs or TXT keys)."""
    propose_provider_records(ctx, finding, _is_dkim)


@register("envelope.custom-return-path")
def custom_return_path(ctx: FixContext, finding: Any) -> None:
    """The custom return-path / MAIL FROM domain: its MX and SPF (SES, Mailgun) or its CNAME (Postmark,
    SendGrid), so bounces reach the relay and SPF aligns with the From domain. The domain and the target the
    audit checked (`envelope.*` facts) win over the profile's defaults (e.g. a name given with --envelope)."""
    provider = ctx.provider
    custom = provider.envelope.custom if provider is not None else None
    if provider is None or custom is None:
        explain(finding, NO_PROVIDER if provider is None else f"{provider.name} has no custom return path.")
        return
    envelope = getattr(ctx.facts, "envelope", None)
    name = custom.name
    if envelope is not None and envelope.domain and envelope.user_domain and envelope.source in USER_ENVELOPE:
        name = envelope.domain  # the name checked: given with --envelope, in the settings, or found set up
    elif envelope is not None and envelope.custom_name and "<" not in envelope.custom_name:
        name = envelope.custom_name
    purpose = "custom return path (MAIL FROM)"
    cname = getattr(envelope, "required_cname", None) or custom.cname
    mx = getattr(envelope, "required_mx", None) or custom.mx
    if cname:
        propose(ctx, finding, rendered_record(ctx, provider, name, "CNAME", _template(cname), purpose))
        return
    if mx:
        mx_value = f"{custom.mx_preference or 10} {_template(mx)}"
        change = rendered_record(ctx, provider, name, "MX", mx_value, purpose + ", bounce handling")
        if custom.note:
            change.note = f"{change.note} {custom.note}"
        propose(ctx, finding, change)
    if custom.spf:
        propose_spf(ctx, finding, rendered_record(ctx, provider, name, "TXT", custom.spf, purpose + ", SPF"))


def _template(value: str) -> str:
    """A value the facts already filled in: its `<name>` placeholders become `{name}` for the renderer again."""
    return re.sub(r"<([a-z_]+)>", r"{\1}", value)


def propose_spf(ctx: FixContext, finding: Any, change: RecordChange) -> None:
    """An SPF record for a name other than the audited one: not added beside an SPF record already there."""
    values = ctx.log.answered(change.name, "TXT")
    if values is not None and any(v.lower().startswith("v=spf1") for v in values):
        return  # the name has SPF already; spf.provider-missing checks whether it authorises the relay
    if values is None:
        change.note += (
            f" If {change.name.rstrip('.')} already has an SPF record, add the include to it instead."
        )
    propose(ctx, finding, change)
