"""Keeping the relay password out of everything the probe produces.

The probe never writes a credential into its transcript in the first place (AUTH lines are written masked
at the call site). This is the second line: every string in the finished facts is scrubbed of the secret
and of the base64 forms it travels in, in case a server echoes what it got.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

MASK = "****"
# A secret shorter than this is not scrubbed from free text: it would mangle ordinary words.
MIN_SCRUB_LENGTH = 4


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class Redactor:
    def __init__(self, secrets: list[str], login: str | None = None):
        forms: set[str] = set()
        for secret in secrets:
            if not secret or len(secret) < MIN_SCRUB_LENGTH:
                continue
            forms |= {secret, b64(secret)}
            if login is not None:
                forms |= {b64(f"\0{login}\0{secret}"), b64(f"{login}\0{login}\0{secret}")}
        # Longest first, so a payload that contains the bare secret's encoding is masked whole.
        self._forms = sorted(forms, key=len, reverse=True)

    def text(self, value: str) -> str:
        for form in self._forms:
            if form in value:
                value = value.replace(form, MASK)
        return value

    def scrub(self, value: Any) -> Any:
        """The same structure with every string scrubbed; mutable dataclasses are changed in place."""
        if isinstance(value, str):
            return self.text(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes = {f.name: self.scrub(getattr(value, f.name)) for f in dataclasses.fields(value)}
            if value.__dataclass_params__.frozen:  # e.g. Unknown
                return dataclasses.replace(value, **changes)
            for name, new in changes.items():
                setattr(value, name, new)
            return value
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.scrub(v) for v in value)
        if isinstance(value, dict):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        return value
