"""No secret from the app's settings leaves the process: not in any report format, not on stderr, not in a
log record, not in a written report file — also when the settings file is broken.

Runs `inboxready check --env FILE` in-process (`auditor.cli.main`) against the loopback DNS server. Every
secret is distinctive, so a hit cannot be a coincidence; each is also looked for base64-encoded (as in an
SMTP AUTH PLAIN exchange) and URL-encoded.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from urllib.parse import quote

import pytest

from auditor.cli import main

PASSWORD = "Zq7smtpPw-4f2c9e"
BULK_PASSWORD = "Bk4bulkPw-8d1a7b"
TOKEN = "f7e1c3a2-5b9d-4e6f-8a0b-1c2d3e4f5a6b"  # a Postmark server token: the login *and* the password
APP_SECRETS = ("SecretKeyBase0a1b2c3d4e5f", "OtpSecret9f8e7d6c5b")
SECRETS = (PASSWORD, BULK_PASSWORD, TOKEN, *APP_SECRETS)
FORMATS = ("text", "json", "markdown", "html")

ZONE = """\
example.org. A 192.0.2.10
example.org. MX 10 mx.example.org.
mx.example.org. A 192.0.2.11
example.org. TXT "v=spf1 include:mailgun.org ~all"
_dmarc.example.org. TXT "v=DMARC1; p=none"
mailgun.org. TXT "v=spf1 ip4:192.0.2.0/24 ~all"
"""

GOOD_ENV = f"""\
LOCAL_DOMAIN=example.org
SECRET_KEY_BASE={APP_SECRETS[0]}
OTP_SECRET={APP_SECRETS[1]}
SMTP_SERVER=smtp.mailgun.org
SMTP_PORT=587
SMTP_LOGIN=postmaster@mg.example.org
SMTP_PASSWORD='{PASSWORD}'
SMTP_FROM_ADDRESS='Mastodon <notifications@example.org>'
SMTP_HOST=smtp.mailgun.org
BULK_SMTP_SERVER=smtp.postmarkapp.com
BULK_SMTP_PORT=2525
BULK_SMTP_LOGIN={TOKEN}
BULK_SMTP_PASSWORD='{BULK_PASSWORD}'
"""

# The login is the secret here: Postmark's server token goes in both fields.
TOKEN_ENV = f"""\
LOCAL_DOMAIN=example.org
SMTP_SERVER=smtp.postmarkapp.com
SMTP_PORT=465
SMTP_LOGIN={TOKEN}
SMTP_PASSWORD={TOKEN}
SMTP_FROM_ADDRESS=notifications@example.org
"""

BROKEN_ENVS = {
    # The password's quote never closes: the rest of the file is read as its value.
    "unclosed quote": f'LOCAL_DOMAIN=example.org\nSMTP_SERVER=smtp.mailgun.org\nSMTP_PASSWORD="{PASSWORD}\n'
    f"SMTP_LOGIN=postmaster@mg.example.org\n",
    # A bare line that is not a setting (someone pasted the password on its own line).
    "stray line": f"LOCAL_DOMAIN=example.org\nSMTP_SERVER=smtp.mailgun.org\n{PASSWORD}\nSMTP_PASSWORD={PASSWORD}\n",
    # `$` and `#` in an unquoted password: the loaders' notes must not quote it.
    "expansion and hash": f"LOCAL_DOMAIN=example.org\nSMTP_SERVER=smtp.mailgun.org\n"
    f"SMTP_PASSWORD={PASSWORD}$HOME#{BULK_PASSWORD}\n",
    # The password pasted into the port line too (not a number, so the reader says so — without the value).
    "secret as the port": f"LOCAL_DOMAIN=example.org\nSMTP_SERVER=smtp.mailgun.org\nSMTP_PORT={PASSWORD}\n"
    f"SMTP_PASSWORD={PASSWORD}\n",
}


def forms(secret: str) -> list[str]:
    encoded = secret.encode()
    return [
        secret,
        base64.b64encode(encoded).decode(),
        base64.b64encode(b"\0postmaster@mg.example.org\0" + encoded).decode(),  # AUTH PLAIN
        quote(secret, safe=""),
    ]


def assert_no_secret(where: str, text: str) -> None:
    for secret in SECRETS:
        for form in forms(secret):
            assert form not in text, f"{where} contains the secret {secret!r} (as {form!r})"


@pytest.fixture
def zone_server(dns_server):
    dns_server.add_zone_text(ZONE)
    return dns_server


def run_check(server, capsys, caplog, env_text: str, tmp_path: Path, *extra: str) -> int:
    env = tmp_path / ".env.production"
    env.write_text(env_text, encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        code = main(
            ["check", "--env", str(env), "--nameserver", f"127.0.0.1:{server.port}", "--timeout", "1", *extra]
        )
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    assert_no_secret("stdout", out)
    assert_no_secret("stderr", err)
    assert_no_secret("the log", "\n".join(record.getMessage() for record in caplog.records))
    return code


@pytest.mark.parametrize("fmt", FORMATS)
def test_reports_on_stdout_hold_no_secret(zone_server, capsys, caplog, tmp_path, fmt):
    code = run_check(zone_server, capsys, caplog, GOOD_ENV, tmp_path, "--format", fmt)
    assert code in (0, 1)


def test_the_secrets_were_read(zone_server, tmp_path):
    """The other tests mean something only if the reader really holds the secrets they look for."""
    from auditor.appconfig import load_settings

    env = tmp_path / ".env.production"
    env.write_text(GOOD_ENV, encoding="utf-8")
    settings = load_settings(env, "mastodon")
    assert set(settings.secrets()) == {PASSWORD, BULK_PASSWORD}
    assert settings.bulk is not None and settings.bulk.login == TOKEN


@pytest.mark.parametrize("fmt", FORMATS)
def test_report_files_hold_no_secret(zone_server, capsys, caplog, tmp_path, fmt):
    report = tmp_path / f"report.{fmt}"
    code = run_check(zone_server, capsys, caplog, GOOD_ENV, tmp_path, "--format", fmt, "-o", str(report))
    assert code in (0, 1)
    written = report.read_text(encoding="utf-8")
    assert written.strip()
    assert_no_secret(report.name, written)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_token_used_as_login_stays_hidden(zone_server, capsys, caplog, tmp_path, fmt):
    assert run_check(zone_server, capsys, caplog, TOKEN_ENV, tmp_path, "--format", fmt) in (0, 1)


@pytest.mark.parametrize("case", sorted(BROKEN_ENVS))
@pytest.mark.parametrize("fmt", ("text", "json"))
def test_broken_settings_files_leak_nothing(zone_server, capsys, caplog, tmp_path, case, fmt):
    code = run_check(zone_server, capsys, caplog, BROKEN_ENVS[case], tmp_path, "--format", fmt)
    assert code in (0, 1, 2)


@pytest.mark.parametrize(
    "raw",
    [
        f"LOCAL_DOMAIN=example.org\nSMTP_PASSWORD={PASSWORD}\x00\x01\n".encode(),  # binary
        f"LOCAL_DOMAIN=example.org\nSMTP_PASSWORD={PASSWORD}\xff\xfe\n".encode("latin-1"),  # not UTF-8
    ],
    ids=["binary", "not-utf8"],
)
def test_unreadable_settings_files_give_one_line_without_the_secret(
    zone_server, capsys, caplog, tmp_path, raw
):
    env = tmp_path / ".env.production"
    env.write_bytes(raw)
    code = main(
        ["check", "--env", str(env), "--nameserver", f"127.0.0.1:{zone_server.port}", "--timeout", "1"]
    )
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("inboxready: ") and err.count("\n") == 1, err
    assert_no_secret("stderr", out + err)


def test_a_broken_yaml_config_quotes_no_secret(zone_server, capsys, tmp_path):
    """YAML parsers echo the offending line in their errors; the password sits on that line."""
    config = tmp_path / "production.yaml"
    config.write_text(
        "webserver:\n  hostname: 'example.org'\nsmtp:\n  hostname: smtp.mailgun.org\n"
        f"  password: '{PASSWORD}\n    port: [587\n",
        encoding="utf-8",
    )
    code = main(
        [
            "check",
            "--config",
            str(config),
            "--app",
            "peertube",
            "--nameserver",
            f"127.0.0.1:{zone_server.port}",
            "--timeout",
            "1",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err, err
    assert_no_secret("stderr", out + err)
