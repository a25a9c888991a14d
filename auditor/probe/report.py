"""The terminal report of `inboxready probe`: verdict, failing findings, then what the relay offers.

Styled like `auditor.render.render_text`. Everything the relay sent (banner, replies, certificate names) is
attacker-controlled text and goes through `printable`; the transcript is already masked by the probe.
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.text import Text

from auditor.facts.base import Unknown
from auditor.render import SEVERITY_STYLE, make_console, printable, summary_counts

TLS_WORDS = {"starttls": "STARTTLS", "implicit": "implicit TLS", "none": "no TLS"}
LABEL_WIDTH = 13


def verdict_line(result) -> str:
    probe = result.facts.probe
    summary = result.summary
    where = f"{probe.host}:{probe.port}"
    if summary["critical"]:
        head = f"The app cannot send through {where} as its settings stand"
    elif summary["warning"]:
        head = f"The app can send through {where}, but something needs fixing"
    elif summary["unknown"]:
        head = f"No problem found with {where} in what was checked, but some steps could not be checked"
    else:
        head = f"The relay {where} works the way the app uses it"
    return f"{head} ({summary_counts(summary)})."


def render_probe_text(
    result, stream: TextIO | None = None, *, color: bool | None = None, verbose: bool = False
) -> None:
    console = make_console(stream, color)
    probe = result.facts.probe
    header = Text()
    header.append("inboxready probe", style="bold")
    header.append(f" · relay {printable(probe.host)}:{probe.port}")
    header.append(f" ({TLS_WORDS.get(probe.tls_mode, printable(probe.tls_mode))}")
    header.append(", certificate checked)" if probe.verify_mode == "peer" else ", certificate not checked)")
    if result.target.provider_name:
        header.append(f" · {printable(result.target.provider_name)}")
    console.print(header)
    worst = result.worst_severity()
    console.print(Text(verdict_line(result), style=SEVERITY_STYLE.get(worst or "", "bold green")))
    console.print()
    _findings(console, result)
    render_offers(console, result)
    if verbose and probe.transcript:
        console.print(Text("SMTP dialogue (secrets masked)", style="bold"))
        for line in probe.transcript:
            console.print(Text(f"  {printable(line)}", style="dim"))
        console.print()
    took = f"{probe.duration_ms:.0f} ms" if probe.duration_ms < 1000 else f"{probe.duration_ms / 1000:.1f} s"
    console.print(Text(f"Probe took {took}.", style="dim"))


def _findings(console: Console, result) -> None:
    settings = {s["id"]: s for s in result.settings}
    for finding in result.failed():
        title = Text()
        title.append(f"{finding.severity.upper():<8}", style=SEVERITY_STYLE.get(finding.severity, ""))
        title.append(f" {printable(finding.title)}", style="bold")
        title.append(f"  [{finding.rule}]", style="dim")
        console.print(title)
        for heading, body in (("What", finding.message), ("Why", finding.why), ("Do", finding.action)):
            if body:
                block = Text(f"  {heading + ':':<6}", style="dim")
                block.append(printable(body.strip()).replace("\n", "\n        "))
                console.print(block)
        for fix_id in finding.fixes:
            setting = settings.get(fix_id)
            if setting:
                where = f" in {setting['file']}" if setting.get("file") else ""
                now = f" (now {setting['current']})" if setting.get("current") is not None else ""
                console.print(
                    Text(
                        f"  Setting: {setting['key']}={printable(setting['value'])}{where}{now}",
                        style="green",
                    )
                )
        console.print()
    _unknowns(console, result)


def _unknowns(console: Console, result) -> None:
    """Checks that could not be made, grouped by why: a probe that stopped early leaves several behind it."""
    groups: dict[str, list] = {}
    for finding in result.unknown():
        groups.setdefault(finding.message, []).append(finding)
    for message, findings in groups.items():
        head = Text()
        head.append(f"{'UNKNOWN':<8}", style="magenta")
        head.append(f" {printable(message)}", style="bold")
        console.print(head)
        for finding in findings:
            line = Text(f"  - {printable(finding.title)}")
            line.append(f"  [{finding.rule}]", style="dim")
            console.print(line)
        console.print()


def render_offers(console: Console, result) -> None:
    """The "What the server offers" section: every stage the probe reached, as seen on the wire."""
    probe = result.facts.probe
    console.print(Text("What the server offers", style="bold"))
    rows: list[tuple[str, str]] = []
    if probe.dns is not None:
        found = ", ".join(probe.dns.addresses) or "no address"
        rows.append(("Name", f"{probe.host} → {found} ({probe.dns.outcome}, {probe.dns.source})"))
    if probe.connect is not None:
        c = probe.connect
        rows.append(
            (
                "Connection",
                f"{c.address} port {c.port}: {c.outcome}"
                if c.address
                else f"port {c.port}: {c.outcome}{f' ({c.detail})' if c.detail else ''}",
            )
        )
    if probe.banner is not None:
        rows.append(("Greeting", f"{probe.banner_code} {probe.banner}"))
    if probe.extensions:
        rows.append(("EHLO", ", ".join(f"{k} {v}".strip() for k, v in probe.extensions.items())))
    if probe.starttls_offered is not None:
        rows.append(("STARTTLS", "offered" if probe.starttls_offered else "not offered"))
    if probe.banner is not None:
        rows.append(("Logins", ", ".join(probe.auth_mechanisms) or "none offered"))
    tls = probe.tls
    if tls is not None and tls.attempted:
        if tls.ok:
            bits = f" ({tls.cipher_bits} bits)" if tls.cipher_bits else ""
            rows.append(("TLS", f"{tls.version}, {tls.cipher}{bits}"))
        else:
            rows.append(("TLS", f"failed: {tls.error}"))
    cert = probe.certificate
    if cert is not None and (cert.subject or cert.error):
        verdict = _verdict_words(probe.cert_invalid, "refused by the app", "accepted by the app")
        parts = [p for p in (cert.subject, f"issued by {cert.issuer}" if cert.issuer else None) if p]
        if cert.not_after:
            left = f", {cert.days_left} days left" if cert.days_left is not None else ""
            parts.append(f"valid until {cert.not_after}{left}")
        if cert.names:
            parts.append("names " + ", ".join(cert.names))
        rows.append(
            ("Certificate", "; ".join(parts) + f" — {verdict}" + (f": {cert.error}" if cert.error else ""))
        )
    auth = probe.auth
    if auth.attempted:
        rows.append(
            (
                "Login",
                f"{(auth.method or '').upper()} as {auth.login}: {auth.code} {auth.message or ''}".strip(),
            )
        )
    elif auth.skipped:
        rows.append(("Login", f"not tried: {auth.skipped}"))
    mail = probe.mail_from
    if mail.attempted:
        rows.append(("Sender", f"MAIL FROM:<{mail.address}>: {mail.code} {mail.message or ''}".strip()))
    elif mail.skipped:
        rows.append(("Sender", f"not checked: {mail.skipped}"))
    for alt in probe.alternative_ports:
        rows.append(("Other port", f"{alt.port} ({TLS_WORDS.get(alt.tls, alt.tls)}): {alt.outcome}"))
    send = probe.send
    if send.attempted:
        state = "accepted" if send.accepted else f"refused at {send.stage}"
        rows.append(
            ("Test message", f"to {send.to}: {state}; final reply {send.code} {send.message or ''}".strip())
        )
    if not rows:
        rows.append(("", "nothing: the probe did not get that far"))
    for label, value in rows:
        line = Text(f"  {label:<{LABEL_WIDTH}}", style="dim")
        line.append(printable(value))
        console.print(line)
    if send.attempted and send.accepted and send.look_for:
        console.print(Text("  When the test message arrives:", style="bold"))
        for item in send.look_for:
            console.print(Text(f"    - {printable(item)}"))
    notes = list(probe.notes)
    if notes:
        console.print(Text("  Notes:", style="dim"))
        for note in notes:
            console.print(Text(f"    - {printable(note)}", style="dim"))
    console.print()


def _verdict_words(value, bad: str, good: str) -> str:
    if isinstance(value, Unknown):
        return "not established"
    return bad if value else good
