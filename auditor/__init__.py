"""inboxready: why a self-hosted app's mail does not arrive, and exactly what to change."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("inboxready")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0.0.0+checkout"
