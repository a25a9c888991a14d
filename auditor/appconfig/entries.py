"""What every format parser hands back: the file's keys, flattened, with their values and line numbers."""

from __future__ import annotations

from dataclasses import dataclass, field

# A mapping or list in a structured file: the key exists (it helps recognise the app) but holds no value.
CONTAINER = object()


@dataclass(frozen=True)
class Entry:
    """One key as read. `value` is a str for text formats; YAML and hjson give bool/int/float/None too."""

    value: object
    line: int | None
    quote: str | None = None  # the quote character that wrapped the value in the file, if any


@dataclass
class ParsedFile:
    """A settings file reduced to flat keys (`SMTP_SERVER`, `smtp.hostname`, `mailer.SMTP_ADDR`)."""

    format: str
    entries: dict[str, Entry] = field(default_factory=dict)
    # Findings about the file's syntax, in plain words. Never carry a value from the file.
    notes: list[str] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)  # lines the parser could not read and skipped


class ParseError(Exception):
    """The text is not in this format. The message names a line and a problem, never a value."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line

    def describe(self) -> str:
        return f"{self} (line {self.line})" if self.line else str(self)
