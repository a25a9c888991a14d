"""The probe's plain-English side: which setting line to change, and what a server's refusal means."""

from __future__ import annotations

import re

from auditor.appconfig.model import SmtpSettings
from auditor.probe import model

# Mastodon's keys for the model's fields, used when the settings reader did not record where a value came
# from. Another app's keys come through `SmtpSettings.sources`.
MASTODON_KEYS = {
    "host": "SMTP_SERVER",
    "port": "SMTP_PORT",
    "tls": "SMTP_TLS",
    "starttls_required": "SMTP_ENABLE_STARTTLS",
    "verify": "SMTP_OPENSSL_VERIFY_MODE",
    "ca_file": "SMTP_CA_FILE",
    "login": "SMTP_LOGIN",
    "secret": "SMTP_PASSWORD",
    "auth_method": "SMTP_AUTH_METHOD",
    "from_address": "SMTP_FROM_ADDRESS",
    "return_path": "SMTP_RETURN_PATH",
    "helo_domain": "SMTP_DOMAIN",
}


def key_of(settings: SmtpSettings, field: str) -> str:
    source = settings.sources.get(field)
    return source.key if source is not None else MASTODON_KEYS.get(field, field.upper())


def change(
    settings: SmtpSettings, field: str, value: str, current: object = None, model_value: str | None = None
) -> model.SettingChange:
    source = settings.sources.get(field)
    return model.SettingChange(
        field=field,
        key=key_of(settings, field),
        value=value,
        model_value=value if model_value is None else model_value,
        current=None if current is None else str(current),
        file=source.file if source is not None else settings.config_file,
        line=source.line if source is not None else None,
    )


def tls_changes(settings: SmtpSettings, to_mode: str) -> list[model.SettingChange]:
    """Setting lines that make the app use `to_mode` ("implicit" or "starttls")."""
    changes: list[model.SettingChange] = []
    if to_mode == "implicit":
        changes.append(change(settings, "tls", "true", current=_tls_flag(settings), model_value="implicit"))
        if settings.starttls_required:
            # The mail gem refuses STARTTLS "always" together with implicit TLS.
            changes.append(
                change(settings, "starttls_required", "auto", current="always", model_value="false")
            )
    elif to_mode == "starttls":
        if settings.tls == "implicit":
            changes.append(change(settings, "tls", "false", current="true", model_value="starttls"))
        changes.append(
            change(
                settings, "starttls_required", "always", current=_starttls_value(settings), model_value="true"
            )
        )
    return changes


def _tls_flag(settings: SmtpSettings) -> str | None:
    return "true" if settings.tls == "implicit" else None


def _starttls_value(settings: SmtpSettings) -> str | None:
    if settings.tls == "none":
        return "never"
    return "always" if settings.starttls_required else None


def tls_setting_words(settings: SmtpSettings, to_mode: str) -> str:
    return " and ".join(f"{c.key}={c.value}" for c in tls_changes(settings, to_mode))


# -- login -----------------------------------------------------------------------------------------------

AUTH_CODE_WORDS = {
    535: "the server refused the login or the password",
    534: "the server wants a different kind of password (an app password) or a sign-in on the web first",
    530: "the server wants TLS, or a different login, before it accepts this one",
    538: "the server wants an encrypted connection for this login method",
    454: "the server could not check the login just now (a temporary failure on its side); try again later",
    504: "the server does not support this login method",
    503: "the server does not accept a login here (AUTH is not enabled on it, or not in this state)",
    502: "the server does not know the AUTH command: it takes no logins",
    500: "the server does not know the AUTH command: it takes no logins",
    501: "the server refused the form of the login (some providers want the full e-mail address)",
}
AUTH_UNSUPPORTED_CODES = {500, 502, 503, 504}

GENERIC_AUTH_HINTS = [
    "Check SMTP_LOGIN and SMTP_PASSWORD against the provider's SMTP credentials page.",
    "A password with special characters ($, #, quotes, spaces) must be quoted in .env.production; "
    "docker-compose env_file keeps quotes literally, so there it must not be quoted.",
]

