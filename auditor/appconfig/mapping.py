"""Turns a parsed settings file into `SmtpSettings` by following an app profile's variant.

Generic: everything app-specific comes from the profile (rules/apps/*.yaml) or its named hook.
Notes say in plain words which defaults applied; they never quote a secret (a final scrub removes
any secret text that a note could have picked up).
"""

from __future__ import annotations

import difflib
import re
import string
from dataclasses import dataclass

from auditor.appconfig.entries import CONTAINER, Entry, ParsedFile
from auditor.appconfig.model import SettingSource, SmtpSettings
from auditor.appconfig.profiles import AppProfile, FieldSpec, RelaySpec, Variant

_SECRET_KEY = re.compile(r"pass|secret|token|private|_key\b|apikey|api_key|credential", re.IGNORECASE)
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


@dataclass
class Reading:
    """One file being mapped: what hooks get to look at and change."""

    profile: AppProfile
    variant: Variant
    parsed: ParsedFile
    file: str
    settings: SmtpSettings

    def entry(self, key: str) -> Entry | None:
        found = self.parsed.entries.get(key)
        return None if found is None or found.value is CONTAINER else found

    def text(self, key: str) -> str | None:
        """The key's value as text; None when the key is absent or blank."""
        found = self.entry(key)
        if found is None:
            return None
        text = as_text(found.value)
        return text if text.strip() else None

    def has(self, key: str) -> bool:
        """The key holds a value (possibly blank)."""
        return self.entry(key) is not None

    def present(self, key: str) -> bool:
        """The key is in the file at all, including a section or mapping such as `email:`."""
        return key in self.parsed.entries

    def source(self, key: str) -> SettingSource:
        found = self.parsed.entries.get(key)
        return SettingSource(self.file, key, found.line if found else None)


def as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def map_settings(profile: AppProfile, variant: Variant, parsed: ParsedFile, file: str) -> SmtpSettings:
    from auditor.appconfig.hooks import HOOKS

    settings = SmtpSettings(app=profile.id, config_file=file)
    reading = Reading(profile, variant, parsed, file, settings)
    settings.notes.extend(parsed.notes)
    if parsed.bad_lines:
        lines = ", ".join(str(n) for n in parsed.bad_lines[:10])
        settings.notes.append(f"lines the app's loader cannot read were skipped: {lines}")
    apply_relay(reading, variant.relay, settings)
    if variant.bulk and reading.text(variant.bulk.when):
        bulk = SmtpSettings(app=profile.id, config_file=file)
        apply_relay(reading, variant.bulk.relay, bulk)
        for name in variant.bulk.inherit:
            setattr(bulk, name, getattr(settings, name))
            if name in settings.sources:
                bulk.sources[name] = settings.sources[name]
        settings.bulk = bulk
    if variant.hook:
        HOOKS[variant.hook](reading)
    settings.unknown_keys = unknown_keys(variant, parsed)
    _scrub(settings, parsed)
    return settings


def apply_relay(reading: Reading, relay: RelaySpec, settings: SmtpSettings) -> None:
    for spec in relay.fields:
        _apply_field(reading, spec, settings)
    for name, key in relay.tls_keys.items():
        settings.sources[name] = reading.source(key)
    for rule in relay.tls:
        if all(_holds(reading, settings, c.key, c.values) for c in rule.when):
            settings.tls = rule.tls
            settings.starttls_required = rule.starttls_required
            deciding = next((c.key for c in rule.when if not c.key.startswith("@")), None)
            settings.tls_source = reading.source(deciding) if deciding else None
            if rule.verify:
                settings.verify = rule.verify
            if rule.note:
                settings.notes.append(_fill(rule.note, reading, port=settings.port))
            break


def _holds(reading: Reading, settings: SmtpSettings, key: str, values: tuple[str | None, ...]) -> bool:
    if key.startswith("@"):
        current = getattr(settings, key[1:], None)
        text = None if current is None or current == "" else as_text(current)
    else:
        text = reading.text(key)
    return text in values


