"""The report mail, sent to a real SMTP server on loopback (aiosmtpd with STARTTLS / implicit TLS and AUTH).

The tests parse what the server received: the MIME structure, both bodies, the attachment, the subject; and
they look for the relay password (a distinctive string) in everything the run produced.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import email
import email.policy
import json
import sqlite3
from pathlib import Path

import pytest
from smtpservers import FROM_ADDRESS, LOGIN, PASSWORD, SmtpLab

from auditor.audit import AuditOptions, run_audit
from auditor.cli import build_parser
from auditor.demo import SAMPLE_ZONE, UNUSED_NAMESERVER, demo_target
from auditor.errors import AuditorError
from auditor.weekly.cli import register
from auditor.weekly.diff import diff_runs, open_problems
from auditor.weekly.history import open_history
from auditor.weekly.mail import Attachment, build_message, compose_html, compose_text
from auditor.weekly.sending import MailRelay, MailSendError, relay_from_settings, send_message

NOW = dt.datetime(2026, 12, 4, 7, 0, tzinfo=dt.UTC)
ADMIN = "admin@example.test"


@pytest.fixture(scope="module")
def lab():
    with SmtpLab() as running:
        yield running


@pytest.fixture(autouse=True)
def empty_mailboxes(lab):
    for handler in lab.handlers.values():
        handler.received.clear()


@pytest.fixture(scope="module")
def audited() -> dict:
    """A real audit of the bundled sample instance (DNS answered from its zone file)."""
    options = AuditOptions(nameservers=[UNUSED_NAMESERVER], zone_files=[SAMPLE_ZONE], timeout=2.0)
    return run_audit(demo_target(), options).to_json()


def previous_of(current: dict) -> dict:
    """The run a week before: SPF was fine then, so spf.lookup-limit is a new problem now."""
    previous = copy.deepcopy(current)
    for finding in previous["findings"]:
        if finding["rule"] == "spf.lookup-limit":
            finding["status"] = "pass"
    previous["facts"]["spf"]["lookup_count"] = 5
    return previous


def message_for(current: dict, attachment: Attachment | None = None, secrets=(PASSWORD,)):
    diff = diff_runs(current, previous_of(current), "2026-11-27T07:00:00Z")
    attachment = attachment or Attachment("report.json", json.dumps(current), "application", "json")
    return build_message(
        current,
        diff,
        sender=FROM_ADDRESS,
        recipients=[ADMIN],
        attachment=attachment,
        secrets=list(secrets),
        relay_words="localhost:2525 (STARTTLS)",
        now=NOW,
    )


def not_checked(result: dict) -> str:
    unknown = sum(1 for f in result["findings"] if f["status"] == "unknown")
    return f", {unknown} not checked" if unknown else ""


def received_message(lab: SmtpLab, server: str) -> email.message.EmailMessage:
    [received] = lab.handlers[server].received
    assert PASSWORD.encode() not in received.content
    assert base64.b64encode(PASSWORD.encode()) not in received.content
    return email.message_from_bytes(received.content, policy=email.policy.default)


def check_structure(message: email.message.EmailMessage) -> tuple[str, str, email.message.EmailMessage]:
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, html = alternative.get_payload()
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert attachment.get_content_disposition() == "attachment"
    return plain.get_content(), html.get_content(), attachment


def test_mail_over_starttls_with_login(lab, audited):
    relay = relay_from_settings(lab.settings("starttls"))
    assert relay.tls == "starttls" and relay.login == LOGIN
    send_message(message_for(audited), relay, timeout=10)
    [received] = lab.handlers["starttls"].received
    assert received.mail_from == "notifications@example.test"
    assert received.rcpt_tos == [ADMIN]
    message = received_message(lab, "starttls")
    still_open = len(open_problems(audited)) - 1
    suffix = (f", {still_open} still open" if still_open else "") + not_checked(audited)
    assert message["Subject"] == f"inboxready: social.example.net — 1 new problem since 27 Nov{suffix}"
    assert message["Auto-Submitted"] == "auto-generated"
    text, html, attachment = check_structure(message)
    assert "What changed since 27 Nov:" in text
    assert "New critical: SPF needs 14 DNS lookups; the limit is 10" in text
    assert "SPF DNS lookups: 5 → 14 (limit 10)" in text
    assert "New critical: SPF needs 14 DNS lookups; the limit is 10" in html
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert attachment.get_filename() == "report.json"
    assert json.loads(attachment.get_content())["target"]["domain"] == "social.example.net"


def test_mail_over_implicit_tls(lab, audited):
    relay = relay_from_settings(lab.settings("implicit"))
    assert relay.tls == "implicit"
    send_message(message_for(audited), relay, timeout=10)
    _, _, attachment = check_structure(received_message(lab, "implicit"))
    assert attachment.get_filename() == "report.json"


def test_the_password_is_scrubbed_even_when_the_result_holds_it(lab, audited):
    leaky = copy.deepcopy(audited)
    leaky["findings"][0]["message"] = f"the relay said: password {PASSWORD} is wrong"
    attachment = Attachment("report.html", f"<p>{PASSWORD}</p>")
    send_message(message_for(leaky, attachment), relay_from_settings(lab.settings("starttls")), timeout=10)
    text, html, attached = check_structure(received_message(lab, "starttls"))
    for part in (text, html, attached.get_content()):
        assert PASSWORD not in part


def test_rejected_login_says_why_without_the_password(lab, audited):
    wrong = "Wrong-Pass!8xQz-distinctive"
    relay = relay_from_settings(lab.settings("starttls", secret=wrong))
    with pytest.raises(MailSendError) as caught:
        send_message(message_for(audited, secrets=[wrong]), relay, timeout=10)
    text = str(caught.value)
    assert "refused the login 'mastodon@example.test'" in text and "535" in text
    assert wrong not in text and base64.b64encode(wrong.encode()).decode() not in text
    assert caught.value.exit_code == 4
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert lab.handlers["starttls"].received == []


@pytest.mark.parametrize(
    ("server", "overrides", "expected"),
    [
        ("self_signed", {}, "certificate is not trusted"),
        ("reject_from", {}, "refused the sender notifications@example.test (553"),
        ("closed", {}, "connection refused"),
        ("plain", {}, "the relay does not offer STARTTLS"),
        ("silent", {}, "no answer within 1s"),
    ],
)
def test_send_failures_are_one_clear_line(lab, audited, server, overrides, expected):
    relay = relay_from_settings(lab.settings(server, **overrides))
    with pytest.raises(MailSendError) as caught:
        send_message(message_for(audited), relay, timeout=1)
    assert expected in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_password_is_never_sent_in_clear_unless_the_app_says_so(lab, audited):
    relay = MailRelay("localhost", lab.ports["plain"], tls=None, login=LOGIN, secret=PASSWORD)
    with pytest.raises(MailSendError, match="unencrypted"):
        send_message(message_for(audited), relay, timeout=5)
    relay.tls = "none"  # the app's own settings say no TLS: the report goes the same way the app's mail goes
    send_message(message_for(audited), relay, timeout=5)
    assert len(lab.handlers["plain"].received) == 1


def test_records_and_hostile_txt_values_are_escaped_in_html(audited):
    current = copy.deepcopy(audited)
    hostile = 'v=spf1 include:amazonses.com ~all <script>alert(1)</script><img src="https://evil.example/x">'
    current["records"] = [
        {
            "id": "r1",
            "action": "replace",
            "name": "social.example.net.",
            "type": "TXT",
            "value": hostile,
            "current": "v=spf1 mx ~all",
            "placeholder": False,
            "note": None,
        }
    ]
    for finding in current["findings"]:
        if finding["rule"] == "spf.lookup-limit":
            finding["fixes"] = ["r1"]
    diff = diff_runs(current, None)
    html = compose_html(current, diff, now=NOW)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'src="https://evil.example' not in html
    text = compose_text(current, diff, now=NOW)
    assert "Replace TXT record social.example.net." in text and hostile in text
    assert "first report for social.example.net" in text


def test_relay_from_settings_refuses_api_transports_and_missing_hosts(lab):
    with pytest.raises(AuditorError, match="not SMTP"):
        relay_from_settings(lab.settings("starttls", transport="mailgun"))
    with pytest.raises(AuditorError, match="no SMTP relay"):
        relay_from_settings(lab.settings("starttls", host=None))


# -- the `report` command, end to end ----------------------------------------------------------------------


def write_env(path: Path, lab: SmtpLab, password: str = PASSWORD) -> Path:
    path.write_text(
        "LOCAL_DOMAIN=social.example.net\n"
        "SMTP_SERVER=localhost\n"
        f"SMTP_PORT={lab.ports['starttls']}\n"
        f"SMTP_LOGIN={LOGIN}\n"
        f"SMTP_PASSWORD={password}\n"
        "SMTP_FROM_ADDRESS='Mastodon <notifications@social.example.net>'\n"
        "SMTP_AUTH_METHOD=plain\n"
        "SMTP_ENABLE_STARTTLS=always\n"
        f"SMTP_CA_FILE={lab.ca_file}\n",
        encoding="utf-8",
    )
    return path


def run_cli(argv: list[str]) -> int:
    from auditor.cli import main

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    if "report" not in subparsers.choices:  # until auditor/cli.py registers the weekly commands itself
        register(subparsers)
        args = parser.parse_args(argv)
        try:
            return args.handler(args)
        except AuditorError as exc:
            print(f"inboxready: {exc}", file=__import__("sys").stderr)
            return exc.exit_code
    return main(argv)


def test_report_command_end_to_end(lab, tmp_path, capsys):
    env = write_env(tmp_path / ".env.production", lab)
    history = tmp_path / "history.sqlite3"
    fixed_zone = tmp_path / "fixed.zone"
    fixed_zone.write_text(
        SAMPLE_ZONE.read_text().replace(
            "v=spf1 mx include:amazonses.com include:_spf.google.com include:spf.mailjet.com include:servers.mcsv.net ~all",
            "v=spf1 mx include:amazonses.com ~all",
        )
    )
    common = [
        "report",
        "--env",
        str(env),
        "--nameserver",
        "127.0.0.1:53",
        "--mail-to",
        ADMIN,
        "--history",
        str(history),
    ]

    assert run_cli([*common, "--zone", str(SAMPLE_ZONE)]) == 0
    first = received_message(lab, "starttls")
    with open_history(history) as stored_runs:
        stored = stored_runs.runs()[0].result
    count = len(open_problems(stored))
    assert (
        first["Subject"]
        == f"inboxready: social.example.net — {count} problem{'s' if count != 1 else ''}{not_checked(stored)}"
    )
    text, _, attachment = check_structure(first)
    assert "This is the first report for social.example.net" in text
    # The full HTML report once auditor.render_reports is there; the JSON report before that.
    assert attachment.get_filename() in ("report.html", "report.json")
    assert "social.example.net" in attachment.get_content()
    assert "sent through localhost:" in text
    assert "report mailed to admin@example.test" in capsys.readouterr().out

    assert run_cli([*common, "--zone", str(SAMPLE_ZONE), "--only-on-change"]) == 0
    assert len(lab.handlers["starttls"].received) == 1  # nothing changed: no mail
    assert "no change for social.example.net" in capsys.readouterr().out

    lab.handlers["starttls"].received.clear()
    assert run_cli([*common, "--zone", str(fixed_zone), "--only-on-change", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    fixed = received_message(lab, "starttls")
    assert "1 fixed since" in fixed["Subject"]
    text, _, _ = check_structure(fixed)
    assert "Fixed: SPF needs 14 DNS lookups; the limit is 10" in text
    assert "SPF DNS lookups: 14 → 2 (limit 10)" in text

    assert run_cli(["history", "social.example.net", "--history", str(history)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0] == "social.example.net"
    assert len(listing) == 4
    assert "Fixed: SPF needs 14 DNS lookups" in listing[1] and "no change" in listing[2]
    assert "first run" in listing[3]

    # A relay that refuses the login: exit 4, one line on stderr, no password, the run not saved.
    wrong = "Another-Distinctive#Secret-77"
    write_env(env, lab, password=wrong)
    lab.handlers["starttls"].received.clear()
    assert run_cli([*common, "--zone", str(SAMPLE_ZONE)]) == 4
    captured = capsys.readouterr()
    assert "refused the login" in captured.err and "not saved to the history" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert wrong not in captured.err + captured.out
    db = sqlite3.connect(history)
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 3
    db.close()
    for secret in (PASSWORD, wrong):
        assert secret.encode() not in history.read_bytes()
        wal = history.with_name(history.name + "-wal")
        assert not wal.exists() or secret.encode() not in wal.read_bytes()


def test_report_with_explicit_relay_and_password_file(lab, tmp_path, capsys):
    password_file = tmp_path / "smtp-password"
    password_file.write_text(PASSWORD + "\n")
    eml = tmp_path / "sent.eml"
    argv = [
        "report",
        "social.example.net",
        "--from",
        "notifications@social.example.net",
        "--zone",
        str(SAMPLE_ZONE),
        "--nameserver",
        "127.0.0.1:53",
        "--smtp",
        f"localhost:{lab.ports['implicit']}",
        "--smtp-tls",
        "implicit",
        "--smtp-login",
        LOGIN,
        "--smtp-password-file",
        str(password_file),
        "--smtp-ca-file",
        lab.ca_file,
        "--mail-to",
        ADMIN,
        "--history",
        str(tmp_path / "h.sqlite3"),
        "--save-eml",
        str(eml),
    ]
    assert run_cli(argv) == 0
    message = received_message(lab, "implicit")
    assert message["From"] == "notifications@social.example.net"
    assert eml.read_bytes().count(b"Subject: inboxready: social.example.net") == 1


def test_report_refuses_bad_input_before_auditing(lab, tmp_path, capsys):
    env = write_env(tmp_path / ".env.production", lab)
    base = [
        "report",
        "--env",
        str(env),
        "--zone",
        str(SAMPLE_ZONE),
        "--nameserver",
        "127.0.0.1:53",
        "--history",
        str(tmp_path / "h.sqlite3"),
    ]
    assert run_cli([*base, "--mail-to", "not an address"]) == 2
    assert "--mail-to 'not an address': not a mail address" in capsys.readouterr().err
    assert run_cli([*base, "--mail-to", ADMIN, "--notify-mastodon", "https://example.social/@admin"]) == 2
    assert "--token-file" in capsys.readouterr().err
    assert run_cli(["report", "example.social", "--mail-to", ADMIN, "--history", str(tmp_path / "h")]) == 2
    assert "no relay to send the report through" in capsys.readouterr().err
    assert not (tmp_path / "h").exists()
