"""Conditions: parsed and type-checked from YAML at load time, evaluated with three-valued logic at audit time.

A condition is true, false or unknown (None). A leaf that reads an `Unknown` fact is unknown; `all`, `any` and
`not` follow Kleene logic, so an unknown branch only matters when the known branches do not settle the answer.
"""

from __future__ import annotations

import difflib
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from yaml.nodes import Node, SequenceNode

from auditor.engine import factpaths
from auditor.engine.factpaths import FactPath, FactPathError, NoneType
from auditor.engine.model import AllOf, AnyOf, Condition, Leaf, Not
from auditor.engine.yamlsource import RuleSource
from auditor.facts.base import Unknown

OPERATORS = ("eq", "ne", "in", "not-in", "lt", "le", "gt", "ge", "contains", "matches", "exists", "missing")
COMBINATORS = ("all", "any", "not")
LEAF_KEYS = ("fact", "op", "value")
MAX_DEPTH = 3  # combinator levels
ORDERING = ("lt", "le", "gt", "ge")
NO_VALUE = ("exists", "missing")

Truth = bool | None  # None = unknown

# -- Parsing -----------------------------------------------------------------------------------------------


def parse_condition(source: RuleSource, node: Node, root_type: type, depth: int = 0) -> Condition:
    items = source.items(node, "a condition")
    keys = [k for k, _, _ in items]
    combinators = [item for item in items if item[0] in COMBINATORS]
    if combinators:
        if len(items) != 1:
            source.fail(
                node,
                f"a condition with '{combinators[0][0]}' may have no other keys (found {', '.join(keys)})",
            )
        key, key_node, value_node = combinators[0]
        if depth >= MAX_DEPTH:
            source.fail(key_node, f"conditions nest deeper than {MAX_DEPTH} levels of all/any/not")
        if key == "not":
            return Not(parse_condition(source, value_node, root_type, depth + 1))
        if not isinstance(value_node, SequenceNode) or not value_node.value:
            source.fail(value_node, f"'{key}' needs a list of at least one condition")
        parsed = tuple(parse_condition(source, child, root_type, depth + 1) for child in value_node.value)
        return AllOf(parsed) if key == "all" else AnyOf(parsed)
    for key, key_node, _ in items:
        if key not in LEAF_KEYS:
            close = difflib.get_close_matches(key, LEAF_KEYS + COMBINATORS, n=1, cutoff=0.6)
            hint = (
                f" (did you mean '{close[0]}'?)"
                if close
                else " (a condition has fact/op/value, or all/any/not)"
            )
            source.fail(key_node, f"unknown key '{key}' in condition{hint}")
    found = {k: (kn, vn) for k, kn, vn in items}
    for required in ("fact", "op"):
        if required not in found:
            source.fail(node, f"condition is missing '{required}'")
    return _parse_leaf(source, found, root_type)


def _parse_leaf(source: RuleSource, found: dict[str, tuple[Node, Node]], root_type: type) -> Leaf:
    fact_node = found["fact"][1]
    op_node = found["op"][1]
    fact_text = source.plain(fact_node)
    if not isinstance(fact_text, str):
        source.fail(fact_node, "'fact' must be a fact path like spf.lookup_count")
    try:
        fact = factpaths.compile_path(root_type, fact_text)
    except FactPathError as exc:
        source.fail(fact_node, str(exc))
    op = source.plain(op_node)
    if op not in OPERATORS:
        close = difflib.get_close_matches(str(op), OPERATORS, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (operators: {', '.join(OPERATORS)})"
        source.fail(op_node, f"unknown operator '{op}'{hint}")
    has_value = "value" in found
    value_node = found["value"][1] if has_value else op_node
    value = source.plain(value_node) if has_value else None
    if op in NO_VALUE and has_value:
        source.fail(value_node, f"'{op}' takes no value")
    if op not in NO_VALUE and not has_value:
        source.fail(op_node, f"'{op}' needs a value")
    problem, fact_side = _type_problem(op, fact, value)
    if problem:
        source.fail(op_node if fact_side else value_node, problem)
    pattern = re.compile(value) if op == "matches" else None
    return Leaf(fact=fact, op=op, value=value, pattern=pattern)


def _type_problem(op: str, fact: FactPath, value: Any) -> tuple[str | None, bool]:
    """What is wrong with using `op` on this fact with this value, and whether the fact (not the value) is
    to blame; (None, False) when nothing is."""
    kinds = factpaths.kinds(fact.type)
    concrete = kinds - {NoneType}
    typed = Any not in kinds
    shown = f"{fact.text} ({factpaths.describe(fact.type)})"
    if op in ORDERING:
        if typed and (not concrete or not concrete <= {int, float}):
            return f"'{op}' needs a numeric fact, but {shown} is not a number", True
        if not _is_number(value):
            return f"'{op}' needs a number value, not {_show(value)}", False
    elif op == "matches":
        if typed and concrete != {str}:
            return f"'matches' needs a text fact, but {shown} is not text", True
        if not isinstance(value, str):
            return f"'matches' needs a regular expression (text), not {_show(value)}", False
        try:
            re.compile(value)
        except re.error as exc:
            return f"'matches' value {value!r} is not a valid regular expression: {exc}", False
    elif op == "contains":
        if typed and (not concrete or not concrete <= {list, str}):
            return f"'contains' needs a list or text fact, but {shown} is neither", True
        if typed and not _fits_contains(value, fact.type):
            return f"value {_show(value)} cannot be an element or part of {shown}", False
    elif op in ("in", "not-in"):
        if not isinstance(value, list):
            return f"'{op}' needs a list value, not {_show(value)}", False
        for element in value:
            if not fits(element, fact.type):
                return f"value {_show(element)} in the list does not fit {shown}", False
    elif op in ("eq", "ne") and not fits(value, fact.type):
        return f"value {_show(value)} does not fit {shown}", False
    return None, False


def fits(value: Any, tp: Any) -> bool:
    """Whether a YAML value can sensibly be compared with a fact of type `tp` (bool and int kept apart)."""
    kinds = factpaths.kinds(tp)
    if Any in kinds:
        return True
    if value is None:
        return NoneType in kinds
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int):
        return bool(kinds & {int, float})
    if isinstance(value, float):
        return float in kinds
    if isinstance(value, str):
        return str in kinds
    if isinstance(value, list):
        return list in kinds
    if isinstance(value, dict):
        return dict in kinds
    return False


