"""What a live probe of the app's SMTP relay found, as plain dataclasses (JSON via `facts.base.to_jsonable`).

Each stage records whether it was reached. A verdict flag is `True`/`False` when the probe established it and
`Unknown(reason)` when it could not (the stage was not reached, or DNS did not answer): a relay we could not
reach has not "failed TLS", and a DNS timeout does not mean the relay name is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.facts.base import Unknown

# TCP connect outcomes, per address and overall.
CONNECT_OK = "ok"
REFUSED = "refused"
TIMEOUT = "timeout"
NO_ROUTE = "no-route"
DNS_FAILURE = "dns-failure"
ERROR = "error"

# TLS mismatches between the settings and what the port speaks.
IMPLICIT_ON_STARTTLS_PORT = "implicit-on-starttls-port"  # SMTP_TLS=true against a port that greets in clear
STARTTLS_ON_IMPLICIT_PORT = "starttls-on-implicit-port"  # STARTTLS against a port that wants TLS first (465)
PLAIN_ON_IMPLICIT_PORT = "plain-on-implicit-port"  # no TLS at all against an implicit-TLS port
STARTTLS_NOT_OFFERED = "starttls-not-offered"  # STARTTLS wanted, the server does not offer it


@dataclass
class ProbeOptions:
    auth: bool = False  # log in with the configured method and credentials
    send_test_to: str | None = None  # send a real test message to this address (implies logging in)
    timeout: float = 10.0  # each network step (connect, one reply, a handshake)
    total_timeout: float | None = None  # the whole probe; None: four times `timeout`
    # (port, "starttls" | "implicit" | "none") from the provider profile; tried when the configured port fails
    alternative_ports: list[tuple[int, str]] = field(default_factory=list)
    provider_name: str | None = None  # from the provider profile, for the hints' wording
    auth_hints: list[str] = field(default_factory=list)  # the provider profile's `auth_hints`

    @property
    def deadline(self) -> float:
        return self.total_timeout if self.total_timeout is not None else self.timeout * 4


@dataclass
class AddressAttempt:
    address: str
    family: str  # "ipv4" | "ipv6"
    outcome: str  # ok | refused | timeout | no-route | error
    detail: str | None = None
    duration_ms: float = 0.0


@dataclass
class DnsOutcome:
    outcome: str  # auditor.dns outcomes (ok, nxdomain, nodata, timeout, …) or "literal" for an IP address
    source: str  # "resolver" (auditor.dns) | "system" (getaddrinfo) | "literal"
    addresses: list[str] = field(default_factory=list)
    detail: str | None = None


@dataclass
class ConnectOutcome:
    outcome: str  # ok | refused | timeout | no-route | dns-failure | error
    detail: str | None = None
    address: str | None = None  # the address the SMTP dialogue ran on
    port: int | None = None


@dataclass
class TlsOutcome:
    mode: str  # as the app does it: "starttls" | "implicit" | "none"
    required: bool = False  # the app gives up without TLS (implicit, or STARTTLS "always")
    attempted: bool = False
    ok: bool | None = None
    version: str | None = None  # "TLSv1.3"
    cipher: str | None = None
    cipher_bits: int | None = None
    error: str | None = None
    certificate_error: bool = False  # the handshake failed on the certificate (see `certificate`)
    mismatch: str | None = None  # one of the *_PORT / STARTTLS_NOT_OFFERED constants


@dataclass
class CertificateOutcome:
    checked: bool = False  # a certificate was seen
    verify_mode: str = "peer"  # the app's mode: "peer" verifies, "none" only inspects
    ca_file: str | None = None  # None: the system's CA store
    hostname: str | None = None  # the name it was checked against (the relay host from the settings)
    subject: str | None = None
    issuer: str | None = None
    names: list[str] = field(default_factory=list)  # subjectAltName DNS names and addresses
    not_before: str | None = None
    not_after: str | None = None
    days_left: int | None = None
    hostname_ok: bool | None = None
    chain_ok: bool | None = None  # chains to a CA the app trusts (None: not known)
    self_signed: bool | None = None
    expired: bool | None = None
    not_yet_valid: bool | None = None
    valid: bool | None = None  # would pass verification with verify=peer and the app's CA file
    error: str | None = None  # OpenSSL's verification message, in words
    verify_code: int | None = None


@dataclass
class AuthOutcome:
    attempted: bool = False
    method: str | None = None  # "plain" | "login" | "cram_md5"
    login: str | None = None
    offered: list[str] = field(default_factory=list)  # mechanisms the server advertised
    ok: bool | None = None
    code: int | None = None
    message: str | None = None
    explanation: str | None = None
    hint: list[str] = field(default_factory=list)
    skipped: str | None = None  # why no login was tried


@dataclass
class MailFromOutcome:
    attempted: bool = False
    address: str | None = None  # the envelope sender (Return-Path, else From)
    accepted: bool | None = None
    code: int | None = None
    message: str | None = None
    skipped: str | None = None


@dataclass
class SendOutcome:
    attempted: bool = False
    to: str | None = None
    envelope_from: str | None = None
    subject: str | None = None
    message_id: str | None = None
    stage: str | None = None  # where it ended: "mail" | "rcpt" | "data" | "sent"
    code: int | None = None
    message: str | None = None
    accepted: bool | None = None
    look_for: list[str] = field(default_factory=list)  # what to check when it arrives


@dataclass
class AlternativePort:
    port: int
    tls: str  # "starttls" | "implicit" | "none"
    # ok (the port greets with 220) | refused | timeout | no-route | no-greeting | tls-failed | error
    outcome: str
    detail: str | None = None


@dataclass
class SettingChange:
    """One line of the app's settings to change; `field` names the SmtpSettings field it stands for.

    `value` is written in Mastodon's words (SMTP_TLS=true); `model_value` is the SmtpSettings value it
    means (tls="implicit"), so another app's profile can word the line its own way.
    """

    field: str
    key: str  # the app's key, e.g. SMTP_PORT
    value: str  # the line's new value, e.g. "2525"
    model_value: str | None = None
    current: str | None = None
    file: str | None = None
    line: int | None = None


@dataclass
class ProbeFacts:
    host: str
    port: int
    tls_mode: str  # "starttls" | "implicit" | "none", as the app will do it
    verify_mode: str
    ehlo_name: str
    status: str = "ok"
    ran: bool = True  # False in an audit without --probe: the probe.* rules skip
    dns: DnsOutcome | None = None
    addresses: list[AddressAttempt] = field(default_factory=list)
    connect: ConnectOutcome | None = None
    banner: str | None = None
    banner_code: int | None = None
    ehlo_code: int | None = None
    ehlo_message: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)  # keyword → parameters, as offered when used
    starttls_offered: bool | None = None
    auth_mechanisms: list[str] = field(default_factory=list)
    size_limit: int | None = None
    eight_bit_mime: bool | None = None
    smtputf8: bool | None = None
    tls: TlsOutcome | None = None
    certificate: CertificateOutcome | None = None
    auth: AuthOutcome = field(default_factory=AuthOutcome)
    mail_from: MailFromOutcome = field(default_factory=MailFromOutcome)
    send: SendOutcome = field(default_factory=SendOutcome)
    alternative_ports: list[AlternativePort] = field(default_factory=list)
    # Verdicts the rules compare.
    unreachable: bool | Unknown = Unknown("not probed")
    port_blocked: bool | Unknown = Unknown("not probed")
    no_greeting: bool | Unknown = Unknown("not probed")  # connected, the server never said 220
    greeting_rejected: bool | Unknown = Unknown("not probed")  # 554 etc. instead of 220
    helo_rejected: bool | Unknown = Unknown("not probed")
    tls_failed: bool | Unknown = Unknown("not probed")  # the app's TLS cannot work (not a certificate issue)
    tls_mismatch: bool | Unknown = Unknown("not probed")
    cert_invalid: bool | Unknown = Unknown("not probed")  # the app's verification refuses the certificate
    auth_failed: bool | Unknown = Unknown("not probed")
    auth_unsupported: bool | Unknown = Unknown("not probed")
    auth_required: bool | Unknown = Unknown("not probed")  # the relay wants a login the settings do not give
    rejected_from: bool | Unknown = Unknown("not probed")
    send_failed: bool | Unknown = Unknown("not probed")
    suggestions: list[str] = field(default_factory=list)  # plain English, most important first
    setting_changes: list[SettingChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # defaults assumed, stages skipped
    transcript: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
