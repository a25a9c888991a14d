"""Fact paths (`spf.lookup_count`, `spf.include_costs.example.net`): checked against type hints, then read.

A path is compiled once, at load time, by walking `typing.get_type_hints` from the fact-root type: a dataclass
needs the field to exist, `dict[str, X]` takes any key, anything else ends the path. So a typo in a rule is a
load error, and reading a fact at audit time is a plain walk that cannot go wrong.

Dict keys may contain dots (domain names): when the dict's values are plain (`dict[str, int]`), the key is
everything after the dict's own path (`spf.include_costs.example.net` reads key `example.net`). When the values
are themselves dataclasses or dicts, the key is one segment, so the path can continue into the value.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any

from auditor.facts.base import Unknown

NoneType = type(None)

# How one step of a compiled path reads: an attribute of a dataclass, a key of a dict, or either (untyped data).
ATTR = "attr"
KEY = "key"
ANY = "any"


class FactPathError(ValueError):
    """A fact path that does not exist in the fact model (the message names the closest one that does)."""


@dataclass(frozen=True)
class FactPath:
    text: str
    steps: tuple[tuple[str, str], ...]
    type: Any  # the annotated type of the value the path reads, e.g. `int | Unknown`


@functools.cache
def fields_of(cls: type) -> dict[str, Any]:
    """Field name → annotated type of a dataclass (string annotations resolved)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}


def members(tp: Any) -> tuple[Any, ...]:
    """The alternatives of a (possibly nested) union, without `Unknown`: any fact may be unknown."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(tp):
            out.extend(members(arg))
        return tuple(out)
    if tp is Unknown:
        return ()
    return (tp,)


def base(tp: Any) -> Any:
    """`list[str]` → `list`; plain classes and `Any` as they are."""
    origin = typing.get_origin(tp)
    return origin if origin is not None else tp


def kinds(tp: Any) -> set[Any]:
    """The runtime classes a fact of this type can hold (None included when it is optional, Unknown never)."""
    return {base(m) for m in members(tp)}


def describe(tp: Any) -> str:
    names = []
    for m in members(tp):
        if m is NoneType:
            names.append("None")
        elif m is Any:
            names.append("any")
        elif typing.get_origin(m) is not None:
            names.append(_generic_name(m))
        else:
            names.append(getattr(m, "__name__", str(m)))
    return " | ".join(names) or "unknown"


def _generic_name(tp: Any) -> str:
    args = ", ".join(describe(a) for a in typing.get_args(tp))
    return f"{base(tp).__name__}[{args}]"


def record_type(tp: Any) -> type | None:
    """The dataclass among a type's alternatives, if any (`SpfNode | None` → `SpfNode`)."""
    return next((m for m in members(tp) if dataclasses.is_dataclass(m)), None)


def _dict_type(tp: Any) -> Any | None:
    return next((m for m in members(tp) if base(m) is dict), None)


def _navigable(tp: Any) -> bool:
    return record_type(tp) is not None or _dict_type(tp) is not None or Any in members(tp)


def roots(root_type: type) -> dict[str, Any]:
    """The fact roots (`spf`, `dmarc`, …): the fields of the fact-root dataclass."""
    return fields_of(root_type)


def compile_path(root_type: type, text: str) -> FactPath:
    """Check `text` against the type hints under `root_type`; raise `FactPathError` with a suggestion if wrong."""
    segments = text.split(".") if isinstance(text, str) else []
    if not segments or any(not s for s in segments):
        raise FactPathError(f"bad fact path {text!r} (expected names joined by dots, e.g. spf.lookup_count)")
    tp: Any = root_type
    steps: list[tuple[str, str]] = []
    i = 0
    while i < len(segments):
        seg = segments[i]
        record = record_type(tp)
        mapping = _dict_type(tp)
        if record is not None:
            hints = fields_of(record)
            if seg not in hints:
                raise FactPathError(_unknown_segment(text, segments, i, hints))
            steps.append((ATTR, seg))
            tp = hints[seg]
            i += 1
        elif mapping is not None:
            args = typing.get_args(mapping)
            value_type = args[1] if len(args) == 2 else Any
            if _navigable(value_type):
                key, i = seg, i + 1
            else:
                key, i = ".".join(segments[i:]), len(segments)
            steps.append((KEY, key))
            tp = value_type
        elif Any in members(tp):
            if any(s.startswith("_") for s in segments[i:]):  # never reach into private attributes
                raise FactPathError(f"bad fact path {text!r}: parts may not start with '_'")
            steps.extend((ANY, s) for s in segments[i:])
            tp, i = Any, len(segments)
        else:
            prefix = ".".join(segments[:i])
            raise FactPathError(
                f"bad fact path {text!r}: {prefix} is {describe(tp)} and has no parts to read with '.{seg}'"
            )
    return FactPath(text, tuple(steps), tp)


def _unknown_segment(text: str, segments: list[str], i: int, hints: dict[str, Any]) -> str:
    prefix = ".".join(segments[:i])
    what = "fact root" if i == 0 else "fact path"
    close = difflib.get_close_matches(segments[i], list(hints), n=1, cutoff=0.6)
    if close:
        suggestion = ".".join([*segments[:i], close[0], *segments[i + 1 :]])
        return f"unknown {what} {text!r} (did you mean {suggestion!r}?)"
    known = ", ".join(sorted(hints))
    where = f"{prefix} has" if prefix else "the roots are"
    return f"unknown {what} {text!r} ({where}: {known})"


def read(facts: Any, path: FactPath) -> Any:
    """The value at `path`: None when a part along the way is None or a dict lacks the key; an `Unknown` met
    along the way is returned as is (a fact below an unknown one is unknown too)."""
    value = facts
    for kind, name in path.steps:
        if value is None or isinstance(value, Unknown):
            return value
        if kind == ATTR:
            value = getattr(value, name, None)
        elif isinstance(value, dict):
            value = value.get(name)
        elif kind == ANY and not isinstance(value, (str, int, float, list, tuple)):
            value = getattr(value, name, None)
        else:
            return None
    return value
