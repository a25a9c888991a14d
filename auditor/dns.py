"""The one place inboxready asks DNS.

`Resolver.query(name, type)` returns a `Lookup`: the outcome (`ok | nxdomain | nodata | timeout | servfail |
refused | error`), the answer values and how long it took. It never raises for DNS trouble, so callers can
tell "the record is missing" (nxdomain/nodata) from "we could not find out" (everything else).

- dnspython's asyncio resolver does the wire work (UDP, TCP fallback on truncation).
- One cache per audit: a name/type is asked once; concurrent askers share the in-flight query.
- A semaphore caps concurrent queries; an overall deadline bounds the whole audit.
- `ZoneOverlay` answers names inside local zone files (`--zone`) before DNS is asked.
- Every lookup is kept in `Resolver.log` (for the JSON facts, the benchmarks and the tests).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.zone

from auditor.errors import AuditorError

OK = "ok"
NXDOMAIN = "nxdomain"
NODATA = "nodata"
TIMEOUT = "timeout"
SERVFAIL = "servfail"
REFUSED = "refused"
ERROR = "error"
# Outcomes that mean "the answer is known"; the others mean "we could not find out".
ANSWERED = frozenset({OK, NXDOMAIN, NODATA})

# Bounds that keep hostile answers from costing memory: more records than this are cut (and said so).
MAX_RECORDS = 100
MAX_CNAME_HOPS = 8


@dataclass(frozen=True)
class Lookup:
    """One DNS question and what came of it."""

    name: str  # absolute, lowercase, with the trailing dot
    rdtype: str  # "TXT", "A", "AAAA", "MX", "PTR", "CNAME", ...
    outcome: str
    values: tuple[str, ...] = ()  # TXT: logical strings (chunks joined); MX: "pref host."; others: text form
    txt_strings: tuple[tuple[str, ...], ...] = ()  # TXT only: the character-strings of each record
    cname_chain: tuple[str, ...] = ()  # aliases followed, in order, ending at the canonical name
    source: str = "dns"  # "dns" or "zone" (answered from a --zone file)
    duration_ms: float = 0.0
    started_ms: float = 0.0  # offset from the resolver's creation, to rebuild the critical path
    error: str | None = None
    truncated_records: bool = False

    @property
    def answered(self) -> bool:
        return self.outcome in ANSWERED

    @property
    def failed(self) -> bool:
        return not self.answered

    @property
    def empty(self) -> bool:
        """NXDOMAIN or NODATA: a "void" lookup in RFC 7208 §4.6.4 terms."""
        return self.outcome in (NXDOMAIN, NODATA)

    def to_json(self) -> dict:
        data = {
            "name": self.name,
            "type": self.rdtype,
            "outcome": self.outcome,
            "values": list(self.values),
            "source": self.source,
            "duration_ms": round(self.duration_ms, 1),
        }
        if self.cname_chain:
            data["cname_chain"] = list(self.cname_chain)
        if self.error:
            data["error"] = self.error
        return data


def absolute(name: str) -> str:
    name = name.strip().lower()
    return name if name.endswith(".") else name + "."


def parse_nameserver(spec: str) -> tuple[str, int]:
    """`IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address → (ip, port)."""
    import ipaddress

    spec = spec.strip()
    host, port = spec, 53
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        if rest.startswith(":"):
            port = _port(rest[1:], spec)
    elif spec.count(":") == 1:
        host, _, port_text = spec.partition(":")
        port = _port(port_text, spec)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise AuditorError(f"--nameserver {spec!r}: expected an IP address, optionally with :PORT") from None
    return host, port


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise AuditorError(f"--nameserver {spec!r}: the port must be a number from 1 to 65535")
    return int(text)


def _rdata_text(rdtype: str, rdata) -> str:
    if rdtype == "TXT":
        return b"".join(rdata.strings).decode("utf-8", errors="replace")
    if rdtype == "MX":
        return f"{rdata.preference} {rdata.exchange.to_text().lower()}"
    if rdtype in ("CNAME", "PTR", "NS"):
        return rdata.target.to_text().lower()
    return rdata.to_text()


def _txt_strings(rdtype: str, rdatas: Sequence) -> tuple[tuple[str, ...], ...]:
    if rdtype != "TXT":
        return ()
    return tuple(tuple(s.decode("utf-8", errors="replace") for s in r.strings) for r in rdatas)


class ZoneOverlay:
    """Answers for names inside local zone files, so planned records can be audited before publishing.

    A name at or below a zone's origin is answered from the file alone (NXDOMAIN when absent); CNAMEs are
    followed inside the overlay and handed back to DNS when they leave it.
    """

    def __init__(self, zones: Iterable[dns.zone.Zone] = ()):
        self.zones = list(zones)

    @classmethod
    def from_files(cls, paths: Iterable[str | Path]) -> ZoneOverlay:
        return cls(load_zone_file(p) for p in paths)

    def zone_for(self, name: dns.name.Name) -> dns.zone.Zone | None:
        best = None
        for zone in self.zones:
            if name.is_subdomain(zone.origin) and (best is None or len(zone.origin) > len(best.origin)):
                best = zone
        return best

    def answer(self, name: str, rdtype: str) -> tuple[str, list, list[str], str | None] | None:
        """(outcome, rdatas, cname_chain, name_to_continue_in_dns) or None when no zone covers the name."""
        qname = dns.name.from_text(name)
        chain: list[str] = []
        for _ in range(MAX_CNAME_HOPS + 1):
            zone = self.zone_for(qname)
            if zone is None:
                return (OK, [], chain, qname.to_text().lower()) if chain else None
            node = zone.get_node(qname)
            if node is None:
                # Wildcards are rare in mail zones but cheap to honour.
                node = _wildcard_node(zone, qname)
            if node is None:
                return NXDOMAIN, [], chain, None
            wanted = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype))
            if wanted is not None:
                return OK, list(wanted), chain, None
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is not None and rdtype != "CNAME":
                target = next(iter(cname)).target
                chain.append(target.to_text().lower())
                qname = target
                continue
            return NODATA, [], chain, None
        return ERROR, [], chain, None


def _wildcard_node(zone: dns.zone.Zone, qname: dns.name.Name):
    name = qname
    while len(name) > len(zone.origin):
        name = name.parent()
        if zone.get_node(name) is not None:
            return None  # an existing closer name blocks the wildcard (RFC 4592)
        node = zone.get_node(dns.name.Name(("*",) + name.labels))
        if node is not None:
            return node
    return None


def load_zone_file(path: str | Path) -> dns.zone.Zone:
    """A zone file; the origin comes from `$ORIGIN` or, failing that, from the file name (`example.org.zone`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditorError(f"--zone {path}: cannot read the file ({exc.__class__.__name__})") from None
    origin = None if "$ORIGIN" in text.upper() else path.name.removesuffix(".zone").rstrip(".") + "."
    try:
        return dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False, filename=str(path))
    except dns.exception.DNSException as exc:
        raise AuditorError(f"--zone {path}: not a valid zone file: {exc}") from None


@dataclass
class ResolverStats:
    queries: int = 0  # questions that went to the network
    cache_hits: int = 0
    overlay_answers: int = 0


class Resolver:
    """An audit's DNS: cached, capped, bounded in time, logged. Create one per audit."""

    def __init__(
        self,
        nameservers: Sequence[tuple[str, int]] = (),
        *,
        timeout: float = 3.0,
        total_timeout: float = 30.0,
        concurrency: int = 32,
        overlay: ZoneOverlay | None = None,
    ):
        if nameservers:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [ip for ip, _ in nameservers]
            self._resolver.nameserver_ports = {ip: port for ip, port in nameservers}
        else:
            try:
                self._resolver = dns.asyncresolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                raise AuditorError("no DNS server configured here; pass --nameserver IP[:PORT]") from None
        # Two tries per lookup within the timeout, so one lost UDP packet does not make a lookup fail.
        self._resolver.timeout = timeout / 2
        self._resolver.lifetime = timeout
        self._resolver.cache = None  # our own cache below records outcomes too
        self.timeout = timeout
        self.overlay = overlay or ZoneOverlay()
        self._semaphore = asyncio.Semaphore(concurrency)
        self._inflight: dict[tuple[str, str], asyncio.Future[Lookup]] = {}
        self._t0 = time.monotonic()
        self._deadline = self._t0 + total_timeout
        self.log: list[Lookup] = []
        self.stats = ResolverStats()

    @property
    def nameservers(self) -> list[str]:
        ports = self._resolver.nameserver_ports
        return [f"{ns}:{ports.get(str(ns), 53)}" for ns in self._resolver.nameservers]

    async def query(self, name: str, rdtype: str) -> Lookup:
        name, rdtype = absolute(name), rdtype.upper()
        key = (name, rdtype)
        future = self._inflight.get(key)
        if future is not None:
            self.stats.cache_hits += 1
            return await asyncio.shield(future)
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            lookup = await self._lookup(name, rdtype)
        except BaseException as exc:  # cancelled: let the other waiters see it too
            future.set_exception(exc)
            del self._inflight[key]
            raise
        future.set_result(lookup)
        self.log.append(lookup)
        return lookup

    async def _lookup(self, name: str, rdtype: str) -> Lookup:
        started = time.monotonic()
        if not _valid_name(name):
            return Lookup(name, rdtype, ERROR, error="not a valid DNS name", started_ms=self._ms(started))
        overlaid = self.overlay.answer(name, rdtype)
        if overlaid is not None:
            outcome, rdatas, chain, continue_at = overlaid
            if continue_at is None:
                self.stats.overlay_answers += 1
                return self._make(name, rdtype, outcome, rdatas, chain, "zone", started)
            inner = await self.query(continue_at, rdtype)
            return Lookup(
                name, rdtype, inner.outcome, inner.values, inner.txt_strings,
                tuple(chain) + inner.cname_chain, "zone", inner.duration_ms, self._ms(started), inner.error,
            )
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            return Lookup(name, rdtype, TIMEOUT, error="the audit's overall time limit was reached",
                          started_ms=self._ms(started))
        async with self._semaphore:
            started = time.monotonic()
            self.stats.queries += 1
            try:
                answer = await self._resolver.resolve(
                    name, rdtype, raise_on_no_answer=False, lifetime=min(self.timeout, remaining), search=False
                )
            except dns.resolver.NXDOMAIN as exc:
                chain = _chain_from_nxdomain(exc, name)
                return self._make(name, rdtype, NXDOMAIN, [], chain, "dns", started)
            except dns.resolver.LifetimeTimeout:
                return self._make(name, rdtype, TIMEOUT, [], [], "dns", started, f"no answer within {self.timeout:g}s")
            except dns.resolver.NoNameservers as exc:
                outcome, detail = _classify_failure(exc)
                return self._make(name, rdtype, outcome, [], [], "dns", started, detail)
            except dns.exception.DNSException as exc:
                return self._make(name, rdtype, ERROR, [], [], "dns", started, _one_line(exc))
            except (OSError, ValueError, EOFError) as exc:
                return self._make(name, rdtype, ERROR, [], [], "dns", started, _one_line(exc))
        rdatas = list(answer.rrset) if answer.rrset is not None else []
        chain = _chain_from_answer(answer, name)
        return self._make(name, rdtype, OK if rdatas else NODATA, rdatas, chain, "dns", started)

    def _make(self, name, rdtype, outcome, rdatas, chain, source, started, error=None) -> Lookup:
        truncated = len(rdatas) > MAX_RECORDS
        rdatas = rdatas[:MAX_RECORDS]
        if outcome == OK and not rdatas:
            outcome = NODATA
        return Lookup(
            name=name,
            rdtype=rdtype,
            outcome=outcome,
            values=tuple(_rdata_text(rdtype, r) for r in rdatas),
            txt_strings=_txt_strings(rdtype, rdatas),
            cname_chain=tuple(chain),
            source=source,
            duration_ms=(time.monotonic() - started) * 1000,
            started_ms=self._ms(started),
            error=error,
            truncated_records=truncated,
        )

    def _ms(self, moment: float) -> float:
        return (moment - self._t0) * 1000

    async def query_many(self, questions: Iterable[tuple[str, str]]) -> list[Lookup]:
        return list(await asyncio.gather(*(self.query(n, t) for n, t in questions)))

    def failed_lookups(self) -> list[Lookup]:
        return [lookup for lookup in self.log if lookup.failed]

    def unreachable(self) -> bool:
        """True when DNS was asked and nothing at all came back: nothing could be audited."""
        network = [lookup for lookup in self.log if lookup.source == "dns"]
        return bool(network) and all(lookup.outcome in (TIMEOUT, ERROR) for lookup in network) and not any(
            lookup.source == "zone" and lookup.answered for lookup in self.log
        )


def _valid_name(name: str) -> bool:
    if len(name) > 254 or name == ".":
        return name == "."
    labels = name[:-1].split(".")
    return all(0 < len(label) <= 63 for label in labels)


def _chain_from_answer(answer: dns.resolver.Answer, qname: str) -> list[str]:
    chain: list[str] = []
    canonical = answer.canonical_name.to_text().lower()
    if canonical != qname:
        for rrset in answer.response.answer:
            if rrset.rdtype == dns.rdatatype.CNAME:
                chain.extend(r.target.to_text().lower() for r in rrset)
    return chain


def _chain_from_nxdomain(exc: dns.resolver.NXDOMAIN, qname: str) -> list[str]:
    try:
        canonical = exc.canonical_name.to_text().lower()
    except Exception:  # dnspython raises when it cannot work out the chain
        return []
    return [canonical] if canonical != qname else []


def _classify_failure(exc: dns.resolver.NoNameservers) -> tuple[str, str]:
    """SERVFAIL vs REFUSED vs anything else, from the per-server errors dnspython collected."""
    errors = exc.kwargs.get("errors") or []
    for error in errors:
        response = error[4] if len(error) > 4 else None
        if isinstance(response, dns.message.Message):
            rcode = response.rcode()
            if rcode == dns.rcode.SERVFAIL:
                return SERVFAIL, "the DNS server answered SERVFAIL"
            if rcode == dns.rcode.REFUSED:
                return REFUSED, "the DNS server refused the query"
            return ERROR, f"the DNS server answered {dns.rcode.to_text(rcode)}"
    for error in errors:
        text = str(error[3]) if len(error) > 3 else ""
        if "SERVFAIL" in text:
            return SERVFAIL, "the DNS server answered SERVFAIL"
        if "REFUSED" in text:
            return REFUSED, "the DNS server refused the query"
    detail = _one_line(errors[0][3]) if errors and len(errors[0]) > 3 else "all DNS servers failed"
    return ERROR, detail


def _one_line(exc: object) -> str:
    return " ".join(str(exc).split())[:200] or exc.__class__.__name__


@dataclass
class LookupSummary:
    """What the JSON `facts.dns` carries about the audit's DNS work."""

    nameservers: list[str] = field(default_factory=list)
    queries: int = 0
    cache_hits: int = 0
    failed: list[dict] = field(default_factory=list)
