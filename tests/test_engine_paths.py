"""Fact paths: compiled against the fact model's type hints, then read from fact objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from auditor.engine.factpaths import FactPathError, compile_path, describe, read
from auditor.facts.base import Unknown
from auditor.facts.model import Facts, SpfFacts


@dataclass
class Inner:
    name: str
    score: int | Unknown = 0


@dataclass
class Root:
    inner: Inner | Unknown | None = None
    by_name: dict[str, Inner] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    loose: Any = None


def test_attribute_and_key_steps() -> None:
    path = compile_path(Facts, "spf.include_costs._spf.google.com")
    assert path.steps == (("attr", "spf"), ("attr", "include_costs"), ("key", "_spf.google.com"))
    assert path.type is int


def test_dict_of_records_takes_one_segment_as_key() -> None:
    path = compile_path(Root, "by_name.mail.score")
    assert path.steps == (("attr", "by_name"), ("key", "mail"), ("attr", "score"))
    with pytest.raises(FactPathError, match=r"unknown fact path 'by_name\.mail\.scor' \(did you mean"):
        compile_path(Root, "by_name.mail.scor")


def test_unknown_segment_without_a_close_match_lists_the_fields() -> None:
    with pytest.raises(FactPathError) as caught:
        compile_path(Root, "inner.zzz")
    assert str(caught.value) == "unknown fact path 'inner.zzz' (inner has: name, score)"
    with pytest.raises(FactPathError) as caught:
        compile_path(Root, "qqq")
    assert str(caught.value) == "unknown fact root 'qqq' (the roots are: by_name, counts, inner, loose)"


@pytest.mark.parametrize("text", ["", "spf.", ".spf", "spf..record"])
def test_malformed_paths(text: str) -> None:
    with pytest.raises(FactPathError, match="bad fact path"):
        compile_path(Facts, text)


def test_untyped_values_take_any_parts_but_no_private_ones() -> None:
    assert compile_path(Root, "loose.a.b").steps[1:] == (("any", "a"), ("any", "b"))
    with pytest.raises(FactPathError, match="may not start with '_'"):
        compile_path(Root, "loose.__class__")


def test_read_walks_objects_and_dicts() -> None:
    root = Root(
        inner=Inner("a", 3), by_name={"mail": Inner("m", 7)}, counts={"x.example": 2}, loose={"a": {"b": 1}}
    )
    assert read(root, compile_path(Root, "inner.score")) == 3
    assert read(root, compile_path(Root, "by_name.mail.score")) == 7
    assert read(root, compile_path(Root, "by_name.other.score")) is None
    assert read(root, compile_path(Root, "counts.x.example")) == 2
    assert read(root, compile_path(Root, "loose.a.b")) == 1


def test_read_stops_at_none_and_unknown() -> None:
    assert read(Root(inner=None), compile_path(Root, "inner.score")) is None
    reason = Unknown("TXT example.org.: timeout")
    assert read(Root(inner=reason), compile_path(Root, "inner.score")) is reason


def test_describe() -> None:
    assert describe(compile_path(Facts, "spf.record").type) == "str | None"
    assert describe(compile_path(Facts, "mx.hosts").type) == "list[MxHost]"
    assert describe(compile_path(Facts, "spf.include_costs").type) == "dict[str, int]"
    assert describe(SpfFacts) == "SpfFacts"
