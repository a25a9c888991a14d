"""Evaluating rules: every operator, three-valued logic, unknown data, requires/applies-when, and the texts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.engine import Finding, Rule, evaluate, load_rules
from auditor.engine.templates import join_and, plural
from auditor.facts.base import Unknown
from auditor.facts.model import (
    AlignFacts,
    DkimFacts,
    DmarcFacts,
    DnsFacts,
    EnvelopeFacts,
    Facts,
    MxFacts,
    MxHost,
    PtrFacts,
    SpfFacts,
    SpfNode,
    TargetFacts,
)
from auditor.facts.model import SmtpFacts as ModelSmtpFacts

ENGINE_RULES = Path(__file__).resolve().parent / "engine_rules"
SPF_RECORD = "v=spf1 include:_spf.example.net ~all"
TIMEOUT = "TXT example.org.: timeout"

_counter = itertools.count()


def make_facts(**changes: Any) -> Facts:
    """A small, fully known picture; `changes` maps "root.field" → value."""
    facts = Facts(
        target=TargetFacts(
            domain="social.example.org",
            from_address="notifications@example.org",
            from_domain="example.org",
            envelope_domain="bounce.example.org",
        ),
        spf=SpfFacts(
            domain="example.org",
            exists=True,
            record=SPF_RECORD,
            records=[SPF_RECORD],
            record_count=1,
            all_qualifier="~",
            lookup_count=4,
            include_costs={"_spf.example.net": 3},
            tree=SpfNode(domain="example.org", via="root", outcome="ok", record=SPF_RECORD),
        ),
        dmarc=DmarcFacts(
            domain="example.org", exists=True, p="none", effective_policy="none", tags={"p": "none"}
        ),
        mx=MxFacts(domain="example.org", exists=True, hosts=[MxHost(host="mx1.example.org.", preference=10)]),
        ptr=PtrFacts(),
        dkim=DkimFacts(domain="example.org"),
        envelope=EnvelopeFacts(domain="example.org"),
        align=AlignFacts(),
        smtp=ModelSmtpFacts(),
        dns=DnsFacts(),
    )
    for path, value in changes.items():
        root, name = path.split(".")
        setattr(getattr(facts, root), name, value)
    return facts


def make_rule(tmp_path: Path, check: dict, facts_type: type = Facts, **keys: Any) -> Rule:
    """Write one rule (keys given with underscores for dashes) into a fresh folder and load it."""
    folder = tmp_path / f"rules{next(_counter)}"
    (folder / "spf").mkdir(parents=True)
    doc = {
        "id": "spf.example",
        "title": "healthy",
        "failure-title": "broken",
        "severity": "warning",
        "check": check,
        "message": "failed",
        "why": "why it matters",
        "action": "do this",
    }
    doc.update({k.replace("_", "-"): v for k, v in keys.items()})
    (folder / "spf" / "example.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    [rule] = load_rules([folder], facts_type=facts_type)
    return rule


def run(tmp_path: Path, check: dict, facts: Any = None, **keys: Any) -> Finding:
    rule = make_rule(tmp_path, check, **keys)
    [finding] = evaluate([rule], make_facts() if facts is None else facts)
    return finding


def leaf(fact: str, op: str, *value: Any) -> dict:
    cond: dict[str, Any] = {"fact": fact, "op": op}
    if value:
        cond["value"] = value[0]
    return cond


# -- Operators ---------------------------------------------------------------------------------------------

OPERATOR_CASES = [
    (leaf("spf.lookup_count", "eq", 4), "pass"),
    (leaf("spf.lookup_count", "eq", 5), "fail"),
    (leaf("spf.exists", "eq", True), "pass"),
    (leaf("spf.exists", "eq", False), "fail"),
    (leaf("spf.lookup_count", "ne", 4), "fail"),
    (leaf("spf.lookup_count", "ne", 5), "pass"),
    (leaf("dmarc.record", "eq", None), "pass"),
    (leaf("dmarc.effective_policy", "in", ["quarantine", "reject"]), "fail"),
    (leaf("dmarc.effective_policy", "in", ["none"]), "pass"),
    (leaf("dmarc.effective_policy", "not-in", ["quarantine", "reject"]), "pass"),
    (leaf("dmarc.effective_policy", "not-in", ["none", "reject"]), "fail"),
    (leaf("spf.lookup_count", "lt", 4), "fail"),
    (leaf("spf.lookup_count", "lt", 5), "pass"),
    (leaf("spf.lookup_count", "le", 4), "pass"),
    (leaf("spf.lookup_count", "le", 3), "fail"),
    (leaf("spf.lookup_count", "gt", 4), "fail"),
    (leaf("spf.lookup_count", "gt", 3.5), "pass"),
    (leaf("spf.lookup_count", "ge", 4), "pass"),
    (leaf("spf.lookup_count", "ge", 5), "fail"),
    (leaf("dmarc.pct", "lt", 100), "fail"),  # an absent number compares false
    (leaf("dmarc.pct", "ge", 0), "fail"),
    (leaf("spf.records", "contains", SPF_RECORD), "pass"),
    (leaf("spf.records", "contains", "v=spf1 -all"), "fail"),
    (leaf("spf.record", "contains", "include:"), "pass"),
    (leaf("spf.record", "contains", " ptr"), "fail"),
    (leaf("dmarc.record", "contains", "p=none"), "fail"),  # None contains nothing
    (leaf("spf.record", "matches", r"~all$"), "pass"),
    (leaf("spf.record", "matches", r"^v=spf2"), "fail"),
    (leaf("spf.record", "matches", r"include:_spf\.example"), "pass"),  # search, not full match
    (leaf("dmarc.record", "matches", ".*"), "fail"),  # None matches nothing
    (leaf("spf.record", "exists"), "pass"),
    (leaf("dmarc.record", "exists"), "fail"),  # None
    (leaf("spf.syntax_errors", "exists"), "fail"),  # empty list
    (leaf("dmarc.tags", "exists"), "pass"),
    (leaf("dmarc.org_domain", "exists"), "fail"),  # empty string
    (leaf("spf.void_count", "exists"), "pass"),  # 0 is a value
    (leaf("spf.loop", "exists"), "pass"),  # False is a value
    (leaf("spf.record", "missing"), "fail"),
    (leaf("dmarc.record", "missing"), "pass"),
    (leaf("spf.syntax_errors", "missing"), "pass"),
    (leaf("dmarc.org_domain", "missing"), "pass"),
    (leaf("spf.include_costs._spf.example.net", "eq", 3), "pass"),  # dict key with dots
    (leaf("spf.include_costs._spf.example.net", "gt", 3), "fail"),
    (leaf("spf.include_costs.other.example", "missing"), "pass"),  # absent key
    (leaf("spf.tree.record", "eq", SPF_RECORD), "pass"),
    (leaf("spf.tree.error", "missing"), "pass"),
    (leaf("dmarc.tags.p", "eq", "none"), "pass"),
]


@pytest.mark.parametrize(("check", "expected"), OPERATOR_CASES, ids=lambda c: str(c))
def test_operator(tmp_path: Path, check: dict, expected: str) -> None:
    assert run(tmp_path, check).status == expected


def test_path_below_a_none_value_reads_as_missing(tmp_path: Path) -> None:
    facts = make_facts(**{"spf.tree": None})
    assert run(tmp_path, leaf("spf.tree.record", "missing"), facts).status == "pass"
    assert run(tmp_path, leaf("spf.tree.record", "eq", SPF_RECORD), facts).status == "fail"


# -- Unknown facts and three-valued logic ------------------------------------------------------------------


@pytest.mark.parametrize(
    "check",
    [
        leaf("spf.lookup_count", "eq", 4),
        leaf("spf.lookup_count", "ne", 4),
        leaf("spf.lookup_count", "in", [4]),
        leaf("spf.lookup_count", "not-in", [4]),
        leaf("spf.lookup_count", "lt", 10),
        leaf("spf.lookup_count", "ge", 10),
        leaf("spf.lookup_count", "exists"),
        leaf("spf.lookup_count", "missing"),
    ],
    ids=lambda c: c["op"],
)
def test_every_operator_on_an_unknown_fact_is_unknown(tmp_path: Path, check: dict) -> None:
    finding = run(tmp_path, check, make_facts(**{"spf.lookup_count": Unknown(TIMEOUT)}))
    assert finding.status == "unknown"
    assert finding.unknown_reasons == [TIMEOUT]
    assert finding.evidence == {"spf.lookup_count": {"unknown": TIMEOUT}}


@pytest.mark.parametrize("op", ["contains", "matches", "missing"])
def test_text_operators_on_an_unknown_fact_are_unknown(tmp_path: Path, op: str) -> None:
    check = leaf("spf.record", op) if op == "missing" else leaf("spf.record", op, "ptr")
    assert run(tmp_path, check, make_facts(**{"spf.record": Unknown(TIMEOUT)})).status == "unknown"


UNKNOWN = leaf("spf.lookup_count", "le", 10)  # unknown in KLEENE_FACTS
TRUE = leaf("spf.exists", "eq", True)
FALSE = leaf("spf.exists", "eq", False)


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        ({"any": [UNKNOWN, TRUE]}, "pass"),
        ({"any": [TRUE, UNKNOWN]}, "pass"),
        ({"any": [UNKNOWN, FALSE]}, "unknown"),
        ({"any": [FALSE, FALSE]}, "fail"),
        ({"all": [UNKNOWN, FALSE]}, "fail"),
        ({"all": [FALSE, UNKNOWN]}, "fail"),
        ({"all": [UNKNOWN, TRUE]}, "unknown"),
        ({"all": [TRUE, TRUE]}, "pass"),
        ({"not": UNKNOWN}, "unknown"),
        ({"not": FALSE}, "pass"),
        ({"not": {"all": [UNKNOWN, FALSE]}}, "pass"),
        ({"not": {"any": [UNKNOWN, FALSE]}}, "unknown"),
        ({"all": [{"any": [UNKNOWN, TRUE]}, {"not": FALSE}]}, "pass"),
    ],
    ids=lambda c: str(c),
)
def test_kleene_logic(tmp_path: Path, check: dict, expected: str) -> None:
    facts = make_facts(**{"spf.lookup_count": Unknown(TIMEOUT)})
    assert run(tmp_path, check, facts).status == expected


def test_a_settled_combination_still_lists_the_unknown_it_read(tmp_path: Path) -> None:
    facts = make_facts(**{"spf.lookup_count": Unknown(TIMEOUT)})
    finding = run(tmp_path, {"any": [UNKNOWN, TRUE]}, facts)
    assert finding.status == "pass"
    assert finding.unknown_reasons == [TIMEOUT]
    assert finding.evidence == {"spf.lookup_count": {"unknown": TIMEOUT}, "spf.exists": True}


def test_unknown_finding_says_what_could_not_be_checked_and_claims_nothing(tmp_path: Path) -> None:
    facts = make_facts(**{"dmarc.effective_policy": Unknown("TXT _dmarc.example.org.: timeout")})
    finding = run(
        tmp_path,
        leaf("dmarc.effective_policy", "in", ["quarantine", "reject"]),
        facts,
        failure_title="{{ from_domain }} is monitoring only",
        message="{{ from_domain }} is covered by p={{ dmarc.effective_policy }}",
        why="Spoofed mail for {{ from_domain }} is delivered.",
        action="Change p=none to p=reject",
    )
    assert finding.status == "unknown"
    assert finding.message == "Could not check: TXT _dmarc.example.org.: timeout"
    assert finding.title == "healthy"
    assert finding.why == "Spoofed mail for example.org is delivered."
    assert "p=none" not in finding.action and "p=reject" not in finding.action
    assert finding.unknown_reasons == ["TXT _dmarc.example.org.: timeout"]


def test_reasons_are_listed_once_each(tmp_path: Path) -> None:
    facts = make_facts(**{"spf.lookup_count": Unknown(TIMEOUT), "spf.void_count": Unknown(TIMEOUT)})
    check = {"all": [leaf("spf.lookup_count", "le", 10), leaf("spf.void_count", "le", 2)]}
    finding = run(tmp_path, check, facts)
    assert finding.unknown_reasons == [TIMEOUT]
    assert finding.message == f"Could not check: {TIMEOUT}"


# -- requires and applies-when -----------------------------------------------------------------------------


def test_requires_an_unknown_root_gives_unknown_even_when_the_check_would_pass(tmp_path: Path) -> None:
    facts = make_facts(**{"spf.status": "unknown", "spf.exists": Unknown(TIMEOUT)})
    finding = run(tmp_path, leaf("spf.lookup_count", "le", 10), facts, requires=["spf"])
    assert finding.status == "unknown"
    assert finding.message == f"Could not check: {TIMEOUT}"
    assert finding.evidence == {}


def test_requires_without_a_recorded_reason(tmp_path: Path) -> None:
    facts = make_facts(**{"dmarc.status": "unknown"})
    finding = run(tmp_path, leaf("spf.lookup_count", "le", 10), facts, requires=["spf", "dmarc"])
    assert finding.message == "Could not check: the dmarc facts could not be gathered"


def test_requires_a_known_root_changes_nothing(tmp_path: Path) -> None:
    assert run(tmp_path, leaf("spf.lookup_count", "le", 10), requires=["spf"]).status == "pass"
    assert run(tmp_path, leaf("spf.lookup_count", "le", 3), requires=["spf"]).status == "fail"


def test_applies_when_false_skips_without_reading_the_check(tmp_path: Path) -> None:
    facts = make_facts(**{"spf.lookup_count": Unknown(TIMEOUT)})
    finding = run(
        tmp_path, leaf("spf.lookup_count", "le", 10), facts, applies_when=leaf("dmarc.exists", "eq", False)
    )
    assert finding.status == "skip"
    assert (finding.message, finding.why, finding.action) == ("", "", "")
    assert finding.title == "healthy"
    assert finding.evidence == {"dmarc.exists": True}
    assert finding.unknown_reasons == []


def test_applies_when_unknown_gives_unknown(tmp_path: Path) -> None:
    facts = make_facts(**{"dmarc.exists": Unknown("TXT _dmarc.example.org.: servfail")})
    finding = run(
        tmp_path, leaf("spf.lookup_count", "le", 10), facts, applies_when=leaf("dmarc.exists", "eq", True)
    )
    assert finding.status == "unknown"
    assert finding.message == "Could not check: TXT _dmarc.example.org.: servfail"


def test_applies_when_true_then_check_decides(tmp_path: Path) -> None:
    applies = leaf("dmarc.exists", "eq", True)
    assert run(tmp_path, leaf("spf.lookup_count", "le", 10), applies_when=applies).status == "pass"
    finding = run(tmp_path, leaf("spf.lookup_count", "le", 3), applies_when=applies)
    assert finding.status == "fail"
    assert finding.evidence == {"dmarc.exists": True, "spf.lookup_count": 4}


# -- Texts -------------------------------------------------------------------------------------------------


def test_fail_renders_message_why_action_and_failure_title(tmp_path: Path) -> None:
    finding = run(
        tmp_path,
        leaf("spf.lookup_count", "le", 3),
        failure_title="SPF of {{ spf.domain }} needs {{ spf.lookup_count }} lookups",
        message="{{ domain }} sends as {{ from_address }} ({{ from_domain }}, bounces to {{ envelope_domain }})",
        why="{{ rule.id }} is {{ rule.severity }}: {{ rule.title }}",
        action="First MX: {{ mx.hosts[0].host }}; includes: {{ spf.include_costs|join_and }}",
    )
    assert finding.status == "fail"
    assert finding.title == "SPF of example.org needs 4 lookups"
    assert finding.message == (
        "social.example.org sends as notifications@example.org (example.org, bounces to bounce.example.org)"
    )
    assert finding.why == "spf.example is warning: healthy"
    assert finding.action == "First MX: mx1.example.org.; includes: _spf.example.net"
    assert finding.render_errors == []


def test_pass_uses_pass_message_or_title(tmp_path: Path) -> None:
    finding = run(
        tmp_path, leaf("spf.lookup_count", "le", 10), pass_message="{{ spf.lookup_count }} of 10 used"
    )
    assert (finding.status, finding.title, finding.message) == ("pass", "healthy", "4 of 10 used")
    assert (finding.why, finding.action) == ("", "")
    finding = run(tmp_path, leaf("spf.lookup_count", "le", 10), title="{{ spf.domain }} is fine")
    assert finding.title == finding.message == "example.org is fine"


def test_subject_defaults_to_the_domain(tmp_path: Path) -> None:
    assert run(tmp_path, leaf("spf.exists", "eq", True)).subject == "social.example.org"
    custom = run(tmp_path, leaf("spf.exists", "eq", True), subject="_dmarc.{{ from_domain }}")
    assert custom.subject == "_dmarc.example.org"


def test_unknown_values_render_with_their_reason(tmp_path: Path) -> None:
    facts = make_facts(**{"dmarc.org_domain": Unknown(TIMEOUT)})
    finding = run(
        tmp_path, leaf("spf.exists", "eq", False), facts, message="org domain: {{ dmarc.org_domain }}"
    )
    assert finding.message == f"org domain: unknown ({TIMEOUT})"


def test_templates_are_not_html_escaped_here(tmp_path: Path) -> None:
    facts = make_facts(**{"spf.record": "v=spf1 <script>alert(1)</script> -all"})
    finding = run(tmp_path, leaf("spf.exists", "eq", False), facts, message="{{ spf.record }}")
    assert finding.message == "v=spf1 <script>alert(1)</script> -all"  # the HTML renderer escapes


def test_render_error_is_recorded_and_the_audit_goes_on(tmp_path: Path) -> None:
    broken = make_rule(tmp_path, leaf("spf.exists", "eq", False), message="rua={{ dmarc.tags.rua }}")
    fine = make_rule(tmp_path, leaf("spf.exists", "eq", False))
    findings = evaluate([broken, fine], make_facts())
    assert [f.status for f in findings] == ["fail", "fail"]
    assert findings[0].message.startswith("(message could not be rendered: ")
    assert "rua" in findings[0].message
    assert len(findings[0].render_errors) == 1 and findings[0].render_errors[0].startswith("message: ")
    assert findings[0].to_json()["render_errors"] == findings[0].render_errors
    assert findings[1].message == "failed" and findings[1].render_errors == []


def test_sandbox_blocks_private_attributes_at_render_time(tmp_path: Path) -> None:
    # Attribute chains through dicts cannot be checked at load time; the sandbox still refuses them.
    finding = run(tmp_path, leaf("spf.exists", "eq", False), message="{{ dmarc.tags.__class__.__mro__ }}")
    assert finding.message == (
        "(message could not be rendered: access to attribute '__class__' of 'dict' object is unsafe.)"
    )
    assert finding.render_errors[0].startswith("message: SecurityError: ")


def test_title_render_error_falls_back_to_the_source(tmp_path: Path) -> None:
    finding = run(tmp_path, leaf("spf.exists", "eq", False), failure_title="rua {{ dmarc.tags.rua }}")
    assert finding.title == "rua {{ dmarc.tags.rua }}"
    assert finding.render_errors and finding.render_errors[0].startswith("failure-title: ")


def test_filters() -> None:
    assert join_and([]) == ""
    assert join_and(["a"]) == "a"
    assert join_and(["a", "b"]) == "a and b"
    assert join_and(["a", "b", "c"]) == "a, b and c"
    assert join_and(["a", "b"], "or") == "a or b"
    assert join_and("single") == "single"
    assert join_and({"x.example": 1, "y.example": 2}) == "x.example and y.example"
    assert [plural(n) for n in (0, 1, 2)] == ["s", "", "s"]
    assert plural(["one"]) == "" and plural([]) == "s"
    assert plural(3, "ies", "y") == "ies" and plural(1, "ies", "y") == "y"
    assert plural(Unknown(TIMEOUT)) == "s"


def test_filters_in_templates(tmp_path: Path) -> None:
    facts = make_facts(
        **{"spf.lookup_count": 1, "ptr.sender_missing": ["192.0.2.1", "192.0.2.2", "2001:db8::1"]}
    )
    finding = run(
        tmp_path,
        leaf("spf.exists", "eq", False),
        facts,
        message="{{ spf.lookup_count }} lookup{{ spf.lookup_count|plural }}; {{ ptr.sender_missing|join_and }}",
    )
    assert finding.message == "1 lookup; 192.0.2.1, 192.0.2.2 and 2001:db8::1"


# -- Findings ----------------------------------------------------------------------------------------------


def test_evidence_holds_condition_reads_and_extra_paths(tmp_path: Path) -> None:
    facts = make_facts(**{"spf.redirect": None, "dmarc.record": Unknown(TIMEOUT)})
    finding = run(tmp_path, leaf("spf.exists", "eq", False), facts, evidence=["mx.hosts", "dmarc.record"])
    assert finding.evidence == {
        "spf.exists": True,
        "mx.hosts": [
            {
                "host": "mx1.example.org.",
                "preference": 10,
                "cname_target": None,
                "addresses": [],
                "outcome": "ok",
                "resolvable": True,
            }
        ],
        "dmarc.record": {"unknown": TIMEOUT},
    }
    # An unknown fact shown only as evidence does not make the finding unknown.
    assert finding.status == "fail" and finding.unknown_reasons == []


def test_finding_json(tmp_path: Path) -> None:
    finding = run(
        tmp_path,
        leaf("spf.exists", "eq", False),
        references=["RFC 7208 §4.6.4"],
        tags=["spf"],
        fix="spf.flatten",
    )
    assert finding.fix == "spf.flatten" and finding.tags == ["spf"] and finding.fixes == []
    assert finding.to_json() == {
        "rule": "spf.example",
        "status": "fail",
        "severity": "warning",
        "title": "broken",
        "message": "failed",
        "why": "why it matters",
        "action": "do this",
        "subject": "social.example.org",
        "evidence": {"spf.exists": True},
        "references": ["RFC 7208 §4.6.4"],
        "fixes": [],
    }
    unknown = run(tmp_path, leaf("spf.exists", "eq", False), make_facts(**{"spf.exists": Unknown(TIMEOUT)}))
    assert unknown.to_json()["unknown_reasons"] == [TIMEOUT]


def test_example_rules_evaluate_in_order() -> None:
    rules = load_rules([ENGINE_RULES])
    facts = make_facts(**{"dmarc.record_domain": "example.org", "spf.lookup_count": 12})
    findings = evaluate(rules, facts)
    assert [(f.rule, f.status) for f in findings] == [
        ("dmarc.policy-none", "fail"),
        ("spf.lookup-limit", "fail"),
    ]
    dmarc, spf = findings
    assert dmarc.message == "example.org is covered by p=none (record at example.org)."
    assert dmarc.subject == "_dmarc.example.org"
    assert dmarc.action == "Change p=none to p=quarantine in the TXT record at _dmarc.example.org"
    assert dmarc.fix == "dmarc.raise-policy"
    assert spf.message == (
        "The SPF record of example.org needs 12 lookups; the biggest includes are _spf.example.net."
    )
    assert spf.severity == "critical" and spf.title == "SPF needs more than 10 DNS lookups"
    facts.dmarc.effective_policy = "reject"
    facts.spf.loop = True
    dmarc, spf = evaluate(rules, facts)
    assert (dmarc.status, dmarc.message) == ("pass", "example.org is protected by p=reject.")
    assert spf.status == "skip"


# -- Another fact model (roots added later) ----------------------------------------------------------------


@dataclass
class Certificate:
    subject: str
    days_left: int


@dataclass
class SmtpFacts:
    status: str = "ok"
    certificate: Certificate | None | Unknown = None
    extensions: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class SmtpOnlyFacts:
    target: TargetFacts
    smtp: SmtpFacts


def test_other_fact_models_and_unknown_in_the_middle_of_a_path(tmp_path: Path) -> None:
    rule = make_rule(
        tmp_path,
        {
            "all": [
                leaf("smtp.certificate.days_left", "gt", 14),
                leaf("smtp.extensions.AUTH", "contains", "PLAIN"),
            ]
        },
        facts_type=SmtpOnlyFacts,
        message="{{ smtp.certificate.subject }} expires in {{ smtp.certificate.days_left }} days",
    )
    target = make_facts().target
    ok = SmtpOnlyFacts(target, SmtpFacts(certificate=Certificate("mail", 90), extensions={"AUTH": ["PLAIN"]}))
    expiring = SmtpOnlyFacts(
        target, SmtpFacts(certificate=Certificate("mail", 3), extensions={"AUTH": ["PLAIN"]})
    )
    unreachable = SmtpOnlyFacts(target, SmtpFacts(certificate=Unknown("smtp.example.org:587: timeout")))
    findings = evaluate([rule], ok) + evaluate([rule], expiring) + evaluate([rule], unreachable)
    assert [f.status for f in findings] == ["pass", "fail", "fail"]  # no AUTH known → the `all` is false
    assert findings[1].message == "mail expires in 3 days"
    assert findings[2].evidence["smtp.certificate.days_left"] == {"unknown": "smtp.example.org:587: timeout"}
    only_cert = make_rule(tmp_path, leaf("smtp.certificate.days_left", "gt", 14), facts_type=SmtpOnlyFacts)
    [finding] = evaluate([only_cert], unreachable)
    assert finding.status == "unknown"
    assert finding.message == "Could not check: smtp.example.org:587: timeout"
