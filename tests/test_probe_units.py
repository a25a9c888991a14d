"""The probe's pure parts: host-name matching, certificate reading, masking, replies, the test message,
failure classification and the plain-English advice."""

from __future__ import annotations

import datetime as dt
import errno
import ipaddress
import socket
from email import message_from_bytes

import pytest
import trustme

from auditor.appconfig.model import SettingSource, SmtpSettings
from auditor.probe import advice, message, model, tlscheck
from auditor.probe.redact import MASK, Redactor, b64
from auditor.probe.session import Reply, StepTimeout, classify_os_error, parse_ehlo

# -- host names -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "names", "expected"),
    [
        ("smtp.example.org", ["smtp.example.org"], True),
        ("SMTP.Example.org.", ["smtp.example.org"], True),
        ("smtp.example.org", ["*.example.org"], True),
        ("a.smtp.example.org", ["*.example.org"], False),  # a wildcard covers one label
        ("example.org", ["*.example.org"], False),
        ("smtp.example.org", ["*.org"], False),  # no wildcard over a public suffix-like single label
        ("smtp.example.org", ["sm*.example.org"], False),  # partial wildcards are not honoured
        ("smtp.example.org", ["other.example.org"], False),
    ],
)
def test_hostname_matches_dns_names(host: str, names: list[str], expected: bool) -> None:
    assert tlscheck.hostname_matches(host, names, [], []) is expected


def test_common_name_counts_only_without_dns_names() -> None:
    assert tlscheck.hostname_matches("smtp.example.org", [], [], ["smtp.example.org"]) is True
    assert (
        tlscheck.hostname_matches("smtp.example.org", ["mx.example.org"], [], ["smtp.example.org"]) is False
    )


def test_ip_host_needs_an_ip_name() -> None:
    ip = ipaddress.ip_address("192.0.2.7")
    assert tlscheck.hostname_matches("192.0.2.7", ["192.0.2.7"], [], []) is False
    assert tlscheck.hostname_matches("192.0.2.7", [], [ip], []) is True


# -- certificates -----------------------------------------------------------------------------------------


def _der(leaf: trustme.LeafCert) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(Encoding.DER)


def test_read_certificate_dates_and_names() -> None:
    now = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
    ca = trustme.CA()
    leaf = ca.issue_cert(
        "smtp.example.org", not_before=now - dt.timedelta(days=10), not_after=now + dt.timedelta(days=5)
    )
    cert = model.CertificateOutcome()
    tlscheck.read_certificate(_der(leaf), "smtp.example.org", cert, now=now)
    assert cert.checked and cert.names == ["smtp.example.org"]
    assert cert.days_left == 5 and cert.expired is False and cert.not_yet_valid is False
    assert cert.hostname_ok is True and cert.self_signed is False
    later = model.CertificateOutcome()
    tlscheck.read_certificate(_der(leaf), "mx.example.org", later, now=now + dt.timedelta(days=6))
    assert later.expired is True and later.days_left < 0 and later.hostname_ok is False


def test_unparseable_certificate_is_said_so() -> None:
    cert = model.CertificateOutcome()
    tlscheck.read_certificate(b"not a certificate", "x", cert)
    assert cert.checked is False and "could not be parsed" in cert.error


def test_chain_verdict_from_verify_codes() -> None:
    def error(code: int):
        exc = __import__("ssl").SSLCertVerificationError()
        exc.verify_code = code
        exc.verify_message = "x"
        return exc

    assert tlscheck.chain_ok_from(None) is True
    assert tlscheck.chain_ok_from(error(tlscheck.EXPIRED)) is True
    assert tlscheck.chain_ok_from(error(tlscheck.HOSTNAME_MISMATCH)) is True
    assert tlscheck.chain_ok_from(error(tlscheck.DEPTH_ZERO_SELF_SIGNED)) is False
    assert tlscheck.chain_ok_from(error(tlscheck.UNABLE_TO_GET_ISSUER_LOCALLY)) is False
    assert tlscheck.chain_ok_from(error(999)) is None


