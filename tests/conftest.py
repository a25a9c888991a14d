"""Shared fixtures: a loopback DNS server per test and resolvers bound to it.

Async tests call `asyncio.run(...)` themselves (no pytest-asyncio); the server runs its own loop in a
background thread, so it serves both kinds of test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTS_DIR = REPO_ROOT / "tests"
ZONES_DIR = TESTS_DIR / "zones"
# The shared test vectors sit beside the repository (in CI the repo is cloned elsewhere with shared/ beside it).
SHARED = REPO_ROOT.parent / "shared"
SHARED_TESTDATA = SHARED / "testdata"

# `from dnsserver import DnsServer` works from any test module, however pytest was started.
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from dnsserver import DnsServer  # noqa: E402

from auditor.dns import Resolver  # noqa: E402

DEFAULT_TEST_TIMEOUT = 1.0


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    """A started loopback DNS server (UDP and TCP on one free port), empty; stopped after the test."""
    server = DnsServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_resolver(dns_server: DnsServer) -> Callable[..., Resolver]:
    """`make_resolver(**kwargs)` → an `auditor.dns.Resolver` asking only `dns_server` (timeout 1 s unless given)."""

    def factory(**kwargs) -> Resolver:
        kwargs.setdefault("timeout", DEFAULT_TEST_TIMEOUT)
        return Resolver(nameservers=[dns_server.nameserver], **kwargs)

    return factory
