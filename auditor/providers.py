"""Provider profiles: what inboxready knows about each SMTP relay, and recognising a relay from its host name.

One YAML file per provider in `rules/providers/` (file stem = `id`). Every key is checked on load: an unknown
key, a missing required key, a wrong type or a bad regex is an `AuditorError` naming `file:line`.

Schema (`?` = optional; templates are explained below)::

    id: amazon-ses                     # required; equals the file stem; [a-z0-9-]+
    name: Amazon SES                   # required; shown to users
    kind: relay                        # required; relay (sends for you) | mailbox (a mailbox host's
                                       #   submission server) | self-hosted (your own server)
    description: >-                    # required; one or two sentences: what inboxready checks for this relay
    aliases?: [ses, aws-ses]           # other names accepted by `--provider`
    hosts?:                            # SMTP host names that identify the provider
      - pattern: 'email-smtp\\.(?P<region>[a-z0-9-]+)\\.amazonaws\\.com'   # full-match regex, lowercase
        groups?: {region: us}          # fixed match values for this host (e.g. the region a host implies)
        from_domains?: [gmail.com]     # only claims the host when the From domain is one of these
        examples: {email-smtp.eu-west-1.amazonaws.com: eu-west-1}   # host -> region ('' = no region);
                                       #   the tests check that each example is recognised as given
    ports?: [{port: 587, tls: starttls}]   # tls: starttls | implicit | none (plain or optional STARTTLS)
    tls_required?: false               # the provider refuses unencrypted sessions
    login?:
      pattern?: '^apikey$'             # full-match regex a correct login fits; omit when anything goes
      hint: The login is the word apikey.   # required; plain English
    auth_hints?: [...]                 # what usually causes a 535 (authentication failed), plain English
    spf:
      include?: amazonses.com          # the `include:` domain (template); omit when none is needed
      accepted?: [spf.sendinblue.com]  # other includes that authorise the same servers (legacy names)
      where: custom-envelope           # which domain needs the include:
                                       #   envelope        - the envelope (Return-Path) domain, usually the From domain
                                       #   custom-envelope - only the custom return-path subdomain, once set up
                                       #   provider        - nowhere: the provider publishes SPF behind a CNAME
                                       #   own-ip          - self-hosted: the server's own address (ip4:/ip6:/a)
      note?: ...
    dkim:
      scheme: cname                    # fixed (TXT at known selectors) | cname (CNAMEs to the provider)
                                       #   | per-account (selectors the account chooses; cannot be guessed)
      selectors?: [s1, s2]             # selector names to probe: the provider's own (fixed, cname), or for
                                       #   per-account the names it often uses (a miss there proves nothing)
      cname_target?: 's1.domainkey.{account}.sendgrid.net'   # what the selector CNAMEs point to (template)
      target_suffixes?: [sendgrid.net] # a CNAME target under one of these belongs to this provider
      d_domain: from                   # the signing domain once set up: from (the customer's) | a domain
      default_d_domain?: sendgrid.net  # who signs before DKIM is set up (not aligned); omit if unknown
      note?: ...
    envelope:
      default: amazonses.com           # the default Return-Path domain: from (= the From domain),
                                       #   custom (the custom scheme below is the default) or a provider domain
      custom?:                         # the provider's custom return-path / MAIL FROM scheme
        name: '{label}.{domain}'       # the subdomain (template)
        label?: pm-bounces             # the provider's default or suggested label
        mx?: 'feedback-smtp.{region}.amazonses.com'   # MX target the subdomain needs
        mx_preference?: 10
        cname?: pm.mtasv.net           # CNAME target the subdomain needs (instead of MX + SPF)
        spf?: 'v=spf1 include:amazonses.com ~all'     # SPF TXT the subdomain needs
        note?: ...
    records?:                          # DNS records the provider asks for (the fixes offer them)
      - {purpose: ..., name: '{label}.{domain}', type: MX, value: '10 feedback-smtp.{region}.amazonses.com'}
    placeholders?: {account: "where in the console to find it"}   # account-specific template values
    assumptions?: [...]                # guesses the audit states when this profile applies (templates)
    notes?: [...]                      # caveats, e.g. facts not verified from the provider's own docs
    references: [https://...]          # required; at least one source

Templates use `{name}` placeholders. Always available: `domain` (the From domain), `domain_dashed` (its dots
as dashes, e.g. Microsoft 365's DKIM target), `label` (the custom return-path label) and `envelope` (the
custom return-path domain). `region` is available when every host pattern yields one; anything else
(account ids, tokens, tenants) must be declared under `placeholders` with where the user finds the value.
`render()` fills what it knows and leaves `<name>` for the rest, reporting those as missing.

A self-hosted relay (localhost, a bare host name, a host under the instance domain) is recognised by the
caller (target.py), not here: `recognise()` only matches the host patterns of the profiles.
"""

