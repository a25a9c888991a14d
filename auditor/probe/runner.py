"""The live probe: resolve, connect, greet, TLS, log in, MAIL FROM, send — each stage as the app would do it.

Every stage records what it saw in `ProbeFacts`; a stage that fails ends the dialogue the way the app's own
attempt would end, and a second short connection is opened only to explain a failure (is port 465 really
implicit TLS? what does the refused certificate say?).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import re
import ssl
import time

from auditor import dns
from auditor.appconfig.model import SmtpSettings
from auditor.errors import AuditorError
from auditor.facts.base import Unknown
from auditor.probe import advice, message, model, network, tlscheck
from auditor.probe.redact import Redactor, b64
from auditor.probe.session import Closed, Deadline, Reply, SmtpSession, StepTimeout, Transcript, parse_ehlo

TLS_MODES = ("starttls", "implicit", "none")
AUTH_MECHANISMS = {"plain": "PLAIN", "login": "LOGIN", "cram_md5": "CRAM-MD5"}
EXPIRY_WARNING_DAYS = 14
VERDICTS = (
    "unreachable",
    "port_blocked",
    "no_greeting",
    "greeting_rejected",
    "helo_rejected",
    "tls_failed",
    "tls_mismatch",
    "cert_invalid",
    "auth_failed",
    "auth_unsupported",
    "auth_required",
    "rejected_from",
    "send_failed",
)
_NOT_PROBED = Unknown("not probed")
# Words in a final DATA refusal that point at the sender rather than the message (SES: "Email address is not
# verified"; IONOS: sender domain differs from the account's).
_SENDER_REFUSAL = re.compile(r"not verified|sender|from address|not owned|not allowed to send|identity", re.I)


async def probe(
    settings: SmtpSettings, options: model.ProbeOptions | None = None, resolver: dns.Resolver | None = None
) -> model.ProbeFacts:
    """Probe the relay in `settings`; never raises for network trouble, only for unusable settings."""
    options = options or model.ProbeOptions()
    if not settings.host or not settings.host.strip():
        raise AuditorError(
            "the settings name no SMTP relay (SMTP_SERVER is empty); there is nothing to probe"
        )
    if options.timeout <= 0 or options.deadline <= 0:
        raise AuditorError("the probe's timeout must be a positive number of seconds")
    run = _Probe(settings, options, resolver)
    started = time.monotonic()
    try:
        # The steps keep to the deadline themselves; this only guards against a step that does not.
        await asyncio.wait_for(run.run(), options.deadline + 1.0)
    except TimeoutError:
        run.stop("the probe's overall time limit was reached")
    run.finish(started)
    return run.redactor.scrub(run.facts)


class _Probe:
    def __init__(self, settings: SmtpSettings, options: model.ProbeOptions, resolver: dns.Resolver | None):
        self.settings = settings
        self.options = options
        self.resolver = resolver
        self.host = settings.host.strip().rstrip(".")
        self.redactor = Redactor(settings.secrets(), settings.login)
        self.transcript = Transcript(self.redactor)
        self.deadline = Deadline(options.timeout, options.deadline)
        notes: list[str] = []
        port = settings.port
        if port is None:
            port = 25
            notes.append("No port in the settings: the app (Net::SMTP) uses 25.")
        mode = settings.tls or "starttls"
        if mode not in TLS_MODES:
            notes.append(f"Unknown TLS mode {mode!r} in the settings; probed as STARTTLS when offered.")
            mode = "starttls"
        self.mode = mode
        self.required = mode == "implicit" or (mode == "starttls" and settings.starttls_required)
        self.verify = "none" if settings.verify == "none" else "peer"
        helo = settings.helo_domain or settings.instance_domain
        if not helo:
            helo = "localhost"
            notes.append(
                "No SMTP_DOMAIN or LOCAL_DOMAIN: the EHLO name is localhost, which some relays refuse."
            )
        self.helo = helo
        self.facts = model.ProbeFacts(
            host=self.host,
            port=port,
            tls_mode=mode,
            verify_mode=self.verify,
            ehlo_name=helo,
            tls=model.TlsOutcome(mode=mode, required=self.required),
            notes=notes,
            transcript=self.transcript.lines,
        )
        self.port = port
        self.stop_reason: str | None = None
        if not options.send_test_to:
            self.facts.send_failed = Unknown("no test message was asked for (--send-test TO)")

    # -- the stages --------------------------------------------------------------------------------------

    async def run(self) -> None:
        f = self.facts
        f.dns = await network.resolve(self.host, self.port, self.deadline, self.resolver)
        if not f.dns.addresses:
            self._dns_failed()
            return
        f.addresses, session = await network.connect_all(
            f.dns.addresses, self.port, self.deadline, self.transcript
        )
        if session is None:
            await self._tcp_failed()
            return
        address = next(a.address for a in f.addresses if a.outcome == model.CONNECT_OK)
        f.connect = model.ConnectOutcome(model.CONNECT_OK, address=address, port=self.port)
        f.unreachable = False
        f.port_blocked = False
        self.transcript.note(f"connected to {address} port {self.port}")
        healthy = False
        try:
            healthy = await self._dialogue(session, address)
        except (StepTimeout, Closed) as exc:
            self.stop(f"the dialogue stopped: {exc}")
            self.facts.suggestions.append(
                f"The relay stopped answering in the middle of the dialogue ({exc})."
            )
        finally:
            if healthy:
                await session.quit()
            else:
                await session.close()

    async def _dialogue(self, session: SmtpSession, address: str) -> bool:
        """True when the dialogue ended cleanly (QUIT can be sent); False after a failure that broke it."""
        f = self.facts
        if self.mode == "implicit" and not await self._handshake(session, address):
            return False
        try:
            greeting = await session.read_reply("greeting")
        except StepTimeout:
            f.no_greeting = True
            if self.mode == "implicit":
                self._silent_server()
            else:
                await self._silent_port(address)
            return False
        f.no_greeting = False
        f.banner, f.banner_code = greeting.text, greeting.code
        if greeting.code != 220:
            f.greeting_rejected = True
            f.suggestions.append(
                f"The relay turned the connection away at once ({greeting}). It may block this server's IP "
                "address; the message usually says why."
            )
            self.stop("the relay refused the connection")
            return True
        f.greeting_rejected = False
        if not await self._ehlo(session):
            return True
        if self.mode == "starttls":
            if not await self._starttls(session, address):
                return f.tls.ok is not False  # a failed handshake leaves the connection unusable
        elif self.mode == "none":
            f.tls_failed = False
            f.tls_mismatch = False
            f.cert_invalid = Unknown("TLS is turned off in the settings")
            if f.starttls_offered:
                f.suggestions.append(
                    "The relay offers STARTTLS but the settings turn it off, so mail and the password travel in "
                    f"clear; set {advice.tls_setting_words(self.settings, 'starttls')}."
                )
                f.setting_changes += advice.tls_changes(self.settings, "starttls")
        if not await self._auth(session):
            return True
        await self._mail(session)
        return True

    async def _ehlo(self, session: SmtpSession) -> bool:
        f = self.facts
        reply = await session.command(f"EHLO {self.helo}")
        if reply.code == 250:
            self._take_extensions(parse_ehlo(reply))
            f.ehlo_code, f.ehlo_message = reply.code, (reply.lines[0] if reply.lines else "")
            f.helo_rejected = False
            return True
        f.ehlo_code, f.ehlo_message = reply.code, reply.text
        # Net::SMTP falls back to HELO when EHLO is refused; so does the probe.
        helo = await session.command(f"HELO {self.helo}")
        if helo.code == 250:
            f.helo_rejected = False
            if f.starttls_offered is None:
                f.starttls_offered = False
            f.notes.append(
                f"The relay refused EHLO ({reply}) but took HELO: no STARTTLS or login is possible then."
            )
            return True
        f.helo_rejected = True
        text = f"The relay refused the EHLO name {self.helo} ({reply})."
        instance = self.settings.instance_domain
        if instance and instance != self.helo:
            f.setting_changes.append(advice.change(self.settings, "helo_domain", instance, current=self.helo))
            text += f" Set {advice.key_of(self.settings, 'helo_domain')}={instance}."
        else:
            text += f" Set {advice.key_of(self.settings, 'helo_domain')} to this server's public host name."
        f.suggestions.append(text)
        self.stop("the relay refused the EHLO name")
        return False

    def _take_extensions(self, extensions: dict[str, str]) -> None:
        f = self.facts
        f.extensions = extensions
        if f.starttls_offered is None:  # what the server offers before TLS decides the STARTTLS question
            f.starttls_offered = "STARTTLS" in extensions
        mechanisms: list[str] = []
        for keyword in ("AUTH", "AUTH=LOGIN"):
            if keyword in extensions:
                mechanisms += [m.upper() for m in extensions[keyword].split()]
        for keyword in extensions:  # the old `AUTH=PLAIN LOGIN` form
            if keyword.startswith("AUTH="):
                mechanisms += [keyword[5:]] + [m.upper() for m in extensions[keyword].split()]
        f.auth_mechanisms = list(dict.fromkeys(m for m in mechanisms if m))
        size = extensions.get("SIZE", "").strip()
        f.size_limit = int(size) if size.isdigit() else None
        f.eight_bit_mime = "8BITMIME" in extensions
        f.smtputf8 = "SMTPUTF8" in extensions

    async def _starttls(self, session: SmtpSession, address: str) -> bool:
        f = self.facts
        if not f.starttls_offered:
            f.tls.mismatch = model.STARTTLS_NOT_OFFERED
            f.tls_mismatch = True
            f.cert_invalid = Unknown("the relay offers no STARTTLS")
            if self.required:
                f.tls_failed = True
                f.tls.error = "the relay does not offer STARTTLS and the settings require it"
                f.suggestions.append(
                    f"The relay on port {self.port} does not offer STARTTLS, and the settings require it "
                    f"({advice.key_of(self.settings, 'starttls_required')}=always), so the app gives up. Use the "
                    "provider's TLS port, or check that nothing between this server and the relay strips STARTTLS."
                )
                self.stop("no STARTTLS")
                return False
            f.tls_failed = False
            f.suggestions.append(
                f"The relay on port {self.port} does not offer STARTTLS: the app sends mail and the password in clear."
            )
            return True
        f.tls.attempted = True
        reply = await session.command("STARTTLS")
        if reply.code != 220:
            f.tls.ok = False
            f.tls.error = f"the relay answered STARTTLS with {reply}"
            f.tls_failed = True
            f.cert_invalid = Unknown("no TLS handshake happened")
            f.suggestions.append(f"The relay offered STARTTLS but refused it when asked ({reply}).")
            self.stop("STARTTLS refused")
            return False
        if not await self._handshake(session, address):
            return False
        return await self._ehlo(session)

    async def _handshake(self, session: SmtpSession, address: str) -> bool:
        """TLS as the app does it; on failure, finds out why (certificate, or the wrong TLS mode for the port)."""
        f = self.facts
        tls = f.tls
        tls.attempted = True
        try:
            context = tlscheck.app_context(self.verify, self.settings.ca_file)
        except tlscheck.CaFileError as exc:
            tls.ok, tls.error = False, str(exc)
            f.tls_failed = True
            f.cert_invalid = Unknown("the CA file could not be used")
            default = "/etc/ssl/certs/ca-certificates.crt"
            f.suggestions.append(
                f"The app cannot check the relay's certificate: {exc}. Point "
                f"{advice.key_of(self.settings, 'ca_file')} at the system bundle ({default}) or remove the line."
            )
            f.setting_changes.append(
                advice.change(self.settings, "ca_file", default, current=self.settings.ca_file)
            )
            self.stop("the CA file could not be used")
            return False
        self.transcript.note(f"TLS handshake ({self.mode}, verify {self.verify})")
        try:
            await session.start_tls(context, self.host)
        except ssl.SSLCertVerificationError as exc:
            await self._certificate_refused(exc, address)
            return False
        except (ssl.SSLError, StepTimeout, Closed, OSError) as exc:
            tls.ok = False
            tls.error = _tls_error_words(exc)
            self.transcript.note(f"TLS handshake failed: {tls.error}")
            f.tls_failed = True
            f.cert_invalid = Unknown("the TLS handshake failed before the certificate was checked")
            if self.mode == "implicit":
                await self._implicit_against_plain_port(address)
            else:
                f.tls_mismatch = False
                f.suggestions.append(f"The TLS handshake after STARTTLS failed: {tls.error}.")
            self.stop("the TLS handshake failed")
            return False
        self._record_tls(session.ssl_object)
        tls.ok = True
        f.tls_failed = False
        if f.tls_mismatch == _NOT_PROBED:
            f.tls_mismatch = False
        await self._certificate_accepted(session, address)
        return True

    def _record_tls(self, ssl_object: ssl.SSLObject | None) -> None:
        if ssl_object is None:
            return
        tls = self.facts.tls
        tls.version = ssl_object.version()
        cipher = ssl_object.cipher()
        if cipher:
            tls.cipher, tls.cipher_bits = cipher[0], cipher[2]
        self.transcript.note(f"TLS established: {tls.version} {tls.cipher}")

    def _new_certificate(self) -> model.CertificateOutcome:
        return model.CertificateOutcome(
            verify_mode=self.verify, ca_file=self.settings.ca_file, hostname=self.host
        )

    async def _certificate_accepted(self, session: SmtpSession, address: str) -> None:
        f = self.facts
        cert = self._new_certificate()
        f.certificate = cert
        der = session.ssl_object.getpeercert(binary_form=True) if session.ssl_object else None
        if der:
            tlscheck.read_certificate(der, self.host, cert)
        if self.verify == "peer":
            cert.valid, cert.chain_ok = True, True
            f.cert_invalid = False
        else:
            # The app does not check; report what checking would say, on a second connection.
            f.cert_invalid = False
            context = tlscheck.verifying_context(self.settings.ca_file)
            if context is not None:
                _der, error = await self._side_handshake(address, context, "checking the certificate")
                cert.valid = error is None
                cert.chain_ok = (
                    tlscheck.chain_ok_from(error)
                    if error is None or isinstance(error, ssl.SSLCertVerificationError)
                    else None
                )
                if isinstance(error, ssl.SSLCertVerificationError):
                    cert.error, cert.verify_code = (
                        tlscheck.verify_error_words(error, self.host),
                        error.verify_code,
                    )
                elif error is not None:
                    cert.valid = None
            if cert.valid:
                f.suggestions.append(
                    "The app does not check the relay's certificate, though it is valid: set "
                    f"{advice.key_of(self.settings, 'verify')}=peer so nobody in between can read the mail."
                )
                f.setting_changes.append(advice.change(self.settings, "verify", "peer", current="none"))
            elif cert.valid is False:
                f.notes.append(
                    f"The app does not check the relay's certificate; checking it would fail: {cert.error}."
                )
        if cert.days_left is not None and 0 <= cert.days_left < EXPIRY_WARNING_DAYS and not cert.expired:
            f.notes.append(f"The relay's certificate expires in {cert.days_left} days ({cert.not_after}).")

    async def _certificate_refused(self, exc: ssl.SSLCertVerificationError, address: str) -> None:
        f = self.facts
        words = tlscheck.verify_error_words(exc, self.host)
        f.tls.ok, f.tls.error, f.tls.certificate_error = False, words, True
        f.tls_failed = False
        f.tls_mismatch = False
        f.cert_invalid = True
        cert = self._new_certificate()
        cert.error, cert.verify_code, cert.valid = words, exc.verify_code, False
        cert.chain_ok = tlscheck.chain_ok_from(exc)
        f.certificate = cert
        self.transcript.note(f"TLS handshake failed: {words}")
        der, _error = await self._side_handshake(
            address, tlscheck.inspect_context(), "reading the certificate"
        )
        if der:
            tlscheck.read_certificate(der, self.host, cert)
        f.suggestions.append(self._certificate_advice(cert))
        self.stop("the certificate was refused")

    def _certificate_advice(self, cert: model.CertificateOutcome) -> str:
        ca_key = advice.key_of(self.settings, "ca_file")
        if cert.expired:
            return (
                f"The relay's certificate expired on {cert.not_after}, so the app refuses it. The relay's operator "
                "must renew it; if the relay is a provider's, check that the host name is the one they document."
            )
        if cert.self_signed:
            return (
                "The relay's certificate is self-signed, so the app refuses it. If the relay is yours, give it a "
                f"certificate from a public CA (e.g. Let's Encrypt), or point {ca_key} at a file holding this "
                "certificate."
            )
        if cert.hostname_ok is False or cert.verify_code in (
            tlscheck.HOSTNAME_MISMATCH,
            tlscheck.IP_MISMATCH,
        ):
            names = ", ".join(cert.names) or cert.subject or "other names"
            return (
                f"The relay's certificate is for {names}, not {self.host}. Set "
                f"{advice.key_of(self.settings, 'host')} to a name on the certificate."
            )
        if cert.chain_ok is False:
            where = f"the CA file {cert.ca_file}" if cert.ca_file else "the system's CA store"
            return (
                f"The app does not trust the certificate's issuer ({cert.issuer}) with {where}. If {ca_key} is set, "
                "it must hold the system's CA bundle; otherwise the relay may not send its intermediate certificate."
            )
        return f"The app refuses the relay's certificate: {cert.error}."

    async def _implicit_against_plain_port(self, address: str) -> None:
        """Implicit TLS failed: does the port greet in clear (a STARTTLS or plain port)?"""
        f = self.facts
        greeting, extensions = await self._side_plain_greeting(address)
        if greeting is None or greeting.code != 220:
            f.tls_mismatch = False
            f.suggestions.append(f"The TLS handshake on port {self.port} failed: {f.tls.error}.")
            return
        f.tls.mismatch = model.IMPLICIT_ON_STARTTLS_PORT
        f.tls_mismatch = True
        offers = extensions is not None and "STARTTLS" in extensions
        if offers:
            f.suggestions.append(
                f"Port {self.port} starts in clear and offers STARTTLS, but the settings use implicit TLS "
                f"({advice.key_of(self.settings, 'tls')}=true), which fails with 'wrong version number'. Set "
                f"{advice.tls_setting_words(self.settings, 'starttls')}, or use port 465 with implicit TLS."
            )
            f.setting_changes += advice.tls_changes(self.settings, "starttls")
        else:
            f.suggestions.append(
                f"Port {self.port} starts in clear (it is not an implicit-TLS port) and offers no STARTTLS. Use the "
                "provider's implicit-TLS port (usually 465) or a STARTTLS port (587)."
            )

    def _silent_server(self) -> None:
        self.facts.suggestions.append(
            f"The relay accepted the connection and the TLS handshake on port {self.port} but never sent its "
            "greeting."
        )
        self.stop("no greeting")

    async def _silent_port(self, address: str) -> None:
        """No greeting in clear: a port that wants TLS from the first byte looks exactly like this."""
        f = self.facts
        der, error = await self._side_handshake(
            address, tlscheck.inspect_context(), "trying implicit TLS", greet=True
        )
        if der is not None and error is None:
            f.tls.mismatch = (
                model.STARTTLS_ON_IMPLICIT_PORT if self.mode == "starttls" else model.PLAIN_ON_IMPLICIT_PORT
            )
            f.tls_mismatch = True
            f.tls_failed = True
            f.tls.error = "the port expects TLS from the first byte; the app waits for a greeting in clear"
            f.cert_invalid = Unknown("the app's TLS mode does not match the port")
            f.suggestions.append(
                f"Port {self.port} expects TLS from the first byte (implicit TLS), but the settings wait for a "
                "greeting in clear that never comes (the app reports Net::ReadTimeout or end of file reached). Set "
                f"{advice.tls_setting_words(self.settings, 'implicit')}."
            )
            f.setting_changes += advice.tls_changes(self.settings, "implicit")
            self.stop("the port expects implicit TLS")
            return
        f.tls_mismatch = Unknown("the relay never spoke")
        f.suggestions.append(
            f"The relay accepted the connection on port {self.port} but sent no greeting within "
            f"{self.options.timeout:g}s, in clear or over TLS. Something between this server and the relay may "
            "hold the connection (a proxy or a firewall), or the relay is overloaded."
        )
        self.stop("no greeting")

    async def _auth(self, session: SmtpSession) -> bool:
        """Log in as the app would; False when the app's attempt would stop here."""
        f = self.facts
        a = f.auth
        a.offered = list(f.auth_mechanisms)
        settings = self.settings
        method = (settings.auth_method or "plain").lower()
        logs_in = method != "none" and bool(settings.login)
        if not logs_in:
            a.skipped = "the settings log in with no user (no SMTP_LOGIN, or SMTP_AUTH_METHOD=none)"
            f.auth_failed = False
            f.auth_unsupported = False
            return True
        a.login = settings.login
        a.method = method
        if not (self.options.auth or self.options.send_test_to):
            a.skipped = "not asked (run with --auth)"
            f.auth_failed = f.auth_unsupported = Unknown("the login was not tried (run with --auth)")
            return True
        if not settings.secret:
            a.skipped = "the settings give a login but no password"
            f.auth_failed = True
            f.auth_unsupported = False
            f.suggestions.append(
                f"{advice.key_of(settings, 'login')} is set but {advice.key_of(settings, 'secret')} is empty: the "
                "app stops with 'SMTP-AUTH requested but missing secret phrase'."
            )
            self.stop("no password")
            return False
        mechanism = AUTH_MECHANISMS.get(method)
        if mechanism is None:
            a.skipped = f"the login method {method!r} is not one the app knows (plain, login, cram_md5)"
            f.auth_failed = Unknown("unknown login method")
            f.auth_unsupported = True
            f.suggestions.append(
                f"{advice.key_of(settings, 'auth_method')}={method} is not a method the app knows."
            )
            f.setting_changes.append(advice.change(settings, "auth_method", "plain", current=method))
            self.stop("unknown login method")
            return False
        a.attempted = True
        reply = await self._authenticate(session, mechanism)
        a.code, a.message = reply.code, reply.text
        if reply.code == 235:
            a.ok = True
            f.auth_failed = f.auth_unsupported = False
            return True
        a.ok = False
        a.explanation = advice.AUTH_CODE_WORDS.get(reply.code, "the server refused the login")
        unsupported = reply.code in advice.AUTH_UNSUPPORTED_CODES
        f.auth_unsupported = unsupported
        f.auth_failed = not unsupported
        if unsupported:
            self._auth_unsupported_advice(mechanism, reply)
        else:
            a.hint = advice.auth_hints(self.host, settings.login, reply.code, reply.text, self.options)
            who = self.options.provider_name or advice.provider_hints(self.host)[0] or "the relay"
            f.suggestions.append(f"The login was refused by {who} ({reply}): {a.explanation}.")
        self.stop("the login failed")
        return False

    def _auth_unsupported_advice(self, mechanism: str, reply: Reply) -> None:
        f = self.facts
        offered = f.auth_mechanisms
        method_key = advice.key_of(self.settings, "auth_method")
        if not offered:
            f.auth.hint = [
                f"A local relay that takes mail without a login needs {method_key}=none and an empty "
                f"{advice.key_of(self.settings, 'login')}."
            ]
            f.suggestions.append(
                f"The relay does not accept a login here ({reply}). If it needs none, set {method_key}=none and "
                "leave the login empty; if it does, it may offer logins only after STARTTLS."
            )
            f.setting_changes.append(
                advice.change(self.settings, "auth_method", "none", current=self.settings.auth_method)
            )
            return
        usable = [m for m in ("PLAIN", "LOGIN", "CRAM-MD5") if m in offered and m != mechanism]
        if usable:
            value = {v: k for k, v in AUTH_MECHANISMS.items()}[usable[0]]
            f.auth.hint = [f"The relay offers {' '.join(offered)}; set {method_key}={value}."]
            f.suggestions.append(
                f"The relay does not support {mechanism} logins ({reply}); set {method_key}={value}."
            )
            f.setting_changes.append(
                advice.change(self.settings, "auth_method", value, current=self.settings.auth_method)
            )
        else:
            f.suggestions.append(
                f"The relay does not support {mechanism} logins ({reply}) and offers only {' '.join(offered)}, "
                "which the app cannot use."
            )

    async def _authenticate(self, session: SmtpSession, mechanism: str) -> Reply:
        """One AUTH exchange; the transcript shows every credential as ****."""
        login, secret = self.settings.login or "", self.settings.secret or ""
        if mechanism == "PLAIN":
            payload = b64("\0" + login + "\0" + secret)
            return await session.command(f"AUTH PLAIN {payload}", shown="AUTH PLAIN ****")
        if mechanism == "LOGIN":
            reply = await session.command("AUTH LOGIN")
            if reply.code != 334:
                return reply
            reply = await session.command(b64(login), shown="****")
            if reply.code != 334:
                return reply
            return await session.command(b64(secret), shown="****")
        reply = await session.command("AUTH CRAM-MD5")
        if reply.code != 334:
            return reply
        try:
            challenge = base64.b64decode(reply.text, validate=True)
        except ValueError:
            await session.command("*")  # cancel the exchange (RFC 4954 §4)
            return Reply(501, ["the server's CRAM-MD5 challenge is not valid base64"])
        digest = hmac.new(secret.encode("utf-8"), challenge, "md5").hexdigest()
        return await session.command(b64(f"{login} {digest}"), shown="****")

    async def _mail(self, session: SmtpSession) -> None:
        f = self.facts
        settings = self.settings
        mf = f.mail_from
        from_header = settings.from_address or "notifications@localhost"
        if not settings.from_address:
            f.notes.append("No From address in the settings: the app sends as notifications@localhost.")
        envelope = message.bare_address(settings.return_path) or message.bare_address(from_header)
        mf.address = envelope
        if envelope is None:
            mf.skipped = "the From setting holds no address"
            f.rejected_from = Unknown("the From setting holds no address")
            f.suggestions.append(
                f"{advice.key_of(settings, 'from_address')} holds no e-mail address ({from_header!r}); remove any "
                "quotes around it and give a full address, e.g. Mastodon <notifications@example.org>."
            )
            return
        logs_in = (settings.auth_method or "plain").lower() != "none" and bool(settings.login)
        if logs_in and f.auth.ok is not True:
            mf.skipped = "the app sends after logging in; run with --auth to check the sender"
            f.rejected_from = Unknown("the sender was not checked (run with --auth)")
            return
        mf.attempted = True
        reply = await session.command(f"MAIL FROM:<{envelope}>")
        mf.code, mf.message, mf.accepted = reply.code, reply.text, reply.code == 250
        if not mf.accepted:
            self._sender_refused(reply, envelope)
            return
        f.rejected_from = False
        f.auth_required = False
        if not self.options.send_test_to:
            await session.command("RSET")
            return
        await self._send(session, envelope, from_header)

    def _sender_refused(self, reply: Reply, envelope: str) -> None:
        f = self.facts
        words = advice.mail_from_words(reply.code, reply.text, envelope)
        if reply.code == 530 or "authenticat" in reply.text.lower():
            f.auth_required = True
            f.rejected_from = Unknown("the relay wants a login first")
            f.suggestions.append(
                f"{words} Set {advice.key_of(self.settings, 'login')} and {advice.key_of(self.settings, 'secret')} "
                "to the provider's SMTP credentials."
            )
        elif reply.code >= 500:
            f.rejected_from = True
            f.auth_required = False
            f.suggestions.append(f"{words} ({reply})")
        else:
            f.rejected_from = Unknown(f"temporary refusal {reply.code}")
            f.suggestions.append(f"{words} ({reply})")
        if self.options.send_test_to:
            f.send.attempted, f.send.to, f.send.stage = True, self.options.send_test_to, "mail"
            f.send.code, f.send.message, f.send.accepted = reply.code, reply.text, False
            f.send_failed = True
        self.stop("the sender was refused")

    async def _send(self, session: SmtpSession, envelope: str, from_header: str) -> None:
        f = self.facts
        s = f.send
        to = self.options.send_test_to or ""
        s.attempted, s.to, s.envelope_from = True, to, envelope
        subject, message_id, body = message.build(from_header, to, self.settings.reply_to)
        s.subject, s.message_id = subject, message_id
        reply = await session.command(f"RCPT TO:<{to}>")
        if reply.code not in (250, 251):
            self._send_refused("rcpt", reply, f"The relay refused the recipient {to} ({reply}).")
            await session.command("RSET")
            return
        reply = await session.command("DATA")
        if reply.code != 354:
            self._send_refused("data", reply, f"The relay refused to take the message ({reply}).")
            await session.command("RSET")
            return
        reply = await session.send_data(
            body, shown=f"<the test message, {len(body)} bytes, subject {subject!r}>"
        )
        s.code, s.message = reply.code, reply.text
        if reply.code != 250:
            self._send_refused("data", reply, f"The relay refused the message after reading it ({reply}).")
            if reply.code >= 500 and _SENDER_REFUSAL.search(reply.text):
                f.rejected_from = True
                f.suggestions.append(advice.mail_from_words(reply.code, reply.text, envelope))
            return
        s.stage, s.accepted = "sent", True
        f.send_failed = False
        s.look_for = message.look_for(
            subject, message.domain_of(message.bare_address(from_header)), message.domain_of(envelope)
        )

    def _send_refused(self, stage: str, reply: Reply, text: str) -> None:
        s = self.facts.send
        s.stage, s.code, s.message, s.accepted = stage, reply.code, reply.text, False
        self.facts.send_failed = True
        self.facts.suggestions.append(text)

    # -- second connections, only to explain a failure ---------------------------------------------------

    def _side_transcript(self) -> Transcript:
        return Transcript(self.redactor)

    async def _side_handshake(
        self, address: str, context: ssl.SSLContext, why: str, greet: bool = False
    ) -> tuple[bytes | None, BaseException | None]:
        """A fresh connection in the configured mode (or implicit when `greet`), TLS with `context`.

        Returns the certificate's DER (None when none was seen) and the handshake's error, if any.
        With `greet`, the handshake is implicit and must be followed by a 220 greeting to count.
        """
        self.transcript.note(f"second connection, {why}")
        transcript = self._side_transcript()
        try:
            session = await SmtpSession.connect(address, self.port, self.deadline, transcript)
        except (OSError, StepTimeout) as exc:
            return None, exc
        try:
            if self.mode == "starttls" and not greet:
                await session.read_reply("greeting")
                await session.command(f"EHLO {self.helo}")
                reply = await session.command("STARTTLS")
                if reply.code != 220:
                    return None, Closed(f"STARTTLS refused: {reply}")
            await session.start_tls(context, self.host)
            der = session.ssl_object.getpeercert(binary_form=True) if session.ssl_object else None
            if greet:
                greeting = await session.read_reply("greeting over TLS")
                if greeting.code != 220:
                    return None, Closed(f"greeting {greeting}")
            return der, None
        except (ssl.SSLError, StepTimeout, Closed, OSError) as exc:
            return None, exc
        finally:
            await session.close()

    async def _side_plain_greeting(self, address: str) -> tuple[Reply | None, dict[str, str] | None]:
        self.transcript.note("second connection, reading the greeting in clear")
        try:
            session = await SmtpSession.connect(address, self.port, self.deadline, self._side_transcript())
        except (OSError, StepTimeout):
            return None, None
        try:
            greeting = await session.read_reply("greeting")
            if greeting.code != 220:
                return greeting, None
            ehlo = await session.command(f"EHLO {self.helo}")
            return greeting, parse_ehlo(ehlo) if ehlo.code == 250 else {}
        except (StepTimeout, Closed, OSError, ssl.SSLError):
            return None, None
        finally:
            await session.close()

    # -- when the configured port cannot be reached -------------------------------------------------------

    def _dns_failed(self) -> None:
        f = self.facts
        d = f.dns
        f.connect = model.ConnectOutcome(model.DNS_FAILURE, d.detail, port=self.port)
        key = advice.key_of(self.settings, "host")
        if d.outcome in (dns.NXDOMAIN, dns.NODATA):
            f.unreachable = True
            f.port_blocked = False
            f.suggestions.append(
                f"The relay name {self.host} has no address in DNS ({d.outcome}): check {key} for a typo."
            )
            self.stop("the relay name has no address")
        else:
            f.unreachable = Unknown(f"the relay name could not be resolved ({d.outcome})")
            f.suggestions.append(
                f"DNS did not answer for {self.host} ({d.detail or d.outcome}); the app may fail the same way. "
                "Check this server's DNS resolver."
            )
            self.stop(f"the relay name could not be resolved ({d.outcome})")

    async def _tcp_failed(self) -> None:
        f = self.facts
        worst = network.overall_failure(f.addresses)
        f.connect = model.ConnectOutcome(worst.outcome, worst.detail, port=self.port)
        f.unreachable = True
        wanted = [(p, t) for p, t in self.options.alternative_ports if p != self.port]
        if wanted:
            f.alternative_ports = await self._try_ports(wanted, [a.address for a in f.addresses])
        working = [alt for alt in f.alternative_ports if alt.outcome == model.CONNECT_OK]
        f.port_blocked = worst.outcome == model.TIMEOUT or bool(working)
        self.stop(f"port {self.port} could not be reached ({worst.outcome})")
        if working:
            best = next((alt for alt in working if alt.tls == self.mode), working[0])
            verb = {model.TIMEOUT: "is blocked", model.REFUSED: "refuses connections"}.get(
                worst.outcome, "cannot be reached"
            )
            changes = [advice.change(self.settings, "port", str(best.port), current=self.port)]
            if best.tls != self.mode and best.tls in ("implicit", "starttls"):
                changes += advice.tls_changes(self.settings, best.tls)
            setting_words = " and ".join(f"{c.key}={c.value}" for c in changes)
            f.suggestions.append(f"{self.port} {verb}, {best.port} works: set {setting_words}")
            f.setting_changes += changes
            return
        others = ", ".join(str(alt.port) for alt in f.alternative_ports)
        tail = f" None of the provider's other ports ({others}) answered either." if others else ""
        if worst.outcome == model.TIMEOUT:
            f.suggestions.append(
                f"Port {self.port} on {self.host} does not answer: the connection attempt timed out. A firewall or "
                f"the hoster likely blocks outgoing connections to port {self.port} (many block 25, some 465 and "
                f"587); ask them to open it, or use another port the provider offers.{tail}"
            )
        elif worst.outcome == model.REFUSED:
            f.suggestions.append(
                f"{self.host} refused the connection on port {self.port}: nothing listens there, or a firewall "
                f"rejects it. Check {advice.key_of(self.settings, 'port')} against the provider's ports.{tail}"
            )
        elif worst.outcome == model.NO_ROUTE:
            f.suggestions.append(
                f"This server has no network route to {worst.address} ({worst.detail}).{tail}"
            )
        else:
            f.suggestions.append(f"Connecting to {self.host} port {self.port} failed: {worst.detail}.{tail}")

    async def _try_ports(
        self, ports: list[tuple[int, str]], addresses: list[str]
    ) -> list[model.AlternativePort]:
        checks = [self._check_port(address, port, tls) for port, tls in ports for address in addresses]
        results = await asyncio.gather(*checks)
        merged: list[model.AlternativePort] = []
        for port, tls in ports:
            mine = [r for r in results if r.port == port and r.tls == tls]
            ok = [r for r in mine if r.outcome == model.CONNECT_OK]
            merged.append(ok[0] if ok else mine[0])
        self.transcript.note(
            "other ports: " + ", ".join(f"{alt.port}/{alt.tls} {alt.outcome}" for alt in merged)
        )
        return merged

    async def _check_port(self, address: str, port: int, tls: str) -> model.AlternativePort:
        """Does this port greet with 220 (after a TLS handshake for an implicit-TLS port)?"""
        attempt, session = await network.connect_one(address, port, self.deadline, self._side_transcript())
        if session is None:
            return model.AlternativePort(port, tls, attempt.outcome, attempt.detail)
        try:
            if tls == "implicit":
                try:
                    await session.start_tls(tlscheck.inspect_context(), self.host)
                except (ssl.SSLError, StepTimeout, Closed, OSError) as exc:
                    return model.AlternativePort(port, tls, "tls-failed", _tls_error_words(exc))
            try:
                greeting = await session.read_reply("greeting")
            except StepTimeout:
                return model.AlternativePort(port, tls, "no-greeting", "connected, but no greeting")
            if greeting.code != 220:
                return model.AlternativePort(port, tls, model.ERROR, f"greeting {greeting}")
            return model.AlternativePort(port, tls, model.CONNECT_OK, greeting.text[:120])
        except (Closed, OSError, ssl.SSLError) as exc:
            return model.AlternativePort(port, tls, model.ERROR, str(exc))
        finally:
            await session.close()

    # -- ending ------------------------------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason

    def finish(self, started: float) -> None:
        """Verdicts never reached become Unknown with the reason the probe stopped."""
        f = self.facts
        reason = f"not reached: {self.stop_reason}" if self.stop_reason else "not reached"
        for name in VERDICTS:
            if getattr(f, name) == _NOT_PROBED:
                setattr(f, name, Unknown(reason))
        if self.stop_reason:
            f.notes.append(f"The probe stopped early: {self.stop_reason}.")
        f.duration_ms = round((time.monotonic() - started) * 1000, 1)


def _tls_error_words(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or "").lower().replace("_", " ")
        if "wrong version number" in reason or "record layer failure" in reason:
            return "wrong version number: the other side does not speak TLS here"
        if "unsupported protocol" in reason or "no protocols available" in reason:
            return "no TLS version both sides accept (the relay may only speak an old TLS version)"
        if "handshake failure" in reason or "no shared cipher" in reason:
            return "the TLS handshake failed: no cipher or version both sides accept"
        return exc.reason or exc.__class__.__name__
    if isinstance(exc, (StepTimeout, Closed)):
        return str(exc)
    return exc.__class__.__name__
