"""Loading rule files: one rule per YAML file, every problem reported as `file:line: what is wrong`.

`load_rules` stops the program with the first problem (a `RuleError`, exit code 2); `validate_rules_dir`
returns every problem, for `inboxready rules validate DIR`. Both run the same checks: keys, id ↔ file path,
severity, conditions (operators, fact paths, value types, nesting), templates, duplicate ids.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from auditor import paths
from auditor.engine import factpaths
from auditor.engine.conditions import parse_condition
from auditor.engine.factpaths import FactPathError
from auditor.engine.model import SEVERITIES, Rule
from auditor.engine.templates import TemplateProblem, compile_template, template_names
from auditor.engine.yamlsource import Invalid, RuleSource, kind_of
from auditor.errors import AuditorError
from auditor.facts.model import Facts

KEYS = (
    "id",
    "aliases",
    "title",
    "failure-title",
    "severity",
    "requires",
    "applies-when",
    "check",
    "message",
    "why",
    "action",
    "pass-message",
    "subject",
    "evidence",
    "fix",
    "references",
    "tags",
)
REQUIRED = ("id", "title", "failure-title", "severity", "check", "message", "why", "action")
# Titles are templates too: a failure title may name what failed ("No DMARC record covers {{ from_domain }}").
TEMPLATE_KEYS = ("title", "failure-title", "message", "why", "action", "pass-message", "subject")
DEFAULT_SUBJECT = "{{ domain }}"
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*\.[a-z0-9]+(?:-[a-z0-9]+)*$")
FIX_PATTERN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*$")
# Folders under rules/ that hold other kinds of YAML (provider and app descriptions).
SKIPPED_DIRS = frozenset({"providers", "apps"})


class RuleError(AuditorError):
    """A rule file is broken: `file:line: what is wrong`."""


def load_rules(dirs: list[Path] | None = None, *, facts_type: type = Facts) -> list[Rule]:
    """Every rule under `dirs` (default: the shipped rules/), sorted by id. Raises `RuleError` on any problem."""
    if dirs is None:
        try:
            dirs = [paths.rules_dir()]
        except FileNotFoundError as exc:  # a broken install: say so in one line
            raise RuleError(str(exc)) from None
    rules, errors = _load([Path(d) for d in dirs], facts_type)
    if errors:
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise RuleError(errors[0] + more)
    return rules


def validate_rules_dir(path: Path, *, facts_type: type = Facts) -> list[str]:
    """Every problem in the rules under `path`, one line each; empty when all is well."""
    return _load([Path(path)], facts_type)[1]


def rule_files(directory: Path) -> list[Path]:
    """`**/*.yaml` under `directory`, except inside `providers/` and `apps/` folders."""
    found = []
    for path in sorted(directory.rglob("*.yaml")):
        if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(directory).parts[:-1]):
            found.append(path)
    return found


def display(path: Path) -> str:
    """A path as users should see it: relative to the working folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _load(dirs: list[Path], facts_type: type) -> tuple[list[Rule], list[str]]:
    names = template_names(facts_type)
    rules: list[Rule] = []
    errors: list[str] = []
    for directory in dirs:
        if not directory.is_dir():
            errors.append(f"{display(directory)}: no such rules folder")
            continue
        for path in rule_files(directory):
            rule, problems = parse_rule_file(path, facts_type=facts_type, names=names)
            errors.extend(problems)
            if rule is not None:
                rules.append(rule)
    errors.extend(_duplicate_ids(rules))
    return sorted(rules, key=lambda r: r.id), errors


def _duplicate_ids(rules: list[Rule]) -> list[str]:
    owners: dict[str, Rule] = {}
    problems = []
    for rule in rules:
        for name in [rule.id, *rule.aliases]:
            first = owners.setdefault(name, rule)
            if first is not rule:
                problems.append(
                    f"{display(rule.path)}:{rule.line}: duplicate id '{name}' "
                    f"(also used by {display(first.path)}:{first.line})"
                )
    return problems


def parse_rule_file(
    path: Path, *, facts_type: type = Facts, names: dict[str, Any] | None = None
) -> tuple[Rule | None, list[str]]:
    """The rule in one file, or None and its problems."""
    shown = display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{shown}:1: cannot read the file: {exc}"]
    source = RuleSource(shown, text)
    parser = _RuleParser(source, path, facts_type, names if names is not None else template_names(facts_type))
    rule = parser.parse()
    errors = source.errors()
    return (None if errors else rule), errors


