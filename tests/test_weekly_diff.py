"""What changed between two runs: findings and facts, tolerant of missing keys and unknown facts."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from auditor.weekly.diff import diff_runs, headline, public_key, short_date

NOW = dt.datetime(2026, 12, 4, 7, 0, tzinfo=dt.UTC)
PREVIOUS_AT = "2026-11-27T07:00:00Z"
KEY_A = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAaaaa"
KEY_B = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAbbbb"


def finding(rule: str, status: str, severity: str = "critical", title: str | None = None) -> dict:
    return {
        "rule": rule,
        "status": status,
        "severity": severity,
        "title": title or f"{rule} title",
        "subject": "example.social",
    }


def base() -> dict:
    return {
        "schema": "inboxready/1",
        "generated_at": "2026-12-04T07:00:00Z",
        "target": {
            "domain": "example.social",
            "smtp": {"host": "email-smtp.eu-west-1.amazonaws.com", "port": 587, "tls": "starttls"},
            "provider": {"id": "amazon-ses", "name": "Amazon SES", "region": "eu-west-1"},
        },
        "summary": {},
        "findings": [finding("spf.lookup-limit", "pass"), finding("dmarc.policy-none", "pass", "warning")],
        "facts": {
            "spf": {
                "status": "ok",
                "lookup_count": 7,
                "lookup_limit": 10,
                "record": "v=spf1 include:amazonses.com ~all",
            },
            "dmarc": {"status": "ok", "effective_policy": "quarantine", "record": "v=DMARC1; p=quarantine"},
            "mx": {"status": "ok", "exists": True, "hosts": [{"host": "mx1.example.social."}]},
            "dkim": {
                "status": "ok",
                "found": [
                    {"selector": "s1", "bits": 2048, "key_type": "rsa", "record": f"v=DKIM1; p={KEY_A}"}
                ],
                "results": [{"selector": "s1", "failed": False}],
            },
        },
    }


def set_status(result: dict, rule: str, status: str, severity: str | None = None) -> dict:
    for f in result["findings"]:
        if f["rule"] == rule:
            f["status"] = status
            if severity:
                f["severity"] = severity
    return result


def test_first_run_has_no_changes_but_counts_as_changed():
    diff = diff_runs(base(), None)
    assert diff.first_run and diff.changed and diff.lines() == []
    assert headline(base(), diff, NOW) == "all good"


def test_identical_runs_show_no_change():
    diff = diff_runs(base(), base(), PREVIOUS_AT)
    assert not diff.changed
    assert headline(base(), diff, NOW) == "all good, no change since 27 Nov"


def test_new_failure_is_reported_in_lines_and_headline():
    current = set_status(base(), "spf.lookup-limit", "fail")
    diff = diff_runs(current, base(), PREVIOUS_AT)
    assert [(c.kind, c.rule, c.before) for c in diff.new] == [("new", "spf.lookup-limit", "pass")]
    assert diff.lines() == ["New critical: spf.lookup-limit title"]
    assert headline(current, diff, NOW) == "1 new problem since 27 Nov"


def test_resolved_failure_keeps_the_failure_title():
    previous = set_status(base(), "dmarc.policy-none", "fail")
    previous["findings"][1]["title"] = "DMARC policy is monitoring only"
    diff = diff_runs(base(), previous, PREVIOUS_AT)
    assert [c.text() for c in diff.resolved] == ["Fixed: DMARC policy is monitoring only"]
    assert headline(base(), diff, NOW) == "all good, 1 fixed since 27 Nov"


def test_new_and_still_open_problems_are_counted_apart():
    previous = set_status(base(), "dmarc.policy-none", "fail")
    current = set_status(copy.deepcopy(previous), "spf.lookup-limit", "fail")
    diff = diff_runs(current, previous, PREVIOUS_AT)
    assert headline(current, diff, NOW) == "1 new problem since 27 Nov, 1 still open"


def test_severity_change():
    previous = set_status(base(), "dmarc.policy-none", "fail", "warning")
    current = set_status(base(), "dmarc.policy-none", "fail", "critical")
    diff = diff_runs(current, previous, PREVIOUS_AT)
    assert [c.text() for c in diff.severity] == ["Now critical (was warning): dmarc.policy-none title"]
    assert headline(current, diff, NOW) == "1 problem still open, 1 change since 27 Nov"


def test_failing_then_unknown_is_never_called_fixed():
    previous = set_status(base(), "spf.lookup-limit", "fail")
    current = set_status(base(), "spf.lookup-limit", "unknown")
    diff = diff_runs(current, previous, PREVIOUS_AT)
    assert diff.resolved == []
    assert [c.text() for c in diff.unverifiable] == [
        "Could not be checked this time (was failing): spf.lookup-limit title"
    ]
    assert headline(current, diff, NOW).startswith("no problems found, but 1 check could not be completed")


def test_failing_rule_gone_from_a_newer_version_is_not_called_fixed():
    previous = set_status(base(), "spf.lookup-limit", "fail")
    current = base()
    current["findings"] = current["findings"][1:]
    diff = diff_runs(current, previous, PREVIOUS_AT)
    assert diff.resolved == []
    assert diff.unverifiable[0].text() == "No longer checked by this version: spf.lookup-limit title"


def test_info_findings_are_notes_not_problems():
    current = base()
    current["findings"].append(finding("mx.missing", "fail", "info"))
    diff = diff_runs(current, base(), PREVIOUS_AT)
    assert [c.rule for c in diff.new] == ["mx.missing"]
    assert headline(current, diff, NOW) == "all good, 1 change since 27 Nov"


def test_spf_lookup_count_and_record_changes():
    current = base()
    current["facts"]["spf"]["lookup_count"] = 9
    current["facts"]["spf"]["record"] = "v=spf1 include:amazonses.com include:_spf.google.com ~all"
    lines = diff_runs(current, base(), PREVIOUS_AT).lines()
    assert "SPF DNS lookups: 7 → 9 (limit 10)" in lines
    assert any(line.startswith("SPF record: v=spf1 include:amazonses.com ~all → ") for line in lines)


def test_unknown_facts_are_not_changes():
    current = base()
    current["facts"]["spf"]["lookup_count"] = {"unknown": "TXT example.social.: timeout"}
    current["facts"]["dmarc"]["effective_policy"] = {"unknown": "TXT _dmarc.example.social.: timeout"}
    current["facts"]["mx"]["exists"] = {"unknown": "MX example.social.: servfail"}
    assert diff_runs(current, base(), PREVIOUS_AT).facts == []


def test_dkim_bits_change_and_key_replacement():
    current = base()
    current["facts"]["dkim"]["found"][0].update(bits=1024, record=f"v=DKIM1; p={KEY_B}")
    assert diff_runs(current, base(), PREVIOUS_AT).lines() == [
        "DKIM key s1 size: 2048 bits → 1024 bits (key replaced)"
    ]
    current["facts"]["dkim"]["found"][0].update(bits=2048)
    assert diff_runs(current, base(), PREVIOUS_AT).lines() == ["DKIM key s1: old key → replaced by a new key"]


def test_dkim_key_folding_is_not_a_replacement():
    current = base()
    current["facts"]["dkim"]["found"][0]["record"] = f"v=DKIM1; k=rsa; p= {KEY_A[:20]} {KEY_A[20:]}"
    assert diff_runs(current, base(), PREVIOUS_AT).facts == []
    assert public_key("v=DKIM1; p=ab cd") == "abcd"
    assert public_key(None) is None


def test_dkim_key_removed_versus_lookup_failed():
    removed = base()
    removed["facts"]["dkim"]["found"] = []
    assert diff_runs(removed, base(), PREVIOUS_AT).lines() == ["DKIM key s1: RSA 2048 bits is gone"]
    failed = copy.deepcopy(removed)
    failed["facts"]["dkim"]["results"] = [{"selector": "s1", "failed": True}]
    assert diff_runs(failed, base(), PREVIOUS_AT).facts == []
    added = diff_runs(base(), removed, PREVIOUS_AT).lines()
    assert added == ["DKIM key s1: now RSA 2048 bits"]


def test_dmarc_policy_change():
    current = base()
    current["facts"]["dmarc"].update(effective_policy="none", record="v=DMARC1; p=none")
    assert diff_runs(current, base(), PREVIOUS_AT).lines() == ["DMARC policy: quarantine → none"]


def test_mx_hosts_relay_and_provider_changes():
    current = base()
    current["facts"]["mx"]["hosts"] = [{"host": "mx1.example.social."}, {"host": "MX2.example.social"}]
    current["target"]["smtp"] = {"host": "smtp.sendgrid.net", "port": 465, "tls": "implicit"}
    current["target"]["provider"] = {"id": "sendgrid", "name": "SendGrid", "region": None}
    assert diff_runs(current, base(), PREVIOUS_AT).lines() == [
        "MX hosts: mx1.example.social → mx1.example.social, mx2.example.social",
        "Relay: email-smtp.eu-west-1.amazonaws.com:587 (starttls) → smtp.sendgrid.net:465 (implicit)",
        "Provider: Amazon SES eu-west-1 → SendGrid",
    ]


@pytest.mark.parametrize(
    "previous",
    [
        {},
        {"findings": None, "facts": None, "target": None},
        {"facts": {"dkim": {"found": [{}]}, "mx": {"hosts": 3}}},
    ],
)
def test_results_missing_keys_from_other_versions_are_tolerated(previous):
    diff = diff_runs(base(), previous, PREVIOUS_AT)
    assert diff.new == [] and diff.resolved == []
    assert all(isinstance(line, str) for line in diff.lines())


def test_short_date_adds_the_year_only_when_needed():
    assert short_date("2026-11-27T07:00:00Z", NOW) == "27 Nov"
    assert short_date("2025-11-27T07:00:00Z", NOW) == "27 Nov 2025"
