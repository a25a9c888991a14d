"""`inboxready probe` and `check --probe` end to end, in-process through `auditor.cli.main`, against the real
loopback SMTP servers of tests/smtpservers.py (and the loopback DNS server for `check`).

Every run uses a 1 s probe step; `run` checks that the whole command ended within the probe's deadline.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from pathlib import Path

import pytest
from smtpservers import LOGIN, PASSWORD, SmtpLab

from auditor.cli import main
from auditor.probe.command import GATHERED_ROOTS
from auditor.probe.network import host_only_system_knows

STEP = 1.0
DEADLINE = 4 * STEP + 1.5  # the probe's own deadline (4 steps) plus start-up and scheduling slack
WRONG_PASSWORD = "Wr0ng!quartz-Lemon#kettle17"
PROBE_RULES = {
    "smtp.unreachable",
    "smtp.port-blocked",
    "smtp.no-greeting",
    "smtp.tls-failed",
    "smtp.cert-invalid",
    "smtp.auth-failed",
    "smtp.auth-unsupported",
    "smtp.auth-required",
    "smtp.rejected-from",
    "smtp.send-failed",
}
HEALTHY_ZONE = """
example.test. TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.example.test. TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"
example.test. MX 10 mail.example.test.
example.test. A 192.0.2.1
mail.example.test. A 192.0.2.1
"""


def local_mail_port_open() -> bool:
    """A relay on localhost gets the self-hosted profile, whose other ports (25, 587, 465) the probe tries when
    the configured one fails; a mail server on this machine would answer there and change the verdict."""
    for port in (25, 587, 465):
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
    return False


needs_quiet_mail_ports = pytest.mark.skipif(
    local_mail_port_open(), reason="a mail server listens on this machine's port 25, 587 or 465"
)


@pytest.fixture(scope="module")
def lab():
    with SmtpLab() as running:
        yield running


def write_env(lab: SmtpLab, directory: Path, server: str, **overrides: str | None) -> Path:
    """Mastodon's .env.production for `server`, as a careful admin writes it; `overrides` change or drop lines."""
    values: dict[str, str | None] = {
        "LOCAL_DOMAIN": "example.test",
        "SMTP_SERVER": "localhost",
        "SMTP_PORT": str(lab.ports[server]),
        "SMTP_LOGIN": LOGIN,
        "SMTP_PASSWORD": PASSWORD,
        "SMTP_AUTH_METHOD": "plain",
        "SMTP_FROM_ADDRESS": "notifications@example.test",
        "SMTP_CA_FILE": lab.ca_file,
        "SMTP_ENABLE_STARTTLS": "always",
        "SMTP_DOMAIN": "mastodon.example.test",
    }
    values.update(overrides)
    path = directory / ".env.production"
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items() if value is not None))
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    started = time.monotonic()
    code = main([*argv, "--probe-timeout", str(STEP)])
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert elapsed < DEADLINE, f"the command took {elapsed:.1f}s, past the probe's deadline"
    return code, out, err


def findings(data: dict) -> dict[str, dict]:
    return {f["rule"]: f for f in data["findings"]}


def secret_forms(*passwords: str) -> list[str]:
    forms = []
    for password in passwords:
        forms += [password, base64.b64encode(password.encode()).decode()]
        forms.append(base64.b64encode(f"\0{LOGIN}\0{password}".encode()).decode())
    return forms


# -- inboxready probe ----------------------------------------------------------------------------------------


def test_healthy_starttls_relay_exits_0_and_shows_what_it_offers(lab, tmp_path, capsys):
    env = write_env(lab, tmp_path, "starttls")
    code, out, err = run(capsys, "probe", "--env", str(env), "--auth")
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].startswith(f"inboxready probe · relay localhost:{lab.ports['starttls']} (STARTTLS")
    assert lines[1].startswith("The relay localhost:") and "works the way the app uses it" in lines[1]
    assert "What the server offers" in out
    assert "220 mail.example.test" in out  # the banner
    assert "STARTTLS     offered" in out
    assert "CRAM-MD5, LOGIN, PLAIN" in out  # login mechanisms offered after TLS
    assert "TLSv1." in out and "accepted by the app" in out and "mail.example.test" in out
    assert "235 2.7.0 Authentication successful" in out
    assert "SMTP dialogue" not in out and "C: EHLO" not in out  # the transcript only with -v
    assert "\x1b[" not in out


def test_verbose_shows_the_masked_transcript(lab, tmp_path, capsys):
    env = write_env(lab, tmp_path, "starttls")
    code, out, _ = run(capsys, "probe", "--env", str(env), "--auth", "-v")
    assert code == 0
    assert "SMTP dialogue (secrets masked)" in out
    assert "C: EHLO mastodon.example.test" in out and "C: AUTH PLAIN ****" in out
    for form in secret_forms(PASSWORD):
        assert form not in out


