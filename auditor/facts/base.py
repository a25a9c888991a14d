"""Shared pieces of the fact layer: the `Unknown` marker and JSON conversion of fact dataclasses."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Unknown:
    """A fact that could not be established (a lookup timed out, a server failed).

    Rules that read an `Unknown` fact end as `unknown`, never `pass` or `fail`: a DNS timeout is not a
    missing record.
    """

    reason: str

    def __bool__(self) -> bool:  # an unknown fact is never truthy by accident
        return False

    def __str__(self) -> str:
        return f"unknown ({self.reason})"


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


def unknown_from(lookup) -> Unknown:
    """An `Unknown` that names the lookup which failed, e.g. `TXT _dmarc.example.org.: timeout`."""
    detail = f" ({lookup.error})" if lookup.error else ""
    return Unknown(f"{lookup.rdtype} {lookup.name}: {lookup.outcome}{detail}")


def to_jsonable(value: Any) -> Any:
    """Dataclasses → dicts, tuples → lists, `Unknown` → {"unknown": reason}; everything else as is."""
    if isinstance(value, Unknown):
        return {"unknown": value.reason}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v) for v in items]
    return value
