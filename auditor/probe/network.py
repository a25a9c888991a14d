"""Finding the relay's addresses and opening TCP connections to them, with failures told apart."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time

from auditor import dns
from auditor.probe import model
from auditor.probe.session import Deadline, SmtpSession, StepTimeout, Transcript, classify_os_error

# Which failure says most about a port when several addresses failed differently: a silent drop points at a
# firewall, a refusal at a closed port, no route at the local network.
_FAILURE_ORDER = (model.TIMEOUT, model.REFUSED, model.NO_ROUTE, model.ERROR)


def family_of(address: str) -> str:
    return "ipv6" if ":" in address else "ipv4"


async def resolve(
    host: str, port: int, deadline: Deadline, resolver: dns.Resolver | None
) -> model.DnsOutcome:
    """The relay's addresses: A and AAAA through `resolver` when given, else the system's resolver."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return model.DnsOutcome(outcome="literal", source="literal", addresses=[host])
    if resolver is not None and not host_only_system_knows(host):
        return await _resolve_with(resolver, host)
    return await _resolve_system(host, port, deadline)


def host_only_system_knows(host: str) -> bool:
    """`localhost` (RFC 6761) and single-label names (`postfix`, a container on the same network) live in
    /etc/hosts or the container runtime's resolver, never in public DNS: ask the system, as the app does."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost") or "." not in name


async def _resolve_with(resolver: dns.Resolver, host: str) -> model.DnsOutcome:
    a, aaaa = await asyncio.gather(resolver.query(host, "A"), resolver.query(host, "AAAA"))
    addresses = [v for lookup in (a, aaaa) if lookup.outcome == dns.OK for v in lookup.values]
    if addresses:
        return model.DnsOutcome(outcome=dns.OK, source="resolver", addresses=addresses)
    # No address: the name is missing only when both questions were answered.
    for lookup in (a, aaaa):
        if not lookup.answered:
            detail = f"{lookup.rdtype} {host}: {lookup.outcome}" + (
                f" ({lookup.error})" if lookup.error else ""
            )
            return model.DnsOutcome(outcome=lookup.outcome, source="resolver", detail=detail)
    outcome = dns.NXDOMAIN if dns.NXDOMAIN in (a.outcome, aaaa.outcome) else dns.NODATA
    detail = f"{host} does not exist in DNS" if outcome == dns.NXDOMAIN else f"{host} has no A or AAAA record"
    return model.DnsOutcome(outcome=outcome, source="resolver", detail=detail)


async def _resolve_system(host: str, port: int, deadline: Deadline) -> model.DnsOutcome:
    loop = asyncio.get_running_loop()
    try:
        infos = await deadline.run(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP), "resolving"
        )
    except StepTimeout as exc:
        return model.DnsOutcome(outcome=dns.TIMEOUT, source="system", detail=str(exc))
    except socket.gaierror as exc:
        return model.DnsOutcome(outcome=_gai_outcome(exc), source="system", detail=f"{host}: {exc.strerror}")
    except (OSError, UnicodeError) as exc:
        return model.DnsOutcome(
            outcome=dns.ERROR, source="system", detail=f"{host}: {exc.__class__.__name__}"
        )
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        if sockaddr[0] not in addresses:
            addresses.append(str(sockaddr[0]))
    if not addresses:
        return model.DnsOutcome(outcome=dns.NODATA, source="system", detail=f"{host} has no address")
    return model.DnsOutcome(outcome=dns.OK, source="system", addresses=addresses)


def _gai_outcome(exc: socket.gaierror) -> str:
    if exc.errno == socket.EAI_NONAME:
        return dns.NXDOMAIN
    if exc.errno == getattr(socket, "EAI_NODATA", None):
        return dns.NODATA
    if exc.errno == socket.EAI_AGAIN:
        return dns.TIMEOUT  # "temporary failure in name resolution": we could not find out
    return dns.ERROR


async def connect_one(
    address: str, port: int, deadline: Deadline, transcript: Transcript
) -> tuple[model.AddressAttempt, SmtpSession | None]:
    started = time.monotonic()
    try:
        session = await SmtpSession.connect(address, port, deadline, transcript)
    except (OSError, StepTimeout) as exc:
        outcome, detail = classify_os_error(exc)
        attempt = model.AddressAttempt(address, family_of(address), outcome, detail, _ms(started))
        return attempt, None
    return model.AddressAttempt(address, family_of(address), model.CONNECT_OK, None, _ms(started)), session


async def connect_all(
    addresses: list[str], port: int, deadline: Deadline, transcript: Transcript
) -> tuple[list[model.AddressAttempt], SmtpSession | None]:
    """Every address at once; the first that connected (in the resolver's order) is kept, the others closed."""
    results = await asyncio.gather(*(connect_one(a, port, deadline, transcript) for a in addresses))
    chosen: SmtpSession | None = None
    for _attempt, session in results:
        if session is None:
            continue
        if chosen is None:
            chosen = session
        else:
            await session.close()
    return [attempt for attempt, _ in results], chosen


def overall_failure(attempts: list[model.AddressAttempt]) -> model.AddressAttempt:
    """The most telling of several failed attempts."""
    return min(attempts, key=lambda a: _FAILURE_ORDER.index(a.outcome) if a.outcome in _FAILURE_ORDER else 99)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
