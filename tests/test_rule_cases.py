"""Every rule's pass/fail cases, audited end to end against the loopback DNS server.

A meta-test fails when a rule has no case file or lacks a pass or a fail case. Cases with a `probe` key also
run the live SMTP probe against a loopback server (tests/smtpservers.py), started once, only when such a case runs.
"""

from __future__ import annotations

import json

import pytest
from casefiles import RuleCase, case_target, load_case_files, probe_options
from dnsserver import DnsServer

from auditor.audit import AuditOptions, run_audit
from auditor.engine import load_rules

CASES = load_case_files()
RULES = {rule.id: rule for rule in load_rules()}
ALL_CASES = [case for cases in CASES.values() for case in cases]
PROBE_STEP = 1.0  # seconds per network step of a probe; a silent or blackholed port costs one or two of them


@pytest.fixture(scope="module")
def server():
    with DnsServer() as running:
        yield running


@pytest.fixture(scope="module")
def smtp_lab():
    from smtpservers import SmtpLab

    with SmtpLab() as lab:
        yield lab


def audit_case(server: DnsServer, case: RuleCase, tmp_dir, lab=None):
    server.clear()
    if case.zone.strip():
        server.add_zone_text(case.zone)
    for behaviour in ("drop", "servfail", "refuse"):
        for name in case.dns.get(behaviour, []):
            getattr(server, behaviour)(name)
    target = case_target(case, tmp_dir, lab)
    options = AuditOptions(nameservers=[server.nameserver], timeout=0.4, total_timeout=10)
    probing = probe_options(case, lab, PROBE_STEP) if case.probe else None
    return run_audit(target, options, rules=[RULES[case.rule]], probe_options=probing)


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_rule_case(server, case: RuleCase, tmp_path, request):
    assert case.rule in RULES, f"{case.path}: no rule {case.rule}"
    lab = request.getfixturevalue("smtp_lab") if case.probe else None  # started by the first probe case
    result = audit_case(server, case, tmp_path, lab)
    (finding,) = result.findings
    assert finding.status == case.expect, (
        f"{case.id}: expected {case.expect}, got {finding.status}: {finding.message}"
        f" {finding.unknown_reasons if hasattr(finding, 'unknown_reasons') else ''}"
    )
    if finding.status in ("fail", "unknown"):
        assert finding.message.strip(), "a failed or unknown finding must say what is wrong"
        assert "could not be rendered" not in finding.message
    if case.probe:  # whatever the probe saw, the relay password appears nowhere in the result
        everything = json.dumps(result.to_json())
        for secret in (
            lab.settings(case.probe["server"]).secret,
            (case.probe.get("settings") or {}).get("secret"),
        ):
            assert not secret or secret not in everything, f"{case.id}: the password leaked into the result"


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_every_rule_has_pass_and_fail_cases(rule_id):
    expects = {case.expect for case in CASES.get(rule_id, [])}
    assert "pass" in expects and "fail" in expects, (
        f"tests/rules/cases/{rule_id}.yaml needs at least one pass and one fail case (has {sorted(expects)})"
    )
