"""Declarative app profiles (`rules/apps/<id>.yaml`): where an app keeps its mail settings and what
each key means. Loaded once, validated strictly: a typo in a profile is an error naming the file.

A profile has one or more variants, one per file format the app uses (Mastodon: dotenv; PeerTube:
production.yaml or the Docker .env). Each variant says how to recognise the file (`identify`), which
keys look like mail settings (`mail-keys`, for misspelling reports), and how keys map to
`SmtpSettings` fields (`fields`), with types, defaults, fallbacks and value maps. The TLS mode is an
ordered list of rules (`tls`), first match wins. What cannot be said declaratively lives in a named
hook in `hooks.py`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from auditor.appconfig.model import SmtpSettings
from auditor.errors import AuditorError
from auditor.paths import rules_dir

FORMATS = ("dotenv", "yaml", "ini", "conf", "hjson")
FIELD_TYPES = ("str", "int", "bool")
TLS_MODES = ("starttls", "implicit", "none")
_MODEL_FIELDS = {f.name for f in fields(SmtpSettings)} - {
    "bulk",
    "sources",
    "unknown_keys",
    "notes",
    "app",
    "config_file",
}


@dataclass(frozen=True)
class FieldSpec:
    """How one SmtpSettings field is read. Notes may use {key}, {default}, {fallback}, {value}, {app}."""

    name: str
    keys: tuple[str, ...]
    type: str = "str"
    default: object = None
    default_note: str | None = None
    fallback: tuple[str, ...] = ()  # other keys the app falls back to (SMTP_DOMAIN → LOCAL_DOMAIN)
    values: dict[str, object] = field(default_factory=dict)  # app value → model value
    value_notes: dict[str, str] = field(default_factory=dict)
    keep_empty: bool = False  # a blank value is used as-is (not replaced by the default)
    empty_note: str | None = None


@dataclass(frozen=True)
class Condition:
    """`key` (an app key, or `@field` for a model field already read) equals one of `values`.

    Comparison is exact on the text, as the apps compare (Mastodon checks `== 'true'`); YAML
    booleans compare as `true`/`false`. `None` in values means the key is absent or blank.
    """

    key: str
    values: tuple[str | None, ...]


@dataclass(frozen=True)
class TlsRule:
    when: tuple[Condition, ...]  # all must hold; empty = always (the final default)
    tls: str | None
    starttls_required: bool = False
    verify: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class RelaySpec:
    fields: tuple[FieldSpec, ...]
    tls: tuple[TlsRule, ...]
    # The keys to change for fields that come from rules rather than one key (tls → SMTP_TLS,
    # starttls_required → SMTP_ENABLE_STARTTLS): recorded in `sources` so fixes can name them.
    tls_keys: dict[str, str] = field(default_factory=dict)

    def keys(self) -> set[str]:
        found = {k for spec in self.fields for k in (*spec.keys, *spec.fallback)} | set(
            self.tls_keys.values()
        )
        found |= {c.key for rule in self.tls for c in rule.when if not c.key.startswith("@")}
        return found


@dataclass(frozen=True)
class BulkSpec:
    """A second relay (Mastodon's BULK_SMTP_*), read only when `when` is set and not blank."""

    when: str
    relay: RelaySpec
    inherit: tuple[str, ...]  # model fields copied from the main relay (the same From)


@dataclass(frozen=True)
class Variant:
    format: str
    paths: tuple[str, ...]
    identify: tuple[str, ...]
    relay: RelaySpec
    mail_keys: re.Pattern[str] | None = None
    known: tuple[str, ...] = ()
    synonyms: dict[str, str] = field(default_factory=dict)
    bulk: BulkSpec | None = None
    hook: str | None = None

    def known_keys(self) -> set[str]:
        found = self.relay.keys() | set(self.known) | set(self.identify)
        if self.bulk:
            found |= self.bulk.relay.keys() | {self.bulk.when}
        return found

    def mail_key_names(self) -> set[str]:
        """Known keys that look like mail settings: the candidates for a spelling suggestion."""
        keys = self.relay.keys() | (self.bulk.relay.keys() if self.bulk else set())
        if self.mail_keys is not None:
            keys |= {k for k in self.known if self.mail_keys.search(k)}
        if self.mail_keys is None:
            return keys
        return {k for k in keys if self.mail_keys.search(k)} or keys


@dataclass(frozen=True)
class AppProfile:
    id: str
    name: str
    variants: tuple[Variant, ...]
    aliases: tuple[str, ...] = ()
    docs: str | None = None
    source: str = ""

    @property
    def formats(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.format for v in self.variants))