@needs_quiet_mail_ports
def test_closed_port_exits_1_with_smtp_unreachable(lab, tmp_path, capsys):
    env = write_env(lab, tmp_path, "closed")
    code, out, _ = run(capsys, "probe", "--env", str(env))
    assert code == 1
    assert "[smtp.unreachable]" in out and f"refused the connection on port {lab.ports['closed']}" in out
    code, out, _ = run(capsys, "probe", "--env", str(env), "--format", "json")
    assert code == 1
    by_rule = findings(json.loads(out))
    assert by_rule["smtp.unreachable"]["status"] == "fail"
    assert by_rule["smtp.unreachable"]["severity"] == "critical"
    assert by_rule["smtp.tls-failed"]["status"] == "unknown"  # never reached, so never claimed


def test_wrong_password_is_auth_failed_and_never_shown(lab, tmp_path, capsys):
    env = write_env(lab, tmp_path, "starttls", SMTP_PASSWORD=WRONG_PASSWORD)
    code, out, err = run(capsys, "probe", "--env", str(env), "--auth", "-v")
    assert code == 1
    assert "[smtp.auth-failed]" in out and "535" in out
    text_output = out + err
    code, out, err = run(capsys, "probe", "--env", str(env), "--auth", "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert findings(data)["smtp.auth-failed"]["status"] == "fail"
    assert "C: AUTH PLAIN ****" in data["facts"]["probe"]["transcript"]
    everything = text_output + out + err
    for form in secret_forms(WRONG_PASSWORD, PASSWORD):
        assert form not in everything


def test_json_keeps_the_contract_and_only_the_gathered_facts(lab, tmp_path, capsys):
    env = write_env(lab, tmp_path, "starttls")
    report = tmp_path / "probe.json"
    code, out, _ = run(capsys, "probe", "--env", str(env), "--format", "json", "-o", str(report))
    assert code == 0 and out == ""
    data = json.loads(report.read_text())
    assert data["schema"] == "inboxready/1"
    assert data["target"]["smtp"] == {"host": "localhost", "port": lab.ports["starttls"], "tls": "starttls"}
    assert set(data["facts"]) == set(GATHERED_ROOTS)
    assert data["facts"]["probe"]["ran"] is True and data["facts"]["probe"]["transcript"]
    assert {f["rule"] for f in data["findings"]} == PROBE_RULES  # only the probe's rules, none of SPF/DMARC/…
    # Without --auth the login and the sender were not checked: unknown, not passed.
    by_rule = findings(data)
    assert by_rule["smtp.auth-failed"]["status"] == "unknown"
    assert "--auth" in by_rule["smtp.auth-failed"]["message"]
    assert by_rule["smtp.send-failed"]["status"] == "skip"


def test_html_report_folds_the_transcript_and_masks_the_password(lab, tmp_path, capsys):
    env = write_env(lab, tmp_path, "starttls", SMTP_PASSWORD=WRONG_PASSWORD)
    report = tmp_path / "probe.html"
    code, out, _ = run(capsys, "probe", "--env", str(env), "--auth", "--format", "html", "-o", str(report))
    assert code == 1 and out == ""
    html = report.read_text()
    assert "smtp.auth-failed" in html
    fold = html[html.index('<details class="transcript">') :]
    assert "C: AUTH PLAIN ****" in fold[: fold.index("</details>")]
    for form in secret_forms(WRONG_PASSWORD, PASSWORD):
        assert form not in html


def test_tls_mismatch_proposes_the_setting_line(lab, tmp_path, capsys):
    # The app's default STARTTLS against a port that wants TLS from the first byte (port-465 style).
    env = write_env(lab, tmp_path, "implicit", SMTP_ENABLE_STARTTLS=None)
    code, out, _ = run(capsys, "probe", "--env", str(env), "--format", "json")
    assert code == 1
    data = json.loads(out)
    failed = findings(data)["smtp.tls-failed"]
    assert failed["status"] == "fail" and "expects TLS from the first byte" in failed["message"]
    assert findings(data)["smtp.no-greeting"]["status"] == "skip"  # the same silence, reported once
    (setting,) = [s for s in data["settings"] if s["id"] in failed["fixes"]]
    assert (setting["key"], setting["value"], setting["file"]) == ("SMTP_TLS", "true", str(env))
    code, out, _ = run(capsys, "probe", "--env", str(env))
    assert "Setting: SMTP_TLS=true" in out


@needs_quiet_mail_ports
def test_blocked_port_is_port_blocked_within_the_deadline(lab, tmp_path, capsys):
    env = write_env(lab, tmp_path, "blackhole")
    code, out, _ = run(capsys, "probe", "--env", str(env), "--format", "json")
    assert code == 1
    by_rule = findings(json.loads(out))
    assert by_rule["smtp.port-blocked"]["status"] == "fail"
    assert "timed out" in by_rule["smtp.port-blocked"]["message"]
    assert by_rule["smtp.unreachable"]["status"] == "skip"  # port-blocked says it, with what to do


def test_send_test_shows_the_final_reply_and_what_to_look_for(lab, tmp_path, capsys):
    env = write_env(lab, tmp_path, "starttls")
    before = len(lab.handlers["starttls"].received)
    code, out, _ = run(capsys, "probe", "--env", str(env), "--send-test", "me@example.org")
    assert code == 0
    assert "Test message to me@example.org: accepted; final reply 250 2.0.0 Ok: queued as TEST123" in out
    assert "When the test message arrives:" in out and "spam folder" in out
    received = lab.handlers["starttls"].received[before:]
    assert [r.rcpt_tos for r in received] == [["me@example.org"]]


def test_refused_sender_during_send_test(lab, tmp_path, capsys):
    env = write_env(lab, tmp_path, "reject_from")
    code, out, _ = run(
        capsys, "probe", "--env", str(env), "--send-test", "me@example.org", "--format", "json"
    )
    assert code == 1
    by_rule = findings(json.loads(out))
    assert by_rule["smtp.rejected-from"]["status"] == "fail"
    assert by_rule["smtp.send-failed"]["status"] == "fail"
    assert "553 5.7.1" in by_rule["smtp.send-failed"]["message"]


def test_relay_from_flags_without_a_settings_file(lab, capsys):
    relay = f"localhost:{lab.ports['no_auth']}"
    code, out, _ = run(
        capsys, "probe", "--smtp", relay, "--from", "notifications@example.test", "--format", "json"
    )
    data = json.loads(out)
    # No CA file in the flags: the system store does not know the test CA, so the certificate is refused.
    assert code == 1 and findings(data)["smtp.cert-invalid"]["status"] == "fail"
    assert data["facts"]["probe"]["banner_code"] == 220


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["probe"], "--env FILE"),
        (
            ["probe", "--smtp", "localhost:2525", "--from", "n@example.test", "--send-test", "nobody"],
            "--send-test",
        ),
        (
            ["probe", "--smtp", "localhost:2525", "--from", "n@example.test", "--probe-timeout", "0"],
            "--probe-timeout",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, words):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err


