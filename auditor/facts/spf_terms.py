"""SPF record grammar (RFC 7208 §4.5, §4.6, §5, §6, §7, §12): record selection, term parsing, macros.

Everything here is pure: no DNS. `parse_record()` checks the whole record before anything is evaluated
(§4.6: any syntax error anywhere is a permerror), and returns typed terms. The macro functions parse a
macro-string once (`parse_macro_string`) and expand it later with the values of one evaluation
(`expand_macros`), so syntax errors surface at parse time, not half-way through an evaluation.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

VERSION = "v=spf1"
QUALIFIER_RESULTS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
# Terms that cost a DNS query and count toward the limit of 10 (§4.6.4); `redirect` counts as well.
DNS_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})

# §7.1: letters allowed in any macro-string, and the three allowed only in explanation text.
DOMAIN_MACRO_LETTERS = frozenset("slodiphv")
EXP_MACRO_LETTERS = DOMAIN_MACRO_LETTERS | frozenset("crt")
MACRO_DELIMITERS = frozenset(".-+,/_=")
MAX_DOMAIN_LENGTH = 253  # §7.3: expanded names are cut from the left to this length

# ABNF pieces. ASCII classes are spelt out: Python's \d and \w also match non-ASCII digits and letters.
_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9_.\-]*)=(.*)", re.S)
_MECHANISM = re.compile(r"([+\-~?]?)([A-Za-z][A-Za-z0-9]*)(.*)", re.S)
_DUAL_CIDR = re.compile(r"(?:/([0-9]+))?(?://([0-9]+))?")
_DOMAIN_AND_DUAL_CIDR = re.compile(r"(.*?)(?:/([0-9]+))?(?://([0-9]+))?", re.S)
_IP4_ARG = re.compile(r"([0-9.]+)(?:/([0-9]+))?")
_IP6_ARG = re.compile(r"([0-9A-Fa-f:.]+)(?:/([0-9]+))?")
_CIDR_DIGITS = re.compile(r"0|[1-9][0-9]*")
_TOPLABEL = re.compile(r"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9\-]*[A-Za-z0-9]")
_MACRO_EXPAND = re.compile(r"%\{([A-Za-z])([0-9]*)([rR]?)([.\-+,/_=]*)\}")


class SpfSyntaxError(ValueError):
    """The record (or a term of it) breaks the RFC 7208 grammar; the message says where, in plain words."""


# -- macros -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MacroExpand:
    """One `%{...}` macro: letter, optional rightmost-parts count, reversal and split delimiters."""

    letter: str  # lowercase
    url_escape: bool  # the letter was written in upper case (§7.3)
    digits: int | None
    reverse: bool
    delimiters: str  # "" means the default "."


MacroToken = str | MacroExpand


def parse_macro_string(
    text: str, *, letters: frozenset[str] = DOMAIN_MACRO_LETTERS, allow_space: bool = False
) -> list[MacroToken]:
    """A macro-string as literal text and `MacroExpand` pieces; `%%`, `%_`, `%-` become literal text.

    Literals must be visible ASCII other than `%` (plus SP in explanation text, `allow_space`).
    """
    return _parse_macro_string(text, letters, allow_space)[0]


def _parse_macro_string(
    text: str, letters: frozenset[str], allow_space: bool
) -> tuple[list[MacroToken], bool]:
    """(tokens, whether the text ends in a macro-expand, `%%`/`%_`/`%-` included)."""
    tokens: list[MacroToken] = []
    ends_in_macro = False
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "%":
            if not (0x21 <= ord(char) <= 0x7E or (allow_space and char == " ")):
                raise SpfSyntaxError(f"character {char!r} is not allowed here")
            literal.append(char)
            ends_in_macro = False
            i += 1
            continue
        following = text[i + 1 : i + 2]
        if following in ("%", "_", "-"):
            literal.append({"%": "%", "_": " ", "-": "%20"}[following])
            ends_in_macro = True
            i += 2
            continue
        match = _MACRO_EXPAND.match(text, i)
        if following != "{" or match is None:
            raise SpfSyntaxError(f"'%' must be followed by '{{', '%', '_' or '-' (at {text[i : i + 8]!r})")
        letter, digits, reverse, delimiters = match.groups()
        if letter.lower() not in letters:
            where = "" if letter.lower() not in EXP_MACRO_LETTERS else " outside explanation text"
            raise SpfSyntaxError(f"macro letter {letter!r} is not allowed{where}")
        if digits and int(digits) == 0:
            raise SpfSyntaxError(f"macro {match.group(0)!r}: the number of parts must not be zero")
        if literal:
            tokens.append("".join(literal))
            literal = []
        tokens.append(
            MacroExpand(
                letter=letter.lower(),
                url_escape=letter.isupper(),
                digits=int(digits) if digits else None,
                reverse=bool(reverse),
                delimiters=delimiters,
            )
        )
        ends_in_macro = True
        i = match.end()
    if literal:
        tokens.append("".join(literal))
    return tokens, ends_in_macro


def macro_letters(tokens: Sequence[MacroToken]) -> set[str]:
    return {token.letter for token in tokens if isinstance(token, MacroExpand)}


def expand_macros(tokens: Sequence[MacroToken], values: Mapping[str, str]) -> str:
    """The text of parsed macro tokens with `values` (letter → value) put in, transformed per §7.3."""
    return "".join(
        token if isinstance(token, str) else expand_one(token, values[token.letter]) for token in tokens
    )


def expand_one(macro: MacroExpand, value: str) -> str:
    delimiters = macro.delimiters or "."
    parts = re.split("[" + re.escape(delimiters) + "]", value)
    if macro.reverse:
        parts.reverse()
    if macro.digits is not None:
        parts = parts[-macro.digits :]
    text = ".".join(parts)
    if macro.url_escape:
        # Only the RFC 3986 unreserved characters stay as they are.
        text = urllib.parse.quote(text, safe="")
    return text


def truncate_domain(name: str) -> str:
    """An expanded domain name: trailing dot dropped, then left labels removed until ≤ 253 chars (§7.3)."""
    name = name[:-1] if name.endswith(".") else name
    while len(name) > MAX_DOMAIN_LENGTH and "." in name:
        name = name.split(".", 1)[1]
    return name


def check_domain_spec(text: str) -> list[MacroToken]:
    """A domain-spec (§7.1): `macro-string domain-end`, where domain-end is `.toplabel[.]` or a macro."""
    if not text:
        raise SpfSyntaxError("the domain is empty")
    tokens, ends_in_macro = _parse_macro_string(text, DOMAIN_MACRO_LETTERS, False)
    if ends_in_macro:
        return tokens
    # domain-end is literal text here: the text must end in ".toplabel", optionally followed by a dot.
    trimmed = text[:-1] if text.endswith(".") else text
    dot = trimmed.rfind(".")
    if dot < 0 or not _TOPLABEL.fullmatch(trimmed[dot + 1 :]):
        raise SpfSyntaxError(f"{text!r} does not end in a valid top-level label (e.g. '.com') or a macro")
    return tokens


# -- records and terms --------------------------------------------------------------------------------------


def is_spf_record(txt: str) -> bool:
    """§4.5: the record starts with `v=spf1` (any case) followed by a space or the end of the text."""
    return txt[: len(VERSION)].lower() == VERSION and (len(txt) == len(VERSION) or txt[len(VERSION)] == " ")


@dataclass(frozen=True)
class Mechanism:
    text: str  # the term as written, e.g. "-include:_spf.example.net"
    qualifier: str  # "+", "-", "~" or "?"
    name: str  # lowercase mechanism name
    domain_spec: str | None = None  # None: the current domain (a, mx, ptr)
    domain_tokens: tuple[MacroToken, ...] = ()
    cidr4: int = 32
    cidr6: int = 128
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None  # ip4 / ip6

    @property
    def result(self) -> str:
        return QUALIFIER_RESULTS[self.qualifier]


@dataclass(frozen=True)
class Modifier:
    text: str
    name: str  # lowercase
    value: str
    tokens: tuple[MacroToken, ...] = ()


@dataclass(frozen=True)
class SpfRecord:
    text: str
    mechanisms: tuple[Mechanism, ...]
    redirect: Modifier | None = None
    explanation: Modifier | None = None
    unknown_modifiers: tuple[Modifier, ...] = ()

    @property
    def has_all(self) -> bool:
        return any(m.name == "all" for m in self.mechanisms)


def parse_record(txt: str) -> SpfRecord:
    """A selected `v=spf1` record, fully syntax-checked (§4.6); raises `SpfSyntaxError`."""
    if not is_spf_record(txt):
        raise SpfSyntaxError("the record does not start with 'v=spf1'")
    mechanisms: list[Mechanism] = []
    modifiers: dict[str, Modifier] = {}
    unknown: list[Modifier] = []
    # §4.6.1: terms are separated by one or more SP only; trailing spaces are allowed.
    for term in txt[len(VERSION) :].split(" "):
        if not term:
            continue
        parsed = parse_term(term)
        if isinstance(parsed, Mechanism):
            mechanisms.append(parsed)
        elif parsed.name in ("redirect", "exp"):
            if parsed.name in modifiers:
                raise SpfSyntaxError(f"'{parsed.name}=' appears more than once")
            modifiers[parsed.name] = parsed
        else:
            unknown.append(parsed)
    return SpfRecord(txt, tuple(mechanisms), modifiers.get("redirect"), modifiers.get("exp"), tuple(unknown))


def parse_term(term: str) -> Mechanism | Modifier:
    """One directive or modifier (§12 ABNF); raises `SpfSyntaxError` naming the term."""
    try:
        return _parse_term(term)
    except SpfSyntaxError as exc:
        raise SpfSyntaxError(f"term {term!r}: {exc}") from None


def _parse_term(term: str) -> Mechanism | Modifier:
    modifier = _MODIFIER.fullmatch(term)
    if modifier is not None:
        name, value = modifier.group(1).lower(), modifier.group(2)
        if name in ("redirect", "exp"):
            tokens = check_domain_spec(value)
        else:  # unknown modifiers are ignored, but their value must still be a valid macro-string
            tokens = parse_macro_string(value, letters=EXP_MACRO_LETTERS)
        return Modifier(term, name, value, tuple(tokens))
    mechanism = _MECHANISM.fullmatch(term)
    if mechanism is None:
        raise SpfSyntaxError("not a mechanism or modifier")
    qualifier, name, rest = mechanism.group(1) or "+", mechanism.group(2).lower(), mechanism.group(3)
    if name not in MECHANISMS:
        raise SpfSyntaxError(f"unknown mechanism {mechanism.group(2)!r}")
    if name == "all":
        if rest:
            raise SpfSyntaxError("'all' takes no argument")
        return Mechanism(term, qualifier, name)
    if name in ("include", "exists"):
        if not rest.startswith(":"):
            raise SpfSyntaxError(f"'{name}' needs ':domain'")
        spec = rest[1:]
        return Mechanism(term, qualifier, name, spec, tuple(check_domain_spec(spec)))
    if name == "ptr":
        if not rest:
            return Mechanism(term, qualifier, name)
        if not rest.startswith(":"):
            raise SpfSyntaxError("'ptr' takes only an optional ':domain'")
        spec = rest[1:]
        return Mechanism(term, qualifier, name, spec, tuple(check_domain_spec(spec)))
    if name in ("a", "mx"):
        return _parse_a_or_mx(term, qualifier, name, rest)
    return _parse_ip(term, qualifier, name, rest)


def _parse_a_or_mx(term: str, qualifier: str, name: str, rest: str) -> Mechanism:
    spec: str | None = None
    tokens: tuple[MacroToken, ...] = ()
    if rest.startswith(":"):
        # The domain may itself contain '/' and ':'; the shortest domain that leaves a valid CIDR tail wins.
        match = _DOMAIN_AND_DUAL_CIDR.fullmatch(rest[1:])
        assert match is not None  # (.*?) with optional groups always matches
        spec, cidr4_text, cidr6_text = match.groups()
        tokens = tuple(check_domain_spec(spec))
    else:
        cidr = _DUAL_CIDR.fullmatch(rest)
        if cidr is None:
            raise SpfSyntaxError(f"'{name}' takes an optional ':domain' and '/len' or '//len'")
        cidr4_text, cidr6_text = cidr.groups()
    return Mechanism(
        term, qualifier, name, spec, tokens, cidr4=_cidr(cidr4_text, 32), cidr6=_cidr(cidr6_text, 128)
    )


def _parse_ip(term: str, qualifier: str, name: str, rest: str) -> Mechanism:
    if not rest.startswith(":"):
        raise SpfSyntaxError(f"'{name}' needs ':address'")
    pattern, maximum = (_IP4_ARG, 32) if name == "ip4" else (_IP6_ARG, 128)
    match = pattern.fullmatch(rest[1:])
    if match is None:
        raise SpfSyntaxError(f"{rest[1:]!r} is not an {'IPv4' if name == 'ip4' else 'IPv6'} network")
    address_text, cidr_text = match.groups()
    try:
        # ipaddress refuses shortened dotted quads ("1.2.3") and leading zeros, as §5.6 and the ABNF do.
        address = (
            ipaddress.IPv4Address(address_text) if name == "ip4" else ipaddress.IPv6Address(address_text)
        )
    except ValueError:
        raise SpfSyntaxError(f"{address_text!r} is not a valid address") from None
    prefix = _cidr(cidr_text, maximum)
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return Mechanism(
        term,
        qualifier,
        name,
        network=network,
        cidr4=prefix if name == "ip4" else 32,
        cidr6=prefix if name == "ip6" else 128,
    )


def _cidr(text: str | None, maximum: int) -> int:
    if text is None:
        return maximum
    if not _CIDR_DIGITS.fullmatch(text) or int(text) > maximum:
        raise SpfSyntaxError(f"'/{text}' is not a prefix length from 0 to {maximum}")
    return int(text)