def _apply_field(reading: Reading, spec: FieldSpec, settings: SmtpSettings) -> None:
    app = reading.profile.name
    key = next((k for k in spec.keys if reading.has(k)), spec.keys[0] if spec.keys else None)
    entry = reading.entry(key) if key else None
    secret = spec.name == "secret" or bool(key and _SECRET_KEY.search(key))
    if key:
        settings.sources[spec.name] = reading.source(key) if entry else SettingSource(reading.file, key, None)
    if entry is not None:
        text = as_text(entry.value)
        if text.strip():
            _set_value(reading, spec, settings, key, entry, text, secret)
            return
        if spec.keep_empty:
            setattr(settings, spec.name, "")
            settings.notes.append(
                _fill(
                    spec.empty_note or "{key} is set but empty (line {line})",
                    reading,
                    key=key,
                    line=entry.line,
                )
            )
            return
        settings.notes.append(f"{key} is set but empty (line {entry.line}); {app} treats it as not set")
    for other in spec.fallback:
        text = reading.text(other)
        if text is not None:
            setattr(settings, spec.name, _convert(spec, text))
            settings.sources[spec.name] = reading.source(other)
            shown = "" if _SECRET_KEY.search(other) else f" ({text})"
            settings.notes.append(f"{key} not set: {app} uses {other}{shown} instead")
            return
    if spec.default is not None:
        setattr(settings, spec.name, spec.default)
    note = spec.default_note
    if note is None and spec.default is not None and key:
        note = "{key} not set: {app}'s default {default} applies"
    if note:
        settings.notes.append(_fill(note, reading, key=key, default=spec.default))


def _set_value(
    reading: Reading, spec: FieldSpec, settings: SmtpSettings, key: str, entry: Entry, text: str, secret: bool
) -> None:
    shown = "(hidden)" if secret else text
    if spec.values:
        mapped_key = text if text in spec.values else "*" if "*" in spec.values else None
        note = spec.value_notes.get(text) or spec.value_notes.get("*" if mapped_key == "*" else "")
        if note:
            settings.notes.append(_fill(note, reading, key=key, value=shown, line=entry.line))
        if mapped_key is not None:
            setattr(settings, spec.name, spec.values[mapped_key])
            return
    value = _convert(spec, entry.value)
    if value is None:
        settings.notes.append(
            f"{key} (line {entry.line}) is not a valid {'number' if spec.type == 'int' else 'true/false value'}; "
            f"{reading.profile.name} cannot use it"
        )
    setattr(settings, spec.name, value)


def _convert(spec: FieldSpec, value: object) -> object:
    if spec.type == "int":
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        text = as_text(value).strip()
        return int(text) if re.fullmatch(r"\d{1,6}", text) else None
    if spec.type == "bool":
        if isinstance(value, bool):
            return value
        text = as_text(value).strip().lower()
        return True if text in _TRUE else False if text in _FALSE else None
    return as_text(value)


class _Blank(dict):  # unknown placeholders stay visible instead of raising
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fill(template: str, reading: Reading, **values: object) -> str:
    values.setdefault("app", reading.profile.name)
    return string.Formatter().vformat(
        template, (), _Blank({k: v for k, v in values.items() if v is not None})
    )


def unknown_keys(variant: Variant, parsed: ParsedFile) -> list[tuple[str, str | None]]:
    """Keys that look like mail settings but that the app does not read, with the likely intended key."""
    known = variant.known_keys()
    known_upper = {k.upper() for k in known}
    mail_names = sorted(variant.mail_key_names())
    by_upper = {k.upper(): k for k in mail_names}
    synonyms = {k.upper(): v for k, v in variant.synonyms.items()}
    found: list[tuple[str, str | None]] = []
    for key, entry in parsed.entries.items():
        if entry.value is CONTAINER or key in known:
            continue
        upper = key.upper()
        close = difflib.get_close_matches(upper, list(by_upper), n=1, cutoff=0.6)
        looks_like_mail = bool(variant.mail_keys and variant.mail_keys.search(key))
        # A typo of a mail key (SMPT_SERVER) even where the mail-keys pattern does not catch it.
        near_miss = len(upper) >= 6 and any(_edits(upper, name, 2) <= 2 for name in by_upper)
        if not (looks_like_mail or near_miss or upper in synonyms):
            continue
        if upper in known_upper:
            suggestion = next(k for k in known if k.upper() == upper)  # right name, wrong case
        else:
            suggestion = synonyms.get(upper) or (by_upper[close[0]] if close else None)
        found.append((key, suggestion))
    return found


def _edits(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (adjacent swaps count once), giving up above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _scrub(settings: SmtpSettings, parsed: ParsedFile) -> None:
    """Last line of defence: no note may contain the text of a secret from the file."""
    secrets = set(settings.secrets())
    for key, entry in parsed.entries.items():
        if entry.value is not CONTAINER and _SECRET_KEY.search(key):
            text = as_text(entry.value)
            if len(text) >= 4:
                secrets.add(text)
    if not secrets:
        return
    for target in (settings, settings.bulk):
        if target is None:
            continue
        cleaned = []
        for note in target.notes:
            for secret in sorted(secrets, key=len, reverse=True):
                note = note.replace(secret, "(hidden)")
            cleaned.append(note)
        target.notes = cleaned
