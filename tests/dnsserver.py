"""A small DNS server on loopback (UDP and TCP on one port) for the tests and the benchmarks.

It serves every record added to it, whatever the owner names, and answers the way a recursive resolver
looks to its client: CNAME chains are followed inside its data, NXDOMAIN vs NODATA follow RFC 8020 (a
name with descendants exists), wildcards follow RFC 4592, AA and RA are set. Per name (and optionally
per type) it can delay, drop, SERVFAIL, REFUSE or truncate answers (a behaviour also applies when the
name is reached through a CNAME), and it logs every query it receives (`log`, `queries()`), plus the most
queries it ever held at once (`peak_concurrency`, to check a client's concurrency cap).

It runs its own asyncio loop in a background thread, so synchronous tests and tests that call
`asyncio.run(...)` can both use it. Every query is handled in its own task: a delayed name never holds
up another one.

    with DnsServer() as server:
        server.add_zone_text('@ TXT "v=spf1 -all"', origin="example.org.")
        resolver = auditor.dns.Resolver(nameservers=[server.nameserver])
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.tokenizer
import dns.zonefile

# Longest CNAME chain followed before giving up with SERVFAIL (real resolvers stop somewhere near here).
MAX_CNAME_CHAIN = 10
DEFAULT_TTL = 300
UDP_PLAIN_LIMIT = 512  # RFC 1035 §4.2.1: a UDP answer without EDNS
TCP_LIMIT = 65535


@dataclass(frozen=True)
class QueryLogEntry:
    name: str  # lowercase, absolute (trailing dot)
    rdtype: str  # "TXT", "A", ...
    transport: str  # "udp" | "tcp"
    time: float  # time.monotonic() when the query arrived


@dataclass(frozen=True)
class _Reply:
    """What to do with one query: send `message` (unless dropped) after `delay` seconds."""

    message: dns.message.Message | None
    delay: float = 0.0
    force_truncate: bool = False  # the `truncate` behaviour: TC over UDP whatever the size
    udp_limit: int = UDP_PLAIN_LIMIT  # 512, or the client's EDNS payload size


def _absolute(name: str | dns.name.Name) -> dns.name.Name:
    if isinstance(name, dns.name.Name):
        parsed = name if name.is_absolute() else name.concatenate(dns.name.root)
    else:
        parsed = dns.name.from_text(name.strip(), origin=dns.name.root)
    return dns.name.from_text(parsed.to_text().lower())


def _type_key(rdtype: str | None) -> int | None:
    return None if rdtype is None else int(dns.rdatatype.from_text(rdtype.upper()))


class _RecordSink:
    """Stands in for the dnspython transaction the zone file reader writes into.

    dnspython's own transactions insist that an SOA sits at the origin and that every name is inside the
    zone; this server holds many zones in one store, so it takes the records as they come.
    """

    class _Manager:
        @staticmethod
        def origin_information():
            return dns.name.root, False, dns.name.root

    manager = _Manager()

    def __init__(self) -> None:
        self.records: list[tuple[dns.name.Name, int, dns.rdata.Rdata]] = []

    def check_put_rdataset(self, check) -> None:  # the reader registers a CNAME-and-other-data check
        pass

    def add(self, name: dns.name.Name, ttl: int, rdata: dns.rdata.Rdata) -> None:
        self.records.append((name, ttl, rdata))

    def _set_origin(self, origin) -> None:
        pass


def parse_zone_text(
    text: str, origin: str = ".", default_ttl: int = DEFAULT_TTL
) -> list[tuple[dns.name.Name, int, dns.rdata.Rdata]]:
    """Records from zone-file text: `$ORIGIN`, `$TTL`, `@`, relative and absolute names, any owner names."""
    sink = _RecordSink()
    tokenizer = dns.tokenizer.Tokenizer(f"$ORIGIN {_absolute(origin)}\n{text}\n", "<zone text>")
    reader = dns.zonefile.Reader(
        tokenizer,
        dns.rdataclass.IN,
        sink,  # type: ignore[arg-type]
        allow_directives={"$ORIGIN", "$TTL", "$GENERATE"},
        default_ttl=default_ttl,
    )
    reader.read()
    return sink.records


class DnsServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._lock = threading.Lock()
        self._data: dict[dns.name.Name, dict[int, dns.rdataset.Rdataset]] = {}
        self._existing: set[dns.name.Name] = set()  # every owner name and all its ancestors
        self._behaviours: dict[str, dict[tuple[dns.name.Name, int | None], float | bool]] = {
            kind: {} for kind in ("delay", "drop", "servfail", "refuse", "truncate")
        }
        self._latency = 0.0
        self._silent = False
        self.log: list[QueryLogEntry] = []
        self._in_progress = 0  # queries received and not yet answered (or dropped)
        self.peak_concurrency = 0  # the most queries ever in progress at once (how a client's cap shows)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._udp_transport: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()  # one per query being answered
        self._writers: set[asyncio.StreamWriter] = set()  # open TCP connections

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> DnsServer:
        if self._loop is not None:
            return self
        udp_sock, tcp_sock = self._bind()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-dns-server", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(udp_sock, tcp_sock), self._loop).result(timeout=5)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the DNS server is not started")
        return self._port

    @property
    def nameserver(self) -> tuple[str, int]:
        return self.host, self.port

    def _bind(self) -> tuple[socket.socket, socket.socket]:
        """A UDP and a TCP socket on the same port; with port 0, retry until both halves are free."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(50):
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, self._requested_port))
                port = tcp.getsockname()[1]
                udp = socket.socket(family, socket.SOCK_DGRAM)
                try:
                    udp.bind((self.host, port))
                except OSError:
                    udp.close()
                    raise
            except OSError:
                tcp.close()
                if self._requested_port:
                    raise
                continue
            tcp.listen(64)
            tcp.setblocking(False)
            udp.setblocking(False)
            self._port = port
            return udp, tcp
        raise OSError("could not find a port free for both UDP and TCP")

    async def _serve(self, udp_sock: socket.socket, tcp_sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._udp_transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), sock=udp_sock
        )
        self._tcp_server = await asyncio.start_server(self._handle_tcp, sock=tcp_sock)

    async def _shutdown(self) -> None:
        if self._udp_transport is not None:
            self._udp_transport.close()
        if self._tcp_server is not None:
            self._tcp_server.close()
        for task in list(self._tasks):
            task.cancel()
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tcp_server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._tcp_server.wait_closed(), 1)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- data ------------------------------------------------------------------------------------------

    def add_zone_text(self, text: str, origin: str = ".") -> None:
        """Zone-file text; relative names are taken relative to `origin` (or a `$ORIGIN` in the text)."""
        for name, ttl, rdata in parse_zone_text(text, origin):
            self._add(name, ttl, rdata)

    def add_zone_file(self, path: str | Path) -> None:
        """A zone file; the origin is its `$ORIGIN` or else its file name (`example.org.zone`)."""
        path = Path(path)
        origin = path.name.removesuffix(".zone").rstrip(".") + "." if path.name.endswith(".zone") else "."
        self.add_zone_text(path.read_text(encoding="utf-8"), origin)

    def add_record(self, name: str, rdtype: str, value: str, ttl: int = DEFAULT_TTL) -> None:
        """One record; `value` in presentation form (TXT: '"v=spf1 -all"' or several quoted strings)."""
        rdata = dns.rdata.from_text(
            dns.rdataclass.IN, rdtype.upper(), value, origin=dns.name.root, relativize=False
        )
        self._add(_absolute(name), ttl, rdata)

    def _add(self, name: dns.name.Name, ttl: int, rdata: dns.rdata.Rdata) -> None:
        name = _absolute(name)
        with self._lock:
            rdatasets = self._data.setdefault(name, {})
            rdataset = rdatasets.get(rdata.rdtype)
            if rdataset is None:
                rdataset = rdatasets[rdata.rdtype] = dns.rdataset.Rdataset(dns.rdataclass.IN, rdata.rdtype)
            rdataset.add(rdata, ttl)
            ancestor = name
            while ancestor not in self._existing:
                self._existing.add(ancestor)
                if ancestor == dns.name.root:
                    break
                ancestor = ancestor.parent()

    def clear(self) -> None:
        """Drop all data, behaviours and the query log."""
        with self._lock:
            self._data.clear()
            self._existing.clear()
            for table in self._behaviours.values():
                table.clear()
            self._latency = 0.0
            self._silent = False
            self.log.clear()
            self.peak_concurrency = 0

    # -- behaviours ------------------------------------------------------------------------------------

    def delay(self, name: str, seconds: float, rdtype: str | None = None) -> None:
        self._set_behaviour("delay", name, rdtype, float(seconds))

    def drop(self, name: str, rdtype: str | None = None) -> None:
        self._set_behaviour("drop", name, rdtype, True)

    def servfail(self, name: str, rdtype: str | None = None) -> None:
        self._set_behaviour("servfail", name, rdtype, True)

    def refuse(self, name: str, rdtype: str | None = None) -> None:
        self._set_behaviour("refuse", name, rdtype, True)

    def truncate(self, name: str, rdtype: str | None = None) -> None:
        """Always set TC over UDP for this name; TCP gets the full answer."""
        self._set_behaviour("truncate", name, rdtype, True)

    def drop_all(self) -> None:
        """Never answer anything: a DNS server that is down or firewalled."""
        self._silent = True

    def set_latency(self, seconds: float) -> None:
        """A delay added to every answer (the benchmarks' stand-in for a distant resolver)."""
        self._latency = float(seconds)

    def _set_behaviour(self, kind: str, name: str, rdtype: str | None, value: float | bool) -> None:
        with self._lock:
            self._behaviours[kind][(_absolute(name), _type_key(rdtype))] = value

    def _behaviour(self, kind: str, names: list[dns.name.Name], rdtype: int):
        table = self._behaviours[kind]
        for name in names:
            for key in ((name, rdtype), (name, None)):
                if key in table:
                    return table[key]
        return None

    # -- the log ---------------------------------------------------------------------------------------

    def queries(self, name: str | None = None, rdtype: str | None = None) -> list[QueryLogEntry]:
        wanted_name = None if name is None else _absolute(name).to_text()
        wanted_type = None if rdtype is None else rdtype.upper()
        with self._lock:
            entries = list(self.log)
        return [
            entry
            for entry in entries
            if (wanted_name is None or entry.name == wanted_name)
            and (wanted_type is None or entry.rdtype == wanted_type)
        ]

    # -- answering -------------------------------------------------------------------------------------

    def _reply_for(self, wire: bytes, transport: str) -> _Reply | None:
        """The reply to one query, or None when the bytes are not a query worth answering."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None  # garbage: a real server would send FORMERR if it could; we stay silent
        if query.flags & dns.flags.QR:
            return None  # a response sent to us: never answer those (reflection loops)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA | dns.flags.RA
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return _Reply(response)
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return _Reply(response)
        question = query.question[0]
        qname = _absolute(question.name)
        with self._lock:
            self.log.append(
                QueryLogEntry(
                    qname.to_text(), dns.rdatatype.to_text(question.rdtype), transport, time.monotonic()
                )
            )
            rcode, answer, authority, visited = self._resolve(qname, question.rdtype)
            delay = self._latency + (self._behaviour("delay", visited, question.rdtype) or 0.0)
            if self._silent or self._behaviour("drop", visited, question.rdtype):
                return _Reply(None, delay)
            if self._behaviour("servfail", visited, question.rdtype):
                rcode, answer, authority = dns.rcode.SERVFAIL, [], []
            if self._behaviour("refuse", visited, question.rdtype):
                rcode, answer, authority = dns.rcode.REFUSED, [], []
            truncate = bool(self._behaviour("truncate", visited, question.rdtype))
        response.set_rcode(rcode)
        response.answer.extend(answer)
        response.authority.extend(authority)
        udp_limit = max(UDP_PLAIN_LIMIT, query.payload) if query.edns >= 0 else UDP_PLAIN_LIMIT
        return _Reply(response, delay, truncate, udp_limit)

    def _resolve(self, qname: dns.name.Name, rdtype: int):
        """(rcode, answer rrsets, authority rrsets, names visited) for a question, CNAMEs followed."""
        answer: list[dns.rrset.RRset] = []
        visited: list[dns.name.Name] = []
        name = qname
        while True:
            if name in visited or len(visited) > MAX_CNAME_CHAIN:
                return dns.rcode.SERVFAIL, [], [], visited + [name]
            visited.append(name)
            rdatasets = self._rdatasets_at(name)
            if rdatasets is None:
                return dns.rcode.NXDOMAIN, answer, self._soa_for(name), visited
            if rdtype == dns.rdatatype.ANY and rdatasets:
                answer.extend(self._rrset(name, rds) for rds in rdatasets.values())
                return dns.rcode.NOERROR, answer, [], visited
            if rdtype in rdatasets:
                answer.append(self._rrset(name, rdatasets[rdtype]))
                return dns.rcode.NOERROR, answer, [], visited
            cname = rdatasets.get(dns.rdatatype.CNAME)
            if cname is None:
                return dns.rcode.NOERROR, answer, self._soa_for(name), visited
            answer.append(self._rrset(name, cname))
            name = _absolute(next(iter(cname)).target)

    def _rdatasets_at(self, name: dns.name.Name) -> dict[int, dns.rdataset.Rdataset] | None:
        """The data at a name: its own, a wildcard's (RFC 4592), {} for an empty non-terminal, None if absent."""
        if name in self._data:
            return self._data[name]
        if name in self._existing:
            return {}
        closest_encloser = name.parent() if name != dns.name.root else name
        while closest_encloser not in self._existing and closest_encloser != dns.name.root:
            closest_encloser = closest_encloser.parent()
        wildcard = dns.name.Name((b"*",) + closest_encloser.labels)
        return self._data.get(wildcard)

    @staticmethod
    def _rrset(owner: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> dns.rrset.RRset:
        rrset = dns.rrset.RRset(owner, rdataset.rdclass, rdataset.rdtype)
        rrset.update(rdataset)
        return rrset

    def _soa_for(self, name: dns.name.Name) -> list[dns.rrset.RRset]:
        """The enclosing zone's SOA for a negative answer (RFC 2308), when the data has one."""
        while True:
            soa = self._data.get(name, {}).get(dns.rdatatype.SOA)
            if soa is not None:
                return [self._rrset(name, soa)]
            if name == dns.name.root:
                return []
            name = name.parent()

    @staticmethod
    def _wire(reply: _Reply, udp: bool) -> bytes:
        message = reply.message
        assert message is not None
        try:
            wire = message.to_wire(max_size=TCP_LIMIT)
        except dns.exception.TooBig:  # more than even TCP carries: say so the only way DNS can
            wire = b""
            udp = True
        if udp and (reply.force_truncate or not wire or len(wire) > reply.udp_limit):
            message.answer.clear()
            message.authority.clear()
            message.additional.clear()
            message.flags |= dns.flags.TC
            wire = message.to_wire()
        return wire

    @contextlib.contextmanager
    def _counted(self):
        self._in_progress += 1
        self.peak_concurrency = max(self.peak_concurrency, self._in_progress)
        try:
            yield
        finally:
            self._in_progress -= 1

    async def _answer_udp(self, wire: bytes, addr, transport: asyncio.DatagramTransport) -> None:
        reply = self._reply_for(wire, "udp")
        if reply is None:
            return
        with self._counted():
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.message is None or transport.is_closing():
                return
            transport.sendto(self._wire(reply, udp=True), addr)

    async def _handle_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Several queries per connection, each answered in its own task as soon as it is ready."""
        self._writers.add(writer)
        pending: set[asyncio.Task] = set()
        try:
            while True:
                try:
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                    wire = await reader.readexactly(length)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                task = self._spawn(self._answer_tcp(wire, writer))
                pending.add(task)
                task.add_done_callback(pending.discard)
            # The client finished sending; answers still on their way get written before we close.
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer_tcp(self, wire: bytes, writer: asyncio.StreamWriter) -> None:
        reply = self._reply_for(wire, "tcp")
        if reply is None:
            return
        with self._counted():
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.message is None or writer.is_closing():
                return
            data = self._wire(reply, udp=False)
            writer.write(struct.pack("!H", len(data)) + data)  # one write: answers never interleave
        with contextlib.suppress(ConnectionError):
            await writer.drain()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer):
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        assert self.transport is not None
        self.server._spawn(self.server._answer_udp(data, addr, self.transport))

    def error_received(self, exc: Exception) -> None:  # ICMP errors from clients that went away
        pass