def list_apps() -> list[AppProfile]:
    """Every shipped app profile, sorted by id."""
    return list(_load_all(str(rules_dir() / "apps")))


def find_app(app: str) -> AppProfile:
    wanted = app.strip().lower()
    for profile in list_apps():
        if wanted == profile.id or wanted in profile.aliases:
            return profile
    known = ", ".join(p.id for p in list_apps())
    raise AuditorError(f"unknown app {app!r}; known apps: {known}")


@functools.lru_cache(maxsize=4)
def _load_all(folder: str) -> tuple[AppProfile, ...]:
    profiles = [load_profile(path) for path in sorted(Path(folder).glob("*.yaml"))]
    seen: dict[str, str] = {}
    for profile in profiles:
        for name in (profile.id, *profile.aliases):
            if name in seen:
                raise AuditorError(f"{profile.source}: app id {name!r} is already used by {seen[name]}")
            seen[name] = profile.source
    return tuple(sorted(profiles, key=lambda p: p.id))


def load_profile(path: Path) -> AppProfile:
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AuditorError(f"{where}: cannot read app profile ({type(exc).__name__})") from None
    doc = _mapping(data, where, "profile")
    _only(doc, {"id", "name", "aliases", "docs", "variants"}, where, "profile")
    profile_id = _text(doc.get("id"), where, "id")
    if path.stem != profile_id:
        raise AuditorError(f"{where}: id {profile_id!r} must match the file name {path.stem!r}")
    variants = doc.get("variants")
    if not isinstance(variants, list) or not variants:
        raise AuditorError(f"{where}: 'variants' must be a non-empty list")
    return AppProfile(
        id=profile_id,
        name=_text(doc.get("name"), where, "name"),
        aliases=tuple(_text_list(doc.get("aliases", []), where, "aliases")),
        docs=doc.get("docs"),
        variants=tuple(_variant(v, f"{where} variants[{i}]") for i, v in enumerate(variants)),
        source=where,
    )


def _variant(data: object, where: str) -> Variant:
    from auditor.appconfig.hooks import HOOKS  # hooks import this module's types

    doc = _mapping(data, where, "variant")
    allowed = {"format", "paths", "identify", "mail-keys", "known", "synonyms", "fields", "tls", "tls-keys", "bulk",
               "hook"}  # fmt: skip
    _only(doc, allowed, where, "variant")
    fmt = doc.get("format")
    if fmt not in FORMATS:
        raise AuditorError(f"{where}: format must be one of {', '.join(FORMATS)}")
    hook = doc.get("hook")
    if hook is not None and hook not in HOOKS:
        raise AuditorError(f"{where}: unknown hook {hook!r}")
    pattern = doc.get("mail-keys")
    try:
        mail_keys = re.compile(pattern) if pattern else None
    except re.error:
        raise AuditorError(f"{where}: mail-keys is not a valid regular expression") from None
    synonyms = doc.get("synonyms", {})
    if not isinstance(synonyms, dict) or not all(isinstance(v, str) for v in synonyms.values()):
        raise AuditorError(f"{where}: synonyms must map keys to keys")
    bulk = None
    if "bulk" in doc:
        bulk_doc = _mapping(doc["bulk"], f"{where} bulk", "bulk")
        _only(bulk_doc, {"when", "fields", "tls", "tls-keys", "inherit"}, f"{where} bulk", "bulk")
        inherit = _text_list(bulk_doc.get("inherit", []), where, "bulk.inherit")
        for name in inherit:
            if name not in _MODEL_FIELDS:
                raise AuditorError(f"{where}: bulk.inherit names unknown field {name!r}")
        bulk = BulkSpec(
            when=_text(bulk_doc.get("when"), where, "bulk.when"),
            relay=_relay(bulk_doc, f"{where} bulk"),
            inherit=tuple(inherit),
        )
    return Variant(
        format=fmt,
        paths=tuple(_text_list(doc.get("paths", []), where, "paths")),
        identify=tuple(_text_list(doc.get("identify"), where, "identify")),
        relay=_relay(doc, where),
        mail_keys=mail_keys,
        known=tuple(_text_list(doc.get("known", []), where, "known")),
        synonyms={str(k): v for k, v in synonyms.items()},
        bulk=bulk,
        hook=hook,
    )


