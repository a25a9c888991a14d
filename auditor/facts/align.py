"""DMARC alignment with this relay, predicted before any mail is sent (RFC 9989 §4.4).

DMARC passes when SPF passes for an envelope domain aligned with the From domain, or when a DKIM signature
with an aligned d= verifies. The relay decides both: which Return-Path it uses and who signs. Pure: reads
facts gathered elsewhere, asks nothing.
"""

from __future__ import annotations

from auditor.facts.base import Unknown
from auditor.facts.model import AlignFacts, DkimFacts, DmarcFacts, EnvelopeFacts, SmtpFacts, SpfFacts
from auditor.facts.orgdomain import psl_org_domain
from auditor.target import Target


def org_of(domain: str, from_domain: str, from_org: str) -> str:
    """Organizational domain: the From side's comes from the RFC 9989 walk; others' from the PSL."""
    domain = domain.lower().rstrip(".")
    if domain in (from_domain, from_org) or domain.endswith("." + from_org):
        return from_org
    return psl_org_domain(domain)


def aligned(domain: str | None, from_domain: str, from_org: str, mode: str) -> bool:
    if not domain:
        return False
    domain = domain.lower().rstrip(".")
    if mode == "s":
        return domain == from_domain
    return org_of(domain, from_domain, from_org) == from_org


def _and(a, b):
    if a is False or b is False:
        return False
    if isinstance(a, Unknown):
        return a
    if isinstance(b, Unknown):
        return b
    return True


def _or(a, b):
    if a is True or b is True:
        return True
    if isinstance(a, Unknown):
        return a
    if isinstance(b, Unknown):
        return b
    return False


def compute_alignment(
    target: Target,
    spf: SpfFacts,
    dmarc: DmarcFacts,
    dkim: DkimFacts,
    envelope: EnvelopeFacts,
    smtp: SmtpFacts,
) -> AlignFacts:
    from_domain = target.from_domain
    from_org = (
        dmarc.org_domain
        if isinstance(dmarc.org_domain, str) and dmarc.org_domain
        else psl_org_domain(from_domain)
    )
    facts = AlignFacts(
        from_domain=from_domain,
        from_org_domain=from_org,
        envelope_domain=envelope.domain,
        aspf=dmarc.aspf or "r",
        adkim=dmarc.adkim or "r",
        relay_known=target.provider is not None,
    )
    facts.from_localhost = smtp.from_problem == "localhost" or from_domain.startswith("localhost")
    facts.from_problem = smtp.from_problem
    facts.from_related = org_of(target.domain, from_domain, from_org) == from_org
    if target.provider is None:
        facts.explanation = "The relay is not known, so alignment cannot be predicted."
        return facts
    provider = target.provider
    facts.dkim_note = provider.dkim.note
    facts.return_path_setup, facts.return_path_note = _return_path_setup(target)

    # SPF: does the envelope domain's SPF let this relay send, and does that domain align?
    if envelope.source == "unknown-custom":
        facts.spf_aligned = Unknown(envelope.note or "the return path depends on the provider account")
        facts.spf_authorises = Unknown("the return path's name is account-specific")
    else:
        facts.spf_aligned = aligned(envelope.domain, from_domain, from_org, facts.aspf)
        if isinstance(envelope.custom_configured, Unknown) and envelope.status == "unknown":
            facts.spf_aligned = envelope.custom_configured
        facts.spf_authorises = _spf_authorises(target, spf, envelope)

    # DKIM: who signs, and is the key where receivers look?
    facts.dkim_domain, facts.dkim_key_found = _dkim_signer(target, dkim)
    if isinstance(facts.dkim_key_found, Unknown) and provider.dkim.d_domain == "from":
        # Whether the relay signs as the From domain or falls back to its own domain depends on the key we
        # could not find or read: the alignment is as unknown as the key.
        facts.dkim_aligned = facts.dkim_key_found
    else:
        facts.dkim_aligned = aligned(facts.dkim_domain, from_domain, from_org, facts.adkim)
    spf_pass = _and(facts.spf_authorises, facts.spf_aligned)
    dkim_pass = _and(facts.dkim_key_found, facts.dkim_aligned)
    facts.dmarc_pass = _or(spf_pass, dkim_pass)
    facts.dmarc_pass_via = [name for name, ok in (("spf", spf_pass), ("dkim", dkim_pass)) if ok is True]
    relay = "your own mail server" if provider.self_hosted else provider.name
    facts.explanation = _explain(facts, spf_pass, dkim_pass, relay)
    if isinstance(facts.dmarc_pass, Unknown):
        facts.status = "ok"  # the rules read the Unknown values themselves
    return facts


