"""The fix loop: for every failing rule case, apply the proposed records to the zone, audit again, expect pass.

Each `expect: fail` case in tests/rules/cases/ is audited against the loopback DNS server, `propose_fixes`
runs, and the records linked from the finding are applied to the case's zone text (add: the zone-file line
the report shows, TXT split into 255-byte strings; replace/remove: the old record taken out, which must be
there). The same rule must then pass (or no longer apply). Cases whose fix needs an account-specific value or a human decision are
listed in NOT_APPLIED with the reason; the test fails for a failing case that is neither fixed nor listed,
and for a listed case that has gained an exact fix (take it off the list).
"""

from __future__ import annotations

import dataclasses

import pytest
from casefiles import RuleCase, load_case_files
from dnsserver import DnsServer
from fixapply import apply_records, apply_settings
from test_rule_cases import RULES, audit_case, smtp_lab  # noqa: F401 - smtp_lab is a fixture used here

from auditor.fixes import propose_fixes

NO_FIX = "the rule names no fix: the change needs a human decision"
NO_RELAY = "placeholder: the relay is unknown, so the SPF include it needs cannot be named"
NEW_KEY = "no fix: only the signer (the server or the provider's console) can make a new key"
ACCOUNT_DKIM = "the rule names no fix; the DKIM records need account-specific values (placeholders)"
RELAY_SIDE = "no settings line fixes this: the relay's password, certificate, network or policy"


def _cases(rule: str, reason: str, *names: str) -> dict[str, str]:
    return {f"{rule}::{name}": reason for name in names}


NOT_APPLIED: dict[str, str] = {
    "dns.temperror::one name times out": "no DNS record fixes a server that does not answer",
    "dmarc.multiple::two records at the same name": NO_FIX + " (which of the two policies to keep)",
    "mx.missing::no MX, only an address": NO_FIX + " (which server receives mail)",
    "mx.null::null MX": NO_FIX + " (whether the domain should receive mail, and where)",
    "mx.null::null MX mixed with a real one": NO_FIX,
    "mx.unresolvable::one host without address": NO_FIX + " (add the host's address or drop the MX)",
    "ptr.mismatch::PTR name points elsewhere": "PTR records are set by the hosting provider, not in the zone",
    "ptr.mismatch::MX host whose PTR does not resolve back": "PTR records are set by the hosting provider",
    "ptr.missing::sending IP without PTR": "PTR records are set by the hosting provider, not in the zone",
    "spf.lookup-headroom::nine lookups": NO_FIX + " (which includes are no longer used)",
    "spf.loop::include points back at itself through another record": NO_FIX,
    "spf.loop::redirect to itself": NO_FIX,
    "spf.missing::only other TXT records": NO_RELAY,
    "spf.missing::domain does not exist": NO_RELAY,
    "spf.ptr::ptr in an include": NO_FIX + " (the ptr term is in a third party's record)",
    "spf.size::a long record correctly split into strings still over 512 bytes": NO_FIX,
    "spf.syntax::unknown mechanism": NO_FIX,
    "spf.syntax::bad ip4 address": NO_FIX,
    "spf.syntax::include without SPF record": NO_FIX,
    **_cases(
        "align.dkim",
        ACCOUNT_DKIM,
        "Google Workspace without key signs as gappssmtp.com",
        "SES token CNAME missing: signs as amazonses.com",
        "Microsoft 365 CNAMEs missing: signs as the tenant",
        "self-hosted selector named but no key",
    ),
    **_cases(
        "align.dmarc-fail",
        ACCOUNT_DKIM,
        "SES token CNAME missing and no custom MAIL FROM",
        "Google Workspace without key and without the SPF include",
        "SendGrid without domain authentication",
        "self-hosted: SPF lacks the server's address and no key",
    ),
    **_cases(
        "align.from-domain",
        NO_FIX + " (which From domain the instance should use)",
        "From at an unrelated domain",
        "From at a sibling under a multi-label suffix",
        "Mastodon's default From notifications@localhost",
    ),
    **_cases(
        "align.spf",
        "placeholder: SendGrid's em<N> return path names the account; only its console shows it",
        "SendGrid without domain authentication uses its own return path",
    ),
    "align.spf::SES custom MAIL FROM under strict aspf=s": "a policy decision: relax aspf=s or send from the subdomain",
    **_cases(
        "dkim.insecure-key",
        NEW_KEY,
        "512-bit key at the self-hosted selector",
        "512-bit key behind the SES token CNAME",
    ),
    **_cases(
        "dkim.weak-key",
        NEW_KEY,
        "1024-bit Postmark key",
        "Microsoft 365 selector1 1024 bits, selector2 2048",
        "512-bit key is below 2048 too",
    ),
    **_cases(
        "dkim.revoked",
        NEW_KEY,
        "Microsoft 365 selector1 revoked after rotation",
        "self-hosted selector revoked",
    ),
    **_cases(
        "dkim.missing",
        ACCOUNT_DKIM,
        "Google Workspace without google._domainkey",
        "SES token given but its CNAME is not published",
        "SES token CNAME points at a name with no key",
        "self-hosted selector named but no key",
        "named selector missing while a key sits at another name",
    ),
    **_cases(
        "dkim.selector-unknown",
        "only the admin can name the selector (--dkim-selector)",
        "SES without a token: Easy DKIM tokens cannot be guessed",
        "Postmark without its date-based selector",
        "self-hosted server with a custom selector not given",
        "unknown relay, nothing at the usual names",
    ),
    **_cases(
        "dkim.syntax",
        NEW_KEY + " or correct the record it publishes",
        "v=DKIM1 not first",
        "unknown key type k=dsa",
        "p= is not base64",
        "p= is cut off, not a key",
        "h=sha1 only",
        "k=ed25519 with an RSA key",
        "two key records at one selector",
        "no p= at the provider's selector",
    ),
    **_cases(
        "dkim.testing",
        NO_FIX + " (the key's t=y is set by its signer)",
        "t=y on the Google key",
        "t=y:s on the self-hosted key",
    ),
    **_cases(
        "smtp.unknown-setting",
        "placeholder: the renamed line keeps its value, which the settings model does not hold",
        "SMTP_HOST instead of SMTP_SERVER",
        "a typo in a key and the non-existent SMTP_BULK_MAIL_SERVER",
    ),
    **_cases(
        "smtp.auth-failed",
        RELAY_SIDE,
        "wrong password",
        "wrong password with AUTH LOGIN",
        "login without a password",
    ),
    **_cases("smtp.auth-required", RELAY_SIDE, "relay wants a login and the settings give none"),
    **_cases(
        "smtp.cert-invalid",
        RELAY_SIDE,
        "self-signed certificate",
        "expired certificate",
        "certificate for another name",
        "issuer unknown to the system store",
    ),
    **_cases("smtp.no-greeting", RELAY_SIDE, "port accepts and never speaks"),
    **_cases("smtp.port-blocked", RELAY_SIDE, "port times out (firewall)"),
    **_cases(
        "smtp.rejected-from", RELAY_SIDE, "sender refused with 553", "sender refused during a send test"
    ),
    **_cases("smtp.send-failed", RELAY_SIDE, "test message refused at the sender"),
    **_cases("smtp.unreachable", RELAY_SIDE, "nothing listens on the port", "relay name missing from DNS"),
    "mx.envelope::Resend's send subdomain not set up": "placeholder: the MX names the account's region",
    **_cases(
        "smtp.auth-method",
        NO_FIX + " (the login, password or method the relay wants)",
        "SMTP_AUTH_METHOD=none with a login for a provider",
        "a provider relay without a login",
        "a login without its password",
        "an authentication method the mail library does not know",
    ),
    "smtp.login-format::SES with the IAM user's name as login": "placeholder: the SES SMTP user name is the account's",
    "smtp.provider-unknown::a relay nobody has described": NO_FIX,
}

