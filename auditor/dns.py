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
import dns.nameserver
import dns.rcode
import dns.rdataclass
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
        elif rest:
            raise AuditorError(f"--nameserver {spec!r}: expected [IPv6]:PORT")
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
        if not self.zones:
            return None
        qname = dns.name.from_text(name)
        chain: list[str] = []
        for _ in range(MAX_CNAME_HOPS + 1):
            zone = self.zone_for(qname)
            if zone is None:
                return (OK, [], chain, qname.to_text().lower()) if chain else None
            node = zone.get_node(qname)
            if node is None and _has_descendants(zone, qname):
                # A name with names below it exists (an "empty non-terminal", RFC 8020): NODATA, not NXDOMAIN.
                return NODATA, [], chain, None
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
        return ERROR, [], chain, None  # a CNAME loop or an over-long chain inside the zone files


def _has_descendants(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    return any(other != name and other.is_subdomain(name) for other in zone.nodes)


def _wildcard_node(zone: dns.zone.Zone, qname: dns.name.Name):
    """The `*.<closest encloser>` node that synthesises an answer for a name that does not exist (RFC 4592)."""
    name = qname
    while name != zone.origin:
        name = name.parent()
        if name == zone.origin or zone.get_node(name) is not None or _has_descendants(zone, name):
            # The closest encloser: only its own wildcard applies.
            return zone.get_node(dns.name.Name((b"*",) + name.labels))
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
        return dns.zone.from_text(
            text, origin=origin, relativize=False, check_origin=False, filename=str(path)
        )
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
            # Nameserver objects rather than IP strings: dnspython's port map is keyed by IP, so two
            # servers on one address (loopback test servers, a local resolver on :5353) would collide.
            self._resolver.nameservers = [dns.nameserver.Do53Nameserver(ip, port) for ip, port in nameservers]
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
        self._concurrency = concurrency
        # asyncio primitives belong to one event loop; a Resolver may outlive one `asyncio.run`.
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._cache: dict[tuple[str, str], Lookup] = {}  # finished lookups, whatever their outcome
        self._inflight: dict[tuple[str, str], asyncio.Future[Lookup]] = {}  # lookups under way
        self._t0 = time.monotonic()
        self._deadline = self._t0 + total_timeout
        self.log: list[Lookup] = []
        self.stats = ResolverStats()

    @property
    def nameservers(self) -> list[str]:
        named = []
        for ns in self._resolver.nameservers:
            if isinstance(ns, dns.nameserver.Nameserver):
                named.append(f"{ns.answer_nameserver()}:{ns.answer_port()}")
            else:
                named.append(f"{ns}:{self._resolver.nameserver_ports.get(str(ns), self._resolver.port)}")
        return named

    async def query(self, name: str, rdtype: str) -> Lookup:
        name, rdtype = absolute(name), rdtype.upper()
        key = (name, rdtype)
        while True:
            cached = self._cache.get(key)
            if cached is not None:
                self.stats.cache_hits += 1
                return cached
            future = self._inflight.get(key)
            if future is None or future.get_loop() is not asyncio.get_running_loop():
                break
            # Someone is asking already: wait for their answer without letting our own cancellation
            # cancel their lookup, nor theirs ours (if they are cancelled, ask again ourselves).
            await asyncio.wait([future])
            if not future.cancelled():
                self.stats.cache_hits += 1
                return future.result()
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            lookup = await self._lookup(name, rdtype)
        except BaseException:
            future.cancel()  # the waiters see it and ask again themselves
            raise
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]
        self._cache[key] = lookup
        future.set_result(lookup)
        self.log.append(lookup)
        return lookup

    async def _lookup(self, name: str, rdtype: str) -> Lookup:
        started = time.monotonic()
        if not _valid_name(name) or not _valid_type(rdtype):
            what = "DNS name" if not _valid_name(name) else "DNS record type"
            return Lookup(name, rdtype, ERROR, error=f"not a valid {what}", started_ms=self._ms(started))
        overlaid = self.overlay.answer(name, rdtype)
        if overlaid is not None:
            outcome, rdatas, chain, continue_at = overlaid
            if continue_at is None:
                self.stats.overlay_answers += 1
                error = "CNAME loop or chain too long in the zone files" if outcome == ERROR else None
                return self._make(name, rdtype, outcome, rdatas, chain, "zone", started, error)
            inner = await self.query(continue_at, rdtype)
            return Lookup(
                name,
                rdtype,
                inner.outcome,
                inner.values,
                inner.txt_strings,
                tuple(chain) + inner.cname_chain,
                "zone",
                inner.duration_ms,
                self._ms(started),
                inner.error,
                inner.truncated_records,
            )
        semaphore = self._semaphore()
        if semaphore.locked():
            try:
                # Waiting for a free slot counts against the audit's deadline too.
                await asyncio.wait_for(semaphore.acquire(), max(self._deadline - time.monotonic(), 0))
            except TimeoutError:
                return self._past_deadline(name, rdtype, started)
        else:
            await semaphore.acquire()
        try:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                return self._past_deadline(name, rdtype, started)
            return await self._network_lookup(name, rdtype, min(self.timeout, remaining))
        finally:
            semaphore.release()

    async def _network_lookup(self, name: str, rdtype: str, lifetime: float) -> Lookup:
        started = time.monotonic()
        self.stats.queries += 1
        no_answer = f"no answer within {round(lifetime, 2):g}s"
        try:
            # dnspython may sleep a back-off past its lifetime before noticing; the outer bound is ours.
            async with asyncio.timeout(lifetime):
                answer = await self._resolver.resolve(
                    name, rdtype, raise_on_no_answer=False, lifetime=lifetime, search=False
                )
        except TimeoutError:
            return self._make(name, rdtype, TIMEOUT, [], [], "dns", started, no_answer)
        except dns.resolver.NXDOMAIN as exc:
            chain = _chain_from_nxdomain(exc, name)
            return self._make(name, rdtype, NXDOMAIN, [], chain, "dns", started)
        except dns.resolver.LifetimeTimeout:
            return self._make(name, rdtype, TIMEOUT, [], [], "dns", started, no_answer)
        except dns.resolver.NoNameservers as exc:
            outcome, detail = _classify_failure(exc)
            return self._make(name, rdtype, outcome, [], [], "dns", started, detail)
        except dns.exception.DNSException as exc:
            return self._make(name, rdtype, ERROR, [], [], "dns", started, _one_line(exc))
        except (OSError, ValueError, EOFError) as exc:
            return self._make(name, rdtype, ERROR, [], [], "dns", started, _one_line(exc))
        rdatas = list(answer.rrset) if answer.rrset is not None else []
        # Asking for the CNAME itself follows nothing: the alias is the answer, not a step on the way.
        chain = [] if rdtype == "CNAME" else _chain_from_response(answer.response, name)
        return self._make(name, rdtype, OK if rdatas else NODATA, rdatas, chain, "dns", started)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            self._semaphores = {loop: asyncio.Semaphore(self._concurrency)}  # forget closed loops
            semaphore = self._semaphores[loop]
        return semaphore

    def _past_deadline(self, name: str, rdtype: str, started: float) -> Lookup:
        return Lookup(
            name,
            rdtype,
            TIMEOUT,
            error="the audit's overall time limit was reached",
            started_ms=self._ms(started),
            duration_ms=(time.monotonic() - started) * 1000,
        )

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
        return (
            bool(network)
            and all(lookup.outcome in (TIMEOUT, ERROR) for lookup in network)
            and not any(lookup.source == "zone" and lookup.answered for lookup in self.log)
        )


