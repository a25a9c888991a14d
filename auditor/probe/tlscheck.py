"""TLS the way the app does it, and a reading of the relay's certificate in plain words.

The verifying context mirrors Ruby's OpenSSL as Mastodon configures it: verify mode peer, host name checked,
and a CA file (SMTP_CA_FILE) that *replaces* the system store when set. The certificate's own facts (names,
dates, self-signed) are read with `cryptography` from the leaf, so the report can say more than OpenSSL's
first error.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl

from cryptography import x509
from cryptography.x509.oid import NameOID

from auditor.probe import model

# OpenSSL X509_V_ERR_* codes the report explains.
UNABLE_TO_GET_ISSUER = 2
NOT_YET_VALID = 9
EXPIRED = 10
DEPTH_ZERO_SELF_SIGNED = 18
SELF_SIGNED_IN_CHAIN = 19
UNABLE_TO_GET_ISSUER_LOCALLY = 20
UNABLE_TO_VERIFY_LEAF = 21
HOSTNAME_MISMATCH = 62
IP_MISMATCH = 64
# Errors raised after the chain was built and found trusted: the chain itself is fine.
_CHAIN_TRUSTED_CODES = {NOT_YET_VALID, EXPIRED, HOSTNAME_MISMATCH, IP_MISMATCH}


class CaFileError(Exception):
    """The CA file from the settings cannot be used; the app would fail every TLS connection."""


def app_context(verify: str, ca_file: str | None) -> ssl.SSLContext:
    """The client context the app uses: verify=peer (Ruby's client_once etc. behave the same) or none."""
    if verify == "none":
        return inspect_context()
    try:
        return ssl.create_default_context(cafile=ca_file)
    except FileNotFoundError:
        raise CaFileError(f"the CA file {ca_file} does not exist") from None
    except PermissionError:
        raise CaFileError(f"the CA file {ca_file} cannot be read (permission denied)") from None
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise CaFileError(
            f"the CA file {ca_file} holds no usable certificates ({exc.__class__.__name__})"
        ) from None


def verifying_context(ca_file: str | None) -> ssl.SSLContext | None:
    """The context `verify=peer` would use, to report on a certificate the app does not check; None if unusable."""
    try:
        return app_context("peer", ca_file)
    except CaFileError:
        return None


def inspect_context() -> ssl.SSLContext:
    """Accepts any certificate, so it can be read and reported on."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def verify_error_words(exc: ssl.SSLCertVerificationError, hostname: str) -> str:
    code = exc.verify_code
    if code == EXPIRED:
        return "the certificate has expired"
    if code == NOT_YET_VALID:
        return "the certificate is not valid yet (or this machine's clock is wrong)"
    if code == DEPTH_ZERO_SELF_SIGNED:
        return "the certificate is self-signed: no authority the app trusts vouches for it"
    if code == SELF_SIGNED_IN_CHAIN:
        return "the certificate chain ends in a self-signed authority the app does not trust"
    if code in (UNABLE_TO_GET_ISSUER, UNABLE_TO_GET_ISSUER_LOCALLY, UNABLE_TO_VERIFY_LEAF):
        return (
            "the certificate's issuer is not in the app's CA store (unknown authority, or the server does not "
            "send its intermediate certificate)"
        )
    if code in (HOSTNAME_MISMATCH, IP_MISMATCH):
        return f"the certificate is not valid for the name {hostname}"
    return exc.verify_message or "certificate verification failed"


def chain_ok_from(exc: ssl.SSLCertVerificationError | None) -> bool | None:
    if exc is None:
        return True
    if exc.verify_code in _CHAIN_TRUSTED_CODES:
        return True
    if exc.verify_code in (
        UNABLE_TO_GET_ISSUER,
        UNABLE_TO_GET_ISSUER_LOCALLY,
        UNABLE_TO_VERIFY_LEAF,
        DEPTH_ZERO_SELF_SIGNED,
        SELF_SIGNED_IN_CHAIN,
    ):
        return False
    return None


def read_certificate(
    der: bytes, hostname: str, cert: model.CertificateOutcome, now: dt.datetime | None = None
) -> None:
    """Fill `cert` with what the leaf certificate itself says."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        leaf = x509.load_der_x509_certificate(der)
    except ValueError:
        cert.error = cert.error or "the server's certificate could not be parsed"
        return
    cert.checked = True
    cert.subject = leaf.subject.rfc4514_string()
    cert.issuer = leaf.issuer.rfc4514_string()
    cert.not_before = leaf.not_valid_before_utc.isoformat()
    cert.not_after = leaf.not_valid_after_utc.isoformat()
    cert.days_left = (leaf.not_valid_after_utc - now).days
    cert.expired = leaf.not_valid_after_utc < now
    cert.not_yet_valid = leaf.not_valid_before_utc > now
    cert.self_signed = leaf.subject == leaf.issuer and _signs_itself(leaf)
    dns_names, ip_names = _names(leaf)
    cert.names = dns_names + [str(ip) for ip in ip_names]
    cert.hostname_ok = hostname_matches(hostname, dns_names, ip_names, _common_names(leaf))


def _signs_itself(leaf: x509.Certificate) -> bool:
    try:
        leaf.verify_directly_issued_by(leaf)
    except Exception:  # InvalidSignature, a different key, an unsupported key type: not self-signed
        return False
    return True


def _names(leaf: x509.Certificate) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return [n.lower() for n in san.get_values_for_type(x509.DNSName)], list(
        san.get_values_for_type(x509.IPAddress)
    )


def _common_names(leaf: x509.Certificate) -> list[str]:
    return [str(a.value).lower() for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def hostname_matches(hostname: str, dns_names: list[str], ip_names: list, common_names: list[str]) -> bool:
    """RFC 6125: subjectAltName first, a wildcard only as the whole leftmost label; CN only without DNS names."""
    hostname = hostname.rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(hostname)
    except ValueError:
        ip = None
    if ip is not None:
        return ip in ip_names
    candidates = dns_names or common_names
    return any(_name_matches(hostname, pattern.rstrip(".")) for pattern in candidates)


def _name_matches(hostname: str, pattern: str) -> bool:
    if pattern == hostname:
        return True
    if pattern.startswith("*.") and "*" not in pattern[2:]:
        head, _, rest = hostname.partition(".")
        return bool(head) and rest == pattern[2:] and rest.count(".") >= 1
    return False
