"""App setting fixes: TLS flags that match the port, the login in the provider's form, a valid From address,
and a misspelt variable renamed. They need the app's settings (`propose_fixes(result, settings=...)`).

A setting change never carries a secret: `FixContext.add_setting` refuses a secret value and blanks a
`current` that is one (or that belongs to a password/token key).
"""

from __future__ import annotations

import re
from typing import Any

from auditor.fixes.context import FixContext, SettingChange, explain, register
from auditor.probe.advice import key_of, tls_changes

IMPLICIT_PORTS = frozenset({465, 2465})
NO_SETTINGS = (
    "inboxready did not read the app's settings file; run it with --env or --config to get exact lines."
)
_ADDRESS = re.compile(r"[^@\s<>\"']+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _settings(ctx: FixContext, finding: Any) -> Any:
    if ctx.smtp_settings is None:
        explain(finding, NO_SETTINGS)
    return ctx.smtp_settings


def _file(settings: Any, field: str) -> str | None:
    source = settings.sources.get(field)
    return source.file if source is not None else settings.config_file


@register("smtp.tls-mode")
def tls_mode(ctx: FixContext, finding: Any) -> None:
    """Port 465 speaks TLS from the first byte (SMTP_TLS=true); 587/25/2525 start plain and use STARTTLS."""
    settings = _settings(ctx, finding)
    if settings is None or settings.port is None:
        return
    smtp = getattr(ctx.facts, "smtp", None)
    port_tls = getattr(smtp, "port_tls", None)
    wanted = (
        port_tls
        if port_tls in ("implicit", "starttls")
        else ("implicit" if settings.port in IMPLICIT_PORTS else "starttls")
    )
    if settings.tls == wanted:
        return
    deciding_key = getattr(smtp, "tls_setting_key", None)  # e.g. SMTP_SSL, when that turned implicit TLS on
    for change in tls_changes(settings, wanted):
        if change.field == "tls" and change.value == "false" and deciding_key:
            change.key = deciding_key
        note = f"Port {settings.port} " + (
            "expects TLS from the start (implicit TLS)." if wanted == "implicit" else "expects STARTTLS."
        )
        ctx.add_setting(finding, SettingChange(change.file, change.key, change.value, change.current, note))


@register("smtp.login-format")
def login_format(ctx: FixContext, finding: Any) -> None:
    """The login in the form the provider expects: exact when the form is a fixed word (SendGrid's apikey)."""
    settings = _settings(ctx, finding)
    provider = ctx.provider
    if settings is None or provider is None or provider.login is None or provider.login.pattern is None:
        return
    pattern = provider.login.pattern
    if re.fullmatch(r"[A-Za-z0-9_-]+", pattern):  # a literal word
        value = pattern
    elif "@" in pattern and ctx.target.from_address:
        value = ctx.target.from_address  # providers that want the mailbox address: usually the From address
    else:
        explain(finding, provider.login.hint)
        return
    # The current login is never repeated: some providers use an API token as the login.
    change = SettingChange(
        _file(settings, "login"), key_of(settings, "login"), value, None, provider.login.hint
    )
    ctx.add_setting(finding, change)


@register("smtp.from-address")
def from_address(ctx: FixContext, finding: Any) -> None:
    """A From setting receivers accept: one address (optionally with a display name), no stray quotes."""
    settings = _settings(ctx, finding)
    if settings is None:
        return
    raw = settings.from_address or ""
    found = _ADDRESS.search(raw)
    address = found.group(0) if found else f"notifications@{ctx.target.domain.rstrip('.')}"
    display = raw[: found.start()].strip(" \t\"'<") if found else ""
    value = f"{display} <{address}>" if display else address
    note = (
        "A From address receivers accept: one address in your domain"
        + (", with the display name kept." if display else ".")
        + ("" if found else f" {address} is a suggestion; any mailbox @{ctx.target.domain} works.")
    )
    ctx.add_setting(
        finding,
        SettingChange(
            _file(settings, "from_address"), key_of(settings, "from_address"), value, raw or None, note
        ),
    )


@register("smtp.rename-setting")
def rename_setting(ctx: FixContext, finding: Any) -> None:
    """A variable the app does not read, renamed to the one it does (its value is not repeated here)."""
    settings = _settings(ctx, finding)
    if settings is None:
        return
    for key, suggestion in settings.unknown_keys:
        if not suggestion:
            continue
        note = f"Rename {key} to {suggestion} and keep its value: the app ignores {key}."
        ctx.add_setting(
            finding,
            SettingChange(
                settings.config_file, suggestion, f"<the value of {key}>", None, note, placeholder=True
            ),
        )


@register("smtp.require-starttls")
def require_starttls(ctx: FixContext, finding: Any) -> None:
    """Encrypt the session to a remote relay: require STARTTLS (it wins over the legacy flags in Mastodon)."""
    settings = _settings(ctx, finding)
    if settings is None:
        return
    smtp = getattr(ctx.facts, "smtp", None)
    key = getattr(smtp, "starttls_key", None) or key_of(settings, "starttls_required")
    current = "never" if getattr(smtp, "tls_setting_key", None) == key and settings.tls == "none" else None
    note = (
        "Requires STARTTLS: the app refuses to send (instead of sending in plain text) if the relay lacks it."
    )
    ctx.add_setting(
        finding, SettingChange(_file(settings, "starttls_required"), key, "always", current, note)
    )


@register("smtp.verify-peer")
def verify_peer(ctx: FixContext, finding: Any) -> None:
    """Check the relay's certificate again."""
    settings = _settings(ctx, finding)
    if settings is None:
        return
    smtp = getattr(ctx.facts, "smtp", None)
    key = getattr(smtp, "verify_setting_key", None) or key_of(settings, "verify")
    note = (
        "Verifies the relay's TLS certificate. If sending then fails with 'certificate verify failed', point "
        "the CA file setting at the system CA bundle instead of turning the check off."
    )
    ctx.add_setting(finding, SettingChange(_file(settings, "verify"), key, "peer", settings.verify, note))


@register("smtp.submission-port")
def submission_port(ctx: FixContext, finding: Any) -> None:
    """A submission port instead of 25 (often blocked by hosting providers): 587 with STARTTLS, or the
    provider's alternative; 465 comes with implicit TLS."""
    settings = _settings(ctx, finding)
    if settings is None:
        return
    smtp = getattr(ctx.facts, "smtp", None)
    port = getattr(smtp, "alternative_port", None) or 587
    key = getattr(smtp, "port_setting_key", None) or key_of(settings, "port")
    current = str(settings.port) if settings.port is not None and settings.sources.get("port") else None
    note = f"Port {port} is the submission port {'with implicit TLS' if port in IMPLICIT_PORTS else '(STARTTLS)'}."
    ctx.add_setting(finding, SettingChange(_file(settings, "port"), key, str(port), current, note))
    if port in IMPLICIT_PORTS and settings.tls != "implicit":
        for change in tls_changes(settings, "implicit"):
            ctx.add_setting(
                finding, SettingChange(change.file, change.key, change.value, change.current, note)
            )


# The setting fields each live-probe finding can be fixed by; the probe proposes the values itself
# (`facts.probe.setting_changes`), from what actually worked on the wire.
PROBE_RULE_FIELDS = {
    "smtp.port-blocked": ("port", "tls", "starttls_required"),
    "smtp.tls-failed": ("tls", "starttls_required", "ca_file", "port"),
    "smtp.auth-unsupported": ("auth_method",),
}


@register("smtp.probe-settings")
def probe_settings(ctx: FixContext, finding: Any) -> None:
    probe = ctx.result.facts.probe
    fields = PROBE_RULE_FIELDS.get(finding.rule, ())
    for change in probe.setting_changes:
        if change.field not in fields or change.field == "secret":
            continue
        ctx.add_setting(
            finding,
            SettingChange(change.file, change.key, change.value, change.current,
                          note=f"from the live probe of {probe.host}:{probe.port}"),
        )
