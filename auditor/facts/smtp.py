"""What the app's mail settings say, judged without DNS or network: the facts the `smtp.*` rules read.

Every fact here is about the settings as the app will use them. Where a rule's message must name the line
to change, the facts carry the setting's key and line (from `SmtpSettings.sources`). Nothing secret is
copied: the login and password only become `login_present` / `password_present`, and the login's shape
(`login_format_ok`), never its text, because some providers use an API token as the login.
"""

from __future__ import annotations

from email.utils import getaddresses, parseaddr

from email_validator import EmailNotValidError, validate_email

from auditor.facts.model import SmtpFacts
from auditor.target import Target, is_local_relay

WELL_KNOWN_PORTS = {465: "implicit", 587: "starttls", 2525: "starttls", 25: "starttls"}
# The usual port for each TLS mode, when the provider's profile does not say (RFC 8314: 465, RFC 6409: 587).
USUAL_PORT = {"implicit": 465, "starttls": 587}
# Authentication methods the apps pass on to the mail library (Mastodon: plain, login, cram_md5, none).
KNOWN_AUTH_METHODS = frozenset({"plain", "login", "cram_md5", "none", "xoauth2"})
# Relays that can authorise the sending server by its IP address instead of a login
# (Google Workspace SMTP relay service: https://support.google.com/a/answer/2956491).
IP_AUTH_HOSTS = frozenset({"smtp-relay.gmail.com"})
# Host names that only exist on this machine or inside a private network.
LOCAL_SUFFIXES = ("localhost", "localdomain", "local", "internal", "lan", "home.arpa")


def from_problem(raw: str | None) -> str | None:
    """Plain-words problem with a From setting, or None. Never raises.

    One of: "not set", "quotes" (quote characters the app keeps, e.g. from docker-compose), "no domain",
    "localhost" (a name that exists only on this machine or network) or "invalid".
    """
    if raw is None or not raw.strip():
        return "not set"
    text = raw.strip()
    if _stray_quotes(text):
        return "quotes"
    _, address = parseaddr(text)
    if not address:  # the parser gave up: `notifications@`, `Mastodon <notifications@>`, `<>`
        return "no domain" if "@" not in text or text.rstrip(">").endswith("@") else "invalid"
    if address not in text or ("<" in text and not text.endswith(">")) or len(getaddresses([text])) > 1:
        return "invalid"  # the parser had to repair it (`n@exa mple.org`), or more than one address
    if "@" not in address:
        return "no domain"
    domain = address.rpartition("@")[2].lower().rstrip(".")
    if not domain:
        return "no domain"
    if "." not in domain or any(domain == s or domain.endswith("." + s) for s in LOCAL_SUFFIXES):
        return "localhost"
    try:
        validate_email(address, check_deliverability=False, allow_smtputf8=True, test_environment=True)
    except EmailNotValidError:
        return "invalid"
    return None


def _stray_quotes(text: str) -> bool:
    """Quotes that are not RFC 5322 quoting: the whole value wrapped, an odd `"`, or a `'` at either end.

    `"Mastodon" <notifications@example.org>` is a quoted display name and fine; `"notifications@example.org"`
    (docker-compose kept the quotes) and `"Mastodon <notifications@example.org>` are not.
    """
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return True
    if text.count('"') % 2 == 1:
        return True
    return text[0] == "'" or text[-1] == "'"


def collect_smtp(target: Target) -> SmtpFacts:
    settings = target.settings
    relay = target.relay
    facts = SmtpFacts()
    facts.from_raw = target.from_raw
    facts.from_address = target.from_address
    if settings is not None:
        _read_settings(facts, settings)
    elif target.from_raw is not None:
        facts.from_problem = from_problem(target.from_raw)
        facts.from_valid = facts.from_problem is None
    if relay is None or (facts.transport is not None and facts.transport != "smtp"):
        return facts  # no relay, or the app hands mail to sendmail or an API: the relay settings are unused
    facts.configured = True
    facts.host, facts.port = relay.host, relay.port
    facts.tls_from_settings = settings is not None and settings.tls is not None
    facts.tls = settings.tls if facts.tls_from_settings else relay.tls
    facts.remote = not is_local_relay(relay.host, target.domain)
    if settings is not None and relay.port is not None and relay.port == settings.port:
        _where(facts, "port", settings.sources.get("port"))
    provider = target.provider
    facts.provider_known = provider is not None
    facts.provider_id = provider.id if provider is not None else None
    provider_modes: dict[int, str] = {}
    if provider is not None:
        provider_modes = {p.port: p.tls for p in provider.ports}
        facts.provider_ports = list(provider_modes)
    facts.port_tls = provider_modes.get(relay.port or 0) or WELL_KNOWN_PORTS.get(relay.port or 0)
    facts.tls_mismatch = _tls_mismatch(facts.port, facts.tls, facts.port_tls)
    facts.alternative_port = _alternative_port(facts.tls, provider_modes)
    facts.plaintext = facts.remote and facts.tls == "none"
    facts.verify_none = facts.remote and facts.verify == "none"
    facts.port_25_remote = facts.remote and facts.port == 25
    if provider is not None and provider.login is not None and settings is not None and settings.login:
        facts.login_format_ok = provider.login.fits(settings.login)
        facts.login_hint = " ".join(provider.login.hint.split())
    if settings is not None:
        facts.auth_problem_kind, facts.auth_problem = _auth_problem(facts, provider)
    return facts


