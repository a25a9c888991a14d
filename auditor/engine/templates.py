"""The Jinja side of rules: a sandboxed environment, load-time checks of the names a template reads, rendering.

Templates render as plain text (autoescape off); the HTML report escapes later, since DNS text such as TXT
records is attacker-controlled. `StrictUndefined` turns a typo into an error, and the loader finds most typos
before any audit runs: every top-level name must be a fact root, a target field or `rule`, and attribute chains
over the fact dataclasses (`dmarc.effective_policy`) must name real fields.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Iterable, Sized
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from auditor.engine import factpaths
from auditor.facts.base import Unknown

RULE_CONTEXT_KEYS = ("id", "severity", "title")
_RULE = object()  # marks the `rule` name in a template-name table


def join_and(items: Any, conjunction: str = "and") -> str:
    """["a", "b", "c"] → "a, b and c"."""
    if isinstance(items, (str, Unknown)) or not isinstance(items, Iterable):
        return str(items)
    words = [str(item) for item in items]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def plural(count: Any, plural_suffix: str = "s", singular_suffix: str = "") -> str:
    """`{{ n }} lookup{{ n|plural }}`; a list counts its length; `y|plural("ies", "y")` for other endings."""
    if isinstance(count, Sized) and not isinstance(count, str):
        count = len(count)
    return singular_suffix if count == 1 else plural_suffix


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.filters["join_and"] = join_and
    env.filters["plural"] = plural
    return env


ENV = _environment()


class TemplateProblem(ValueError):
    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message)
        self.lineno = lineno  # line inside the template, when known


def template_names(facts_type: type) -> dict[str, Any]:
    """Name → type of everything a template may read: the fact roots, the fields of the `target` root at top
    level (`domain`, `from_domain`, …), and `rule`."""
    roots = factpaths.roots(facts_type)
    names: dict[str, Any] = {}
    target = factpaths.record_type(roots.get("target"))
    if target is not None:
        names.update(factpaths.fields_of(target))
    names.update(roots)
    names["rule"] = _RULE
    return names


class LazyTemplate:
    """A checked template whose compilation waits for its first render.

    An audit renders only the templates of failed and unknown findings; compiling all of them up front made
    loading the rules the slowest step of a run.
    """

    def __init__(self, ast: nodes.Template) -> None:
        self._ast: nodes.Template | None = ast
        self._compiled: Template | None = None

    def render(self, *args: Any, **kwargs: Any) -> str:
        if self._compiled is None:
            self._compiled = ENV.from_string(self._ast)
            self._ast = None
        return self._compiled.render(*args, **kwargs)


def compile_template(source: str, names: dict[str, Any]) -> LazyTemplate:
    """Parse and check the names it reads (compiled on first use). Raises `TemplateProblem` for anything wrong."""
    try:
        ast = ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax error: {exc.message}", exc.lineno) from None
    if any(True for _ in meta.find_referenced_templates(ast)):
        raise TemplateProblem("templates cannot include, import or extend other templates")
    # Names read minus names the template binds itself (loop and set variables). Jinja's own
    # meta.find_undeclared_variables runs the code generator and made rule loading slow.
    loaded = {n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"}
    bound = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")} | {"loop"}
    unknown = sorted(loaded - bound - set(names) - set(ENV.globals))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(names), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise TemplateProblem(f"template uses unknown name '{unknown[0]}'{hint}")
    _check_attributes(ast, names)
    return LazyTemplate(ast)


def _check_attributes(ast: nodes.Template, names: dict[str, Any]) -> None:
    assigned = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        chain = _chain(node)
        if chain is None or chain[0] in assigned or chain[0] not in names:
            continue
        root, steps = chain[0], chain[1:]
        if names[root] is _RULE:
            if steps and steps[0] not in RULE_CONTEXT_KEYS:
                raise TemplateProblem(
                    f"template reads rule.{steps[0]} (rule has: {', '.join(RULE_CONTEXT_KEYS)})"
                )
            continue
        _check_steps(root, steps, names[root], node.lineno)


def _chain(node: nodes.Node) -> list[Any] | None:
    """`mx.hosts[0].host` → ["mx", "hosts", 0, "host"]; None when the chain does not start at a plain name or
    uses a computed index."""
    steps: list[Any] = []
    while isinstance(node, (nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            steps.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, (str, int)):
            steps.append(node.arg.value)
        else:
            return None
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    return [node.name, *reversed(steps)]


def _check_steps(root: str, steps: list[Any], tp: Any, lineno: int) -> None:
    for i, step in enumerate(steps):
        record = factpaths.record_type(tp)
        if record is not None and isinstance(step, str):
            fields = factpaths.fields_of(record)
            if step not in fields:
                shown = ".".join(str(s) for s in [root, *steps[:i], step])
                close = difflib.get_close_matches(step, list(fields), n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else f" ({', '.join(fields)})"
                raise TemplateProblem(f"template reads unknown fact '{shown}'{hint}", lineno)
            tp = fields[step]
        elif isinstance(step, int) and any(factpaths.base(m) is list for m in factpaths.members(tp)):
            lists = [m for m in factpaths.members(tp) if factpaths.base(m) is list]
            args = typing.get_args(lists[0])
            tp = args[0] if args else Any
        else:
            return  # dicts, text methods, untyped data: nothing more to check


def context(facts: Any) -> dict[str, Any]:
    """The names templates see: the fields of `facts.target` at top level, then every fact root."""
    out: dict[str, Any] = {}
    target = getattr(facts, "target", None)
    if dataclasses.is_dataclass(target) and not isinstance(target, type):
        out.update({f.name: getattr(target, f.name) for f in dataclasses.fields(target)})
    out.update({f.name: getattr(facts, f.name) for f in dataclasses.fields(facts)})
    return out


def render(template: Template, names: dict[str, Any]) -> str:
    return template.render(names).strip()
