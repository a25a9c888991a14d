"""A small, careful reader for the hjson that Lemmy's `lemmy.hjson` uses (and plain JSON).

Supports: optional root braces, `#`, `//` and `/* */` comments, unquoted keys, "double" and
'single' quoted strings with JSON escapes, ''' multi-line strings, quoteless strings (to the end of
the line), numbers, true/false/null, nested objects and arrays, commas optional. Flattened to
dotted keys (`email.smtp_server`) with the line of each key. No third-party dependency.
"""

from __future__ import annotations

import bisect
import re

from auditor.appconfig.entries import CONTAINER, Entry, ParsedFile, ParseError

_KEYWORD = re.compile(r"(true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)[ \t]*(?=\n|$|[,#\]}]|//|/\*)")
_PUNCTUATOR = set("{}[],:")
_MAX_DEPTH = 32


def parse_hjson(text: str) -> ParsedFile:
    reader = _Reader(text)
    parsed = ParsedFile(format="hjson")
    reader.skip_space()
    if reader.peek() == "{":
        reader.position += 1
        reader.read_members(parsed, "", closing="}", depth=0)
    else:
        reader.read_members(parsed, "", closing=None, depth=0)
    reader.skip_space()
    if not reader.at_end():
        raise ParseError("unexpected text after the settings object", reader.line())
    return parsed


def _keyword_value(text: str) -> object:
    if text in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[text]
    return float(text) if any(c in text for c in ".eE") else int(text)


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, position: int | None = None) -> int:
        return bisect.bisect_right(self.line_starts, self.position if position is None else position)

    def at_end(self) -> bool:
        return self.position >= len(self.text)

    def peek(self) -> str:
        return self.text[self.position] if self.position < len(self.text) else ""

    def skip_space(self, newlines: bool = True) -> None:
        text = self.text
        while self.position < len(text):
            char = text[self.position]
            if char in " \t\r" or (newlines and char == "\n"):
                self.position += 1
            elif char == "#" or text.startswith("//", self.position):
                end = text.find("\n", self.position)
                self.position = len(text) if end < 0 else end
            elif text.startswith("/*", self.position):
                end = text.find("*/", self.position + 2)
                if end < 0:
                    raise ParseError("comment is not closed", self.line())
                self.position = end + 2
            else:
                return

    def read_members(self, parsed: ParsedFile, prefix: str, closing: str | None, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise ParseError("nesting is too deep", self.line())
        while True:
            self.skip_space()
            char = self.peek()
            if not char:
                if closing:
                    raise ParseError("object is not closed", self.line())
                return
            if char == closing:
                self.position += 1
                return
            if char == ",":
                self.position += 1
                continue
            line = self.line()
            key = self.read_key()
            self.skip_space()
            if self.peek() != ":":
                raise ParseError("expected ':' after a key", self.line())
            self.position += 1
            path = f"{prefix}.{key}" if prefix else key
            if path in parsed.entries:
                parsed.notes.append(f"{path} is set more than once (again on line {line}); the last one wins")
            self.skip_space()
            start = self.peek()
            if start == "{":
                self.position += 1
                parsed.entries[path] = Entry(CONTAINER, line)
                self.read_members(parsed, path, "}", depth + 1)
            elif start == "[":
                self.position += 1
                parsed.entries[path] = Entry(CONTAINER, line)
                self.skip_array(depth + 1)
            else:
                value, quote = self.read_value()
                parsed.entries[path] = Entry(value, line, quote)

    def read_key(self) -> str:
        char = self.peek()
        if char in ("'", '"'):
            value, _ = self.read_quoted(char)
            return value
        match = re.compile(r"[^\s{}\[\],:]+").match(self.text, self.position)
        if not match:
            raise ParseError("expected a key", self.line())
        self.position = match.end()
        return match.group(0)

    def read_value(self, in_list: bool = False) -> tuple[object, str | None]:
        char = self.peek()
        if self.text.startswith("'''", self.position):
            return self.read_multiline(), "'"
        if char in ("'", '"'):
            return self.read_quoted(char)
        if not char or char in _PUNCTUATOR:
            raise ParseError("expected a value", self.line())
        keyword = _KEYWORD.match(self.text, self.position)
        if keyword:
            self.position = keyword.end(1)
            return _keyword_value(keyword.group(1)), None
        # hjson: a quoteless string runs to the end of the line (in a one-line list, to `,` or `]`).
        stop = re.compile(r"[\n,\]]" if in_list else r"\n").search(self.text, self.position)
        end = len(self.text) if stop is None else stop.start()
        value = self.text[self.position : end].strip()
        self.position = end
        return value, None

    def read_quoted(self, quote: str) -> tuple[str, str]:
        start_line = self.line()
        position = self.position + 1
        out: list[str] = []
        text = self.text
        while position < len(text):
            char = text[position]
            if char == quote:
                self.position = position + 1
                return "".join(out), quote
            if char == "\n":
                break
            if char == "\\" and position + 1 < len(text):
                following = text[position + 1]
                if following == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[position + 2 : position + 6]):
                    out.append(chr(int(text[position + 2 : position + 6], 16)))
                    position += 6
                    continue
                out.append({"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}.get(following, following))
                position += 2
                continue
            out.append(char)
            position += 1
        raise ParseError("string is not closed", start_line)

    def read_multiline(self) -> str:
        end = self.text.find("'''", self.position + 3)
        if end < 0:
            raise ParseError("multi-line string is not closed", self.line())
        value = self.text[self.position + 3 : end]
        self.position = end + 3
        return value.strip("\n")

    def skip_array(self, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise ParseError("nesting is too deep", self.line())
        while True:
            self.skip_space()
            char = self.peek()
            if not char:
                raise ParseError("list is not closed", self.line())
            if char == "]":
                self.position += 1
                return
            if char == ",":
                self.position += 1
            elif char == "[":
                self.position += 1
                self.skip_array(depth + 1)
            elif char == "{":
                self.position += 1
                self.read_members(ParsedFile(format="hjson"), "", "}", depth + 1)
            else:
                self.read_value(in_list=True)
