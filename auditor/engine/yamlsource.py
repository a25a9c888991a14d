"""A rule file as a YAML node tree, so every problem can name the line it is on.

Only PyYAML's safe loader is used (no Python tags). Problems are collected (several per file), each as
`file:line: what is wrong`; `Invalid` aborts checking the one part of the rule that is broken.
"""

from __future__ import annotations

from typing import Any, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

PLAIN_TAG_PREFIX = "tag:yaml.org,2002:"


class Invalid(Exception):
    """Stops checking one part of a rule file; the problem has already been recorded."""


class RuleSource:
    def __init__(self, display: str, text: str) -> None:
        self.display = display
        self.problems: list[tuple[int, str]] = []
        # libyaml's parser when present: same nodes and line marks, several times faster.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        self._loader = loader(text)

    def compose(self) -> Node | None:
        """The document's root node; a YAML error is recorded (with its line) and raises `Invalid`."""
        try:
            root = self._loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            problem = exc.problem or exc.context or "unreadable YAML"
            self.fail_at(line, f"YAML syntax error: {problem}")
        except yaml.YAMLError as exc:
            self.fail_at(1, f"YAML syntax error: {exc}")
        if root is not None:
            self._reject_tags(root)
        return root

    def _reject_tags(self, node: Node) -> None:
        """Plain YAML only: a tag such as `!!python/object` is an error, not something to construct."""
        if not node.tag.startswith(PLAIN_TAG_PREFIX) or node.tag.startswith(PLAIN_TAG_PREFIX + "python"):
            self.fail(node, f"YAML tag {node.tag!r} is not allowed (rules are plain YAML)")
        if isinstance(node, SequenceNode):
            for child in node.value:
                self._reject_tags(child)
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                self._reject_tags(key)
                self._reject_tags(value)

    @staticmethod
    def line(node: Node) -> int:
        return node.start_mark.line + 1

    def report(self, line: int, message: str) -> None:
        self.problems.append((line, message))

    def fail_at(self, line: int, message: str) -> NoReturn:
        self.report(line, message)
        raise Invalid(message)

    def fail(self, node: Node, message: str) -> NoReturn:
        self.fail_at(self.line(node), message)

    def errors(self) -> list[str]:
        return [
            f"{self.display}:{line}: {message}" for line, message in sorted(self.problems, key=lambda p: p[0])
        ]

    def plain(self, node: Node) -> Any:
        """The Python value of a node (safe constructors only)."""
        try:
            return self._loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            self.fail(node, f"YAML error: {exc.problem}")

    def items(self, node: Node, what: str) -> list[tuple[str, Node, Node]]:
        """(key, key node, value node) of a mapping; keys are taken as written, so `no:` stays "no"."""
        if not isinstance(node, MappingNode):
            self.fail(node, f"{what} must be a mapping (key: value lines), not {kind_of(node)}")
        seen: set[str] = set()
        out = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.fail(key_node, f"{what} has a key that is not a plain name")
            key = str(key_node.value)
            if key in seen:
                self.fail(key_node, f"duplicate key '{key}' in {what}")
            seen.add(key)
            out.append((key, key_node, value_node))
        return out


def kind_of(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, ScalarNode):
        return f"the value {node.value!r}" if node.value else "an empty value"
    return "a list"