from __future__ import annotations

import difflib
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditor import paths
from auditor.errors import AuditorError

KINDS = ("relay", "mailbox", "self-hosted")
TLS_MODES = ("starttls", "implicit", "none")
SPF_WHERE = ("envelope", "custom-envelope", "provider", "own-ip")
DKIM_SCHEMES = ("fixed", "cname", "per-account")
RECORD_TYPES = ("TXT", "CNAME", "MX", "A", "AAAA")
SELF_HOSTED_ID = "self-hosted"
# Placeholders every template may use; `region` joins them when every host pattern yields a region.
BUILTIN_PLACEHOLDERS = frozenset({"domain", "domain_dashed", "label", "envelope"})
_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


# -- The model ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostPattern:
    pattern: str
    regex: re.Pattern[str]
    groups: dict[str, str] = field(default_factory=dict)
    from_domains: tuple[str, ...] = ()
    examples: dict[str, str] = field(default_factory=dict)  # host -> expected region ("" = none)

    def match(self, host: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(host)
        if found is None:
            return None
        values = dict(self.groups)
        values.update({k: v for k, v in found.groupdict().items() if v is not None})
        return values


@dataclass(frozen=True)
class PortMode:
    port: int
    tls: str  # starttls | implicit | none


@dataclass(frozen=True)
class LoginConvention:
    hint: str
    pattern: str | None = None

    def fits(self, login: str) -> bool | None:
        """True/False when the provider has a login form; None when any login is acceptable."""
        if self.pattern is None:
            return None
        return re.fullmatch(self.pattern, login) is not None


@dataclass(frozen=True)
class SpfRequirement:
    where: str  # envelope | custom-envelope | provider | own-ip
    include: str | None = None  # template
    accepted: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class DkimScheme:
    scheme: str  # fixed | cname | per-account
    d_domain: str  # "from" or a provider domain
    selectors: tuple[str, ...] = ()
    cname_target: str | None = None  # template
    target_suffixes: tuple[str, ...] = ()
    default_d_domain: str | None = None
    note: str | None = None

    def owns_target(self, target: str) -> bool:
        """Does a DKIM CNAME target point into this provider?"""
        target = target.lower().rstrip(".")
        return any(target == s or target.endswith("." + s) for s in self.target_suffixes)


@dataclass(frozen=True)
class CustomReturnPath:
    name: str  # template, e.g. "{label}.{domain}"
    label: str | None = None
    mx: str | None = None  # template
    mx_preference: int | None = None
    cname: str | None = None  # template
    spf: str | None = None  # template
    note: str | None = None


@dataclass(frozen=True)
class Envelope:
    default: str  # "from", "custom" or a provider domain
    custom: CustomReturnPath | None = None

    @property
    def aligned_by_default(self) -> bool:
        """The default Return-Path is the customer's own domain (or subdomain), so SPF can align."""
        return self.default in ("from", "custom")


@dataclass(frozen=True)
class RecordTemplate:
    purpose: str
    name: str
    type: str
    value: str


@dataclass(frozen=True)
class Rendered:
    text: str
    missing: tuple[str, ...] = ()  # placeholders left as <name>: account-specific values

    @property
    def placeholder(self) -> bool:
        return bool(self.missing)


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    kind: str
    description: str
    spf: SpfRequirement
    dkim: DkimScheme
    envelope: Envelope
    references: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    hosts: tuple[HostPattern, ...] = ()
    ports: tuple[PortMode, ...] = ()
    tls_required: bool = False
    login: LoginConvention | None = None
    auth_hints: tuple[str, ...] = ()
    records: tuple[RecordTemplate, ...] = ()
    placeholders: dict[str, str] = field(default_factory=dict)  # name -> where to find the value
    assumptions: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    source: str = ""  # the YAML file it came from

    @property
    def self_hosted(self) -> bool:
        return self.kind == "self-hosted"

    def match(self, host: str, from_domain: str | None = None) -> dict[str, str] | None:
        host = normalise_host(host)
        for entry in self.hosts:
            if entry.from_domains and (from_domain or "").lower().rstrip(".") not in entry.from_domains:
                continue
            values = entry.match(host)
            if values is not None:
                return values
        return None

    def port_mode(self, port: int) -> PortMode | None:
        return next((p for p in self.ports if p.port == port), None)

    def render(self, template: str, values: dict[str, str] | None = None) -> Rendered:
        """Fill a template from `values` (domain, region, …); unknown placeholders stay as `<name>`."""
        known = dict(values or {})
        if "domain" in known and "domain_dashed" not in known:
            known["domain_dashed"] = known["domain"].rstrip(".").replace(".", "-")
        custom = self.envelope.custom
        if custom is not None:
            if "label" not in known and custom.label:
                known["label"] = custom.label
            if "envelope" not in known:
                envelope = _fill(custom.name, known)
                if not envelope.missing:
                    known["envelope"] = envelope.text
        return _fill(template, known)

    def spf_include(self, values: dict[str, str] | None = None) -> Rendered | None:
        return None if self.spf.include is None else self.render(self.spf.include, values)


def _fill(template: str, known: dict[str, str]) -> Rendered:
    missing: list[str] = []
    parts: list[str] = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(literal)
        if name is None:
            continue
        if known.get(name):
            parts.append(known[name])
        else:
            parts.append(f"<{name}>")
            if name not in missing:
                missing.append(name)
    return Rendered("".join(parts), tuple(missing))


def normalise_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


# -- Public API --------------------------------------------------------------------------------------------

_cache: dict[Path, list[Provider]] = {}


def default_dir() -> Path:
    return paths.rules_dir() / "providers"


def load_providers(dir: Path | None = None) -> list[Provider]:
    """Every profile in `dir` (default: the shipped `rules/providers/`), sorted by id; cached per folder."""
    folder = Path(dir) if dir is not None else default_dir()
    key = folder.resolve()
    if key not in _cache:
        files = sorted(folder.glob("*.yaml"))
        if not files:
            raise AuditorError(f"{folder}: no provider profiles (*.yaml) found")
        providers = [load_provider_file(f) for f in files]
        _check_unique(providers)
        _cache[key] = sorted(providers, key=lambda p: p.id)
    return list(_cache[key])


def recognise(
    host: str, providers: list[Provider] | None = None, *, from_domain: str | None = None
) -> tuple[Provider, dict[str, str]] | None:
    """The provider whose host patterns match `host`, with the match groups (e.g. {"region": "eu-west-1"}).

    None for unknown hosts, IP addresses and localhost: deciding that a relay is self-hosted is the caller's
    job. `from_domain` only matters for hosts shared by two profiles (smtp.gmail.com: a gmail.com From
    address is personal Gmail, anything else Google Workspace).
    """
    if providers is None:
        providers = load_providers()
    host = normalise_host(host)
    if not host:
        return None
    general: tuple[Provider, dict[str, str]] | None = None
    for provider in providers:
        for entry in provider.hosts:
            values = entry.match(host)
            if values is None:
                continue
            if entry.from_domains:
                if from_domain and from_domain.lower().rstrip(".") in entry.from_domains:
                    return provider, values
            elif general is None:
                general = (provider, values)
    return general


def get_provider(id: str, providers: list[Provider] | None = None) -> Provider:
    """The profile with this id or alias; an AuditorError listing the known ids otherwise."""
    if providers is None:
        providers = load_providers()
    wanted = id.strip().lower()
    for provider in providers:
        if wanted == provider.id or wanted in provider.aliases:
            return provider
    names = [p.id for p in providers] + [a for p in providers for a in p.aliases]
    close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.6)
    hint = ""
    if close:
        match = next(p.id for p in providers if close[0] == p.id or close[0] in p.aliases)
        hint = f" Did you mean {match!r}?"
    known = ", ".join(p.id for p in providers)
    raise AuditorError(f"unknown provider {id!r}.{hint} Known providers: {known}")


