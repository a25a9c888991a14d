"""Errors the user can cause. Each becomes one clear line and exit code 2; a traceback is a bug."""

from __future__ import annotations


class AuditorError(Exception):
    """Bad input or usage: printed as one line, exit code 2."""

    exit_code = 2


class DnsUnreachable(AuditorError):
    """No lookup got any answer at all: nothing could be audited (exit code 3)."""

    exit_code = 3