def _relay(doc: dict[str, object], where: str) -> RelaySpec:
    specs = _mapping(doc.get("fields"), where, "fields")
    rules = doc.get("tls", [])
    if not isinstance(rules, list):
        raise AuditorError(f"{where}: 'tls' must be a list of rules")
    tls_keys = _mapping(doc.get("tls-keys", {}), where, "tls-keys")
    for name, key in tls_keys.items():
        if name not in ("tls", "starttls_required") or not isinstance(key, str):
            raise AuditorError(f"{where}: tls-keys maps tls and starttls_required to keys")
    return RelaySpec(
        fields=tuple(_field(name, spec, f"{where} fields.{name}") for name, spec in specs.items()),
        tls=tuple(_tls_rule(rule, f"{where} tls[{i}]") for i, rule in enumerate(rules)),
        tls_keys=dict(tls_keys),
    )


def _field(name: str, data: object, where: str) -> FieldSpec:
    if name not in _MODEL_FIELDS:
        raise AuditorError(f"{where}: {name!r} is not a SmtpSettings field")
    if isinstance(data, str):
        data = {"key": data}
    doc = _mapping(data, where, "field")
    allowed = {"key", "keys", "type", "default", "default-note", "fallback", "values", "value-notes",
               "keep-empty", "empty-note"}  # fmt: skip
    _only(doc, allowed, where, "field")
    keys = [doc["key"]] if "key" in doc else doc.get("keys", [])
    kind = doc.get("type", "int" if name == "port" else "bool" if name == "starttls_required" else "str")
    if kind not in FIELD_TYPES:
        raise AuditorError(f"{where}: type must be one of {', '.join(FIELD_TYPES)}")
    values = doc.get("values", {})
    notes = doc.get("value-notes", {})
    if not isinstance(values, dict) or not isinstance(notes, dict):
        raise AuditorError(f"{where}: values and value-notes must be mappings")
    return FieldSpec(
        name=name,
        keys=tuple(_text_list(keys, where, "key")),
        type=kind,
        default=doc.get("default"),
        # `default-note: null` silences the generic "not set: default applies" note.
        default_note=(doc["default-note"] or "") if "default-note" in doc else None,
        fallback=tuple(_text_list(doc.get("fallback", []), where, "fallback")),
        values={_condition_text(k): v for k, v in values.items()},
        value_notes={_condition_text(k): str(v) for k, v in notes.items()},
        keep_empty=bool(doc.get("keep-empty", False)),
        empty_note=doc.get("empty-note"),
    )


def _tls_rule(data: object, where: str) -> TlsRule:
    doc = _mapping(data, where, "tls rule")
    _only(doc, {"when", "tls", "starttls-required", "verify", "note"}, where, "tls rule")
    when = _mapping(doc.get("when", {}), where, "when")
    conditions = []
    for key, expected in when.items():
        options = expected if isinstance(expected, list) else [expected]
        conditions.append(
            Condition(str(key), tuple(None if o is None else _condition_text(o) for o in options))
        )
    tls = doc.get("tls")
    if tls is not None and tls not in TLS_MODES:
        raise AuditorError(f"{where}: tls must be one of {', '.join(TLS_MODES)}")
    verify = doc.get("verify")
    if verify not in (None, "peer", "none"):
        raise AuditorError(f"{where}: verify must be peer or none")
    return TlsRule(tuple(conditions), tls, bool(doc.get("starttls-required", False)), verify, doc.get("note"))


def _condition_text(value: object) -> str:
    """How a profile's literal compares with a value read from a file: YAML `true` is the text `true`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _mapping(data: object, where: str, what: str) -> dict[str, object]:
    if not isinstance(data, dict):
        raise AuditorError(f"{where}: {what} must be a mapping")
    return data


def _only(doc: dict[str, object], allowed: set[str], where: str, what: str) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise AuditorError(
            f"{where}: unknown {what} key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def _text(value: object, where: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise AuditorError(f"{where}: {what} must be a non-empty string")
    return value


def _text_list(value: object, where: str, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise AuditorError(f"{where}: {what} must be a list of strings")
    return value
