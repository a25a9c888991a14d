"""Parsers for structured settings files: YAML, INI (Gitea/Forgejo `app.ini`, `discourse.conf`).

Nested keys are flattened to dotted paths (`smtp.hostname`, `mailer.SMTP_ADDR`, `env.DISCOURSE_SMTP_PORT`)
with the line number of the key. Errors name a line, never the text found there.
"""

from __future__ import annotations

import re

import yaml

from auditor.appconfig.entries import CONTAINER, Entry, ParsedFile, ParseError

# Aliases can make a small YAML file expand into a huge tree; real settings files have a few hundred keys.
MAX_KEYS = 20_000


def parse_yaml(text: str) -> ParsedFile:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ParseError("not valid YAML", mark.line + 1 if mark else None) from None
    except yaml.YAMLError:
        raise ParseError("not valid YAML") from None
    if not isinstance(root, yaml.MappingNode):
        raise ParseError("YAML file is not a mapping of settings")
    parsed = ParsedFile(format="yaml")
    _flatten_yaml(root, "", parsed, depth=0)
    return parsed


def _flatten_yaml(node: yaml.MappingNode, prefix: str, parsed: ParsedFile, depth: int) -> None:
    if depth > 32:
        raise ParseError("YAML nesting is too deep", node.start_mark.line + 1)
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        path = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
        line = key_node.start_mark.line + 1
        if len(parsed.entries) >= MAX_KEYS:
            raise ParseError("YAML file has too many keys for a settings file", line)
        if path in parsed.entries:
            parsed.notes.append(f"{path} is set more than once (again on line {line}); the last one wins")
        if isinstance(value_node, yaml.MappingNode):
            parsed.entries[path] = Entry(CONTAINER, line)
            _flatten_yaml(value_node, path, parsed, depth + 1)
        elif isinstance(value_node, yaml.SequenceNode):
            parsed.entries[path] = Entry(CONTAINER, line)
            _flatten_sequence(value_node, path, parsed, depth + 1)
        else:
            quote = value_node.style if value_node.style in ("'", '"') else None
            parsed.entries[path] = Entry(_scalar(value_node), line, quote)


def _flatten_sequence(node: yaml.SequenceNode, prefix: str, parsed: ParsedFile, depth: int) -> None:
    """Lists matter where they hold `KEY=value` strings (docker-compose `environment:` lists)."""
    for item in node.value:
        if isinstance(item, yaml.ScalarNode) and isinstance(item.value, str) and "=" in item.value:
            key, _, value = item.value.partition("=")
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key.strip()):
                parsed.entries[f"{prefix}.{key.strip()}"] = Entry(value, item.start_mark.line + 1)
        elif isinstance(item, yaml.MappingNode):
            _flatten_yaml(item, prefix, parsed, depth)


_SAFE = yaml.SafeLoader("")


def _scalar(node: yaml.Node) -> object:
    constructor = yaml.SafeLoader.yaml_constructors.get(node.tag)
    if constructor is None or node.tag == "tag:yaml.org,2002:timestamp":
        return node.value  # unknown tags and dates: the text as written
    try:
        return constructor(_SAFE, node)
    except (yaml.YAMLError, ValueError):
        return node.value


_SECTION = re.compile(r"^\s*\[(?P<name>[^\]]*)\]\s*(?:[;#].*)?$")


def parse_ini(text: str, *, inline_comments: bool = False, sections: bool = True) -> ParsedFile:
    """INI as go-ini reads Gitea's app.ini (`inline_comments=False`), or `key = value` conf files.

    Gitea loads app.ini with inline comments off, so `PASSWD = a#b` keeps the `#`. Discourse's
    discourse.conf reader stops an unquoted value at `#`. Values wrapped in matching `"`, `'` or
    backticks lose the quotes. Keys before the first section are top-level.
    """
    parsed = ParsedFile(format="ini" if sections else "conf")
    section = ""
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        header = _SECTION.match(line)
        if header:
            if not sections:
                parsed.bad_lines.append(number)
                continue
            section = header["name"].strip()
            parsed.entries.setdefault(section, Entry(CONTAINER, number))
            continue
        key, sep, raw = stripped.partition("=")
        key = key.strip()
        if not sep or not key or not re.fullmatch(r"[A-Za-z0-9_.\-]+", key):
            parsed.bad_lines.append(number)
            continue
        value, quote = _ini_value(raw.strip(), inline_comments)
        path = f"{section}.{key}" if section else key
        if path in parsed.entries:
            parsed.notes.append(f"{path} is set more than once (again on line {number}); the last one wins")
        parsed.entries[path] = Entry(value, number, quote)
    return parsed


def _ini_value(raw: str, inline_comments: bool) -> tuple[str, str | None]:
    if len(raw) >= 2 and raw[0] in "\"'`" and raw[-1] == raw[0]:
        return raw[1:-1], raw[0]
    if raw and raw[0] in "\"'" and inline_comments:
        closing = raw.find(raw[0], 1)
        if closing > 0 and re.fullmatch(r"\s*(#.*)?", raw[closing + 1 :]):
            return raw[1:closing], raw[0]
    if inline_comments:
        raw = re.split(r"\s*#", raw, maxsplit=1)[0].strip()
    return raw, None
