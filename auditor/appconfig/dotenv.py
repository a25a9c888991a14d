"""Parser for env files (`.env.production`, Laravel `.env`, docker-compose `env_file`).

Follows the syntax the apps' own loaders accept (Ruby dotenv for Mastodon, phpdotenv, docker compose):
`export` prefixes, `KEY=value` and `KEY: value`, single quotes (literal), double quotes (escapes,
may span lines), `#` comments, inline comments after whitespace on unquoted values, `${VAR}` and
`$VAR` expansion from keys defined earlier in the file, blank values, duplicate keys (last wins).
Where the loaders disagree the value follows docker compose, and a note says what differs.
Notes name keys and lines, never values: the file holds passwords.
"""

from __future__ import annotations

import re

from auditor.appconfig.entries import Entry, ParsedFile

_ASSIGNMENT = re.compile(
    r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.]*)(?:\s*=|:(?=\s))[ \t]*(?P<rest>.*)$"
)
_BARE_KEY = re.compile(r"^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.]*\s*$")  # `export KEY` / `KEY`: no value
_REFERENCE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


def parse_dotenv(text: str) -> ParsedFile:
    parsed = ParsedFile(format="dotenv")
    lines = text.split("\n")
    first_line: dict[str, int] = {}
    index = 0
    while index < len(lines):
        number = index + 1
        line = lines[index]
        index += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ASSIGNMENT.match(line)
        if match is None:
            if not _BARE_KEY.match(line):
                parsed.bad_lines.append(number)
            continue
        key, rest = match["key"], match["rest"]
        value, quote, consumed, expand = _read_value(rest, lines, index, key, number, parsed)
        index += consumed
        if expand and "$" in value:
            value = _expand(value, key, number, parsed)
        if key in parsed.entries:
            parsed.notes.append(
                f"{key} is set more than once (first on line {first_line[key]}, again on line {number}); "
                f"the last one wins"
            )
        else:
            first_line[key] = number
        parsed.entries[key] = Entry(value=value, line=number, quote=quote)
    return parsed


def _read_value(
    rest: str, lines: list[str], next_index: int, key: str, number: int, parsed: ParsedFile
) -> tuple[str, str | None, int, bool]:
    """(value, quote used, extra lines consumed, whether `$` expansion applies)."""
    if rest[:1] in ("'", '"'):
        quote = rest[0]
        closed = _find_closing(rest, quote, 1)
        body_lines = [rest]
        consumed = 0
        # A quoted value may continue on the next lines until its closing quote.
        while closed is None and next_index + consumed < len(lines):
            body_lines.append(lines[next_index + consumed])
            consumed += 1
            closed = _find_closing("\n".join(body_lines), quote, 1)
        joined = "\n".join(body_lines)
        if closed is not None and _only_comment(joined[closed + 1 :]):
            inner = joined[1:closed]
            if quote == '"':
                return _unescape(inner), quote, consumed, True
            return inner.replace("\\'", "'"), quote, consumed, False
        # No matching close quote on a clean line end: the loaders read the text as an unquoted
        # value, stray quote included. Keep it as read; it is reported later.
        parsed.notes.append(
            f"{key} (line {number}) has a quote that is not closed cleanly; the value is read as it is, "
            f"quote characters included"
        )
        return _unquoted(rest, key, number, parsed), None, 0, True
    return _unquoted(rest, key, number, parsed), None, 0, True


def _find_closing(text: str, quote: str, start: int) -> int | None:
    position = start
    while position < len(text):
        char = text[position]
        if char == "\\":
            position += 2
            continue
        if char == quote:
            return position
        position += 1
    return None


def _only_comment(tail: str) -> bool:
    tail = tail.split("\n", 1)[0].strip()
    return not tail or tail.startswith("#")


def _unquoted(rest: str, key: str, number: int, parsed: ParsedFile) -> str:
    value = re.split(r"\s#", rest, maxsplit=1)[0].strip()
    if "#" in value:
        parsed.notes.append(
            f"{key} (line {number}) has an unquoted '#': docker compose keeps it, but Ruby dotenv "
            f"(Mastodon outside Docker) cuts the value there; put the value in single quotes"
        )
    return value


def _unescape(inner: str) -> str:
    out: list[str] = []
    position = 0
    while position < len(inner):
        char = inner[position]
        if char == "\\" and position + 1 < len(inner):
            following = inner[position + 1]
            # `\$` stays escaped until expansion so it is not read as a variable.
            out.append(_ESCAPES.get(following, "\\$" if following == "$" else following))
            position += 2
            continue
        out.append(char)
        position += 1
    return "".join(out)


def _expand(value: str, key: str, number: int, parsed: ParsedFile) -> str:
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        if match.start() > 0 and value[match.start() - 1] == "\\":
            return match.group(0)  # escaped: `\$NAME` is literal
        name = match["braced"] or match["bare"]
        if name in parsed.entries:
            return str(parsed.entries[name].value)
        if match["default"] is not None:
            return match["default"]
        missing = True
        return ""

    expanded = _REFERENCE.sub(replace, value).replace("\\$", "$")
    if missing:
        parsed.notes.append(
            f"{key} (line {number}) contains '$', which env loaders read as a reference to a variable "
            f"that this file does not set; it becomes empty unless the environment sets it. If the '$' "
            f"is meant literally, put the value in single quotes"
        )
    return expanded
