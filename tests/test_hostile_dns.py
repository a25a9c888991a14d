"""Hostile or broken DNS: nothing crashes, nothing hangs, memory stays bounded, findings stay honest."""

from __future__ import annotations

import io
import json
import time

from auditor.audit import AuditOptions, run_audit
from auditor.cli import main
from auditor.render import render_text
from auditor.target import build_target


def audit(server, domain="example.org", timeout=0.5):
    options = AuditOptions(nameservers=[server.nameserver], timeout=timeout, total_timeout=8)
    return run_audit(build_target(domain), options)


def status(result, rule):
    return next(f for f in result.findings if f.rule == rule).status


def test_include_loop(dns_server):
    dns_server.add_zone_text(
        'example.org. TXT "v=spf1 include:a.example.net -all"\n'
        'a.example.net. TXT "v=spf1 include:b.example.net -all"\n'
        'b.example.net. TXT "v=spf1 include:a.example.net -all"\n'
    )
    result = audit(dns_server)
    assert status(result, "spf.loop") == "fail"
    assert len(dns_server.queries("a.example.net.", "TXT")) == 1  # asked once, not in a loop


def test_two_hundred_includes_are_bounded(dns_server):
    includes = " ".join(f"include:i{n}.example.net" for n in range(200))
    lines = [f'example.org. TXT "{chunk}"' for chunk in [f"v=spf1 {includes} -all"]]
    # split the 4.6 KB record into 255-byte strings of one TXT record
    record = f"v=spf1 {includes} -all"
    strings = " ".join(f'"{record[i:i + 250]}"' for i in range(0, len(record), 250))
    lines = [f"example.org. TXT {strings}"]
    for n in range(200):
        lines.append(f'i{n}.example.net. TXT "v=spf1 include:i{(n + 1) % 200}.example.net -all"')
    dns_server.add_zone_text("\n".join(lines))
    started = time.monotonic()
    result = audit(dns_server)
    assert time.monotonic() - started < 10
    assert status(result, "spf.lookup-limit") == "fail"
    assert result.facts.spf.lookup_count > 10
    assert len(dns_server.log) < 400  # the walk stops long before visiting everything it could


def test_four_kilobyte_txt_over_tcp(dns_server):
    record = "v=spf1 " + " ".join(f"ip4:10.{n // 250}.{n % 250}.1" for n in range(300)) + " -all"
    strings = " ".join(f'"{record[i:i + 250]}"' for i in range(0, len(record), 250))
    dns_server.add_zone_text(f"example.org. TXT {strings}")
    result = audit(dns_server)
    assert result.facts.spf.record == record
    assert status(result, "spf.size") == "fail"
    assert {q.transport for q in dns_server.queries("example.org.", "TXT")} == {"udp", "tcp"}


def test_cname_loop(dns_server):
    dns_server.add_zone_text(
        "example.org. MX 10 mail.example.org.\n"
        "mail.example.org. CNAME loop1.example.org.\n"
        "loop1.example.org. CNAME loop2.example.org.\n"
        "loop2.example.org. CNAME loop1.example.org.\n"
        "_dmarc.example.org. CNAME _dmarc.example.org.\n"
    )
    result = audit(dns_server)
    assert status(result, "mx.unresolvable") in ("fail", "unknown")
    assert status(result, "dmarc.missing") in ("fail", "unknown")


def test_nxdomain_everywhere(dns_server):
    result = audit(dns_server)
    assert status(result, "spf.missing") == "fail"
    assert status(result, "dmarc.missing") == "fail"
    assert status(result, "dns.temperror") == "pass"


def test_markup_and_control_characters(dns_server, capsys):
    evil = 'v=spf1 ip4:192.0.2.1 <script>alert(1)</script> \\027[31mRED\\007 [bold]x[/bold] -all'
    dns_server.add_zone_text(f'example.org. TXT "{evil}"')
    result = audit(dns_server)
    raw = result.facts.spf.record
    assert "<script>" in raw and "\x1b[31m" in raw and "\x07" in raw  # kept verbatim in the facts / JSON
    assert status(result, "spf.syntax") == "fail"
    text = io.StringIO()
    render_text(result, text, color=False)
    shown = text.getvalue()
    assert "\x1b" not in shown and "\x07" not in shown
    assert "\\x1b[31m" in shown  # escaped, visible
    assert "[bold]x[/bold]" in shown  # rich markup is not interpreted
    code = main(["check", "example.org", "--nameserver", f"127.0.0.1:{dns_server.port}", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert data["facts"]["spf"]["record"] == raw


def test_a_newline_in_a_record_cannot_fake_a_line_of_output(dns_server):
    dns_server.add_zone_text('example.org. TXT "v=spf1 +all\\010All good: nothing found"')
    result = audit(dns_server)
    text = io.StringIO()
    render_text(result, text, color=False)
    assert not any(line.startswith("All good") for line in text.getvalue().splitlines())
    assert "\\x0aAll good" in text.getvalue()
