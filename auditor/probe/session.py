"""A small SMTP client on asyncio streams: replies, commands, STARTTLS, every step bounded in time.

smtplib would hide the TLS details and the exact failure (refused vs timed out vs no route); raw streams
with `StreamWriter.start_tls` give both, and every wait is cut at the step timeout and the probe's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
import time
from dataclasses import dataclass, field

from auditor.probe import model
from auditor.probe.redact import Redactor

MAX_REPLY_LINES = 200
MAX_LINE_SHOWN = 300  # characters of one server line kept in the transcript
MAX_TRANSCRIPT_LINES = 400
STREAM_LIMIT = 64 * 1024


class StepTimeout(Exception):
    """A step did not finish within its time (or the probe's deadline was reached)."""


class Closed(Exception):
    """The server closed the connection, or sent something that is not SMTP."""


class Deadline:
    def __init__(self, step: float, total: float):
        self.step = step
        self.end = time.monotonic() + total

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def budget(self) -> float:
        """Time allowed for the next step: the step timeout, cut by what is left of the whole probe."""
        left = self.remaining()
        if left <= 0:
            raise StepTimeout("the probe's overall time limit was reached")
        return min(self.step, left)

    async def run(self, awaitable, what: str):
        budget = self.budget()
        try:
            return await asyncio.wait_for(awaitable, budget)
        except TimeoutError:
            raise StepTimeout(f"{what}: no answer within {budget:.3g}s") from None


class Transcript:
    """The dialogue as "C: …" / "S: …" lines; client lines are given already masked where they carry secrets."""

    def __init__(self, redactor: Redactor):
        self.redactor = redactor
        self.lines: list[str] = []

    def _add(self, line: str) -> None:
        if len(self.lines) < MAX_TRANSCRIPT_LINES:
            self.lines.append(self.redactor.text(line))
        elif len(self.lines) == MAX_TRANSCRIPT_LINES:
            self.lines.append("-- transcript cut here")

    def client(self, shown: str) -> None:
        self._add(f"C: {shown}")

    def server(self, line: str) -> None:
        if len(line) > MAX_LINE_SHOWN:
            line = line[:MAX_LINE_SHOWN] + "…"
        self._add(f"S: {line}")

    def note(self, text: str) -> None:
        self._add(f"-- {text}")


@dataclass
class Reply:
    code: int
    lines: list[str] = field(default_factory=list)  # the text after "250-" / "250 "

    @property
    def text(self) -> str:
        return " ".join(line.strip() for line in self.lines).strip()

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 400

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


def classify_os_error(exc: BaseException) -> tuple[str, str]:
    """A failed TCP connect → (outcome, detail in words)."""
    if isinstance(exc, ConnectionRefusedError):
        return model.REFUSED, "connection refused: nothing listens on that port, or a firewall rejects it"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, StepTimeout)):
        return (
            model.TIMEOUT,
            "no answer to the connection attempt (a firewall or the hoster may drop the port)",
        )
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
        return model.NO_ROUTE, f"no route to the address ({exc.strerror or exc.__class__.__name__})"
    if isinstance(exc, socket.gaierror):
        return model.DNS_FAILURE, f"name resolution failed ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return model.ERROR, exc.strerror
    return model.ERROR, exc.__class__.__name__


class SmtpSession:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        deadline: Deadline,
        transcript: Transcript,
    ):
        self.reader = reader
        self.writer = writer
        self.deadline = deadline
        self.transcript = transcript

    @classmethod
    async def connect(
        cls, address: str, port: int, deadline: Deadline, transcript: Transcript
    ) -> SmtpSession:
        """A plain TCP connection; raises StepTimeout or OSError (see `classify_os_error`)."""
        reader, writer = await deadline.run(
            asyncio.open_connection(address, port, limit=STREAM_LIMIT), f"connect to {address} port {port}"
        )
        return cls(reader, writer, deadline, transcript)

    async def read_reply(self, what: str = "reply") -> Reply:
        return await self.deadline.run(self._read_reply(), what)

    async def _read_reply(self) -> Reply:
        lines: list[str] = []
        code = 0
        while len(lines) < MAX_REPLY_LINES:
            try:
                raw = await self.reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                raise Closed("the server sent a line longer than SMTP allows") from None
            except (ConnectionError, ssl.SSLError) as exc:
                raise Closed(f"the connection broke ({exc.__class__.__name__})") from None
            if not raw:
                raise Closed("the server closed the connection")
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            self.transcript.server(line)
            if len(line) < 3 or not line[:3].isdigit() or (len(line) > 3 and line[3] not in " -"):
                raise Closed(f"the server did not answer in SMTP: {line[:80]!r}")
            code = int(line[:3])
            lines.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return Reply(code, lines)
        raise Closed("the server's reply did not end")

    async def send_line(self, line: str, shown: str | None = None) -> None:
        self.transcript.client(line if shown is None else shown)
        try:
            self.writer.write(line.encode("utf-8") + b"\r\n")
            await self.deadline.run(self.writer.drain(), "sending")
        except (ConnectionError, ssl.SSLError, RuntimeError) as exc:
            raise Closed(f"the connection broke ({exc.__class__.__name__})") from None

    async def send_data(self, body: bytes, shown: str) -> Reply:
        """The message after DATA's 354 (already dot-stuffed and ended); the transcript gets `shown`."""
        self.transcript.client(shown)
        try:
            self.writer.write(body)
            await self.deadline.run(self.writer.drain(), "sending the message")
        except (ConnectionError, ssl.SSLError, RuntimeError) as exc:
            raise Closed(f"the connection broke ({exc.__class__.__name__})") from None
        return await self.read_reply("end of data")

    async def command(self, line: str, shown: str | None = None) -> Reply:
        """Send a command line; `shown` replaces it in the transcript (for secrets)."""
        await self.send_line(line, shown)
        return await self.read_reply(line.split(" ", 1)[0] if shown is None else shown.split(" ", 1)[0])

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str | None) -> None:
        """Upgrade the connection; raises ssl.SSLError (incl. SSLCertVerificationError), StepTimeout, Closed."""
        budget = self.deadline.budget()
        try:
            await asyncio.wait_for(
                self.writer.start_tls(context, server_hostname=server_hostname, ssl_handshake_timeout=budget),
                budget + 0.5,  # the handshake timeout fires first; this only guards against a stuck loop
            )
        except TimeoutError:
            raise StepTimeout(f"TLS handshake: no answer within {budget:.3g}s") from None
        except (ConnectionError, EOFError) as exc:
            raise Closed(
                f"the server closed the connection during the TLS handshake ({exc.__class__.__name__})"
            ) from None

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        return self.writer.get_extra_info("ssl_object")

    async def quit(self) -> None:
        """QUIT politely when the connection still works; never raises."""
        with contextlib.suppress(StepTimeout, Closed, OSError, ssl.SSLError):
            await self.command("QUIT")
        await self.close()

    async def close(self) -> None:
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 0.25)
        except (TimeoutError, OSError, ssl.SSLError, RuntimeError):
            pass


def parse_ehlo(reply: Reply) -> dict[str, str]:
    """EHLO reply lines after the first → {KEYWORD: parameters}."""
    extensions: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            extensions[keyword.upper()] = params.strip()
    return extensions
