"""Real SMTP servers on loopback for the probe's tests: aiosmtpd behind trustme certificates.

One `SmtpLab` runs every server on one asyncio loop in a background thread, so tests that call
`asyncio.run(probe(...))` talk to them over real sockets:

    starttls         STARTTLS, AUTH PLAIN/LOGIN/CRAM-MD5 after TLS, certificate for localhost and mail.example.test
    implicit         TLS from the first byte (port-465 style), same certificate and logins
    plain            no TLS at all, AUTH offered in clear
    no_auth          STARTTLS, no login mechanisms offered (a local relay that takes no logins)
    self_signed      STARTTLS with a self-signed certificate
    expired          STARTTLS with a certificate from the test CA that expired yesterday
    wrong_name       STARTTLS with a certificate for other.example.net only
    reject_from      STARTTLS and logins, but MAIL FROM is refused with 553
    needs_auth       STARTTLS and logins, and MAIL FROM without a login is refused with 530
    silent           accepts connections and never says a word
    closed           a port where nothing listens (connection refused)
    blackhole        a port whose accept queue is full, so connection attempts time out

    with SmtpLab() as lab:
        settings = lab.settings("starttls", login=LOGIN, secret=PASSWORD)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import secrets
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from auditor.appconfig.model import SmtpSettings

RELAY_NAMES = ("localhost", "mail.example.test")
LOGIN = "mastodon@example.test"
PASSWORD = "Zq7!vortex-Plum#hedge42"  # distinctive, so a leak anywhere is found by a plain search
FROM_ADDRESS = "Mastodon <notifications@example.test>"
REJECTED_FROM_MESSAGE = "553 5.7.1 Sender address rejected: not owned by user"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class _Handler:
    reject_from: bool = False
    received: list[Received] = field(default_factory=list)

    async def handle_MAIL(self, server, session: Session, envelope: Envelope, address: str, options):
        if self.reject_from:
            return REJECTED_FROM_MESSAGE
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server, session: Session, envelope: Envelope):
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Ok: queued as TEST123"

    async def auth_CRAM__MD5(self, server: SMTP, args) -> AuthResult:  # aiosmtpd has no CRAM-MD5 of its own
        challenge = f"<{secrets.token_hex(4)}@mail.example.test>".encode()
        response = await server.challenge_auth(challenge)
        if response is MISSING:  # the client cancelled; aiosmtpd has answered already
            return AuthResult(success=False, handled=True)
        login, _, digest = response.decode().rpartition(" ")
        expected = hmac.new(PASSWORD.encode(), challenge, "md5").hexdigest()
        return AuthResult(success=login == LOGIN and hmac.compare_digest(digest, expected), handled=False)


def _authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    good = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == LOGIN.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=good, handled=False)  # handled=False: aiosmtpd sends the 535 itself


def _server_context(cert_pem: bytes, key_pem: bytes, directory: Path, name: str) -> ssl.SSLContext:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


def _self_signed(names: tuple[str, ...]) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpLab:
    def __init__(self) -> None:
        # aiosmtpd logs a traceback for every client that hangs up mid-handshake, which the probe does on purpose.
        logging.getLogger("mail.log").setLevel(logging.CRITICAL)
        self._tmp = tempfile.TemporaryDirectory(prefix="smtplab-")
        self.dir = Path(self._tmp.name)
        self.ca = trustme.CA()
        self.ca_file = str(self.dir / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self.handlers: dict[str, _Handler] = {}
        self.ports: dict[str, int] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smtp-lab", daemon=True)
        self._servers: list[asyncio.AbstractServer] = []
        self._sockets: list[socket.socket] = []

    # -- certificates ----------------------------------------------------------------------------------

    def _leaf_context(self, name: str, *identities: str, **kwargs) -> ssl.SSLContext:
        leaf = self.ca.issue_cert(*identities, **kwargs)
        return _server_context(leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes(), self.dir, name)

    # -- life cycle ------------------------------------------------------------------------------------

    def start(self) -> SmtpLab:
        self._thread.start()
        now = dt.datetime.now(dt.UTC)
        good = self._leaf_context("good", *RELAY_NAMES)
        expired = self._leaf_context(
            "expired",
            *RELAY_NAMES,
            not_before=now - dt.timedelta(days=60),
            not_after=now - dt.timedelta(days=1),
        )
        wrong_name = self._leaf_context("wrong", "other.example.net")
        self_signed = _server_context(*_self_signed(RELAY_NAMES), self.dir, "selfsigned")
        self._smtp("starttls", tls_context=good)
        self._smtp("implicit", implicit=good, auth_require_tls=False)
        self._smtp("plain", auth_require_tls=False)
        self._smtp("no_auth", tls_context=good, auth_exclude_mechanism=["PLAIN", "LOGIN", "CRAM-MD5"])
        self._smtp("self_signed", tls_context=self_signed)
        self._smtp("expired", tls_context=expired)
        self._smtp("wrong_name", tls_context=wrong_name)
        self._smtp("reject_from", tls_context=good, reject_from=True)
        self._smtp("needs_auth", tls_context=good, auth_required=True)
        self._run(self._silent())
        self.ports["closed"] = free_port()
        self._blackhole()
        return self

    def stop(self) -> None:
        async def close_all() -> None:
            for server in self._servers:
                server.close()
            for server in self._servers:
                await server.wait_closed()

        self._run(close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        for sock in self._sockets:
            sock.close()
        self._tmp.cleanup()

    def __enter__(self) -> SmtpLab:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def _smtp(
        self,
        name: str,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit: ssl.SSLContext | None = None,
        reject_from: bool = False,
        **kwargs,
    ) -> None:
        handler = _Handler(reject_from=reject_from)
        self.handlers[name] = handler

        def factory() -> SMTP:
            return SMTP(
                handler,
                hostname="mail.example.test",
                tls_context=tls_context,
                authenticator=_authenticator,
                loop=self._loop,
                **kwargs,
            )

        async def serve() -> asyncio.AbstractServer:
            return await self._loop.create_server(factory, "127.0.0.1", 0, ssl=implicit)

        server = self._run(serve())
        self._servers.append(server)
        self.ports[name] = server.sockets[0].getsockname()[1]

    async def _silent(self) -> None:
        async def never_speak(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await reader.read()  # until the client gives up
            finally:
                writer.close()

        server = await asyncio.start_server(never_speak, "127.0.0.1", 0)
        self._servers.append(server)
        self.ports["silent"] = server.sockets[0].getsockname()[1]

    def _blackhole(self) -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        filler = socket.create_connection(("127.0.0.1", port), timeout=2)  # fills the queue of one
        self._sockets += [listener, filler]
        self.ports["blackhole"] = port

    # -- settings for the tests ------------------------------------------------------------------------

    def settings(self, server: str, **overrides) -> SmtpSettings:
        """Settings for `server` as a careful admin would write them; `overrides` change any field."""
        tls = "implicit" if server == "implicit" else "starttls"
        values = {
            "host": "localhost",
            "port": self.ports[server],
            "tls": tls,
            "verify": "peer",
            "ca_file": self.ca_file,
            "login": LOGIN,
            "secret": PASSWORD,
            "auth_method": "plain",
            "from_address": FROM_ADDRESS,
            "helo_domain": "mastodon.example.test",
            "instance_domain": "example.test",
            "app": "mastodon",
        }
        values.update(overrides)
        return SmtpSettings(**values)
