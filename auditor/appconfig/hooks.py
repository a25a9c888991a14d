"""Per-app logic too procedural for the declarative profiles, one small named function per app.

A profile names its hook (`hook: mastodon`); the hook runs after the declarative fields and TLS rules
and may refine them. Hooks must not put secret values into notes.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, unquote, urlsplit

from auditor.appconfig.mapping import Reading
from auditor.appconfig.model import SmtpSettings

_STARTTLS_VALUES = ("auto", "always", "never")


def mastodon(reading: Reading) -> None:
    """Notes for Mastodon's TLS flags, which compare exact strings and override each other.

    The TLS mode itself comes from the profile's rules; these are the traps around them
    (config/email.yml, lib/mastodon/email_configuration_helper.rb, mail gem smtp.rb).
    """
    settings = reading.settings
    _mastodon_relay(reading, settings, "")
    if settings.bulk is not None:
        _mastodon_relay(reading, settings.bulk, "BULK_")
        settings.notes.append(
            "BULK_SMTP_SERVER is set: Mastodon sends announcements and terms-of-service mails through a "
            "second relay with the same From address"
        )
    method = reading.text("SMTP_DELIVERY_METHOD")
    if method and method != "smtp":
        settings.notes.append(
            f"SMTP_DELIVERY_METHOD={method}: Mastodon does not use the SMTP relay settings; mail leaves "
            f"through {method} on this machine"
        )


def _mastodon_relay(reading: Reading, settings: SmtpSettings, prefix: str) -> None:
    starttls = reading.text(f"{prefix}SMTP_ENABLE_STARTTLS")
    if starttls is not None and starttls not in _STARTTLS_VALUES:
        settings.notes.append(
            f"{prefix}SMTP_ENABLE_STARTTLS is {starttls!r}, not auto, always or never: Mastodon ignores it "
            f"and falls back to {prefix}SMTP_ENABLE_STARTTLS_AUTO"
        )
    elif starttls is not None and reading.has(f"{prefix}SMTP_ENABLE_STARTTLS_AUTO"):
        settings.notes.append(
            f"{prefix}SMTP_ENABLE_STARTTLS_AUTO is ignored because {prefix}SMTP_ENABLE_STARTTLS is set"
        )
    for flag in (f"{prefix}SMTP_TLS", f"{prefix}SMTP_SSL", f"{prefix}SMTP_ENABLE_STARTTLS_AUTO"):
        value = reading.text(flag)
        if (
            value is not None
            and value not in ("true", "false")
            and value.strip().lower() in ("true", "false", "1", "0", "yes", "no")
        ):
            settings.notes.append(
                f"{flag}={value}: Mastodon compares with the exact lowercase text 'true'/'false', "
                f"so this value counts as not set"
            )
    implicit = "true" in (reading.text(f"{prefix}SMTP_TLS"), reading.text(f"{prefix}SMTP_SSL"))
    if implicit and starttls == "always":
        settings.notes.append(
            f"{prefix}SMTP_TLS/SMTP_SSL and {prefix}SMTP_ENABLE_STARTTLS=always are both set: recent Mastodon "
            f"(mail gem 2.9) refuses to send (':enable_starttls and :tls are mutually exclusive'); "
            f"keep only one"
        )
    if reading.text(f"{prefix}SMTP_AUTH_METHOD") == "none" and reading.text(f"{prefix}SMTP_LOGIN"):
        settings.notes.append(
            f"{prefix}SMTP_AUTH_METHOD=none: Mastodon does not log in, so {prefix}SMTP_LOGIN and "
            f"{prefix}SMTP_PASSWORD are not used"
        )


def synapse(reading: Reading) -> None:
    """Synapse: the default port depends on force_tls; impossible flag combinations stop Synapse."""
    settings = reading.settings
    if not reading.present("email"):
        settings.notes.append("homeserver.yaml has no email section: Synapse sends no mail")
    force_tls = reading.text("email.force_tls") == "true"
    if not reading.text("email.smtp_port"):
        settings.port = 465 if force_tls else 25
        why = " because force_tls is on" if force_tls else ""
        settings.notes.append(f"email.smtp_port not set: Synapse's default {settings.port} applies{why}")
    if reading.text("email.enable_tls") == "false":
        for flag in ("force_tls", "require_transport_security"):
            if reading.text(f"email.{flag}") == "true":
                settings.notes.append(
                    f"email.{flag} needs email.enable_tls: Synapse refuses to start with this combination"
                )


def lemmy(reading: Reading) -> None:
    """Lemmy: ≤0.19 uses `smtp_server: host:port` and `tls_type`; 1.0 uses one lettre URL in `connection`."""
    settings = reading.settings
    if not reading.present("email"):
        settings.notes.append("lemmy.hjson has no email section: Lemmy sends no mail")
        return
    server = reading.text("email.smtp_server")
    if server is not None and not reading.has("email.connection"):
        host, sep, port = server.rpartition(":")
        source = reading.source("email.smtp_server")
        if sep and port.isdigit():
            settings.host, settings.port = host.strip("[]"), int(port)
        else:
            settings.host, settings.port = server, None
            settings.notes.append("email.smtp_server has no port: Lemmy expects host:port")
        settings.sources["host"] = settings.sources["port"] = source
    connection = reading.text("email.connection")
    if connection is not None:
        _lemmy_connection(reading, connection)


def _lemmy_connection(reading: Reading, connection: str) -> None:
    """Split a lettre SMTP URL. The URL holds the password, so nothing from it goes into a note."""
    settings = reading.settings
    source = reading.source("email.connection")
    try:
        url = urlsplit(connection)
        port = url.port
    except ValueError:
        settings.notes.append(
            "email.connection is not a valid smtp:// or smtps:// URL; Lemmy cannot send mail"
        )
        return
    for name in ("host", "port", "login", "secret", "tls"):
        settings.sources[name] = source
    settings.host = url.hostname
    settings.login = unquote(url.username) if url.username else None
    settings.secret = unquote(url.password) if url.password else None
    tls_param = (parse_qs(url.query).get("tls") or [None])[0]
    if url.scheme == "smtps":
        settings.tls, settings.starttls_required = "implicit", False
        settings.port = port or 465
    elif url.scheme == "smtp":
        if tls_param in ("required", "opportunistic"):
            settings.tls, settings.starttls_required = "starttls", tls_param == "required"
        else:
            settings.tls, settings.starttls_required = "none", False
        settings.port = port or (587 if tls_param == "required" else 25)
    else:
        settings.tls = None
        settings.notes.append(
            "email.connection does not start with smtp:// or smtps://; Lemmy cannot send mail"
        )
        return
    settings.notes.append(
        "email.connection read as a lettre SMTP URL (smtps:// = implicit TLS; smtp:// with ?tls=required or "
        "?tls=opportunistic = STARTTLS; plain smtp:// = no TLS)"
    )
    if port is None:
        settings.notes.append(f"email.connection has no port: lettre's default {settings.port} applies")


_GITEA_PROTOCOL_BY_PORT = {25: "smtp", 465: "smtps", 587: "smtp+starttls"}
_GITEA_PORT_BY_PROTOCOL = {"smtp": 25, "smtps": 465, "smtp+starttls": 587}


def gitea(reading: Reading) -> None:
    """Gitea/Forgejo: PROTOCOL and SMTP_PORT fill each other in (modules/setting/mail.go); ≤1.17 used HOST."""
    settings = reading.settings
    if reading.text("mailer.ENABLED") not in ("true", "1"):
        settings.notes.append("[mailer] ENABLED is not true: Gitea sends no mail")
    legacy = reading.text("mailer.HOST")
    if legacy and not reading.text("mailer.SMTP_ADDR"):
        host, _, port = legacy.rpartition(":")
        settings.host = host or legacy
        settings.port = int(port) if port.isdigit() else settings.port
        settings.sources["host"] = settings.sources["port"] = reading.source("mailer.HOST")
        settings.notes.append(
            "[mailer] HOST is the Gitea ≤1.17 setting; Gitea 1.18+ reads SMTP_ADDR and SMTP_PORT"
        )
    protocol = reading.text("mailer.PROTOCOL")
    if protocol == "smtp+startls":  # Gitea accepts this historical misspelling
        protocol = "smtp+starttls"
    source = reading.source("mailer.PROTOCOL")
    if protocol is None:
        if reading.text("mailer.IS_TLS_ENABLED") == "true":
            protocol = "smtps"
        elif settings.host and any(c in settings.host for c in "/\\"):
            protocol = "smtp+unix"
        elif settings.port in _GITEA_PROTOCOL_BY_PORT:
            protocol = _GITEA_PROTOCOL_BY_PORT[settings.port]
            settings.notes.append(
                f"[mailer] PROTOCOL not set: Gitea infers {protocol} from port {settings.port}"
            )
        else:
            protocol = "smtps"
            settings.notes.append(
                "[mailer] PROTOCOL not set and the port is not 25, 465 or 587: Gitea assumes smtps"
            )
    if settings.port is None and protocol in _GITEA_PORT_BY_PROTOCOL:
        settings.port = _GITEA_PORT_BY_PROTOCOL[protocol]
        settings.notes.append(f"[mailer] SMTP_PORT not set: Gitea uses {settings.port} for {protocol}")
    settings.sources["tls"] = source
    settings.transport = "smtp"
    if protocol == "smtps":
        settings.tls, settings.starttls_required = "implicit", False
    elif protocol == "smtp+starttls":
        # Gitea warns and continues in plain text when the server offers no STARTTLS.
        settings.tls, settings.starttls_required = "starttls", False
    elif protocol in ("smtp", "smtp+unix"):
        settings.tls, settings.starttls_required = "none", False
    elif protocol in ("sendmail", "dummy"):
        settings.tls, settings.transport = None, protocol
        settings.notes.append(f"[mailer] PROTOCOL={protocol}: the SMTP relay settings are not used")
    else:
        settings.tls = None
        settings.notes.append(f"[mailer] PROTOCOL={protocol} is not a protocol Gitea knows")


HOOKS: dict[str, Callable[[Reading], None]] = {
    "mastodon": mastodon,
    "synapse": synapse,
    "lemmy": lemmy,
    "gitea": gitea,
}