# -- Loading and validation --------------------------------------------------------------------------------


class _Map(dict):
    """A YAML mapping that remembers the line of each key."""

    line: int = 0
    key_lines: dict[str, int]


class _SchemaError(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


class _Loader(yaml.SafeLoader):
    pass


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise _SchemaError(line, f"keys must be text, not {key!r}")
        if key in result:
            raise _SchemaError(line, f"duplicate key {key!r}")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


def load_provider_file(path: Path) -> Provider:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditorError(f"{path}: cannot read the provider profile ({exc.__class__.__name__})") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except _SchemaError as exc:
        raise AuditorError(f"{path}:{exc.line}: {exc.message}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise AuditorError(f"{path}{line}: not valid YAML: {problem}") from None
    if not isinstance(data, _Map):
        raise AuditorError(f"{path}:1: a provider profile must be a mapping of keys to values")
    try:
        provider = _build(data, str(path))
    except _SchemaError as exc:
        raise AuditorError(f"{path}:{exc.line}: {exc.message}") from None
    if provider.id != path.stem:
        raise AuditorError(f"{path}:{data.key_lines['id']}: id {provider.id!r} must equal the file name")
    return provider


class _Reader:
    """Typed access to one mapping; every mistake names the line."""

    def __init__(self, data: Any, line: int, where: str, allowed: set[str], required: set[str] = frozenset()):
        if not isinstance(data, _Map):
            raise _SchemaError(line, f"{where} must be a mapping")
        self.data = data
        self.where = where
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise _SchemaError(data.key_lines[key], f"unknown key {key!r} in {where}{hint}")
        for key in sorted(required):
            if key not in data:
                raise _SchemaError(data.line, f"{where} is missing the required key {key!r}")

    def line(self, key: str) -> int:
        return self.data.key_lines.get(key, self.data.line)

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def text(self, key: str, choices: tuple[str, ...] | None = None) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise _SchemaError(self.line(key), f"{self.where}.{key} must be non-empty text")
        if choices is not None and value not in choices:
            raise _SchemaError(self.line(key), f"{self.where}.{key} must be one of {', '.join(choices)}")
        return value.strip()

    def opt_text(self, key: str) -> str | None:
        return self.text(key) if self.has(key) else None

    def integer(self, key: str) -> int | None:
        if not self.has(key):
            return None
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise _SchemaError(self.line(key), f"{self.where}.{key} must be a whole number")
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        if not self.has(key):
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            raise _SchemaError(self.line(key), f"{self.where}.{key} must be true or false")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        if not self.has(key):
            return ()
        value = self.data[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise _SchemaError(self.line(key), f"{self.where}.{key} must be a list of non-empty texts")
        return tuple(v.strip() for v in value)

    def text_map(self, key: str) -> dict[str, str]:
        if not self.has(key):
            return {}
        value = self.data[key]
        if not isinstance(value, _Map):
            raise _SchemaError(self.line(key), f"{self.where}.{key} must be a mapping")
        out: dict[str, str] = {}
        for k, v in value.items():
            if v is None:
                v = ""
            if not isinstance(v, str):
                raise _SchemaError(value.key_lines[k], f"{self.where}.{key}.{k} must be text")
            out[k] = v
        return out

    def items(self, key: str) -> list[tuple[Any, int]]:
        if not self.has(key):
            return []
        value = self.data[key]
        if not isinstance(value, list):
            raise _SchemaError(self.line(key), f"{self.where}.{key} must be a list")
        return [(item, getattr(item, "line", self.line(key))) for item in value]

    def sub(self, key: str, allowed: set[str], required: set[str] = frozenset()) -> _Reader | None:
        if not self.has(key):
            return None
        return _Reader(self.data[key], self.line(key), f"{self.where}.{key}", allowed, required)


_TOP_KEYS = {
    "id", "name", "kind", "description", "aliases", "hosts", "ports", "tls_required", "login", "auth_hints",
    "spf", "dkim", "envelope", "records", "placeholders", "assumptions", "notes", "references",
}  # fmt: skip


def _build(data: _Map, source: str) -> Provider:
    top = _Reader(data, 1, "profile", _TOP_KEYS, {"id", "name", "kind", "description", "spf", "dkim", "envelope",
                                                  "references"})  # fmt: skip
    provider_id = top.text("id")
    if not _ID.fullmatch(provider_id):
        raise _SchemaError(top.line("id"), "id must be lowercase letters, digits and dashes")
    aliases = tuple(a.lower() for a in top.texts("aliases"))

    hosts = tuple(_host(item, line) for item, line in top.items("hosts"))
    ports = tuple(_port(item, line) for item, line in top.items("ports"))

    login = None
    if (r := top.sub("login", {"pattern", "hint"}, {"hint"})) is not None:
        pattern = r.opt_text("pattern")
        if pattern is not None:
            _compile(pattern, r.line("pattern"))
        login = LoginConvention(hint=r.text("hint"), pattern=pattern)

    r = top.sub("spf", {"include", "accepted", "where", "note"}, {"where"})
    assert r is not None
    spf = SpfRequirement(
        r.text("where", SPF_WHERE), r.opt_text("include"), r.texts("accepted"), r.opt_text("note")
    )

    r = top.sub("dkim", {"scheme", "selectors", "cname_target", "target_suffixes", "d_domain",
                         "default_d_domain", "note"}, {"scheme", "d_domain"})  # fmt: skip
    assert r is not None
    dkim = DkimScheme(
        scheme=r.text("scheme", DKIM_SCHEMES),
        d_domain=r.text("d_domain"),
        selectors=r.texts("selectors"),
        cname_target=r.opt_text("cname_target"),
        target_suffixes=tuple(s.lower().rstrip(".") for s in r.texts("target_suffixes")),
        default_d_domain=r.opt_text("default_d_domain"),
        note=r.opt_text("note"),
    )
    if dkim.scheme == "fixed" and dkim.d_domain == "from" and not dkim.selectors:
        raise _SchemaError(r.line("scheme"), "dkim.scheme fixed with d_domain from needs dkim.selectors")
    if dkim.scheme == "cname" and not (dkim.cname_target and dkim.target_suffixes):
        raise _SchemaError(
            r.line("scheme"), "dkim.scheme cname needs dkim.cname_target and dkim.target_suffixes"
        )

    r = top.sub("envelope", {"default", "custom"}, {"default"})
    assert r is not None
    custom = None
    if (
        c := r.sub("custom", {"name", "label", "mx", "mx_preference", "cname", "spf", "note"}, {"name"})
    ) is not None:
        custom = CustomReturnPath(
            name=c.text("name"), label=c.opt_text("label"), mx=c.opt_text("mx"),
            mx_preference=c.integer("mx_preference"), cname=c.opt_text("cname"), spf=c.opt_text("spf"),
            note=c.opt_text("note"),
        )  # fmt: skip
    envelope = Envelope(r.text("default"), custom)
    if envelope.default == "custom" and custom is None:
        raise _SchemaError(r.line("default"), "envelope.default custom needs envelope.custom")

    records = []
    for item, line in top.items("records"):
        rr = _Reader(
            item,
            line,
            "records[]",
            {"purpose", "name", "type", "value"},
            {"purpose", "name", "type", "value"},
        )
        records.append(
            RecordTemplate(
                rr.text("purpose"), rr.text("name"), rr.text("type", RECORD_TYPES), rr.text("value")
            )
        )

    references = top.texts("references")
    if not references:
        raise _SchemaError(top.line("references"), "references must list at least one source")

    provider = Provider(
        id=provider_id,
        name=top.text("name"),
        kind=top.text("kind", KINDS),
        description=" ".join(top.text("description").split()),
        spf=spf,
        dkim=dkim,
        envelope=envelope,
        references=references,
        aliases=aliases,
        hosts=hosts,
        ports=ports,
        tls_required=top.boolean("tls_required"),
        login=login,
        auth_hints=top.texts("auth_hints"),
        records=tuple(records),
        placeholders=top.text_map("placeholders"),
        assumptions=top.texts("assumptions"),
        notes=top.texts("notes"),
        source=source,
    )
    _check_placeholders(provider, top)
    return provider


def _host(item: Any, line: int) -> HostPattern:
    r = _Reader(
        item, line, "hosts[]", {"pattern", "groups", "from_domains", "examples"}, {"pattern", "examples"}
    )
    pattern = r.text("pattern")
    regex = _compile(pattern, r.line("pattern"))
    examples = r.text_map("examples")
    if not examples:
        raise _SchemaError(r.line("examples"), "hosts[].examples must name at least one host")
    entry = HostPattern(
        pattern, regex, r.text_map("groups"), tuple(d.lower() for d in r.texts("from_domains")), examples
    )
    for host, region in examples.items():
        found = entry.match(normalise_host(host))
        if found is None:
            raise _SchemaError(r.line("examples"), f"example host {host!r} does not match the pattern")
        if found.get("region", "") != region:
            raise _SchemaError(
                r.line("examples"),
                f"example host {host!r} gives region {found.get('region')!r}, not {region!r}",
            )
    return entry


def _port(item: Any, line: int) -> PortMode:
    r = _Reader(item, line, "ports[]", {"port", "tls"}, {"port", "tls"})
    port = r.integer("port")
    if port is None or not 0 < port < 65536:
        raise _SchemaError(r.line("port"), "ports[].port must be a number from 1 to 65535")
    return PortMode(port, r.text("tls", TLS_MODES))


def _compile(pattern: str, line: int) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise _SchemaError(line, f"not a valid regular expression {pattern!r}: {exc}") from None


def _check_placeholders(provider: Provider, top: _Reader) -> None:
    """Every `{name}` in a template is known: built in, the host's region, or declared with a hint."""
    allowed = set(BUILTIN_PLACEHOLDERS) | set(provider.placeholders)
    if provider.hosts and all("region" in h.regex.groupindex or "region" in h.groups for h in provider.hosts):
        allowed.add("region")
    templates: list[tuple[str, str]] = []
    if provider.spf.include:
        templates.append(("spf", provider.spf.include))
    templates += [("dkim", t) for t in (provider.dkim.cname_target, provider.dkim.default_d_domain) if t]
    custom = provider.envelope.custom
    if custom is not None:
        templates += [("envelope", t) for t in (custom.name, custom.mx, custom.cname, custom.spf) if t]
    for record in provider.records:
        templates += [("records", record.name), ("records", record.value)]
    templates += [("assumptions", a) for a in provider.assumptions]
    for key, template in templates:
        try:
            names = [n for _, n, _, _ in string.Formatter().parse(template) if n is not None]
        except ValueError as exc:
            raise _SchemaError(top.line(key), f"bad template {template!r}: {exc}") from None
        for name in names:
            if name not in allowed:
                raise _SchemaError(
                    top.line(key),
                    f"template {template!r} uses {{{name}}}, which is neither built in "
                    f"({', '.join(sorted(BUILTIN_PLACEHOLDERS))}) nor declared under placeholders",
                )


def _check_unique(providers: list[Provider]) -> None:
    seen: dict[str, str] = {}
    for provider in providers:
        for name in (provider.id, *provider.aliases):
            if name in seen and seen[name] != provider.id:
                raise AuditorError(f"{provider.source}: {name!r} is already used by provider {seen[name]!r}")
            seen[name] = provider.id