def test_unusable_ca_file_is_a_ca_file_error(tmp_path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(tlscheck.CaFileError, match="no usable certificates"):
        tlscheck.app_context("peer", str(junk))
    with pytest.raises(tlscheck.CaFileError, match="does not exist"):
        tlscheck.app_context("peer", str(tmp_path / "missing.pem"))
    assert tlscheck.app_context("none", str(tmp_path / "missing.pem")).check_hostname is False


# -- masking ----------------------------------------------------------------------------------------------


def test_redactor_masks_the_secret_and_its_base64_forms() -> None:
    redactor = Redactor(["s3cret-Pass"], login="user@example.org")
    plain = b64("\0user@example.org\0s3cret-Pass")
    text = f"a s3cret-Pass b {b64('s3cret-Pass')} c {plain}"
    assert redactor.text(text) == f"a {MASK} b {MASK} c {MASK}"


def test_redactor_leaves_short_secrets_and_other_text_alone() -> None:
    assert Redactor(["abc"]).text("abc is a word") == "abc is a word"
    assert Redactor([]).text("nothing") == "nothing"


def test_redactor_scrubs_nested_dataclasses_and_unknowns() -> None:
    from auditor.facts.base import Unknown

    facts = model.ProbeFacts(host="h", port=1, tls_mode="starttls", verify_mode="peer", ehlo_name="e")
    facts.auth.message = "bad password s3cret-Pass"
    facts.auth_failed = Unknown("server said s3cret-Pass")
    facts.extensions = {"X-s3cret-Pass": "s3cret-Pass"}
    Redactor(["s3cret-Pass"]).scrub(facts)
    assert "s3cret" not in repr(facts) + repr(facts.extensions)


# -- replies and EHLO -------------------------------------------------------------------------------------


def test_parse_ehlo_keywords_and_parameters() -> None:
    reply = Reply(250, ["mail.example.org Hello", "SIZE 1000", "auth PLAIN LOGIN", "STARTTLS", "8BITMIME"])
    assert parse_ehlo(reply) == {"SIZE": "1000", "AUTH": "PLAIN LOGIN", "STARTTLS": "", "8BITMIME": ""}
    assert str(Reply(535, ["5.7.8 bad", "credentials"])) == "535 5.7.8 bad credentials"


# -- connect failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), model.REFUSED),
        (TimeoutError(), model.TIMEOUT),
        (StepTimeout("connect"), model.TIMEOUT),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), model.NO_ROUTE),
        (OSError(errno.EHOSTUNREACH, "No route to host"), model.NO_ROUTE),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), model.DNS_FAILURE),
        (OSError(errno.EACCES, "Permission denied"), model.ERROR),
    ],
)
def test_connect_failures_are_told_apart(exc: BaseException, outcome: str) -> None:
    assert classify_os_error(exc)[0] == outcome


# -- the test message -------------------------------------------------------------------------------------


def test_test_message_headers_and_dot_stuffing() -> None:
    subject, message_id, wire = message.build(
        "Mastodon <notifications@example.org>", "me@example.net", "admin@example.org", token="abc123"
    )
    assert subject == "inboxready test abc123" and message_id == "<inboxready.abc123@example.org>"
    assert wire.endswith(b"\r\n.\r\n") and b"\n" not in wire.replace(b"\r\n", b"")
    parsed = message_from_bytes(wire[: -len(b".\r\n")])
    assert (
        parsed["From"] == "Mastodon <notifications@example.org>" and parsed["Reply-To"] == "admin@example.org"
    )
    assert parsed["Message-ID"] == message_id
    body_lines = wire.split(b"\r\n")
    assert not any(line.startswith(b".") and not line.startswith(b"..") for line in body_lines[:-2])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mastodon <notifications@example.org>", "notifications@example.org"),
        ("'Mastodon <n@example.org>'", "n@example.org"),  # docker-compose keeps the quotes
        ("n@example.org", "n@example.org"),
        ("Mastodon", None),
        (None, None),
    ],
)
def test_bare_address(value: str | None, expected: str | None) -> None:
    assert message.bare_address(value) == expected


# -- advice -----------------------------------------------------------------------------------------------


def test_setting_keys_follow_the_recorded_sources() -> None:
    settings = SmtpSettings(
        host="smtp.example.org",
        tls="implicit",
        sources={"tls": SettingSource(".env.production", "SMTP_SSL", line=7)},
    )
    (change,) = advice.tls_changes(settings, "starttls")[:1]
    assert (change.key, change.value, change.current, change.file, change.line) == (
        "SMTP_SSL",
        "false",
        "true",
        ".env.production",
        7,
    )
    assert advice.key_of(settings, "port") == "SMTP_PORT"


def test_login_hints_by_provider() -> None:
    assert any("apikey" in h for h in advice.login_hints("smtp.sendgrid.net", "me@example.org"))
    assert advice.login_hints("smtp.sendgrid.net", "apikey") == []
    assert any("full address" in h for h in advice.login_hints("smtp.zoho.eu", "me"))
    assert any(
        "AKIA" in h for h in advice.login_hints("email-smtp.eu-west-1.amazonaws.com", "me@example.org")
    )
    assert advice.login_hints("email-smtp.eu-west-1.amazonaws.com", "AKIAABCDEFGHIJKLMNOP") == []


def test_auth_hints_prefer_the_provider_profile() -> None:
    builtin = advice.auth_hints(
        "smtp.gmail.com", "me@gmail.com", 534, "5.7.9 Application-specific password", model.ProbeOptions()
    )
    assert any("app password" in h for h in builtin)
    profile = model.ProbeOptions(auth_hints=["From the profile."])
    assert advice.auth_hints("smtp.gmail.com", "me@gmail.com", 534, "x", profile) == ["From the profile."]
    generic = advice.auth_hints("relay.example.org", "me", 535, "5.7.8 bad", model.ProbeOptions())
    assert generic == advice.GENERIC_AUTH_HINTS


def test_mail_from_words() -> None:
    assert "login" in advice.mail_from_words(530, "5.7.0 Authentication required", "n@example.org")
    assert "refuses to send as n@example.org" in advice.mail_from_words(553, "not owned", "n@example.org")
    assert "for now" in advice.mail_from_words(451, "try later", "n@example.org")