class _RuleParser:
    def __init__(self, source: RuleSource, path: Path, facts_type: type, names: dict[str, Any]) -> None:
        self.source = source
        self.path = path
        self.facts_type = facts_type
        self.names = names
        self.values: dict[str, Any] = {}
        self.templates: dict[str, Any] = {}

    def parse(self) -> Rule | None:
        source = self.source
        try:
            root = source.compose()
            if root is None:
                source.fail_at(1, "the file is empty; a rule is a mapping with id, title, check, …")
            if not isinstance(root, MappingNode):
                source.fail(
                    root, f"a rule file must be a mapping of keys (id, title, check, …), not {kind_of(root)}"
                )
            items = source.items(root, "the rule")
        except Invalid:
            return None
        found: dict[str, tuple[Node, Node]] = {}
        for key, key_node, value_node in items:
            if key in KEYS:
                found[key] = (key_node, value_node)
                continue
            close = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            source.report(source.line(key_node), f"unknown key '{key}'{hint}")
        for key in REQUIRED:
            if key not in found:
                source.report(source.line(root), f"missing required key '{key}'")
        for key, (_, value_node) in found.items():
            with contextlib.suppress(Invalid):  # the problem is recorded; check the other keys too
                self.values[key] = self._parse_key(key, value_node)
        if source.problems:
            return None
        return self._build(source.line(found["id"][0]))

    def _parse_key(self, key: str, node: Node) -> Any:
        if key == "id":
            return self._id(node)
        if key == "aliases":
            return [self._id_text(item, "alias") for item in self._list(node, key)]
        if key == "severity":
            return self._severity(node)
        if key == "requires":
            return [self._required_root(item) for item in self._list(node, key)]
        if key in ("applies-when", "check"):
            return parse_condition(self.source, node, self.facts_type)
        if key in TEMPLATE_KEYS:
            return self._template(key, node)
        if key == "evidence":
            return [self._fact_path(item) for item in self._list(node, key)]
        if key == "fix":
            fix = self._text(node, key)
            if not FIX_PATTERN.match(fix):
                self.source.fail(node, f"bad fix name {fix!r} (expected a name like 'dmarc.raise-policy')")
            return fix
        return [self._text(item, key) for item in self._list(node, key)]  # references, tags

    # -- one kind of value each ----------------------------------------------------------------------------

    def _text(self, node: Node, key: str) -> str:
        value = self.source.plain(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, str) or not value.strip():
            self.source.fail(node, f"'{key}' must be text, not {kind_of(node)}")
        return value

    def _list(self, node: Node, key: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.source.fail(node, f"'{key}' must be a list, e.g. [a, b], not {kind_of(node)}")
        return list(node.value)

    def _id_text(self, node: Node, what: str) -> str:
        value = self._text(node, what)
        if not ID_PATTERN.match(value):
            self.source.fail(
                node, f"bad {what} {value!r} (expected area.name in lowercase letters, digits and dashes)"
            )
        return value

    def _id(self, node: Node) -> str:
        rule_id = self._id_text(node, "id")
        area, name = rule_id.split(".")
        if self.path.stem != name or self.path.parent.name != area:
            expected = Path(area) / f"{name}.yaml"
            self.source.fail(
                node,
                f"id '{rule_id}' does not match the file's path (a rule with this id lives in {expected})",
            )
        return rule_id

    def _severity(self, node: Node) -> str:
        value = self.source.plain(node)
        if value not in SEVERITIES:
            self.source.fail(node, f"bad severity {value!r} (use critical, warning or info)")
        return value

    def _required_root(self, node: Node) -> str:
        root = self._text(node, "requires")
        roots = factpaths.roots(self.facts_type)
        with_status = sorted(r for r, tp in roots.items() if "status" in _fields(tp))
        if root not in roots:
            close = difflib.get_close_matches(root, list(roots), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"roots: {', '.join(with_status)}"
            self.source.fail(node, f"requires: unknown fact root '{root}' ({hint})")
        if root not in with_status:
            self.source.fail(
                node,
                f"requires: '{root}' has no status to require (roots with one: {', '.join(with_status)})",
            )
        return root

    def _fact_path(self, node: Node) -> factpaths.FactPath:
        text = self._text(node, "evidence")
        try:
            return factpaths.compile_path(self.facts_type, text)
        except FactPathError as exc:
            self.source.fail(node, str(exc))

    def _template(self, key: str, node: Node) -> str:
        text = self._text(node, key)
        try:
            self.templates[key] = compile_template(text, self.names)
        except TemplateProblem as exc:
            line = self.source.line(node)
            if exc.lineno and isinstance(node, ScalarNode) and node.style == "|":
                line += exc.lineno  # a literal block starts on the line after `key: |`
            self.source.fail_at(line, f"'{key}': {exc}")
        return text

    def _build(self, line: int) -> Rule:
        v = self.values
        templates = dict(self.templates)
        if "subject" not in templates and "domain" in self.names:
            templates["subject"] = compile_template(DEFAULT_SUBJECT, self.names)
        return Rule(
            id=v["id"],
            title=v["title"],
            failure_title=v["failure-title"],
            severity=v["severity"],
            check=v["check"],
            message=v["message"],
            why=v["why"],
            action=v["action"],
            path=self.path,
            line=line,
            aliases=v.get("aliases", []),
            requires=v.get("requires", []),
            applies_when=v.get("applies-when"),
            pass_message=v.get("pass-message"),
            subject=v.get("subject"),
            evidence=v.get("evidence", []),
            fix=v.get("fix"),
            references=v.get("references", []),
            tags=v.get("tags", []),
            templates=templates,
        )


def _fields(tp: Any) -> dict[str, Any]:
    record = factpaths.record_type(tp)
    return factpaths.fields_of(record) if record is not None else {}
