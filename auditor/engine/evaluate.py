"""Running rules against facts: one finding per rule, never a pass or fail on unknown data.

Order of decisions: a required fact root that could not be gathered → unknown; `applies-when` false → skip,
unknown → unknown; then `check` true → pass, false → fail, unknown → unknown. An unknown finding says what
could not be established and nothing else: its failure message could claim a problem the data does not show.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from auditor.engine import factpaths, templates
from auditor.engine.conditions import Reads, evaluate_condition
from auditor.engine.model import Finding, Rule
from auditor.facts.base import Unknown, to_jsonable

log = logging.getLogger(__name__)

UNKNOWN_ACTION = (
    "Resolve what the line above names (a lookup that did not answer, a step that was not reached, a value "
    "inboxready cannot guess) and run the audit again."
)


def evaluate(rules: list[Rule], facts: Any) -> list[Finding]:
    """One finding per rule, in the order of `rules`."""
    names = templates.context(facts)
    return [evaluate_rule(rule, facts, names) for rule in rules]


def evaluate_rule(rule: Rule, facts: Any, names: dict[str, Any] | None = None) -> Finding:
    names = templates.context(facts) if names is None else names
    reads = Reads()
    status = _decide(rule, facts, reads)
    for path in rule.evidence:
        reads.record(path, factpaths.read(facts, path), counts=False)
    return _finding(rule, status, reads, {**names, "rule": _rule_context(rule)})


def _decide(rule: Rule, facts: Any, reads: Reads) -> str:
    unknown_roots = [
        root for root in rule.requires if getattr(getattr(facts, root), "status", None) == "unknown"
    ]
    if unknown_roots:
        for root in unknown_roots:
            reasons = unknown_reasons_in(getattr(facts, root)) or [f"the {root} facts could not be gathered"]
            for reason in reasons:
                if reason not in reads.unknown_reasons:
                    reads.unknown_reasons.append(reason)
        return "unknown"
    if rule.applies_when is not None:
        applies = evaluate_condition(rule.applies_when, facts, reads)
        if applies is False:
            return "skip"
        if applies is None:
            return "unknown"
    healthy = evaluate_condition(rule.check, facts, reads)
    if healthy is None:
        return "unknown"
    return "pass" if healthy else "fail"


def unknown_reasons_in(value: Any) -> list[str]:
    """The reasons of every `Unknown` inside a fact root, in field order, without repeats."""
    found: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, Unknown):
            if item.reason not in found:
                found.append(item.reason)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            for f in dataclasses.fields(item):
                walk(getattr(item, f.name))
        elif isinstance(item, dict):
            for v in item.values():
                walk(v)
        elif isinstance(item, (list, tuple)):
            for v in item:
                walk(v)

    walk(value)
    return found


def _rule_context(rule: Rule) -> dict[str, str]:
    return {"id": rule.id, "severity": rule.severity, "title": rule.title}


def _finding(rule: Rule, status: str, reads: Reads, names: dict[str, Any]) -> Finding:
    errors: list[str] = []

    def text(key: str, fallback: str = "", on_error: str | None = None) -> str:
        template = rule.templates.get(key)
        if template is None:
            return fallback
        try:
            return templates.render(template, names)
        except Exception as exc:  # a broken template must not stop the audit; the rule has a bug
            problem = f"{key}: {type(exc).__name__}: {exc}"
            errors.append(problem)
            log.warning("rule %s (%s): cannot render %s", rule.id, rule.path, problem)
            return f"({key} could not be rendered: {exc})" if on_error is None else on_error

    # The failure title is a claim; only a failure makes it.
    if status == "fail":
        title = text("failure-title", on_error=rule.failure_title)
    else:
        title = text("title", on_error=rule.title)
    message = why = action = ""
    if status == "pass":
        message = text("pass-message", fallback=title)
    elif status == "fail":
        message, why, action = text("message"), text("why"), text("action")
    elif status == "unknown":
        reasons = "; ".join(reads.unknown_reasons) or "the facts this check needs could not be established"
        message = f"Could not check: {reasons}"
        why = text("why")
        action = UNKNOWN_ACTION
    subject = text("subject")
    return Finding(
        rule=rule.id,
        status=status,
        severity=rule.severity,
        title=title,
        message=message,
        why=why,
        action=action,
        subject=subject,
        evidence={path: to_jsonable(value) for path, value in reads.values.items()},
        references=list(rule.references),
        tags=list(rule.tags),
        fixes=[],
        unknown_reasons=list(reads.unknown_reasons),
        fix=rule.fix,
        render_errors=errors,
    )
