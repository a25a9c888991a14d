"""Sending the report through an SMTP relay: the app's own (from its settings) or one given by flags.

Failures become one `MailSendError` line that says what went wrong and where, never the password: every
message is built from our own words plus the server's reply, and the reply is scrubbed of the secret and its
base64 forms in case a server echoes what it got. Exceptions are raised `from None`, so no traceback (which
could show local variables in some crash reporters) carries the credentials either.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr

from auditor.appconfig.model import SmtpSettings
from auditor.errors import AuditorError
from auditor.probe.redact import Redactor

DEFAULT_TIMEOUT = 30.0
EXIT_SEND_FAILED = 4


class MailSendError(AuditorError):
    """The report could not be sent (exit code 4: the audit ran, the mail did not go out)."""

    exit_code = EXIT_SEND_FAILED


@dataclass
class MailRelay:
    host: str
    port: int
    tls: str | None = "starttls"  # "starttls" | "implicit" | "none" | None: STARTTLS when offered
    verify: str = "peer"  # "peer" | "none"
    ca_file: str | None = None
    login: str | None = None
    secret: str | None = field(default=None, repr=False)
    auth_method: str | None = None  # "plain" | "login" | "cram_md5" | None: what the server prefers
    helo: str | None = None

    def describe(self) -> str:
        mode = {"implicit": "implicit TLS", "starttls": "STARTTLS", "none": "no TLS"}.get(self.tls or "", "")
        return f"{self.host}:{self.port}" + (f" ({mode})" if mode else "")


def relay_from_settings(settings: SmtpSettings) -> MailRelay:
    """The relay exactly as the app would use it. AuditorError when the settings name no SMTP relay."""
    if settings.transport not in (None, "smtp"):
        raise AuditorError(
            f"the app sends through {settings.transport!r}, not SMTP; pass --smtp HOST:PORT and --smtp-login "
            "to send the report"
        )
    if not settings.host:
        raise AuditorError("the app's settings name no SMTP relay; pass --smtp HOST:PORT to send the report")
    tls = settings.tls
    port = settings.port or (465 if tls == "implicit" else 587 if tls == "starttls" else 25)
    if tls is None and port == 465:
        tls = "implicit"
    if tls is None and settings.starttls_required:
        tls = "starttls"
    auth = settings.auth_method if settings.auth_method not in (None, "none") else None
    return MailRelay(
        host=settings.host,
        port=port,
        tls=tls,
        verify=settings.verify,
        ca_file=settings.ca_file,
        login=settings.login if settings.auth_method != "none" else None,
        secret=settings.secret if settings.auth_method != "none" else None,
        auth_method=auth,
        helo=settings.helo_domain,
    )


def tls_context(relay: MailRelay) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if relay.ca_file:
        try:
            context.load_verify_locations(cafile=relay.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise MailSendError(f"cannot read the CA file {relay.ca_file}: {exc}") from None
    if relay.verify == "none":  # the admin configured the app this way; the report says so too
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def send_message(message: EmailMessage, relay: MailRelay, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Deliver `message` to its To recipients through `relay`. MailSendError when anything fails."""
    redact = Redactor([relay.secret] if relay.secret else [], relay.login)
    where = relay.describe()
    envelope_from = parseaddr(str(message["From"]))[1]
    recipients = [parseaddr(str(a))[1] for a in message.get_all("To", [])]
    try:
        _deliver(message, relay, envelope_from, recipients, timeout)
    except MailSendError as exc:
        raise MailSendError(redact.text(str(exc))) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise MailSendError(
            f"sending the report through {where} failed: the relay refused the login {relay.login!r} "
            f"({_reply(exc, redact)}); check the SMTP login and password in the app's settings"
        ) from None
    except smtplib.SMTPSenderRefused as exc:
        raise MailSendError(
            f"sending the report through {where} failed: the relay refused the sender {envelope_from} "
            f"({_reply(exc, redact)})"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(
            f"{addr} ({code} {redact.text(_decode(msg))})" for addr, (code, msg) in exc.recipients.items()
        )
        raise MailSendError(
            f"sending the report through {where} failed: the relay refused {refused}"
        ) from None
    except smtplib.SMTPServerDisconnected as exc:
        # smtplib reports a read timeout as a disconnect ("Connection unexpectedly closed: timed out").
        why = (
            f"no answer within {timeout:g}s" if "timed out" in str(exc) else "the relay closed the connection"
        )
        raise MailSendError(f"sending the report through {where} failed: {why}") from None
    except smtplib.SMTPResponseException as exc:
        raise MailSendError(f"sending the report through {where} failed: {_reply(exc, redact)}") from None
    except ssl.SSLCertVerificationError as exc:
        raise MailSendError(
            f"sending the report through {where} failed: the relay's certificate is not trusted "
            f"({redact.text(exc.verify_message or str(exc))})"
        ) from None
    except ssl.SSLError as exc:
        raise MailSendError(
            f"sending the report through {where} failed: TLS error ({redact.text(str(exc))})"
        ) from None
    except TimeoutError:
        raise MailSendError(
            f"sending the report through {where} failed: no answer within {timeout:g}s"
        ) from None
    except ConnectionRefusedError:
        raise MailSendError(f"sending the report through {where} failed: connection refused") from None
    except socket.gaierror as exc:
        raise MailSendError(
            f"sending the report through {where} failed: cannot resolve {relay.host} ({exc.strerror})"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise MailSendError(
            f"sending the report through {where} failed: {redact.text(str(exc)) or type(exc).__name__}"
        ) from None


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _reply(exc: smtplib.SMTPResponseException, redact: Redactor) -> str:
    return f"{exc.smtp_code} {redact.text(_decode(exc.smtp_error))}".strip()


def _deliver(
    message: EmailMessage, relay: MailRelay, envelope_from: str, recipients: list[str], timeout: float
) -> None:
    helo = relay.helo or (envelope_from.rpartition("@")[2] or "localhost")
    if relay.tls == "implicit":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            relay.host, relay.port, local_hostname=helo, timeout=timeout, context=tls_context(relay)
        )
    else:
        client = smtplib.SMTP(relay.host, relay.port, local_hostname=helo, timeout=timeout)
    with client:
        client.ehlo()
        encrypted = relay.tls == "implicit"
        if relay.tls == "starttls" or (relay.tls is None and client.has_extn("starttls")):
            if not client.has_extn("starttls"):
                raise MailSendError(
                    f"sending the report through {relay.describe()} failed: the relay does not offer STARTTLS"
                )
            client.starttls(context=tls_context(relay))
            client.ehlo()
            encrypted = True
        if relay.login:
            if not encrypted and relay.tls != "none":
                # Only an explicit "no TLS" setting sends the password in clear, as the app itself would.
                raise MailSendError(
                    f"not sending the password to {relay.describe()} unencrypted: the relay offers no STARTTLS"
                )
            _login(client, relay)
        refused = client.send_message(message, from_addr=envelope_from, to_addrs=recipients)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)


_AUTH_OBJECTS = {
    "plain": ("PLAIN", "auth_plain"),
    "login": ("LOGIN", "auth_login"),
    "cram_md5": ("CRAM-MD5", "auth_cram_md5"),
}


def _login(client: smtplib.SMTP, relay: MailRelay) -> None:
    """Log in with the app's configured mechanism when the relay offers it, else the best offered."""
    offered = (client.esmtp_features.get("auth") or "").upper().split()
    if relay.auth_method in _AUTH_OBJECTS:
        mechanism, method = _AUTH_OBJECTS[relay.auth_method]
        if mechanism in offered:
            client.user, client.password = relay.login, relay.secret or ""
            client.auth(mechanism, getattr(client, method), initial_response_ok=True)
            return
    client.login(relay.login or "", relay.secret or "")
