"""DMARC alignment predicted per relay (auditor/facts/align.py), and the align.* rules' wording end to end.

`compute_alignment` is pure: the unit tests build the facts it reads the way the collectors shape them. The
last tests audit real provider setups against the loopback DNS server and read the rendered findings.
"""

from __future__ import annotations

import pytest
from dnsserver import DnsServer

from auditor.audit import AuditOptions, run_audit
from auditor.engine import load_rules
from auditor.facts.align import compute_alignment
from auditor.facts.base import Unknown
from auditor.facts.model import DkimFacts, DkimSelectorResult, DmarcFacts, EnvelopeFacts, SmtpFacts, SpfFacts
from auditor.target import resolve_target

TOKEN = "4tlbzkqvrnh5mw2dpx7cgjs6yafe3iuo"
SES_HOST = "email-smtp.eu-west-1.amazonaws.com:587"
# A real 2048-bit RSA SubjectPublicKeyInfo (base64), as published in DKIM key records.
RSA2048 = (
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA27Ge6onKHKc61pB/fKNbsAiV5KeU8MSQmA8iLvNFWUtQY/StDU5G4on4+rdJTkaH"
    "v7tkCstfFUdw0KoVUQOuokOjUtCQuVjYv9NHjlPS8jIeOvuMP27cbLSB6ETvB7ZYOvqOEirSAwzN1Q6oNX1XtD3uTXAiYPwUaA51Kg1rBxQR"
    "DSHnoaMZ+tiMMBcbjR5lT7o13I5sFwdL17MZ2xhk/jaYh1ex9tpxq4OyN5CCRD4cYVxxlhGszObVCPb5iIOcie40gEcMv5j8aa6GdTjdavEV"
    "iaTWFIF2nwng9Y6WyB9myWPTbTS9IuE/LpcF4yMrwznzg15lv1fBUMzeIgmHxQIDAQAB"
)


def key_result(selector: str, origin: str, cname_target: str | None = None) -> DkimSelectorResult:
    return DkimSelectorResult(
        selector=selector, origin=origin, name=f"{selector}._domainkey.example.org.", outcome="ok",
        cname_target=cname_target, record=f"p={RSA2048}", key_type="rsa", bits=2048,
    )  # fmt: skip


def dkim_facts(found=(), *, only_guessed: bool, exists=None, absent=()) -> DkimFacts:
    facts = DkimFacts(domain="example.org", only_guessed=only_guessed)
    facts.found = list(found)
    facts.results = list(found) + [
        DkimSelectorResult(
            selector=s, origin=o, name=f"{s}._domainkey.example.org.", outcome="nxdomain", absent=True
        )
        for s, o in absent
    ]
    facts.exists = bool(found) if exists is None else exists
    facts.user_selectors_missing = [s for s, o in absent if o == "user"]
    facts.provider_selectors_missing = [s for s, o in absent if o == "provider"]
    return facts


def align(target, dkim, envelope, spf=None, dmarc=None):
    spf = spf or SpfFacts(domain=envelope.domain)
    dmarc = dmarc or DmarcFacts(domain=target.from_domain, org_domain="example.org")
    return compute_alignment(target, spf, dmarc, dkim, envelope, SmtpFacts())


def ses_target(selectors=()):
    return resolve_target(
        "social.example.org", "notifications@example.org", SES_HOST, dkim_selectors=list(selectors)
    )


SES_DEFAULT_ENVELOPE = EnvelopeFacts(
    domain="amazonses.com", source="provider-default", user_domain=False, custom_name="mail.example.org"
)
SES_CUSTOM_ENVELOPE = EnvelopeFacts(
    domain="mail.example.org", source="custom", custom_name="mail.example.org", custom_configured=True,
    required_mx="feedback-smtp.eu-west-1.amazonses.com", mx_hosts=["feedback-smtp.eu-west-1.amazonses.com"],
    requirement_met=True,
)  # fmt: skip