def _fits_contains(value: Any, tp: Any) -> bool:
    for member in factpaths.members(tp):
        if factpaths.base(member) is str and isinstance(value, str):
            return True
        if factpaths.base(member) is list:
            args = typing.get_args(member)
            if not args or fits(value, args[0]):
                return True
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(value: Any) -> str:
    kind = "null" if value is None else type(value).__name__
    return f"{value!r} ({kind})"


# -- Evaluation --------------------------------------------------------------------------------------------


@dataclass
class Reads:
    """Every fact a condition read (for the finding's evidence) and why any of them were unknown."""

    values: dict[str, Any] = field(default_factory=dict)
    unknown_reasons: list[str] = field(default_factory=list)

    def record(self, path: FactPath, value: Any, *, counts: bool = True) -> None:
        self.values[path.text] = value
        if counts and isinstance(value, Unknown) and value.reason not in self.unknown_reasons:
            self.unknown_reasons.append(value.reason)


def evaluate_condition(condition: Condition, facts: Any, reads: Reads) -> Truth:
    """True, False or None (unknown). Every branch is evaluated, so the evidence shows all facts involved."""
    if isinstance(condition, Leaf):
        value = factpaths.read(facts, condition.fact)
        reads.record(condition.fact, value)
        if isinstance(value, Unknown):
            return None
        return _apply(condition, value)
    if isinstance(condition, Not):
        inner = evaluate_condition(condition.condition, facts, reads)
        return None if inner is None else not inner
    results = [evaluate_condition(c, facts, reads) for c in condition.conditions]
    if isinstance(condition, AllOf):
        if False in results:
            return False
        return None if None in results else True
    if True in results:
        return True
    return None if None in results else False


def _apply(leaf: Leaf, fact: Any) -> bool:
    op, value = leaf.op, leaf.value
    if op == "exists":
        return present(fact)
    if op == "missing":
        return not present(fact)
    if op == "eq":
        return _same(fact, value)
    if op == "ne":
        return not _same(fact, value)
    if op == "in":
        return any(_same(fact, v) for v in value)
    if op == "not-in":
        return not any(_same(fact, v) for v in value)
    if op in ORDERING:
        # An absent (None) number compares as false: rules guard optional numbers with `exists`.
        if not _is_number(fact):
            return False
        return {"lt": fact < value, "le": fact <= value, "gt": fact > value, "ge": fact >= value}[op]
    if op == "contains":
        if isinstance(fact, str):
            return isinstance(value, str) and value in fact
        if isinstance(fact, (list, tuple, set, frozenset)):
            return any(_same(item, value) for item in fact)
        return False
    if op == "matches":
        return isinstance(fact, str) and leaf.pattern is not None and leaf.pattern.search(fact) is not None
    raise AssertionError(f"operator {op!r} passed the loader but has no implementation")


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps booleans apart from numbers (True is not 1 for a rule)."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return a == b


def present(value: Any) -> bool:
    """`exists`: not None and not an empty string, list or dict."""
    if value is None:
        return False
    if isinstance(value, (str, list, tuple, dict, set, frozenset)):
        return len(value) > 0
    return True


def fact_paths(condition: Condition | None) -> list[FactPath]:
    """The fact paths a condition reads, in order."""
    if condition is None:
        return []
    if isinstance(condition, Leaf):
        return [condition.fact]
    if isinstance(condition, Not):
        return fact_paths(condition.condition)
    return [p for c in condition.conditions for p in fact_paths(c)]
