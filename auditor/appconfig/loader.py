"""`load_settings`: read one settings file, recognise (or check) the app, map it to `SmtpSettings`."""

from __future__ import annotations

import fnmatch
from pathlib import Path, PurePath

from auditor.appconfig.dotenv import parse_dotenv
from auditor.appconfig.entries import CONTAINER, ParsedFile, ParseError
from auditor.appconfig.hjson import parse_hjson
from auditor.appconfig.mapping import map_settings
from auditor.appconfig.model import SmtpSettings
from auditor.appconfig.profiles import AppProfile, Variant, find_app, list_apps
from auditor.appconfig.source import read_settings_text
from auditor.appconfig.structured import parse_ini, parse_yaml
from auditor.errors import AuditorError

_PARSERS = {
    "dotenv": parse_dotenv,
    "yaml": parse_yaml,
    "ini": parse_ini,
    "conf": lambda text: parse_ini(text, inline_comments=True, sections=False),
    "hjson": parse_hjson,
}
_FORMAT_NAMES = {"dotenv": "env file", "yaml": "YAML", "ini": "INI", "conf": "conf", "hjson": "hjson"}


def load_settings(path: str | Path, app: str | None = None) -> SmtpSettings:
    """The app's mail settings from `path`. With `app` (an id like "mastodon"), the file must be that
    app's; without it the app is recognised from the keys in the file. Bad input → AuditorError."""
    shown = str(path)
    profile = find_app(app) if app else None
    text = read_settings_text(path)
    files = _Parses(text, format_hint(path))
    if profile is not None:
        variant, parsed = _check_claimed(profile, files, shown)
    else:
        profile, variant, parsed = _recognise(files, shown)
    return map_settings(profile, variant, parsed, shown)


def format_hint(path: str | Path) -> str | None:
    """The format a file name promises, or None to try them all."""
    name = PurePath(path).name.lower()
    suffix = PurePath(name).suffix
    if suffix in (".yml", ".yaml"):
        return "yaml"
    if suffix == ".ini":
        return "ini"
    if suffix in (".hjson", ".json"):
        return "hjson"
    if suffix == ".conf":
        return "conf"
    if name.startswith(".env") or name.endswith(".env") or name in ("env", "environment"):
        return "dotenv"
    return None


class _Parses:
    """Parses the text once per format, on demand, remembering failures."""

    def __init__(self, text: str, hint: str | None) -> None:
        self.text = text
        self.hint = hint
        self.results: dict[str, ParsedFile | ParseError] = {}

    def get(self, fmt: str) -> ParsedFile | ParseError:
        if fmt not in self.results:
            try:
                parsed = _PARSERS[fmt](self.text)
                # Without a name to go by, a file that is mostly unreadable lines is not this format.
                if self.hint is None and parsed.bad_lines and len(parsed.bad_lines) * 4 > len(parsed.entries):
                    raise ParseError(f"not a readable {_FORMAT_NAMES[fmt]}", parsed.bad_lines[0])
                self.results[fmt] = parsed
            except ParseError as exc:
                self.results[fmt] = exc
            except RecursionError:
                self.results[fmt] = ParseError("nesting is too deep")
        return self.results[fmt]

    def formats_to_try(self, variants: tuple[Variant, ...]) -> list[Variant]:
        if self.hint is not None:
            matching = [v for v in variants if v.format == self.hint]
            # docker-compose and Discourse's app.yml are YAML around env keys: still try every variant.
            return matching + [v for v in variants if v.format != self.hint]
        return list(variants)


def score(variant: Variant, parsed: ParsedFile, path: str) -> int:
    """How many of the variant's identifying keys the file has (+1 for the app's usual file name)."""
    keys = parsed.entries
    hits = sum(1 for key in variant.identify if key in keys and _meaningful(keys[key].value))
    if hits and any(fnmatch.fnmatch(PurePath(path).name, PurePath(p).name) for p in variant.paths):
        hits += 1
    return hits


def _meaningful(value: object) -> bool:
    return value is CONTAINER or (value is not None and str(value).strip() != "")


def _check_claimed(profile: AppProfile, files: _Parses, shown: str) -> tuple[Variant, ParsedFile]:
    best: tuple[int, Variant, ParsedFile] | None = None
    first_error: ParseError | None = None
    for variant in files.formats_to_try(profile.variants):
        parsed = files.get(variant.format)
        if isinstance(parsed, ParseError):
            if first_error is None and (files.hint in (None, variant.format)):
                first_error = parsed
            continue
        hits = score(variant, parsed, shown)
        if hits and (best is None or hits > best[0]):
            best = (hits, variant, parsed)
    if best is not None:
        return best[1], best[2]
    if first_error is not None and files.hint is not None:
        raise AuditorError(f"{shown} cannot be read as {_FORMAT_NAMES[files.hint]}: {first_error.describe()}")
    looks_like = ""
    try:
        other, _, _ = _recognise(files, shown)
        if other.id != profile.id:
            looks_like = f"; it looks like a {other.name} config (try --app {other.id})"
    except AuditorError:
        pass
    expected = ", ".join(dict.fromkeys(k for v in profile.variants for k in v.identify[:3]))
    raise AuditorError(
        f"{shown} is not a {profile.name} config: none of its keys ({expected}) are in it{looks_like}"
    )


def _recognise(files: _Parses, shown: str) -> tuple[AppProfile, Variant, ParsedFile]:
    ranked: list[tuple[int, AppProfile, Variant, ParsedFile]] = []
    for profile in list_apps():
        best: tuple[int, Variant, ParsedFile] | None = None
        for variant in files.formats_to_try(profile.variants):
            parsed = files.get(variant.format)
            if isinstance(parsed, ParseError):
                continue
            hits = score(variant, parsed, shown)
            if hits and (best is None or hits > best[0]):
                best = (hits, variant, parsed)
        if best is not None:
            ranked.append((best[0], profile, best[1], best[2]))
    ranked.sort(key=lambda item: -item[0])
    names = ", ".join(p.id for p in list_apps())
    if not ranked:
        hint_error = files.results.get(files.hint) if files.hint else None
        if isinstance(hint_error, ParseError):
            raise AuditorError(
                f"{shown} cannot be read as {_FORMAT_NAMES[files.hint]}: {hint_error.describe()}"
            )
        raise AuditorError(f"cannot tell which app {shown} belongs to; pass --app (one of: {names})")
    if len(ranked) > 1 and ranked[0][0] == ranked[1][0]:
        raise AuditorError(
            f"{shown} could be a {ranked[0][1].name} or a {ranked[1][1].name} config; "
            f"pass --app {ranked[0][1].id} or --app {ranked[1][1].id}"
        )
    return ranked[0][1], ranked[0][2], ranked[0][3]