def test_ses_without_token_does_not_claim_dmarc_fails():
    # Easy DKIM tokens cannot be guessed: a miss at the usual names says nothing about the key.
    facts = align(ses_target(), dkim_facts(only_guessed=True), SES_DEFAULT_ENVELOPE)
    assert facts.spf_aligned is False
    assert isinstance(facts.dkim_key_found, Unknown)
    assert isinstance(facts.dkim_aligned, Unknown)
    assert isinstance(facts.dmarc_pass, Unknown)
    assert "--dkim-selector" in facts.dkim_key_found.reason
    assert "could not be established" in facts.explanation


def test_ses_custom_mail_from_without_token_passes_through_spf():
    spf = SpfFacts(domain="mail.example.org", relay_include="amazonses.com", relay_authorised=True)
    facts = align(ses_target(), dkim_facts(only_guessed=True), SES_CUSTOM_ENVELOPE, spf=spf)
    assert facts.spf_aligned is True and facts.spf_authorises is True
    assert facts.dmarc_pass is True and facts.dmarc_pass_via == ["spf"]
    assert isinstance(facts.dkim_aligned, Unknown)
    assert "whether an aligned DKIM signature" in facts.explanation


def test_ses_token_found_passes_through_dkim_alone():
    found = [key_result(TOKEN, "user", f"{TOKEN}.dkim.amazonses.com.")]
    facts = align(ses_target([TOKEN]), dkim_facts(found, only_guessed=False), SES_DEFAULT_ENVELOPE)
    assert facts.dkim_domain == "example.org" and facts.dkim_aligned is True
    assert facts.dmarc_pass is True and facts.dmarc_pass_via == ["dkim"]
    assert facts.explanation == (
        "With Amazon SES, DMARC passes through DKIM alone: the envelope domain amazonses.com passes SPF but "
        "does not align with example.org, so SPF does not count for DMARC."
    )


def test_ses_named_token_absent_signs_as_amazonses_and_fails():
    dkim = dkim_facts(only_guessed=False, absent=[(TOKEN, "user")])
    facts = align(ses_target([TOKEN]), dkim, SES_DEFAULT_ENVELOPE)
    assert facts.dkim_domain == "amazonses.com"
    assert facts.dkim_aligned is False
    assert facts.dmarc_pass is False
    assert "DMARC fails" in facts.explanation and "amazonses.com" in facts.explanation


def test_ses_return_path_setup_names_the_regional_records():
    facts = align(ses_target(), dkim_facts(only_guessed=True), SES_DEFAULT_ENVELOPE)
    assert facts.return_path_setup == [
        "mail.example.org MX 10 feedback-smtp.eu-west-1.amazonses.com",
        'mail.example.org TXT "v=spf1 include:amazonses.com ~all"',
    ]
    assert facts.return_path_note and "subdomain" in facts.return_path_note
    assert facts.dkim_note and "token" in facts.dkim_note


def test_google_without_key_signs_as_gappssmtp():
    target = resolve_target("social.example.org", "notifications@example.org", "smtp.gmail.com:587")
    envelope = EnvelopeFacts(domain="example.org", source="from")
    spf = SpfFacts(domain="example.org", relay_include="_spf.google.com", relay_authorised=True)
    facts = align(target, dkim_facts(only_guessed=False, absent=[("google", "provider")]), envelope, spf=spf)
    assert (facts.dkim_domain, facts.dkim_aligned) == ("gappssmtp.com", False)
    assert facts.dmarc_pass is True and facts.dmarc_pass_via == ["spf"]
    assert facts.return_path_setup == []


def test_self_hosted_guesses_only_is_unknown_in_plain_words():
    target = resolve_target("example.org", "notifications@example.org", "localhost:25")
    target.sending_ips = ["192.0.2.10"]
    envelope = EnvelopeFacts(domain="example.org", source="from")
    spf = SpfFacts(
        domain="example.org", sender_results={"192.0.2.10": "fail"}, sender_failures=["192.0.2.10"]
    )
    facts = align(target, dkim_facts(only_guessed=True), envelope, spf=spf)
    assert facts.spf_authorises is False
    assert isinstance(facts.dmarc_pass, Unknown)
    assert "your mail server" in facts.dkim_key_found.reason