def _spf_authorises(target: Target, spf: SpfFacts, envelope: EnvelopeFacts):
    provider = target.provider
    if provider.self_hosted:
        if not target.sending_ips:
            return Unknown(f"the public address of {target.domain} is not known")
        if spf.status == "unknown":
            return Unknown(f"SPF of {spf.domain} could not be read")
        return not spf.sender_failures
    if not envelope.user_domain:
        return True  # the provider's own return-path domain authorises its own servers
    if provider.spf.where == "provider" and envelope.source in ("custom", "flag", "settings", "inferred"):
        return envelope.requirement_met is not False
    if spf.relay_authorised is None:
        return Unknown(f"{provider.name} publishes no SPF include to look for")
    return spf.relay_authorised


def _return_path_setup(target: Target) -> tuple[list[str], str | None]:
    """The records a custom (aligned) return path needs with this relay: "name TYPE value", for the report.

    Account-specific parts stay as `<name>` so the admin sees where a value from the provider's console goes.
    """
    provider = target.provider
    custom = provider.envelope.custom
    if custom is None:
        return [], None
    values = target.provider_values
    name = target.envelope_override or provider.render(custom.name, values).text.lower().rstrip(".")
    values = {**values, "envelope": name}
    lines = []
    if custom.mx:
        mx = provider.render(custom.mx, values).text.rstrip(".")
        lines.append(f"{name} MX {custom.mx_preference or 10} {mx}")
    if custom.cname:
        lines.append(f"{name} CNAME {provider.render(custom.cname, values).text.rstrip('.')}")
    if custom.spf:
        lines.append(f'{name} TXT "{provider.render(custom.spf, values).text}"')
    return lines, custom.note


def _dkim_signer(target: Target, dkim: DkimFacts):
    """(predicted d= domain, a usable key for it found?)"""
    provider = target.provider
    usable = [r for r in dkim.found if r.record and not r.revoked and not r.errors]
    scheme = provider.dkim.scheme
    if scheme in ("fixed", "cname") and not provider.self_hosted:
        wanted = [r for r in usable if r.origin in ("user", "provider")]
        if scheme == "cname":
            wanted += [r for r in usable if r.cname_target and provider.dkim.owns_target(r.cname_target)]
    else:
        wanted = usable
    signs_as_from = provider.dkim.d_domain == "from"
    if wanted and signs_as_from:
        return target.from_domain, True
    if not signs_as_from:
        return provider.render(provider.dkim.d_domain, target.provider_values).text, True
    if isinstance(dkim.exists, Unknown):
        return target.from_domain, dkim.exists
    if dkim.only_guessed:
        # No selector of this relay could be named (per-account selectors, or random tokens such as SES's):
        # a miss at the usual names proves nothing, so the key may well be there.
        if provider.self_hosted:
            why = "your mail server's DKIM selector is whatever it was configured with"
        else:
            why = f"{provider.name}'s DKIM selector depends on your account"
        return target.from_domain, Unknown(f"{why}; pass it with --dkim-selector")
    default = provider.dkim.default_d_domain
    if default:
        rendered = provider.render(default, target.provider_values)
        return rendered.text, not rendered.placeholder
    return None, False


def _explain(facts: AlignFacts, spf_pass, dkim_pass, relay: str) -> str:
    """One plain sentence for the report; it must not claim more than the facts show."""
    envelope = facts.envelope_domain or "the relay's return path"
    if facts.dmarc_pass is True:
        if spf_pass is True and dkim_pass is True:
            return f"With {relay}, DMARC passes through both SPF and DKIM."
        if dkim_pass is True:
            return (
                f"With {relay}, DMARC passes through DKIM alone: the envelope domain {envelope} "
                f"{_spf_gap(facts, relay)}, so SPF does not count for DMARC."
            )
        if dkim_pass is False:
            return f"With {relay}, DMARC passes through SPF alone: no aligned DKIM signature is expected."
        return (
            f"With {relay}, DMARC passes through SPF; whether an aligned DKIM signature is added could not "
            "be established."
        )
    if facts.dmarc_pass is False:
        if facts.dkim_domain is None:
            dkim_words = "no DKIM signature is expected (no key was found)"
        elif facts.dkim_aligned is True:
            dkim_words = f"no usable DKIM key was found for {facts.dkim_domain}"
        else:
            dkim_words = f"DKIM signs as {facts.dkim_domain}, which does not align with {facts.from_domain}"
        return f"With {relay}, DMARC fails: the envelope domain {envelope} {_spf_gap(facts, relay)}, and {dkim_words}."
    return f"Whether DMARC passes with {relay} could not be established."


def _spf_gap(facts: AlignFacts, relay: str) -> str:
    """Why SPF does not count for DMARC, in words that follow the envelope domain."""
    if facts.spf_aligned is False:
        if facts.spf_authorises is True:
            return f"passes SPF but does not align with {facts.from_domain}"
        return f"does not align with {facts.from_domain}"
    if facts.spf_authorises is False:
        return f"does not authorise {relay} in its SPF record"
    return "cannot be shown to pass aligned SPF"
