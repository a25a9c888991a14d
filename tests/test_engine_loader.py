"""The rule loader: every kind of broken rule file gives `file:line: what is wrong` with the right line."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from auditor.engine import RuleError, load_rules, validate_rules_dir
from auditor.engine.model import AllOf, Leaf, Not
from auditor.errors import AuditorError
from auditor.facts.base import Unknown
from auditor.facts.model import TargetFacts

REPO_ROOT = Path(__file__).resolve().parents[1]
ENGINE_RULES = Path(__file__).resolve().parent / "engine_rules"

VALID = """\
id: spf.example
title: SPF is fine
failure-title: SPF is broken
severity: warning
check: {fact: spf.exists, op: eq, value: true}
message: "{{ domain }} has no SPF record"
why: Receivers cannot tell who may send for {{ from_domain }}.
action: Publish one.
"""


@pytest.fixture
def rules_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty rules folder that is also the working folder, so messages show `spf/x.yaml:3:`."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_for(root: Path, text: str, relative: str = "spf/example.yaml") -> list[str]:
    write(root, relative, text)
    return validate_rules_dir(root)


def with_line(line: str, replacement: str) -> str:
    """VALID with the line starting with `line` replaced (keeps every other line where it is)."""
    out = [replacement if row.startswith(line) else row for row in VALID.splitlines()]
    assert out != VALID.splitlines(), f"no line starts with {line!r}"
    return "\n".join(out) + "\n"


# -- What loads --------------------------------------------------------------------------------------------


def test_valid_rule_loads_with_every_field(rules_dir: Path) -> None:
    write(
        rules_dir,
        "dmarc/policy-none.yaml",
        """\
        id: dmarc.policy-none
        aliases: [dmarc.policy]
        title: DMARC enforces
        failure-title: DMARC monitors only
        severity: warning
        requires: [dmarc]
        applies-when: {fact: dmarc.exists, op: exists}
        check: {fact: dmarc.effective_policy, op: in, value: [quarantine, reject]}
        message: "{{ from_domain }} has p={{ dmarc.effective_policy }}"
        why: why
        action: act
        pass-message: fine
        subject: "{{ dmarc.record_domain }}"
        evidence: [dmarc.record, spf.include_costs.example.net]
        fix: dmarc.raise-policy
        references: ["RFC 9989 §4.7"]
        tags: [dmarc]
        """,
    )
    [rule] = load_rules([rules_dir])
    assert rule.id == "dmarc.policy-none"
    assert rule.aliases == ["dmarc.policy"]
    assert (rule.title, rule.failure_title, rule.severity) == (
        "DMARC enforces",
        "DMARC monitors only",
        "warning",
    )
    assert rule.requires == ["dmarc"]
    assert isinstance(rule.applies_when, Leaf) and rule.applies_when.op == "exists"
    assert isinstance(rule.check, Leaf) and rule.check.value == ["quarantine", "reject"]
    assert rule.check.fact.text == "dmarc.effective_policy"
    assert [p.text for p in rule.evidence] == ["dmarc.record", "spf.include_costs.example.net"]
    assert rule.evidence[1].steps[-1] == ("key", "example.net")
    assert rule.fix == "dmarc.raise-policy"
    assert rule.references == ["RFC 9989 §4.7"] and rule.tags == ["dmarc"]
    assert rule.pass_message == "fine" and rule.subject == "{{ dmarc.record_domain }}"
    assert rule.path == rules_dir / "dmarc" / "policy-none.yaml"
    assert rule.line == 1


def test_rules_are_sorted_by_id_and_providers_apps_are_skipped(rules_dir: Path) -> None:
    write(rules_dir, "spf/example.yaml", VALID)
    write(rules_dir, "dmarc/first.yaml", VALID.replace("spf.example", "dmarc.first"))
    write(rules_dir, "providers/ses.yaml", "name: Amazon SES\n")
    write(rules_dir, "apps/mastodon.yaml", "name: Mastodon\n")
    write(rules_dir, "spf/notes.txt", "not yaml at all: [")
    assert [r.id for r in load_rules([rules_dir])] == ["dmarc.first", "spf.example"]
    assert validate_rules_dir(rules_dir) == []


def test_nested_conditions_up_to_three_levels_load(rules_dir: Path) -> None:
    text = with_line(
        "check:",
        "check: {all: [{any: [{not: {fact: spf.loop, op: eq, value: true}}, {fact: spf.exists, op: exists}]}]}",
    )
    write(rules_dir, "spf/example.yaml", text)
    [rule] = load_rules([rules_dir])
    assert isinstance(rule.check, AllOf)
    assert isinstance(rule.check.conditions[0].conditions[0], Not)


def test_example_rules_folder_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = load_rules([ENGINE_RULES])
    assert [r.id for r in rules] == ["dmarc.policy-none", "spf.lookup-limit"]


def test_shipped_rules_load() -> None:
    shipped = REPO_ROOT / "rules"
    files = [
        p for p in shipped.rglob("*.yaml") if not {"providers", "apps"} & set(p.relative_to(shipped).parts)
    ]
    if not files:
        pytest.skip("no rule files in rules/ yet")
    rules = load_rules()
    assert len(rules) == len(files)
    assert [r.id for r in rules] == sorted(r.id for r in rules)


# -- File-level problems -----------------------------------------------------------------------------------


def test_yaml_syntax_error_names_its_line(rules_dir: Path) -> None:
    errors = errors_for(rules_dir, "id: spf.example\ntitle: [unclosed\nseverity: info\n")
    # The wording is PyYAML's (libyaml and the pure-Python parser phrase it differently); the line is ours.
    (error,) = errors
    assert error.startswith("spf/example.yaml:3: YAML syntax error: ") and "',' or ']'" in error


def test_not_a_mapping(rules_dir: Path) -> None:
    assert errors_for(rules_dir, "- id: spf.example\n") == [
        "spf/example.yaml:1: a rule file must be a mapping of keys (id, title, check, …), not a list"
    ]


def test_empty_file(rules_dir: Path) -> None:
    assert errors_for(rules_dir, "# nothing yet\n") == [
        "spf/example.yaml:1: the file is empty; a rule is a mapping with id, title, check, …"
    ]


def test_python_tags_are_refused_not_constructed(rules_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = with_line("title:", f"title: !!python/object/apply:os.system ['touch {marker}']")
    errors = errors_for(rules_dir, text)
    assert errors == [
        "spf/example.yaml:2: YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed "
        "(rules are plain YAML)"
    ]
    assert not marker.exists()


def test_duplicate_key(rules_dir: Path) -> None:
    errors = errors_for(rules_dir, VALID + "severity: info\n")
    assert errors == ["spf/example.yaml:9: duplicate key 'severity' in the rule"]


def test_unknown_key_suggests_the_closest(rules_dir: Path) -> None:
    errors = errors_for(rules_dir, with_line("severity:", "severty: warning"))
    assert errors == [
        "spf/example.yaml:1: missing required key 'severity'",
        "spf/example.yaml:4: unknown key 'severty' (did you mean 'severity'?)",
    ]


def test_unknown_key_without_a_close_match(rules_dir: Path) -> None:
    assert errors_for(rules_dir, VALID + "colour: blue\n") == ["spf/example.yaml:9: unknown key 'colour'"]


def test_missing_required_key(rules_dir: Path) -> None:
    text = "\n".join(row for row in VALID.splitlines() if not row.startswith("why:")) + "\n"
    assert errors_for(rules_dir, text) == ["spf/example.yaml:1: missing required key 'why'"]


def test_several_problems_in_one_file_are_all_reported_in_line_order(rules_dir: Path) -> None:
    text = with_line("severity:", "severity: loud").replace("op: eq", "op: equals")
    assert errors_for(rules_dir, text) == [
        "spf/example.yaml:4: bad severity 'loud' (use critical, warning or info)",
        "spf/example.yaml:5: unknown operator 'equals' (did you mean 'eq'?)",
    ]


# -- Keys --------------------------------------------------------------------------------------------------


def test_id_must_match_the_file_name(rules_dir: Path) -> None:
    errors = errors_for(rules_dir, VALID, relative="spf/other.yaml")
    assert errors == [
        "spf/other.yaml:1: id 'spf.example' does not match the file's path "
        "(a rule with this id lives in spf/example.yaml)"
    ]


def test_id_must_match_the_area_folder(rules_dir: Path) -> None:
    errors = errors_for(rules_dir, VALID, relative="dmarc/example.yaml")
    assert errors == [
        "dmarc/example.yaml:1: id 'spf.example' does not match the file's path "
        "(a rule with this id lives in spf/example.yaml)"
    ]


@pytest.mark.parametrize("bad_id", ["SPF.Example", "spf", "spf.example.extra", "spf.exa mple"])
def test_id_format(rules_dir: Path, bad_id: str) -> None:
    errors = errors_for(rules_dir, with_line("id:", f"id: {bad_id}"))
    assert errors == [
        f"spf/example.yaml:1: bad id {bad_id!r} (expected area.name in lowercase letters, digits and dashes)"
    ]


def test_bad_severity(rules_dir: Path) -> None:
    assert errors_for(rules_dir, with_line("severity:", "severity: Critical")) == [
        "spf/example.yaml:4: bad severity 'Critical' (use critical, warning or info)"
    ]


def test_text_keys_must_be_text(rules_dir: Path) -> None:
    assert errors_for(rules_dir, with_line("title:", "title: [a, b]")) == [
        "spf/example.yaml:2: 'title' must be text, not a list"
    ]
    assert errors_for(rules_dir, with_line("why:", 'why: ""')) == [
        "spf/example.yaml:7: 'why' must be text, not an empty value"
    ]


def test_requires_unknown_root_suggests(rules_dir: Path) -> None:
    assert errors_for(rules_dir, VALID + "requires: [spf, dmark]\n") == [
        "spf/example.yaml:9: requires: unknown fact root 'dmark' (did you mean 'dmarc'?)"
    ]


def test_requires_root_without_status(rules_dir: Path) -> None:
    (error,) = errors_for(rules_dir, VALID + "requires: [target]\n")
    assert error.startswith("spf/example.yaml:9: requires: 'target' has no status to require (roots with one: ")
    assert "dmarc" in error and "spf" in error and "target" not in error.split("roots with one:")[1]


def test_requires_must_be_a_list(rules_dir: Path) -> None:
    assert errors_for(rules_dir, VALID + "requires: spf\n") == [
        "spf/example.yaml:9: 'requires' must be a list, e.g. [a, b], not the value 'spf'"
    ]


def test_bad_fix_name(rules_dir: Path) -> None:
    assert errors_for(rules_dir, VALID + "fix: Raise Policy\n") == [
        "spf/example.yaml:9: bad fix name 'Raise Policy' (expected a name like 'dmarc.raise-policy')"
    ]


def test_evidence_paths_are_checked(rules_dir: Path) -> None:
    text = VALID + "evidence:\n  - spf.record\n  - spf.recrod\n"
    assert errors_for(rules_dir, text) == [
        "spf/example.yaml:11: unknown fact path 'spf.recrod' (did you mean 'spf.record'?)"
    ]


# -- Conditions --------------------------------------------------------------------------------------------


def check_errors(root: Path, check: str) -> list[str]:
    """Errors for VALID with its check (line 5) replaced by `check` (which may span lines)."""
    return errors_for(root, with_line("check:", check))


def test_unknown_operator_suggests(rules_dir: Path) -> None:
    assert check_errors(rules_dir, "check: {fact: spf.exists, op: eqq, value: true}") == [
        "spf/example.yaml:5: unknown operator 'eqq' (did you mean 'eq'?)"
    ]


def test_unknown_operator_lists_operators(rules_dir: Path) -> None:
    [error] = check_errors(rules_dir, "check: {fact: spf.exists, op: '==', value: true}")
    assert error == (
        "spf/example.yaml:5: unknown operator '==' (operators: eq, ne, in, not-in, lt, le, gt, ge, "
        "contains, matches, exists, missing)"
    )


def test_operator_aliases_are_not_accepted(rules_dir: Path) -> None:
    [error] = check_errors(rules_dir, "check: {fact: spf.exists, op: not_in, value: [true]}")
    assert error == "spf/example.yaml:5: unknown operator 'not_in' (did you mean 'not-in'?)"


def test_unknown_fact_path_suggests(rules_dir: Path) -> None:
    text = "check:\n  fact: dmarc.efective_policy\n  op: eq\n  value: reject"
    assert check_errors(rules_dir, text) == [
        "spf/example.yaml:6: unknown fact path 'dmarc.efective_policy' (did you mean 'dmarc.effective_policy'?)"
    ]


def test_unknown_fact_root_suggests(rules_dir: Path) -> None:
    assert check_errors(rules_dir, "check: {fact: spff.exists, op: exists}") == [
        "spf/example.yaml:5: unknown fact root 'spff.exists' (did you mean 'spf.exists'?)"
    ]


def test_path_cannot_go_past_a_plain_value(rules_dir: Path) -> None:
    assert check_errors(rules_dir, "check: {fact: spf.lookup_count.total, op: exists}") == [
        "spf/example.yaml:5: bad fact path 'spf.lookup_count.total': spf.lookup_count is int and has no parts "
        "to read with '.total'"
    ]


def test_path_cannot_go_into_a_list(rules_dir: Path) -> None:
    [error] = check_errors(rules_dir, "check: {fact: mx.hosts.host, op: exists}")
    assert error.startswith("spf/example.yaml:5: bad fact path 'mx.hosts.host': mx.hosts is list[MxHost]")


@pytest.mark.parametrize(
    ("check", "line", "message"),
    [
        (
            "check: {fact: spf.exists, op: eq, value: 'yes'}",
            5,
            "value 'yes' (str) does not fit spf.exists (bool)",
        ),
        ("check: {fact: spf.exists, op: eq, value: 1}", 5, "value 1 (int) does not fit spf.exists (bool)"),
        ("check: {fact: spf.lookup_count, op: eq, value: true}", 5, "value True (bool) does not fit"),
        ("check: {fact: spf.record, op: lt, value: 3}", 5, "'lt' needs a numeric fact, but spf.record"),
        (
            "check: {fact: spf.exists, op: ge, value: 1}",
            5,
            "'ge' needs a numeric fact, but spf.exists (bool)",
        ),
        (
            "check: {fact: spf.lookup_count, op: le, value: ten}",
            5,
            "'le' needs a number value, not 'ten' (str)",
        ),
        ("check: {fact: spf.lookup_count, op: matches, value: '^1'}", 5, "'matches' needs a text fact"),
        (
            "check: {fact: spf.record, op: matches, value: '(unclosed'}",
            5,
            "'matches' value '(unclosed' is not a valid",
        ),
        (
            "check: {fact: spf.record, op: matches, value: 3}",
            5,
            "'matches' needs a regular expression (text)",
        ),
        (
            "check: {fact: spf.lookup_count, op: contains, value: 1}",
            5,
            "'contains' needs a list or text fact",
        ),
        (
            "check: {fact: spf.records, op: contains, value: 1}",
            5,
            "value 1 (int) cannot be an element or part",
        ),
        (
            "check: {fact: spf.record, op: contains, value: 1}",
            5,
            "value 1 (int) cannot be an element or part",
        ),
        ("check: {fact: dmarc.p, op: in, value: reject}", 5, "'in' needs a list value, not 'reject' (str)"),
        ("check: {fact: dmarc.p, op: not-in, value: [none, 1]}", 5, "value 1 (int) in the list does not fit"),
        ("check: {fact: spf.record, op: exists, value: true}", 5, "'exists' takes no value"),
        ("check: {fact: spf.record, op: eq}", 5, "'eq' needs a value"),
        ("check: {fact: spf.record, op: eq, value: 2024-01-01}", 5, "value datetime.date(2024, 1, 1) (date)"),
    ],
)
def test_wrong_types(rules_dir: Path, check: str, line: int, message: str) -> None:
    [error] = check_errors(rules_dir, check)
    assert error.startswith(f"spf/example.yaml:{line}: {message}"), error


def test_type_error_points_at_the_value_line(rules_dir: Path) -> None:
    text = "check:\n  fact: spf.lookup_count\n  op: gt\n  value: many"
    assert check_errors(rules_dir, text) == [
        "spf/example.yaml:8: 'gt' needs a number value, not 'many' (str)"
    ]


def test_fact_type_error_points_at_the_operator_line(rules_dir: Path) -> None:
    text = "check:\n  fact: spf.record\n  op: gt\n  value: 3"
    assert check_errors(rules_dir, text) == [
        "spf/example.yaml:7: 'gt' needs a numeric fact, but spf.record (str | None) is not a number"
    ]


def test_null_value_fits_only_optional_facts(rules_dir: Path) -> None:
    write(
        rules_dir, "spf/example.yaml", with_line("check:", "check: {fact: spf.record, op: ne, value: null}")
    )
    assert validate_rules_dir(rules_dir) == []
    [error] = check_errors(rules_dir, "check: {fact: spf.lookup_count, op: eq, value: null}")
    assert error == "spf/example.yaml:5: value None (null) does not fit spf.lookup_count (int)"


def test_nesting_deeper_than_three_levels(rules_dir: Path) -> None:
    text = "check:\n  all:\n    - any:\n        - not:\n            not: {fact: spf.exists, op: exists}\n"
    assert check_errors(rules_dir, text) == [
        "spf/example.yaml:9: conditions nest deeper than 3 levels of all/any/not"
    ]


def test_combinator_needs_a_non_empty_list(rules_dir: Path) -> None:
    assert check_errors(rules_dir, "check: {any: []}") == [
        "spf/example.yaml:5: 'any' needs a list of at least one condition"
    ]


def test_combinator_with_other_keys(rules_dir: Path) -> None:
    assert check_errors(rules_dir, "check: {all: [{fact: spf.exists, op: exists}], fact: spf.record}") == [
        "spf/example.yaml:5: a condition with 'all' may have no other keys (found all, fact)"
    ]


def test_unknown_key_in_a_condition(rules_dir: Path) -> None:
    text = "check:\n  fact: spf.exists\n  op: eq\n  valeu: true"
    assert check_errors(rules_dir, text) == [
        "spf/example.yaml:8: unknown key 'valeu' in condition (did you mean 'value'?)"
    ]


def test_condition_missing_fact(rules_dir: Path) -> None:
    assert check_errors(rules_dir, "check: {op: exists}") == [
        "spf/example.yaml:5: condition is missing 'fact'"
    ]


def test_condition_must_be_a_mapping(rules_dir: Path) -> None:
    assert check_errors(rules_dir, "check: spf.exists") == [
        "spf/example.yaml:5: a condition must be a mapping (key: value lines), not the value 'spf.exists'"
    ]


def test_applies_when_is_checked_like_check(rules_dir: Path) -> None:
    assert errors_for(rules_dir, VALID + "applies-when: {fact: dmarc.exist, op: exists}\n") == [
        "spf/example.yaml:9: unknown fact path 'dmarc.exist' (did you mean 'dmarc.exists'?)"
    ]


# -- Templates ---------------------------------------------------------------------------------------------


def test_template_syntax_error(rules_dir: Path) -> None:
    [error] = errors_for(rules_dir, with_line("message:", 'message: "{{ domain "'))
    assert error.startswith("spf/example.yaml:6: 'message': template syntax error:")


def test_template_syntax_error_in_a_literal_block_names_the_exact_line(rules_dir: Path) -> None:
    text = with_line("action:", "action: |\n  Publish one.\n  Then {% if domain %}wait.\n  Done.")
    [error] = errors_for(rules_dir, text)
    assert error.startswith("spf/example.yaml:10: 'action': template syntax error:")


def test_template_unknown_name_suggests(rules_dir: Path) -> None:
    assert errors_for(rules_dir, with_line("message:", 'message: "{{ from_domian }} has none"')) == [
        "spf/example.yaml:6: 'message': template uses unknown name 'from_domian' (did you mean 'from_domain'?)"
    ]


def test_template_unknown_attribute_suggests(rules_dir: Path) -> None:
    assert errors_for(rules_dir, with_line("why:", "why: p={{ dmarc.efective_policy }}")) == [
        "spf/example.yaml:7: 'why': template reads unknown fact 'dmarc.efective_policy' "
        "(did you mean 'effective_policy'?)"
    ]


def test_template_attributes_through_list_items_are_checked(rules_dir: Path) -> None:
    write(rules_dir, "spf/example.yaml", with_line("why:", "why: first MX {{ mx.hosts[0].host }}"))
    assert validate_rules_dir(rules_dir) == []
    [error] = errors_for(rules_dir, with_line("why:", "why: first MX {{ mx.hosts[0].hostname }}"))
    assert "template reads unknown fact 'mx.hosts.0.hostname' (did you mean 'host'?)" in error


def test_template_loop_variables_are_not_mistaken_for_roots(rules_dir: Path) -> None:
    text = with_line("why:", 'why: "{% for spf in mx.hosts %}{{ spf.host }}{% endfor %} {{ rule.id }}"')
    write(rules_dir, "spf/example.yaml", text)
    assert validate_rules_dir(rules_dir) == []


def test_template_rule_context_keys(rules_dir: Path) -> None:
    assert errors_for(rules_dir, with_line("why:", "why: '{{ rule.path }}'")) == [
        "spf/example.yaml:7: 'why': template reads rule.path (rule has: id, severity, title)"
    ]


def test_template_private_attributes_are_refused_at_load(rules_dir: Path) -> None:
    [error] = errors_for(rules_dir, with_line("why:", "why: '{{ spf.__class__.__init__ }}'"))
    assert error.startswith("spf/example.yaml:7: 'why': template reads unknown fact 'spf.__class__'")


def test_titles_are_checked_templates(rules_dir: Path) -> None:
    assert errors_for(rules_dir, with_line("failure-title:", "failure-title: No SPF at {{ domian }}")) == [
        "spf/example.yaml:3: 'failure-title': template uses unknown name 'domian' (did you mean 'domain'?)"
    ]


def test_template_cannot_include_files(rules_dir: Path) -> None:
    assert errors_for(rules_dir, with_line("why:", "why: '{% include \"/etc/passwd\" %}'")) == [
        "spf/example.yaml:7: 'why': templates cannot include, import or extend other templates"
    ]


# -- Across files ------------------------------------------------------------------------------------------


def test_duplicate_id_across_folders_names_both_files(rules_dir: Path) -> None:
    write(rules_dir, "one/spf/example.yaml", VALID)
    write(rules_dir, "two/spf/example.yaml", "# the same rule again\n" + VALID)
    with pytest.raises(RuleError) as caught:
        load_rules([rules_dir / "one", rules_dir / "two"])
    assert str(caught.value) == (
        "two/spf/example.yaml:2: duplicate id 'spf.example' (also used by one/spf/example.yaml:1)"
    )


def test_alias_colliding_with_an_id(rules_dir: Path) -> None:
    write(rules_dir, "spf/example.yaml", VALID)
    write(rules_dir, "spf/newer.yaml", VALID.replace("spf.example", "spf.newer") + "aliases: [spf.example]\n")
    assert validate_rules_dir(rules_dir) == [
        "spf/newer.yaml:1: duplicate id 'spf.example' (also used by spf/example.yaml:1)"
    ]


def test_load_rules_raises_the_first_problem_and_counts_the_rest(rules_dir: Path) -> None:
    write(rules_dir, "spf/example.yaml", with_line("severity:", "severity: loud"))
    write(rules_dir, "spf/other.yaml", VALID)
    with pytest.raises(RuleError) as caught:
        load_rules([rules_dir])
    assert str(caught.value) == (
        "spf/example.yaml:4: bad severity 'loud' (use critical, warning or info) (and 1 more problems)"
    )
    assert isinstance(caught.value, AuditorError) and caught.value.exit_code == 2


def test_validate_collects_problems_from_every_file(rules_dir: Path) -> None:
    write(rules_dir, "spf/example.yaml", with_line("severity:", "severity: loud"))
    write(rules_dir, "dmarc/example.yaml", VALID)
    assert validate_rules_dir(rules_dir) == [
        "dmarc/example.yaml:1: id 'spf.example' does not match the file's path "
        "(a rule with this id lives in spf/example.yaml)",
        "spf/example.yaml:4: bad severity 'loud' (use critical, warning or info)",
    ]


def test_missing_folder(rules_dir: Path) -> None:
    assert validate_rules_dir(rules_dir / "nope") == ["nope: no such rules folder"]
    with pytest.raises(RuleError, match="nope: no such rules folder"):
        load_rules([rules_dir / "nope"])


# -- The fact-root type is a parameter -----------------------------------------------------------------------


@dataclass
class SmtpFacts:
    status: str = "ok"
    port: int | Unknown = 587
    tls: str | None | Unknown = None
    extensions: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class OtherFacts:
    target: TargetFacts
    smtp: SmtpFacts


def test_custom_fact_root_type(rules_dir: Path) -> None:
    text = (
        VALID.replace("spf.example", "smtp.port-25")
        .replace("{fact: spf.exists, op: eq, value: true}", "{fact: smtp.port, op: ne, value: 25}")
        .replace("has no SPF record", "uses port {{ smtp.port }}")
        + "requires: [smtp]\nevidence: [smtp.extensions.AUTH]\n"
    )
    write(rules_dir, "smtp/port-25.yaml", text)
    [rule] = load_rules([rules_dir], facts_type=OtherFacts)
    assert rule.check.fact.text == "smtp.port"
    assert rule.evidence[0].steps[-1] == ("key", "AUTH")
    # The default fact model's smtp root has no `extensions`: the same file is an error there.
    assert validate_rules_dir(rules_dir)[0].startswith("smtp/port-25.yaml:10: unknown fact path 'smtp.extensions.AUTH'")