def test_self_hosted_named_selector_absent_fails_with_plain_explanation():
    target = resolve_target(
        "example.org", "notifications@example.org", "localhost:25", dkim_selectors=["mail"]
    )
    target.sending_ips = ["192.0.2.10"]
    envelope = EnvelopeFacts(domain="example.org", source="from")
    spf = SpfFacts(
        domain="example.org", sender_results={"192.0.2.10": "fail"}, sender_failures=["192.0.2.10"]
    )
    facts = align(target, dkim_facts(only_guessed=False, absent=[("mail", "user")]), envelope, spf=spf)
    assert facts.dmarc_pass is False
    assert facts.dkim_domain is None
    assert facts.explanation == (
        "With your own mail server, DMARC fails: the envelope domain example.org does not authorise your own "
        "mail server in its SPF record, and no DKIM signature is expected (no key was found)."
    )


def test_unknown_relay_predicts_nothing():
    target = resolve_target("example.org", "notifications@example.org", "smtp.example.net:587")
    facts = align(target, dkim_facts(only_guessed=True), EnvelopeFacts(domain="example.org"))
    assert facts.relay_known is False
    assert facts.return_path_setup == [] and facts.dkim_note is None


@pytest.mark.parametrize(
    ("instance", "sender", "related"),
    [
        ("social.example.org", "notifications@example.org", True),
        ("example.org", "notifications@mail.example.org", True),
        ("example.org", "notifications@example.net", False),
    ],
)
def test_from_related_uses_organizational_domains(instance, sender, related):
    target = resolve_target(instance, sender, "smtp.gmail.com:587")
    dmarc = DmarcFacts(domain=target.from_domain, org_domain=sender.split("@")[1].removeprefix("mail."))
    facts = align(
        target, dkim_facts(only_guessed=True), EnvelopeFacts(domain=target.from_domain), dmarc=dmarc
    )
    assert facts.from_related is related


# -- The align.* rules' wording, end to end over the loopback DNS server ------------------------------------

SES_BASE = f"""
_dmarc.example.org. TXT "v=DMARC1; p=quarantine"
example.org. TXT "v=spf1 -all"
amazonses.com. TXT "v=spf1 ip4:199.255.192.0/22 -all"
{TOKEN}.dkim.amazonses.com. TXT "p={RSA2048[:253]}" "{RSA2048[253:]}"
"""
SES_ZONE = SES_BASE + f"{TOKEN}._domainkey.example.org. CNAME {TOKEN}.dkim.amazonses.com.\n"


@pytest.fixture(scope="module")
def align_rules():
    return [rule for rule in load_rules() if rule.id.startswith("align.")]


def audit(server: DnsServer, rules, zone: str, **target):
    server.clear()
    server.add_zone_text(zone)
    resolved = resolve_target(
        "social.example.org",
        "notifications@example.org",
        SES_HOST,
        dkim_selectors=target.get("selectors", []),
    )
    result = run_audit(resolved, AuditOptions(nameservers=[server.nameserver], timeout=0.4), rules=rules)
    return {finding.rule: finding for finding in result.findings}


def test_ses_without_custom_mail_from_says_spf_is_not_aligned_not_missing(dns_server, align_rules):
    findings = audit(dns_server, align_rules, SES_ZONE, selectors=[TOKEN])
    spf = findings["align.spf"]
    assert spf.status == "fail"
    assert "DMARC passes through DKIM alone; SPF is not aligned" in spf.message
    assert "missing" not in (spf.title + spf.message).lower()
    assert "mail.example.org MX 10 feedback-smtp.eu-west-1.amazonses.com" in spf.action
    assert 'mail.example.org TXT "v=spf1 include:amazonses.com ~all"' in spf.action
    assert findings["align.dmarc-fail"].status == "pass"
    assert findings["align.dmarc-fail"].message.startswith("With Amazon SES, DMARC passes through DKIM alone")


def test_ses_dmarc_fail_message_uses_the_explanation(dns_server, align_rules):
    findings = audit(
        dns_server, align_rules, SES_BASE, selectors=[TOKEN]
    )  # the token's CNAME is not published
    failed = findings["align.dmarc-fail"]
    assert failed.status == "fail"
    assert failed.message.startswith(
        "With Amazon SES, DMARC fails: the envelope domain amazonses.com passes SPF but does not align with "
        "example.org, and DKIM signs as amazonses.com"
    )
    assert findings["align.dkim"].status == "fail"
