"""Live check of the app's SMTP relay: `await probe(settings, ProbeOptions(...), resolver)` → `ProbeFacts`."""

from __future__ import annotations

from auditor.probe.model import (
    AddressAttempt,
    AlternativePort,
    AuthOutcome,
    CertificateOutcome,
    ConnectOutcome,
    DnsOutcome,
    MailFromOutcome,
    ProbeFacts,
    ProbeOptions,
    SendOutcome,
    SettingChange,
    TlsOutcome,
)
from auditor.probe.runner import probe

__all__ = [
    "AddressAttempt",
    "AlternativePort",
    "AuthOutcome",
    "CertificateOutcome",
    "ConnectOutcome",
    "DnsOutcome",
    "MailFromOutcome",
    "ProbeFacts",
    "ProbeOptions",
    "SendOutcome",
    "SettingChange",
    "TlsOutcome",
    "probe",
]
