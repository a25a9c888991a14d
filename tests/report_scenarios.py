"""Audit results for the report tests: real audits (zone overlay or the loopback DNS server), then the
record and setting changes set by hand, since the fix stage is built separately.

Each builder returns an `AuditResult`; `normalise()` removes what changes between runs (time, version,
the loopback server's port) so rendered reports can be compared with golden files.
"""

from __future__ import annotations

import re

from auditor.audit import AuditOptions, AuditResult, run_audit
from auditor.target import build_target

# Attacker-controlled DNS text: a report must show these as text, never run or load them.
SCRIPT_PAYLOAD = "<script>window.__pwned = 1</script>"
IMG_PAYLOAD = '<img src="x" onerror="window.__pwned = 2">'
# A value with every character that needs care somewhere: quotes, backslash, pipe, backticks, ampersand.
TRICKY_VALUE = 'v=DKIM1; n="say \\"hi\\"" back\\slash | pipe ``tick`` & amp; p=MIIBIjANBgkq'

LONG_SPF = "v=spf1 include:amazonses.com " + " ".join(f"ip4:192.0.2.{n}" for n in range(40)) + " ~all"


def demo_result() -> AuditResult:
    """The bundled sample instance (offline, from its zone file), with the records and settings the fix stage
    proposes for it."""
    from auditor.demo import SAMPLE_ZONE, UNUSED_NAMESERVER, demo_target

    options = AuditOptions(nameservers=[UNUSED_NAMESERVER], zone_files=[SAMPLE_ZONE], timeout=2.0)
    return run_audit(demo_target(), options)


HOSTILE_ZONE = f"""
example.org.          TXT "v=spf1 ip4:192.0.2.1 {SCRIPT_PAYLOAD} ~all"
example.org.          MX  10 mx.example.org.
mx.example.org.       A   192.0.2.25
25.2.0.192.in-addr.arpa. PTR mx.example.org.
"""


def hostile_result(dns_server) -> AuditResult:
    """TXT records carrying markup, and a DMARC lookup that times out (so some checks are unknown)."""
    dns_server.add_zone_text(HOSTILE_ZONE)
    dns_server.drop("_dmarc.example.org.", "TXT")
    options = AuditOptions(nameservers=[dns_server.nameserver], timeout=0.3, total_timeout=5)
    result = run_audit(build_target("example.org", "noreply@example.org"), options)
    result.records = [
        {
            "id": "r1",
            "action": "replace",
            "name": "example.org.",
            "type": "TXT",
            "value": "v=spf1 ip4:192.0.2.1 ~all",
            "current": f"v=spf1 ip4:192.0.2.1 {SCRIPT_PAYLOAD} ~all",
            "placeholder": False,
            "note": f"Drops the text {IMG_PAYLOAD} that is not SPF.",
        },
        {
            "id": "r2",
            "action": "add",
            "name": "sel._domainkey.example.org.",
            "type": "TXT",
            "value": TRICKY_VALUE,
            "current": None,
            "placeholder": False,
            "note": "",
        },
        {
            "id": "r3",
            "action": "remove",
            "name": "example.org.",
            "type": "TXT",
            "value": IMG_PAYLOAD,
            "current": IMG_PAYLOAD,
            "placeholder": False,
            "note": "",
        },
    ]
    link_fixes(result, {"spf.syntax": ["r1", "r3"]})
    result.settings = [
        {
            "file": "config/settings.yml",
            "key": "smtp_from",
            "value": "noreply@example.org | `x` <b>",
            "current": None,
        },
    ]
    return result


def link_fixes(result: AuditResult, fixes: dict[str, list[str]]) -> None:
    """Replace the fix stage's links with hand-made records' ids (the hostile scenario's records are made up)."""
    for finding in result.findings:
        finding.fixes = []
        if finding.rule in fixes and finding.status == "fail":
            finding.fixes = list(fixes[finding.rule])


def normalise(text: str) -> str:
    """Strip what differs between runs: timestamps, the tool version, the loopback server's port."""
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "GENERATED_AT", text)
    text = re.sub(r"inboxready `?\d[\w.+-]*`?", "inboxready VERSION", text)
    text = re.sub(r'content="inboxready [^"]*"', 'content="inboxready VERSION"', text)
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
