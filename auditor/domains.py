"""Domain names and addresses as users type them → the form DNS needs, or one clear error."""

from __future__ import annotations

import ipaddress
import re
from email.utils import parseaddr

import idna

from auditor.errors import AuditorError

_LDH = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def normalize_domain(text: str, *, what: str = "domain") -> str:
    """`HTTPS://Social.Example.ORG./about` → `social.example.org`; IDNs become A-labels.

    Refuses IP literals, single labels, empty or over-long labels with one line naming the problem.
    """
    raw = text
    text = text.strip()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text, flags=re.IGNORECASE)  # a pasted URL
    text = text.split("/", 1)[0].split("?", 1)[0]
    if "@" in text:
        raise AuditorError(f"{what} {raw!r} looks like an e-mail address; pass the domain, or use --from")
    text = text.removesuffix(".")
    if text.startswith("[") or _is_ip(text):
        raise AuditorError(f"{what} {raw!r} is an IP address; inboxready audits a domain name")
    if not text:
        raise AuditorError(f"{what} is empty")
    labels = text.split(".")
    if any(label == "" for label in labels):
        raise AuditorError(f"{what} {raw!r} has an empty label (two dots in a row)")
    try:
        ascii_labels = [idna.encode(label, uts46=True).decode("ascii").lower() for label in labels]
    except idna.IDNAError as exc:
        reason = "a label longer than 63 characters" if any(len(x) > 63 for x in labels) else str(exc)
        raise AuditorError(f"{what} {raw!r} is not a valid domain name: {reason}") from None
    for label in ascii_labels:
        if len(label) > 63:
            raise AuditorError(f"{what} {raw!r} has a label longer than 63 characters")
        if not _LDH.match(label) and not label.startswith("xn--"):
            raise AuditorError(f"{what} {raw!r} has a label with characters a host name cannot have: {label!r}")
    domain = ".".join(ascii_labels)
    if len(domain) > 253:
        raise AuditorError(f"{what} {raw!r} is longer than 253 characters")
    if len(ascii_labels) < 2:
        raise AuditorError(f"{what} {raw!r} has a single label; give the full domain, e.g. example.org")
    return domain


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def split_address(text: str | None) -> tuple[str | None, str | None]:
    """`Mastodon <notifications@Example.social>` → (`notifications@example.social`, `example.social`).

    Never raises: a From without a domain is a finding, not a crash. The domain is None when there is none.
    Quotes left in by docker-compose (`"notifications@x"`) are stripped here; the settings rules report them.
    """
    if not text:
        return None, None
    cleaned = text.strip().strip("'\"").strip()
    _, address = parseaddr(cleaned)
    address = (address or cleaned).strip().strip("'\"<>")
    if "@" not in address:
        return address or None, None
    local, _, domain = address.rpartition("@")
    domain = domain.strip().rstrip(".").lower()
    if not domain:
        return address, None
    try:
        domain = normalize_domain(domain, what="From domain")
    except AuditorError:
        return f"{local}@{domain}", domain if domain else None
    return f"{local}@{domain}", domain
