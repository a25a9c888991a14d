"""The rule engine: YAML rules compare facts; the engine loads, checks and evaluates them.

Public API: `load_rules`, `validate_rules_dir`, `evaluate`, and the `Rule` / `Finding` dataclasses.
"""

from __future__ import annotations

from auditor.engine.evaluate import evaluate
from auditor.engine.loader import RuleError, load_rules, validate_rules_dir
from auditor.engine.model import Finding, Rule

__all__ = ["Finding", "Rule", "RuleError", "evaluate", "load_rules", "validate_rules_dir"]