def _read_settings(facts: SmtpFacts, settings) -> None:
    facts.settings_file = settings.config_file
    facts.from_raw = settings.from_address  # what the app will use, even when --from names another address
    facts.app = settings.app
    facts.transport = settings.transport
    facts.from_problem = from_problem(settings.from_address)
    facts.from_valid = facts.from_problem is None
    facts.unknown_settings = [
        f"{key} (did you mean {suggestion}?)" if suggestion else key
        for key, suggestion in settings.unknown_keys
    ]
    facts.verify = settings.verify or "peer"
    facts.starttls_required = settings.starttls_required
    facts.login_present = bool(settings.login)
    facts.password_present = bool(settings.secret)
    facts.auth_method = settings.auth_method
    sources = settings.sources
    decided = settings.tls_source
    if decided is None or decided.line is None:
        decided = sources.get("tls") if sources.get("tls") and sources["tls"].line is not None else None
    _where(facts, "tls", decided)
    facts.tls_flag_key = sources["tls"].key if "tls" in sources else None
    facts.starttls_key = sources["starttls_required"].key if "starttls_required" in sources else None
    _where(facts, "verify", sources.get("verify"))
    _where(facts, "from", sources.get("from_address"))
    _where(facts, "login", sources.get("login"))
    facts.auth_setting_key = sources["auth_method"].key if "auth_method" in sources else None


def _where(facts: SmtpFacts, name: str, source) -> None:
    if source is not None:
        setattr(facts, f"{name}_setting_key", source.key)
        setattr(facts, f"{name}_setting_line", source.line)


def _tls_mismatch(port: int | None, tls: str | None, expected: str | None) -> str | None:
    if port is None or tls is None or expected is None:
        return None
    if expected == "implicit" and tls != "implicit":
        used = "STARTTLS" if tls == "starttls" else "no TLS at all"
        return f"port {port} expects TLS from the first byte (implicit TLS), but the settings use {used}"
    if expected in ("starttls", "none") and tls == "implicit":
        return f"port {port} expects STARTTLS, but the settings start TLS at once (implicit TLS)"
    return None


def _alternative_port(tls: str | None, provider_modes: dict[int, str]) -> int | None:
    """The port that fits the TLS mode already set: the provider's when it offers one, else the usual one."""
    if tls not in USUAL_PORT:
        return None
    if provider_modes:
        usual = USUAL_PORT[tls]
        if provider_modes.get(usual) == tls:
            return usual
        return next((port for port, mode in provider_modes.items() if mode == tls), None)
    return USUAL_PORT[tls]


def _auth_problem(facts: SmtpFacts, provider) -> tuple[str, str] | tuple[None, None]:
    """(kind, plain words) when authentication is set up so that it cannot work with this relay.

    Kinds: unknown-method, login-unused, auth-off, no-login, no-password, unencrypted. (None, None) when it
    can work, or when we cannot tell (a relay on this machine often needs no login at all).
    """
    if not facts.remote:
        return None, None
    method = (facts.auth_method or "").lower()
    key = facts.auth_setting_key or "the authentication method"
    if method and method not in KNOWN_AUTH_METHODS:
        return (
            "unknown-method",
            f"{key} is {facts.auth_method!r}, which is not a method the mail library knows",
        )
    if method == "none" and facts.login_present:
        return (
            "login-unused",
            "a login is set but authentication is turned off, so the relay will refuse the mail",
        )
    needs_login = provider is not None and not provider.self_hosted and facts.host not in IP_AUTH_HOSTS
    if needs_login and method == "none":
        return (
            "auth-off",
            f"authentication is turned off, but {provider.name} only accepts mail after a login",
        )
    if needs_login and not facts.login_present:
        return "no-login", f"{provider.name} needs a login, and none is set"
    if method != "none" and facts.login_present and not facts.password_present:
        return "no-password", "a login is set but the password is empty, so the login will be refused"
    if method in ("plain", "login") and facts.login_present and facts.tls == "none":
        return "unencrypted", "the password would be sent unencrypted (AUTH without TLS), which relays refuse"
    return None, None
