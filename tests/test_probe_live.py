"""The SMTP probe against real servers on loopback (tests/smtpservers.py): TLS modes, certificates, logins,
senders, silent and closed ports, blocked ports with working alternatives, and DNS through the loopback server.

Every probe runs with a 1 s step timeout; `ends_in_time` checks the whole probe kept to its deadline.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
from smtpservers import FROM_ADDRESS, LOGIN, PASSWORD, SmtpLab

from auditor.errors import AuditorError
from auditor.facts.base import Unknown, is_unknown, to_jsonable
from auditor.probe import ProbeFacts, ProbeOptions, model, probe

STEP = 1.0
SLACK = 0.5  # scheduling slack on a busy machine; the deadline itself is 4 × STEP


@pytest.fixture(scope="module")
def lab():
    with SmtpLab() as running:
        yield running


def run(settings, resolver=None, **options) -> ProbeFacts:
    opts = ProbeOptions(timeout=STEP, **options)
    started = time.monotonic()
    facts = asyncio.run(probe(settings, opts, resolver))
    assert time.monotonic() - started < opts.deadline + SLACK, "the probe overran its deadline"
    return facts


def secret_forms() -> list[str]:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return [PASSWORD, b64(PASSWORD), b64(f"\0{LOGIN}\0{PASSWORD}")]


def assert_no_secret(facts: ProbeFacts) -> None:
    everywhere = json.dumps(to_jsonable(facts)) + repr(facts) + "\n".join(facts.transcript)
    for form in secret_forms():
        assert form not in everywhere


# -- the healthy paths ------------------------------------------------------------------------------------


def test_starttls_with_plain_login_works_end_to_end(lab: SmtpLab) -> None:
    facts = run(lab.settings("starttls"), auth=True)
    assert facts.connect.outcome == "ok" and facts.connect.address == "127.0.0.1"
    assert facts.banner_code == 220 and "mail.example.test" in facts.banner
    assert facts.ehlo_name == "mastodon.example.test"
    assert facts.starttls_offered is True
    assert facts.tls.ok and facts.tls.version.startswith("TLSv1.") and facts.tls.cipher
    cert = facts.certificate
    assert cert.valid and cert.hostname_ok and cert.chain_ok and not cert.self_signed and not cert.expired
    assert "localhost" in cert.names
    assert facts.auth_mechanisms == ["CRAM-MD5", "LOGIN", "PLAIN"]  # offered only after STARTTLS
    assert facts.eight_bit_mime is True and facts.size_limit == 33554432
    assert facts.auth.ok and facts.auth.code == 235
    assert facts.mail_from.accepted and facts.mail_from.address == "notifications@example.test"
    verdicts = [
        facts.unreachable,
        facts.tls_failed,
        facts.cert_invalid,
        facts.auth_failed,
        facts.rejected_from,
    ]
    assert verdicts == [False] * 5
    assert facts.suggestions == []
    assert "C: AUTH PLAIN ****" in facts.transcript
    assert "S: 235 2.7.0 Authentication successful" in facts.transcript
    assert_no_secret(facts)


def test_implicit_tls_port_with_implicit_settings(lab: SmtpLab) -> None:
    facts = run(lab.settings("implicit"), auth=True)
    assert facts.tls.mode == "implicit" and facts.tls.ok
    assert facts.banner_code == 220
    assert facts.auth.ok and facts.tls_mismatch is False
    assert facts.transcript.index("-- TLS handshake (implicit, verify peer)") < next(
        i for i, line in enumerate(facts.transcript) if line.startswith("S: 220")
    )


def test_auth_login_good_password_never_shows_the_credentials(lab: SmtpLab) -> None:
    facts = run(lab.settings("starttls", auth_method="login"), auth=True)
    assert facts.auth.ok and facts.auth.method == "login"
    login_lines = facts.transcript[facts.transcript.index("C: AUTH LOGIN") :]
    assert login_lines[1:5] == [login_lines[1], "C: ****", login_lines[3], "C: ****"]
    assert base64.b64encode(LOGIN.encode()).decode() not in "\n".join(facts.transcript)
    assert_no_secret(facts)


def test_cram_md5_login(lab: SmtpLab) -> None:
    facts = run(lab.settings("starttls", auth_method="cram_md5"), auth=True)
    assert facts.auth.ok and facts.auth.code == 235
    start = facts.transcript.index("C: AUTH CRAM-MD5")
    assert facts.transcript[start + 1].startswith("S: 334 ") and facts.transcript[start + 2] == "C: ****"
    assert_no_secret(facts)


@pytest.mark.parametrize("method", ["plain", "login", "cram_md5"])
def test_bad_password_is_an_auth_failure_with_hints(lab: SmtpLab, method: str) -> None:
    wrong = PASSWORD[::-1]
    facts = run(lab.settings("starttls", auth_method=method, secret=wrong), auth=True)
    assert facts.auth.attempted and facts.auth.ok is False and facts.auth.code == 535
    assert facts.auth_failed is True and facts.auth_unsupported is False
    assert facts.auth.explanation and any("SMTP_PASSWORD" in hint for hint in facts.auth.hint)
    everywhere = json.dumps(to_jsonable(facts)) + repr(facts)
    assert wrong not in everywhere and base64.b64encode(wrong.encode()).decode() not in everywhere
    assert is_unknown(facts.rejected_from)  # the app stops at the login; the sender was never asked


def test_login_not_tried_without_the_auth_option(lab: SmtpLab) -> None:
    facts = run(lab.settings("starttls"))
    assert facts.auth.attempted is False and "--auth" in facts.auth.skipped
    assert is_unknown(facts.auth_failed)
    assert facts.mail_from.attempted is False and is_unknown(facts.rejected_from)
    assert not any(line.startswith("C: AUTH") for line in facts.transcript)


def test_send_test_delivers_with_the_apps_headers(lab: SmtpLab) -> None:
    settings = lab.settings(
        "starttls", reply_to="admin@example.test", return_path="bounces@bounce.example.test"
    )
    before = len(lab.handlers["starttls"].received)
    facts = run(settings, send_test_to="inbox@example.net")
    assert facts.send.accepted and facts.send.stage == "sent" and facts.send.code == 250
    assert facts.send_failed is False
    received = lab.handlers["starttls"].received[before:]
    assert len(received) == 1
    got = received[0]
    assert got.mail_from == "bounces@bounce.example.test"  # Return-Path is the envelope sender
    assert got.rcpt_tos == ["inbox@example.net"]
    text = got.content.decode()
    assert f"From: {FROM_ADDRESS}" in text and "Reply-To: admin@example.test" in text
    assert f"Subject: {facts.send.subject}" in text and facts.send.message_id in text
    assert facts.send.message_id.endswith("@example.test>")
    assert any(facts.send.subject in note for note in facts.send.look_for)
    assert_no_secret(facts)


def test_two_send_tests_have_different_subjects(lab: SmtpLab) -> None:
    first = run(lab.settings("starttls"), send_test_to="inbox@example.net")
    second = run(lab.settings("starttls"), send_test_to="inbox@example.net")
    assert first.send.subject != second.send.subject


# -- TLS mode mismatches ----------------------------------------------------------------------------------


def test_implicit_tls_against_a_starttls_port(lab: SmtpLab) -> None:
    facts = run(lab.settings("starttls", tls="implicit"))
    assert facts.tls.ok is False and "wrong version number" in facts.tls.error
    assert facts.tls.mismatch == model.IMPLICIT_ON_STARTTLS_PORT
    assert facts.tls_failed is True and facts.tls_mismatch is True
    changes = {c.key: c.value for c in facts.setting_changes}
    assert changes == {"SMTP_TLS": "false", "SMTP_ENABLE_STARTTLS": "always"}
    assert "SMTP_TLS=false" in facts.suggestions[0]


def test_starttls_against_an_implicit_port(lab: SmtpLab) -> None:
    facts = run(lab.settings("implicit", tls="starttls"))
    assert facts.no_greeting is True
    assert facts.tls.mismatch == model.STARTTLS_ON_IMPLICIT_PORT
    assert facts.tls_failed is True and facts.tls_mismatch is True
    assert {c.key: c.value for c in facts.setting_changes} == {"SMTP_TLS": "true"}
    assert "SMTP_TLS=true" in facts.suggestions[0]


def test_starttls_always_against_an_implicit_port_also_drops_always(lab: SmtpLab) -> None:
    facts = run(lab.settings("implicit", tls="starttls", starttls_required=True))
    assert facts.tls.mismatch == model.STARTTLS_ON_IMPLICIT_PORT
    assert {c.key: c.value for c in facts.setting_changes} == {
        "SMTP_TLS": "true",
        "SMTP_ENABLE_STARTTLS": "auto",
    }


def test_required_starttls_not_offered(lab: SmtpLab) -> None:
    facts = run(lab.settings("plain", starttls_required=True))
    assert facts.starttls_offered is False
    assert facts.tls.mismatch == model.STARTTLS_NOT_OFFERED and facts.tls_failed is True


def test_opportunistic_starttls_not_offered_goes_on_in_clear(lab: SmtpLab) -> None:
    facts = run(lab.settings("plain"), auth=True)
    assert facts.tls_failed is False and facts.tls_mismatch is True
    assert facts.auth.ok  # the app logs in over the clear connection
    assert any("in clear" in s for s in facts.suggestions)
    assert_no_secret(facts)


def test_tls_off_while_the_relay_offers_starttls(lab: SmtpLab) -> None:
    facts = run(lab.settings("starttls", tls="none"))
    assert facts.tls.attempted is False and facts.starttls_offered is True
    assert is_unknown(facts.cert_invalid)
    assert any(c.key == "SMTP_ENABLE_STARTTLS" and c.value == "always" for c in facts.setting_changes)


# -- certificates -----------------------------------------------------------------------------------------


def test_self_signed_certificate_is_refused_and_explained(lab: SmtpLab) -> None:
    facts = run(lab.settings("self_signed"))
    cert = facts.certificate
    assert facts.cert_invalid is True and facts.tls_failed is False and facts.tls.certificate_error
    assert cert.self_signed is True and cert.chain_ok is False and cert.valid is False
    assert cert.hostname_ok is True and cert.subject == "CN=localhost"
    assert "self-signed" in facts.suggestions[0]


def test_expired_certificate(lab: SmtpLab) -> None:
    facts = run(lab.settings("expired"))
    cert = facts.certificate
    assert facts.cert_invalid is True
    assert cert.expired is True and cert.days_left < 0 and cert.chain_ok is True
    assert "expired" in cert.error and "expired" in facts.suggestions[0]


def test_certificate_for_another_name(lab: SmtpLab) -> None:
    facts = run(lab.settings("wrong_name"))
    cert = facts.certificate
    assert facts.cert_invalid is True
    assert cert.hostname_ok is False and cert.names == ["other.example.net"] and cert.chain_ok is True
    assert "other.example.net" in facts.suggestions[0] and "SMTP_SERVER" in facts.suggestions[0]


def test_unknown_issuer_with_the_system_store(lab: SmtpLab) -> None:
    facts = run(lab.settings("starttls", ca_file=None))  # the system store does not hold the test CA
    assert facts.cert_invalid is True
    assert facts.certificate.chain_ok is False and facts.certificate.self_signed is False
    assert "issuer" in facts.certificate.error


def test_verify_none_inspects_but_goes_on(lab: SmtpLab) -> None:
    facts = run(lab.settings("self_signed", verify="none"), auth=True)
    assert facts.tls.ok and facts.cert_invalid is False
    assert facts.certificate.valid is False and facts.certificate.self_signed is True
    assert facts.auth.ok  # the connection was not failed
    assert any("would fail" in note for note in facts.notes)


def test_verify_none_with_a_good_certificate_suggests_peer(lab: SmtpLab) -> None:
    facts = run(lab.settings("starttls", verify="none"))
    assert facts.certificate.valid is True
    assert any(c.key == "SMTP_OPENSSL_VERIFY_MODE" and c.value == "peer" for c in facts.setting_changes)


def test_missing_ca_file(lab: SmtpLab, tmp_path) -> None:
    facts = run(lab.settings("starttls", ca_file=str(tmp_path / "nope.pem")))
    assert facts.tls_failed is True and "does not exist" in facts.tls.error
    assert any(c.key == "SMTP_CA_FILE" for c in facts.setting_changes)


# -- login methods and senders ----------------------------------------------------------------------------


def test_relay_without_logins(lab: SmtpLab) -> None:
    facts = run(lab.settings("no_auth"), auth=True)
    assert facts.auth_mechanisms == []
    assert facts.auth.code == 504 and facts.auth_unsupported is True and facts.auth_failed is False
    assert {c.key: c.value for c in facts.setting_changes} == {"SMTP_AUTH_METHOD": "none"}


def test_app_without_login_checks_the_sender_directly(lab: SmtpLab) -> None:
    facts = run(lab.settings("no_auth", login=None, secret=None, auth_method="none"), auth=True)
    assert facts.auth.attempted is False and facts.auth_failed is False
    assert facts.mail_from.accepted is True and facts.rejected_from is False


def test_rejected_from(lab: SmtpLab) -> None:
    facts = run(lab.settings("reject_from"), auth=True)
    assert facts.rejected_from is True
    assert facts.mail_from.code == 553 and "not owned" in facts.mail_from.message
    assert "SMTP_FROM_ADDRESS" in facts.suggestions[0]


def test_rejected_from_during_a_send_test(lab: SmtpLab) -> None:
    facts = run(lab.settings("reject_from"), send_test_to="inbox@example.net")
    assert facts.rejected_from is True and facts.send_failed is True
    assert facts.send.stage == "mail" and facts.send.accepted is False


def test_login_without_password(lab: SmtpLab) -> None:
    facts = run(lab.settings("starttls", secret=None), auth=True)
    assert facts.auth_failed is True and "missing secret phrase" in facts.suggestions[0]


# -- ports that do not answer -----------------------------------------------------------------------------


def test_port_that_accepts_and_never_speaks(lab: SmtpLab) -> None:
    facts = run(lab.settings("silent"))
    assert facts.connect.outcome == "ok"
    assert facts.no_greeting is True and facts.banner is None
    assert is_unknown(facts.tls_mismatch)  # not a TLS port either
    assert "no greeting" in facts.suggestions[0]


def test_closed_port(lab: SmtpLab) -> None:
    facts = run(lab.settings("closed"))
    assert facts.connect.outcome == "refused"
    assert facts.unreachable is True and facts.port_blocked is False
    assert facts.addresses[0].outcome == "refused"
    assert is_unknown(facts.tls_failed) and "refused" in facts.tls_failed.reason


def test_blocked_port_times_out(lab: SmtpLab) -> None:
    facts = run(lab.settings("blackhole"))
    assert facts.connect.outcome == "timeout"
    assert facts.unreachable is True and facts.port_blocked is True
    assert "firewall" in facts.suggestions[0]


def test_blocked_port_with_working_alternatives(lab: SmtpLab) -> None:
    closed, starttls, implicit = lab.ports["closed"], lab.ports["starttls"], lab.ports["implicit"]
    facts = run(
        lab.settings("blackhole"),
        alternative_ports=[(closed, "starttls"), (implicit, "implicit"), (starttls, "starttls")],
    )
    outcomes = {alt.port: alt.outcome for alt in facts.alternative_ports}
    assert outcomes == {closed: "refused", implicit: "ok", starttls: "ok"}
    blocked = lab.ports["blackhole"]
    # The alternative with the same TLS mode as the settings wins: only the port changes.
    assert facts.suggestions[0] == f"{blocked} is blocked, {starttls} works: set SMTP_PORT={starttls}"
    assert [(c.key, c.value, c.current) for c in facts.setting_changes] == [
        ("SMTP_PORT", str(starttls), str(blocked))
    ]


def test_blocked_port_with_only_an_implicit_alternative(lab: SmtpLab) -> None:
    implicit = lab.ports["implicit"]
    facts = run(lab.settings("blackhole"), alternative_ports=[(implicit, "implicit")])
    assert facts.suggestions[0].endswith(f"set SMTP_PORT={implicit} and SMTP_TLS=true")


def test_alternatives_are_tried_only_when_the_port_fails(lab: SmtpLab) -> None:
    facts = run(lab.settings("starttls"), alternative_ports=[(lab.ports["implicit"], "implicit")])
    assert facts.alternative_ports == []


# -- DNS --------------------------------------------------------------------------------------------------


def test_relay_name_resolved_through_the_given_resolver(lab: SmtpLab, dns_server, make_resolver) -> None:
    dns_server.add_record("mail.example.test.", "A", "127.0.0.1")
    facts = run(lab.settings("starttls", host="mail.example.test"), resolver=make_resolver())
    assert facts.dns.source == "resolver" and facts.dns.addresses == ["127.0.0.1"]
    assert facts.certificate.hostname_ok and facts.tls.ok  # checked against the name, not the address
    assert dns_server.queries("mail.example.test.", "A")


def test_relay_name_missing_from_dns(lab: SmtpLab, dns_server, make_resolver) -> None:
    dns_server.add_record("example.test.", "A", "127.0.0.1")
    facts = run(lab.settings("starttls", host="smtp.example.test"), resolver=make_resolver())
    assert facts.dns.outcome == "nxdomain"
    assert facts.connect.outcome == "dns-failure" and facts.unreachable is True
    assert "typo" in facts.suggestions[0] and facts.addresses == []


def test_dns_timeout_is_unknown_not_unreachable(lab: SmtpLab, dns_server, make_resolver) -> None:
    dns_server.drop("mail.example.test.")
    facts = run(lab.settings("starttls", host="mail.example.test"), resolver=make_resolver(timeout=0.5))
    assert facts.dns.outcome == "timeout" and facts.connect.outcome == "dns-failure"
    assert isinstance(facts.unreachable, Unknown)


def test_system_resolver_when_no_resolver_is_given(lab: SmtpLab) -> None:
    facts = run(lab.settings("starttls"))
    assert facts.dns.source == "system" and "127.0.0.1" in facts.dns.addresses


def test_ip_address_host_skips_dns(lab: SmtpLab) -> None:
    facts = run(lab.settings("starttls", host="127.0.0.1"))
    assert facts.dns.outcome == "literal"
    assert facts.cert_invalid is True and facts.certificate.hostname_ok is False  # the cert names no IP


# -- settings the probe cannot use ------------------------------------------------------------------------


def test_no_host_is_one_clear_error(lab: SmtpLab) -> None:
    with pytest.raises(AuditorError, match="no SMTP relay"):
        asyncio.run(probe(lab.settings("starttls", host=None)))


def test_secret_absent_from_every_outcome(lab: SmtpLab) -> None:
    """Every path that touches the password, in one place: good, bad, LOGIN, send, TLS mismatch."""
    cases = [
        (lab.settings("starttls"), {"auth": True}),
        (lab.settings("starttls", auth_method="login"), {"auth": True}),
        (lab.settings("plain"), {"auth": True}),
        (lab.settings("implicit"), {"send_test_to": "inbox@example.net"}),
        (lab.settings("starttls", tls="implicit"), {"auth": True}),
    ]
    for settings, options in cases:
        assert_no_secret(run(settings, **options))
