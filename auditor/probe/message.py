"""The test message: the app's From, Reply-To and envelope sender, a subject nobody else will have."""

from __future__ import annotations

import datetime as dt
import secrets
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr


def bare_address(value: str | None) -> str | None:
    """`Mastodon <notifications@example.org>` → `notifications@example.org`; None when there is no address."""
    if not value:
        return None
    address = parseaddr(value.strip().strip("'\""))[1]
    return address if "@" in address else None


def domain_of(address: str | None) -> str | None:
    return address.rpartition("@")[2].lower() if address and "@" in address else None


def build(
    from_header: str, to: str, reply_to: str | None, token: str | None = None
) -> tuple[str, str, bytes]:
    """(subject, message_id, wire bytes with CRLF line ends, dot-stuffed and ended with the lone dot)."""
    token = token or secrets.token_hex(6)
    subject = f"inboxready test {token}"
    domain = domain_of(bare_address(from_header)) or "localhost"
    message_id = f"<inboxready.{token}@{domain}>"  # the app uses its From domain here too
    msg = EmailMessage()
    msg["From"] = from_header
    msg["To"] = to
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = message_id
    msg.set_content(
        "This is a test message sent by inboxready through the SMTP relay in your app's settings.\n"
        "It used the app's From, Reply-To and Return-Path. Open the message's headers (\"Show original\")\n"
        "and check that SPF, DKIM and DMARC say pass.\n"
    )
    wire = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    lines = [b"." + line if line.startswith(b".") else line for line in wire.split(b"\r\n")]
    body = b"\r\n".join(lines)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return subject, message_id, body + b".\r\n"


def look_for(subject: str, from_domain: str | None, envelope_domain: str | None) -> list[str]:
    notes = [
        f'Find the message with the subject "{subject}"; look in the spam folder too.',
        'Open its headers ("Show original" in Gmail, "View message source" in Outlook): SPF, DKIM and DMARC '
        "should all say pass.",
    ]
    if from_domain:
        notes.append(
            f"The DKIM signature's d= should be {from_domain} (or a subdomain of it) for DMARC to align."
        )
    if envelope_domain:
        notes.append(
            f"The Return-Path shows the envelope sender; the relay may rewrite it from {envelope_domain} to its own "
            "bounce domain, which is fine when DKIM aligns."
        )
    notes.append(
        "If nothing arrives within a few minutes, look the message up in the provider's activity log."
    )
    return notes