# Built-in hints for the relays people most often get wrong, used when no provider profile gave hints.
_BUILTIN_HINTS: list[tuple[re.Pattern[str], str, list[str]]] = [
    (
        re.compile(r"^smtp(-relay)?\.gmail\.com$"),
        "Google",
        [
            "Google refuses the account's normal password over SMTP: turn on 2-Step Verification and create an "
            "app password (Google Account → Security → App passwords); put it in SMTP_PASSWORD.",
            "SMTP_LOGIN is the full Gmail or Workspace address.",
        ],
    ),
    (
        re.compile(r"^(smtp\.office365\.com|smtp-mail\.outlook\.com|smtp\.outlook\.com)$"),
        "Microsoft",
        [
            "Microsoft 365 needs SMTP AUTH turned on for the mailbox (Exchange admin center → the mailbox → "
            "Manage email apps → Authenticated SMTP) and, with multi-factor sign-in, an app password.",
            "SMTP_LOGIN is the full mailbox address.",
        ],
    ),
    (
        re.compile(r"^smtp\.sendgrid\.net$"),
        "SendGrid",
        [
            "SendGrid's SMTP login is literally the word apikey; the password is an API key (starts with SG.) "
            "with the Mail Send permission.",
        ],
    ),
    (
        re.compile(r"^email-smtp(-fips)?\.[a-z0-9-]+\.amazonaws\.com$"),
        "Amazon SES",
        [
            "Amazon SES wants SMTP credentials made in the SES console (SMTP settings → Create SMTP credentials); "
            "IAM access keys and the console password do not work.",
            "SES SMTP credentials belong to one region: they must be made for the region in the host name.",
        ],
    ),
    (
        re.compile(r"^smtp(pro)?\.zoho\.[a-z.]+$"),
        "Zoho",
        [
            "Zoho wants the full mailbox address as SMTP_LOGIN, and an app-specific password when two-factor "
            "sign-in is on.",
        ],
    ),
]


def provider_hints(host: str) -> tuple[str | None, list[str]]:
    host = host.rstrip(".").lower()
    for pattern, name, hints in _BUILTIN_HINTS:
        if pattern.match(host):
            return name, list(hints)
    return None, []


def login_hints(host: str, login: str | None) -> list[str]:
    """Hints that depend on the login's shape; checked before the provider's general hints."""
    host = host.rstrip(".").lower()
    if login is None:
        return []
    hints: list[str] = []
    if host == "smtp.sendgrid.net" and login != "apikey":
        hints.append("SMTP_LOGIN must be the word apikey for SendGrid, not the account name or address.")
    wants_address = re.match(
        r"^(smtp(-relay)?\.gmail\.com|smtp\.office365\.com|smtp(pro)?\.zoho\.[a-z.]+)$", host
    )
    if wants_address and "@" not in login:
        hints.append(
            "SMTP_LOGIN is not an e-mail address; this provider wants the full address as the login."
        )
    if host.endswith(".amazonaws.com") and not re.fullmatch(r"AKIA[A-Z0-9]{16}", login):
        hints.append(
            "SMTP_LOGIN does not look like an SES SMTP user name (20 characters starting with AKIA)."
        )
    return hints


def auth_hints(
    host: str, login: str | None, code: int | None, message: str, options: model.ProbeOptions
) -> list[str]:
    hints = login_hints(host, login)
    if options.auth_hints:
        hints += options.auth_hints
    else:
        hints += provider_hints(host)[1]
    lowered = message.lower()
    if "smtpclientauthentication is disabled" in lowered or "5.7.139" in lowered:
        hints.insert(
            0,
            "Microsoft says SMTP AUTH is turned off for this tenant or mailbox; turn it on in Exchange admin.",
        )
    if code == 530 or "starttls" in lowered:
        hints.insert(
            0, "The server wants TLS before a login: use STARTTLS or implicit TLS, not a plain connection."
        )
    return hints + [h for h in GENERIC_AUTH_HINTS if code == 535 and h not in hints]


# -- sender ----------------------------------------------------------------------------------------------


def mail_from_words(code: int, message: str, address: str) -> str:
    if code == 530 or "authenticat" in message.lower():
        return f"The relay wants a login before it takes mail from {address}."
    if 400 <= code < 500:
        return f"The relay turned {address} away for now ({code}); it may accept it later."
    return (
        f"The relay refuses to send as {address}: the From (or Return-Path) address is not one this account may "
        "use. Verify the address or its domain with the provider, or change SMTP_FROM_ADDRESS to one it allows."
    )
