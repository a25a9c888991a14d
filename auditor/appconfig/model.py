"""The app's mail settings as one model, whatever file format they came from."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class SettingSource:
    """Where a value came from, so a fix can name the exact line to change."""

    file: str  # the settings file as the user named it
    key: str  # the app's own key, e.g. SMTP_SERVER or smtp.hostname
    line: int | None = None


@dataclass
class SmtpSettings:
    """One relay's settings. Secrets live in `secret` only; `redacted()` is what leaves the process."""

    host: str | None = None
    port: int | None = None
    tls: str | None = None  # "starttls" | "implicit" | "none" | None when the app decides at run time
    starttls_required: bool = False  # the app aborts when STARTTLS is not offered (vs opportunistic)
    verify: str = "peer"  # "peer" | "none"
    ca_file: str | None = None
    login: str | None = None
    secret: str | None = field(default=None, repr=False)
    auth_method: str | None = None  # "plain" | "login" | "cram_md5" | "none" | None (app default)
    from_address: str | None = None  # the raw From setting, display name included
    reply_to: str | None = None
    return_path: str | None = None
    helo_domain: str | None = None
    instance_domain: str | None = None
    transport: str | None = None  # "smtp" | "sendmail" | an app's API transport, e.g. "mailgun"
    bulk: SmtpSettings | None = None  # Mastodon's BULK_SMTP_* second relay
    app: str | None = None  # app profile id, e.g. "mastodon"
    config_file: str | None = None
    sources: dict[str, SettingSource] = field(default_factory=dict)  # model field → where it was read
    # The setting whose value decided the TLS mode (e.g. SMTP_SSL=true); None when the app's default did.
    # `sources["tls"]` is the key to *set* for implicit TLS, which is not always the one that decided.
    tls_source: SettingSource | None = None
    unknown_keys: list[tuple[str, str | None]] = field(default_factory=list)  # (key, suggestion)
    notes: list[str] = field(default_factory=list)  # defaults applied and guesses made, in plain words

    def secrets(self) -> list[str]:
        """Every secret value this model holds, for output scrubbing."""
        found = [self.secret] if self.secret else []
        if self.bulk is not None:
            found += self.bulk.secrets()
        return found

    def redacted(self) -> SmtpSettings:
        """A copy that is safe to print or serialise (JSON): the secret replaced by a marker."""
        return replace(
            self,
            secret="(hidden)" if self.secret else None,
            bulk=self.bulk.redacted() if self.bulk is not None else None,
        )