def _valid_name(name: str) -> bool:
    if len(name) > 254 or name == ".":
        return name == "."
    labels = name[:-1].split(".")
    if not all(0 < len(label) <= 63 for label in labels):
        return False
    try:
        dns.name.from_text(name)
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return False  # e.g. a bad escape, or a label too long once IDNA-encoded
    return True


def _valid_type(rdtype: str) -> bool:
    try:
        dns.rdatatype.from_text(rdtype)
    except (dns.exception.DNSException, ValueError):
        return False
    return True


def _chain_from_response(response: dns.message.Message | None, qname: str) -> list[str]:
    """The aliases a response leads through from `qname`, in order (CNAME owners matched case-insensitively)."""
    chain: list[str] = []
    if response is None:
        return chain
    current = dns.name.from_text(qname)
    for _ in range(MAX_CNAME_HOPS * 2):
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.CNAME and rrset.name == current:
                current = next(iter(rrset)).target
                target = current.to_text().lower()
                if target in chain:
                    return chain  # a loop: stop where it closes
                chain.append(target)
                break
        else:
            return chain
    return chain


def _chain_from_nxdomain(exc: dns.resolver.NXDOMAIN, qname: str) -> list[str]:
    try:
        response = exc.responses().get(dns.name.from_text(qname))
    except Exception:  # dnspython raises when the exception carries no responses
        return []
    return _chain_from_response(response, qname)


def _classify_failure(exc: dns.resolver.NoNameservers) -> tuple[str, str]:
    """SERVFAIL vs REFUSED vs anything else, from the per-server errors dnspython collected.

    Each error is (server, tcp, port, problem, response); `problem` is the rcode's text when the server
    answered with an error rcode, otherwise the exception (a malformed answer, a closed connection, ...).
    """
    errors = exc.kwargs.get("errors") or []
    for error in errors:
        problem = error[3] if len(error) > 3 else None
        response = error[4] if len(error) > 4 else None
        if isinstance(problem, str) and isinstance(response, dns.message.Message):
            rcode = response.rcode()
            if rcode == dns.rcode.SERVFAIL:
                return SERVFAIL, "the DNS server answered SERVFAIL"
            if rcode == dns.rcode.REFUSED:
                return REFUSED, "the DNS server refused the query"
    for error in errors:
        problem = error[3] if len(error) > 3 else None
        if isinstance(problem, str):
            return ERROR, f"the DNS server answered {problem}"
        if problem is not None:
            return ERROR, f"unusable answer from the DNS server: {_one_line(problem)}"
    return ERROR, "all DNS servers failed"


def _one_line(exc: object) -> str:
    return " ".join(str(exc).split())[:200] or exc.__class__.__name__


@dataclass
class LookupSummary:
    """What the JSON `facts.dns` carries about the audit's DNS work."""

    nameservers: list[str] = field(default_factory=list)
    queries: int = 0
    cache_hits: int = 0
    failed: list[dict] = field(default_factory=list)
