"""What the app's mail settings say, judged without DNS or network: the facts the `smtp.*` rules read."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from auditor.facts.model import SmtpFacts
from auditor.target import Target, is_local_relay

WELL_KNOWN_PORTS = {465: "implicit", 587: "starttls", 2525: "starttls", 25: "starttls"}


def from_problem(raw: str | None) -> str | None:
    """Plain-words problem with a From setting, or None. Never raises."""
    if raw is None or not raw.strip():
        return "not set"
    text = raw.strip()
    if text[0] in "'\"" or text[-1] in "'\"":
        return "quotes"  # docker-compose keeps quotes that a shell would have removed
    from email.utils import parseaddr

    _, address = parseaddr(text)
    address = address or text
    if "@" not in address:
        return "no domain"
    domain = address.rpartition("@")[2].lower().rstrip(".")
    if not domain:
        return "no domain"
    if domain == "localhost" or domain.startswith("localhost.") or "." not in domain:
        return "localhost"
    try:
        validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return "invalid"
    return None


def collect_smtp(target: Target) -> SmtpFacts:
    settings = target.settings
    relay = target.relay
    facts = SmtpFacts()
    facts.from_raw = target.from_raw
    facts.from_address = target.from_address
    if settings is not None:
        facts.settings_file = settings.config_file
        facts.app = settings.app
        facts.from_problem = from_problem(settings.from_address)
        facts.from_valid = facts.from_problem is None
        facts.unknown_settings = [
            f"{key} (did you mean {suggestion}?)" if suggestion else key for key, suggestion in settings.unknown_keys
        ]
        facts.verify = settings.verify or "peer"
        facts.starttls_required = settings.starttls_required
        facts.login_present = bool(settings.login)
        facts.auth_method = settings.auth_method
    elif target.from_raw is not None:
        facts.from_problem = from_problem(target.from_raw)
        facts.from_valid = facts.from_problem is None
    if relay is None:
        return facts
    facts.configured = True
    facts.host, facts.port = relay.host, relay.port
    facts.tls = settings.tls if settings is not None and settings.tls else relay.tls
    facts.remote = not is_local_relay(relay.host, target.domain)
    provider = target.provider
    facts.provider_known = provider is not None
    facts.provider_id = provider.id if provider is not None else None
    if provider is not None:
        facts.provider_ports = [p.port for p in provider.ports]
        mode = provider.port_mode(relay.port) if relay.port else None
        facts.port_tls = mode.tls if mode else WELL_KNOWN_PORTS.get(relay.port or 0)
    else:
        facts.port_tls = WELL_KNOWN_PORTS.get(relay.port or 0)
    facts.tls_mismatch = _tls_mismatch(facts.port, facts.tls, facts.port_tls)
    facts.plaintext = facts.remote and facts.tls == "none"
    facts.verify_none = facts.remote and facts.verify == "none"
    facts.port_25_remote = facts.remote and facts.port == 25
    if provider is not None and provider.login is not None and settings is not None and settings.login:
        facts.login_format_ok = provider.login.fits(settings.login)
        facts.login_hint = provider.login.hint
    facts.auth_problem = _auth_problem(facts, provider)
    return facts


def _tls_mismatch(port: int | None, tls: str | None, expected: str | None) -> str | None:
    if port is None or tls is None or expected is None:
        return None
    if expected == "implicit" and tls != "implicit":
        return f"port {port} expects TLS from the first byte (implicit TLS), but the settings use {tls}"
    if expected == "starttls" and tls == "implicit":
        return f"port {port} expects STARTTLS, but the settings start TLS at once (implicit TLS)"
    return None


def _auth_problem(facts: SmtpFacts, provider) -> str | None:
    if not facts.remote:
        return None
    method = (facts.auth_method or "").lower()
    if method == "none" and facts.login_present:
        return "a login is set but authentication is turned off, so the relay will refuse the mail"
    if provider is not None and not provider.self_hosted and not facts.login_present:
        return f"{provider.name} needs a login, and none is set"
    if method in ("plain", "login") and facts.login_present and facts.tls == "none":
        return "the password would be sent unencrypted (AUTH PLAIN/LOGIN without TLS)"
    return None