FAIL_CASES = [case for cases in load_case_files().values() for case in cases if case.expect == "fail"]


@pytest.fixture(scope="module")
def server():
    with DnsServer() as running:
        yield running


def probe_overrides(result, settings: list[dict]) -> dict:
    """The SmtpSettings fields the proposed lines change, read from the probe's own change list."""
    overrides = {}
    for line in settings:
        change = next(c for c in result.facts.probe.setting_changes if (c.key, c.value) == (line["key"], line["value"]))
        value = change.model_value if change.model_value is not None else change.value
        if change.field == "port":
            value = int(value)
        elif change.field == "starttls_required":
            value = value in (True, "true", "always")
        overrides[change.field] = value
    return overrides


def fixed_by(result, finding) -> tuple[list[dict], list[dict]]:
    records = [r for r in result.records if r["id"] in finding.fixes]
    settings = [s for s in result.settings if s["id"] in finding.fixes]
    return records, settings


@pytest.mark.parametrize("case", FAIL_CASES, ids=[c.id for c in FAIL_CASES])
def test_fix_makes_the_rule_pass(server, case: RuleCase, tmp_path, request):
    if case.id in NOT_APPLIED and RULES[case.rule].fix is None:
        return  # no fix to propose: nothing to check (and no live probe to wait for)
    lab = request.getfixturevalue("smtp_lab") if case.probe else None
    result = audit_case(server, case, tmp_path, lab)
    (finding,) = result.findings
    assert finding.status == "fail", f"{case.id}: the case itself does not fail ({finding.status})"
    propose_fixes(result)
    assert not finding.render_errors, finding.render_errors
    records, settings = fixed_by(result, finding)
    exact = (records or settings) and not any(c["placeholder"] for c in records + settings)

    if case.id in NOT_APPLIED:
        assert not exact, (
            f"{case.id} now has an exact fix ({records + settings}); take it off NOT_APPLIED so the loop applies it"
        )
        return
    assert exact, (
        f"{case.id}: no exact fix was proposed ({records + settings}); make the rule's fix propose one, or list "
        "the case in NOT_APPLIED with the reason"
    )
    patched = dataclasses.replace(case, zone=apply_records(case.zone, records))
    if settings and case.probe:
        # A probe case's settings are the lab's SmtpSettings, not a file: apply the lines as the fields they stand for.
        patched.probe = {**case.probe, "settings": {**(case.probe.get("settings") or {}),
                                                     **probe_overrides(result, settings)}}
    elif settings:
        assert case.settings, f"{case.id}: setting fixes for a case without a settings file"
        patched.settings = {**case.settings, "text": apply_settings(case.settings["text"], settings)}
    (tmp_path / "after").mkdir()
    again = audit_case(server, patched, tmp_path / "after", lab)
    (after,) = again.findings
    # "skip": the fix removed what the rule looks at (pct= gone, so the pct rule no longer applies).
    assert after.status in ("pass", "skip"), (
        f"{case.id}: after applying {[(r['action'], r['name'], r['type'], r['value']) for r in records]} "
        f"the rule is {after.status}: {after.message}"
    )


def test_not_applied_lists_only_existing_cases():
    ids = {case.id for case in FAIL_CASES}
    stale = sorted(set(NOT_APPLIED) - ids)
    assert not stale, f"NOT_APPLIED names cases that no longer exist or no longer fail: {stale}"