def test_relay_name_dns_timeout_is_unknown_and_exit_3(lab, capsys, dns_server):
    dns_server.drop("mail.example.test.")
    nameserver = f"{dns_server.nameserver[0]}:{dns_server.nameserver[1]}"
    relay = f"mail.example.test:{lab.ports['starttls']}"
    argv = [
        "probe",
        "--smtp",
        relay,
        "--from",
        "n@example.test",
        "--nameserver",
        nameserver,
        "--timeout",
        "0.5",
    ]
    code, out, _ = run(capsys, *argv, "--format", "json")
    assert code == 3  # nothing could be established: not "unreachable", not "all good"
    by_rule = findings(json.loads(out))
    assert by_rule["smtp.unreachable"]["status"] == "unknown"
    assert "timeout" in by_rule["smtp.unreachable"]["message"]
    assert not [f for f in by_rule.values() if f["status"] in ("pass", "fail")]


@pytest.mark.parametrize(
    ("host", "system"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("mail.localhost", True),
        ("postfix", True),
        ("smtp.example.net", False),
        ("localhost.example.net", False),
    ],
)
def test_local_relay_names_are_not_asked_of_dns(host, system):
    # /etc/hosts and a container network's resolver know these; public DNS answers NXDOMAIN for them.
    assert host_only_system_knows(host) is system


# -- inboxready check --probe ---------------------------------------------------------------------------------


@needs_quiet_mail_ports
def test_check_with_probe_puts_dns_and_probe_findings_in_one_report(lab, tmp_path, capsys, dns_server):
    dns_server.add_zone_text(HEALTHY_ZONE)
    env = write_env(lab, tmp_path, "closed")
    nameserver = f"{dns_server.nameserver[0]}:{dns_server.nameserver[1]}"
    code, out, _ = run(
        capsys,
        "check",
        "--env",
        str(env),
        "--probe",
        "--nameserver",
        nameserver,
        "--timeout",
        "1",
        "--format",
        "json",
    )
    data = json.loads(out)
    by_rule = findings(data)
    assert by_rule["spf.missing"]["status"] == "pass" and by_rule["dmarc.missing"]["status"] == "pass"
    assert by_rule["smtp.unreachable"]["status"] == "fail"
    assert code == 1
    assert data["facts"]["spf"]["record"] == "v=spf1 ip4:192.0.2.1 -all"
    assert data["facts"]["probe"]["ran"] is True and data["facts"]["probe"]["connect"]["outcome"] == "refused"
    # The relay is localhost: found through the system (/etc/hosts), never asked of the audit's DNS server.
    assert not dns_server.queries("localhost.", "A")


def test_check_without_probe_skips_every_probe_rule(dns_server, capsys):
    dns_server.add_zone_text(HEALTHY_ZONE)
    nameserver = f"{dns_server.nameserver[0]}:{dns_server.nameserver[1]}"
    code = main(["check", "example.test", "--nameserver", nameserver, "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {f["status"] for f in data["findings"] if f["rule"] in PROBE_RULES} == {"skip"}
    assert data["facts"]["probe"]["ran"] is False
