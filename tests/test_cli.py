"""The command line end to end (in-process `main()`), against the loopback DNS server."""

from __future__ import annotations

import json
import time

import pytest

from auditor.cli import main

HEALTHY = """
example.org. TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.example.org. TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.org"
example.org. MX 10 mail.example.org.
mail.example.org. A 192.0.2.1
1.2.0.192.in-addr.arpa. PTR mail.example.org.
"""


def ns(server) -> list[str]:
    return ["--nameserver", f"{server.nameserver[0]}:{server.nameserver[1]}"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_healthy_domain_exits_0_with_a_verdict(dns_server, capsys):
    dns_server.add_zone_text(HEALTHY)
    code, out, err = run(capsys, "check", "example.org", *ns(dns_server), "--timeout", "1")
    assert code == 0, err
    assert out.splitlines()[2].startswith("All good")  # after the target lines, the verdict first
    assert "\x1b[" not in out  # no colour when not a TTY


def test_json_contract(dns_server, capsys):
    dns_server.add_zone_text(HEALTHY)
    code, out, _ = run(capsys, "check", "Example.ORG.", *ns(dns_server), "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["schema"] == "inboxready/1"
    assert data["target"]["domain"] == "example.org"
    assert set(data["summary"]) == {"critical", "warning", "info", "passed", "unknown", "skipped"}
    for finding in data["findings"]:
        assert {"rule", "status", "severity", "title", "message", "subject", "evidence", "references", "fixes"} <= set(
            finding
        )
    assert data["facts"]["spf"]["record"] == "v=spf1 ip4:192.0.2.1 -all"
    assert all(lookup["outcome"] for lookup in data["facts"]["dns"]["lookups"])


def test_critical_problem_exits_1_and_fail_on_never_exits_0(dns_server, capsys):
    dns_server.add_zone_text('example.org. TXT "v=spf1 +all"')
    code, out, _ = run(capsys, "check", "example.org", *ns(dns_server))
    assert code == 1
    assert "spf.permissive-all" in out
    code, _, _ = run(capsys, "check", "example.org", *ns(dns_server), "--fail-on", "never")
    assert code == 0


def test_fail_on_warning(dns_server, capsys):
    dns_server.add_zone_text(HEALTHY.replace("p=reject", "p=none"))
    assert run(capsys, "check", "example.org", *ns(dns_server))[0] == 0
    assert run(capsys, "check", "example.org", *ns(dns_server), "--fail-on", "warning")[0] == 1


@pytest.mark.parametrize(
    "domain",
    ["exa mple.org", "example..org", "a" * 64 + ".org", "192.0.2.1", "[2001:db8::1]", "localhost", "", "x@y.org"],
)
def test_bad_domains_are_one_line_and_exit_2(capsys, domain):
    code, out, err = run(capsys, "check", domain, "--nameserver", "127.0.0.1:9")
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("inboxready: ")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("Example.ORG.", "example.org"), ("https://example.org/about", "example.org"), ("bücher.example", "xn--bcher-kva.example")],
)
def test_domains_are_normalised(dns_server, capsys, given, expected):
    code, out, _ = run(capsys, "check", given, *ns(dns_server), "--format", "json", "--timeout", "0.5")
    assert json.loads(out)["target"]["domain"] == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "example.org", "--nameserver", "not-an-ip"],
        ["check", "example.org", "--nameserver", "127.0.0.1:99999"],
        ["check", "example.org", "--timeout", "-1"],
        ["check", "example.org", "--zone", "/nonexistent.zone"],
        ["check"],
        ["rules", "show", "spf.lookup-limt"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_dns_unreachable_exits_3_within_the_timeout(dns_server, capsys):
    dns_server.drop_all()
    started = time.monotonic()
    code, out, err = run(capsys, "check", "example.org", *ns(dns_server), "--timeout", "0.5")
    assert code == 3
    assert "DNS unreachable" in err
    assert time.monotonic() - started < 6


def test_timeout_is_unknown_not_missing(dns_server, capsys):
    dns_server.add_zone_text(HEALTHY)
    dns_server.drop("_dmarc.example.org.")
    code, out, _ = run(capsys, "check", "example.org", *ns(dns_server), "--format", "json", "--timeout", "0.5")
    findings = {f["rule"]: f for f in json.loads(out)["findings"]}
    assert findings["dmarc.missing"]["status"] == "unknown"
    assert findings["dns.temperror"]["status"] == "fail"
    assert findings["spf.missing"]["status"] == "pass"


def test_zone_overlay_audits_planned_records(dns_server, capsys, tmp_path):
    dns_server.add_zone_text('example.org. TXT "v=spf1 +all"')
    planned = tmp_path / "example.org.zone"
    planned.write_text('@ 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"\n_dmarc 300 IN TXT "v=DMARC1; p=reject"\n')
    code, out, _ = run(capsys, "check", "example.org", *ns(dns_server), "--zone", str(planned), "--format", "json")
    data = json.loads(out)
    assert data["facts"]["spf"]["record"] == "v=spf1 ip4:192.0.2.1 -all"
    assert not dns_server.queries("example.org.", "TXT")  # answered from the file, not the server


def test_rules_list_and_show(capsys):
    code, out, _ = run(capsys, "rules", "list")
    assert code == 0 and "spf.lookup-limit" in out and "dns.temperror" in out
    code, out, _ = run(capsys, "rules", "show", "spf.lookup-limit")
    assert code == 0 and out.startswith("id: spf.lookup-limit")


def test_rules_validate_reports_file_and_line(capsys, tmp_path):
    bad = tmp_path / "spf" / "oops.yaml"
    bad.parent.mkdir()
    bad.write_text("id: spf.oops\ntitle: t\nfailure-title: f\nseverity: critical\nchek: {fact: spf.exists, op: eq, value: true}\n")
    code, _, err = run(capsys, "rules", "validate", str(tmp_path))
    assert code == 2
    assert f"{bad}:5:" in err or "oops.yaml:5:" in err


def test_demo_writes_reports(tmp_path, capsys):
    code, out, _ = run(capsys, "demo", "-o", str(tmp_path))
    assert code == 0
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["target"]["domain"] == "social.example.net"
    assert data["facts"]["dns"]["queries"] == 0  # fully offline: every answer from the bundled zone
    assert any(f["rule"] == "spf.lookup-limit" and f["status"] == "fail" for f in data["findings"])
