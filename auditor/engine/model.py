"""What the engine works with: rules (as loaded from YAML), their conditions, and the findings they produce."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Template

from auditor.engine.factpaths import FactPath

SEVERITIES = ("critical", "warning", "info")
STATUSES = ("pass", "fail", "unknown", "skip")

# -- Conditions --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    """`{fact: PATH, op: OP, value: V}`: one comparison of one fact."""

    fact: FactPath
    op: str
    value: Any = None
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)  # compiled `matches`


@dataclass(frozen=True)
class AllOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    condition: Condition


Condition = Leaf | AllOf | AnyOf | Not


# -- Rules -------------------------------------------------------------------------------------------------


@dataclass
class Rule:
    """One rule file. Text fields keep their Jinja source; the compiled templates sit in `templates`."""

    id: str
    title: str  # the healthy state
    failure_title: str
    severity: str
    check: Condition
    message: str
    why: str
    action: str
    path: Path
    line: int  # line of the `id:` key
    aliases: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    applies_when: Condition | None = None
    pass_message: str | None = None
    subject: str | None = None
    evidence: list[FactPath] = field(default_factory=list)
    fix: str | None = None
    references: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    templates: dict[str, Template] = field(default_factory=dict, repr=False, compare=False)


# -- Findings ----------------------------------------------------------------------------------------------


@dataclass
class Finding:
    rule: str
    status: str  # pass | fail | unknown | skip
    severity: str
    title: str
    message: str
    why: str
    action: str
    subject: str
    evidence: dict[str, Any] = field(default_factory=dict)  # fact path → JSON-ready value
    references: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)  # record ids, filled in by the fix stage
    unknown_reasons: list[str] = field(default_factory=list)
    fix: str | None = None  # the rule's named fix
    render_errors: list[str] = field(default_factory=list)  # a template that failed (a bug in the rule)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "status": self.status,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "why": self.why,
            "action": self.action,
            "subject": self.subject,
            "evidence": self.evidence,
            "references": list(self.references),
            "fixes": list(self.fixes),
        }
        if self.unknown_reasons:
            out["unknown_reasons"] = list(self.unknown_reasons)
        if self.render_errors:
            out["render_errors"] = list(self.render_errors)
        return out
