"""The settings facts the `smtp.*` rules read (auditor/facts/smtp.py), and the sender facts behind
`spf.provider-missing` and `mx.envelope` (auditor/facts/sender.py).

Settings come from real files through the real reader (`load_settings`); envelope lookups go to the loopback
DNS server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from auditor.appconfig import load_settings
from auditor.facts.base import Unknown
from auditor.facts.model import SpfFacts
from auditor.facts.sender import _name_pattern, collect_envelope, own_ip_authorisation
from auditor.facts.smtp import collect_smtp, from_problem
from auditor.target import resolve_target

BASE = "LOCAL_DOMAIN=example.org\nSMTP_FROM_ADDRESS=notifications@example.org\n"


def smtp_facts(tmp_path: Path, text: str, **target):
    path = tmp_path / ".env.production"
    path.write_text(text, encoding="utf-8")
    settings = load_settings(path, "mastodon")
    return collect_smtp(resolve_target(None, settings=settings, **target))


# -- From ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("notifications@example.org", None),
        ("Mastodon <notifications@social.example.org>", None),
        ('"Example, Social" <notifications@example.org>', None),  # RFC 5322 quoting is not a leftover
        ("Mästodon <nö@exämple.org>", None),
        (None, "not set"),
        ("   ", "not set"),
        ('"notifications@example.org"', "quotes"),
        ("'Mastodon <notifications@example.org>'", "quotes"),
        ('"Mastodon <notifications@example.org>', "quotes"),
        ("notifications", "no domain"),
        ("notifications@", "no domain"),
        ("Mastodon <notifications>", "no domain"),
        ("notifications@localhost", "localhost"),
        ("notifications@mastodon", "localhost"),
        ("notifications@box.local", "localhost"),
        ("notifications@exa mple.org", "invalid"),
        ("notifications@example.org, admin@example.org", "invalid"),
        ("n@@example.org", "invalid"),
        ("Mastodon <n@exa_mple.org>", "invalid"),
    ],
)
def test_from_problem(raw, problem):
    assert from_problem(raw) == problem


def test_from_default_names_the_missing_setting(tmp_path):
    facts = smtp_facts(tmp_path, "LOCAL_DOMAIN=example.org\nSMTP_SERVER=smtp.sendgrid.net\n")
    assert facts.from_raw == "notifications@localhost" and facts.from_problem == "localhost"
    assert facts.from_setting_key == "SMTP_FROM_ADDRESS" and facts.from_setting_line is None


def test_from_judges_the_setting_even_when_from_flag_differs(tmp_path):
    path = tmp_path / ".env.production"
    path.write_text("LOCAL_DOMAIN=example.org\nSMTP_FROM_ADDRESS=notifications\n", encoding="utf-8")
    target = resolve_target(None, "notifications@example.org", settings=load_settings(path, "mastodon"))
    facts = collect_smtp(target)
    assert facts.from_raw == "notifications" and facts.from_problem == "no domain"


# -- TLS -------------------------------------------------------------------------------------------------


def test_implicit_tls_on_587_names_the_deciding_line(tmp_path):
    facts = smtp_facts(tmp_path, BASE + "SMTP_SERVER=smtp.mailgun.org\nSMTP_PORT=587\nSMTP_SSL=true\n")
    assert facts.tls == "implicit" and facts.port_tls == "starttls"
    assert "expects STARTTLS" in facts.tls_mismatch
    assert (facts.tls_setting_key, facts.tls_setting_line) == ("SMTP_SSL", 5)
    assert facts.tls_flag_key == "SMTP_TLS"
    assert (facts.port_setting_key, facts.port_setting_line) == ("SMTP_PORT", 4)
    assert facts.alternative_port == 465


def test_starttls_on_465_without_a_flag(tmp_path):
    facts = smtp_facts(tmp_path, BASE + "SMTP_SERVER=smtp.sendgrid.net\nSMTP_PORT=465\n")
    assert facts.tls == "starttls" and facts.tls_from_settings
    assert "implicit TLS" in facts.tls_mismatch
    assert facts.tls_setting_key is None  # Mastodon's default decided; the fix sets SMTP_TLS
    assert facts.alternative_port == 587


def test_no_mismatch_on_an_unknown_port_of_an_unknown_relay(tmp_path):
    facts = smtp_facts(tmp_path, BASE + "SMTP_SERVER=mail.example.net\nSMTP_PORT=10025\nSMTP_TLS=true\n")
    assert facts.port_tls is None and facts.tls_mismatch is None


def test_smtp_flag_alone_guesses_tls_from_the_port():
    facts = collect_smtp(resolve_target("example.org", smtp="smtp.sendgrid.net:465"))
    assert facts.tls == "implicit" and not facts.tls_from_settings and facts.tls_mismatch is None
    assert facts.auth_problem is None  # nothing is known about the login without the settings


def test_plaintext_and_verify_none_only_for_a_remote_relay(tmp_path):
    remote = smtp_facts(
        tmp_path,
        BASE + "SMTP_SERVER=smtp.mailgun.org\nSMTP_ENABLE_STARTTLS=never\nSMTP_OPENSSL_VERIFY_MODE=none\n",
    )
    assert remote.plaintext and remote.verify_none and remote.remote
    assert (remote.verify_setting_key, remote.verify_setting_line) == ("SMTP_OPENSSL_VERIFY_MODE", 5)
    local = smtp_facts(
        tmp_path, BASE + "SMTP_SERVER=localhost\nSMTP_ENABLE_STARTTLS=never\nSMTP_OPENSSL_VERIFY_MODE=none\n"
    )
    assert not local.remote and not local.plaintext and not local.verify_none


def test_default_port_25_is_recorded_as_not_in_the_file(tmp_path):
    facts = smtp_facts(tmp_path, BASE + "SMTP_SERVER=email-smtp.eu-west-1.amazonaws.com\n")
    assert facts.port == 25 and facts.port_25_remote
    assert (facts.port_setting_key, facts.port_setting_line) == ("SMTP_PORT", None)


def test_sendmail_delivery_leaves_the_relay_unused(tmp_path):
    facts = smtp_facts(
        tmp_path, BASE + "SMTP_DELIVERY_METHOD=sendmail\nSMTP_SERVER=smtp.sendgrid.net\nSMTP_PORT=25\n"
    )
    assert facts.transport == "sendmail" and not facts.configured and not facts.port_25_remote


# -- Login and authentication ------------------------------------------------------------------------------


def test_login_format_never_copies_the_login(tmp_path):
    facts = smtp_facts(
        tmp_path,
        BASE + "SMTP_SERVER=smtp.sendgrid.net\nSMTP_PORT=587\nSMTP_LOGIN=someone-7d1f\nSMTP_PASSWORD=x\n",
    )
    assert facts.login_format_ok is False and "apikey" in facts.login_hint
    assert (facts.login_setting_key, facts.login_setting_line) == ("SMTP_LOGIN", 5)
    assert "someone-7d1f" not in repr(facts)


@pytest.mark.parametrize(
    ("lines", "kind"),
    [
        ("SMTP_SERVER=smtp.mailgun.org\nSMTP_LOGIN=a@mg.example.org\nSMTP_PASSWORD=x\n", None),
        (
            "SMTP_SERVER=smtp.mailgun.org\nSMTP_LOGIN=a@mg.example.org\nSMTP_PASSWORD=x\nSMTP_AUTH_METHOD=ntlm\n",
            "unknown-method",
        ),
        (
            "SMTP_SERVER=smtp.mailgun.org\nSMTP_LOGIN=a@mg.example.org\nSMTP_PASSWORD=x\nSMTP_AUTH_METHOD=none\n",
            "login-unused",
        ),
        ("SMTP_SERVER=smtp.mailgun.org\nSMTP_AUTH_METHOD=none\n", "auth-off"),
        ("SMTP_SERVER=smtp.mailgun.org\n", "no-login"),
        ("SMTP_SERVER=mail.example.net\nSMTP_LOGIN=a@example.org\n", "no-password"),
        (
            "SMTP_SERVER=mail.example.net\nSMTP_LOGIN=a@example.org\nSMTP_PASSWORD=x\nSMTP_ENABLE_STARTTLS=never\n",
            "unencrypted",
        ),
        ("SMTP_SERVER=smtp-relay.gmail.com\nSMTP_AUTH_METHOD=none\n", None),  # IP-authorised relay
        ("SMTP_SERVER=localhost\nSMTP_LOGIN=unused\nSMTP_AUTH_METHOD=none\n", None),  # local server
    ],
)
def test_auth_problem(tmp_path, lines, kind):
    facts = smtp_facts(tmp_path, BASE + lines)
    assert facts.auth_problem_kind == kind
    assert (facts.auth_problem is None) == (kind is None)


# -- Sender: envelope requirements and the self-hosted server's own address ---------------------------------


def test_name_pattern_wildcards_account_values():
    assert _name_pattern("feedback-smtp.<region>.amazonses.com").fullmatch(
        "feedback-smtp.us-east-1.amazonses.com"
    )
    assert not _name_pattern("feedback-smtp.<region>.amazonses.com").fullmatch("feedback-smtp.example.net")
    assert _name_pattern("<sendgrid_account>.sendgrid.net").fullmatch("u123.wl45.sendgrid.net")
    assert _name_pattern("<brevo_return_path_target>") is None  # nothing fixed to compare
    assert _name_pattern("pm.mtasv.net").fullmatch("pm.mtasv.net")
    assert not _name_pattern("pm.mtasv.net").fullmatch("pmxmtasv.net")


def test_envelope_mx_timeout_is_unknown_not_missing(dns_server, make_resolver):
    dns_server.add_zone_text(
        "mail.example.org. MX 10 feedback-smtp.eu-west-1.amazonses.com.\n"
        'mail.example.org. TXT "v=spf1 include:amazonses.com ~all"\n'
    )
    dns_server.drop("mail.example.org.", "MX")
    target = resolve_target(
        "example.org", "n@example.org", "email-smtp.eu-west-1.amazonaws.com:587", envelope="mail.example.org"
    )
    facts = asyncio.run(collect_envelope(make_resolver(timeout=0.3), target))
    assert facts.required_mx == "feedback-smtp.eu-west-1.amazonses.com"
    assert (
        isinstance(facts.requirement_met, Unknown) and "MX mail.example.org" in facts.requirement_met.reason
    )


def _self_hosted(ips):
    target = resolve_target("example.org", "n@example.org", "localhost:25")
    target.sending_ips = list(ips)
    return target


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ({"192.0.2.10": "pass", "2001:db8::10": "pass"}, True),
        ({"192.0.2.10": "pass", "2001:db8::10": "softfail"}, False),
        ({"192.0.2.10": "permerror"}, False),
        ({"192.0.2.10": "temperror"}, Unknown),
    ],
)
def test_own_ip_authorisation(results, expected):
    spf = SpfFacts(domain="example.org", record="v=spf1 a -all", exists=True, sender_results=results)
    own_ip_authorisation(_self_hosted(results), spf)
    assert spf.relay_check == "own-ip" and spf.relay_include is None
    if expected is Unknown:
        assert isinstance(spf.relay_authorised, Unknown)
    else:
        assert spf.relay_authorised is expected


def test_own_ip_authorisation_without_addresses_is_unknown():
    spf = SpfFacts(domain="example.org", record="v=spf1 a -all", exists=True)
    own_ip_authorisation(_self_hosted([]), spf)
    assert isinstance(spf.relay_authorised, Unknown) and "public address" in spf.relay_authorised.reason
