"""Renderers: the terminal summary and JSON. They only present what the audit computed.

DNS answers are attacker-controlled: in the terminal, control characters are shown escaped (a TXT record
must not move the cursor or recolour the screen); in JSON they stay verbatim.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TextIO

from rich.console import Console
from rich.text import Text

from auditor.audit import AuditResult

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
# Newlines too: a TXT record must not start a line of its own that looks like inboxready's ("All good").
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """Escape control and bidi characters so a record cannot act on the terminal.

    `keep_newlines` is for blocks whose lines are ours (a zone-file block); single values escape them too.
    """
    def escape(match: re.Match) -> str:
        char = match.group()
        if keep_newlines and char == "\n":
            return char
        return f"\\x{ord(char):02x}" if ord(char) < 256 else f"\\u{ord(char):04x}"

    return _CONTROL.sub(escape, text)


def render_json(result: AuditResult) -> str:
    return json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n"


def verdict_line(result: AuditResult) -> str:
    summary = result.summary
    if summary["critical"]:
        head = "Mail from this setup is likely to be rejected or lost"
    elif summary["warning"]:
        head = "Mail should be delivered, but some problems can send it to spam"
    elif summary["unknown"]:
        head = "No problems found in what could be checked, but some checks could not be completed"
    else:
        head = "All good: nothing found that would stop or spam-folder this mail"
    return f"{head} ({summary_counts(summary)})."


def summary_counts(summary: dict[str, int]) -> str:
    """`1 critical, 2 warning, 1 unknown, 30 passed`: the counts a verdict line ends with."""
    parts = [f"{summary[k]} {k}" for k in ("critical", "warning", "info") if summary[k]]
    if summary["unknown"]:
        parts.append(f"{summary['unknown']} unknown")
    parts.append(f"{summary['passed']} passed")
    return ", ".join(parts)


def make_console(stream: TextIO | None, color: bool | None) -> Console:
    """A rich console for reports: colour only on a terminal (or when asked), no markup guessing."""
    stream = stream or sys.stdout
    return Console(
        file=stream,
        force_terminal=color,
        no_color=color is False,
        highlight=False,
        # Piped output (cron mail, CI logs) is not wrapped mid-sentence; a terminal wraps to its width.
        soft_wrap=not getattr(stream, "isatty", lambda: False)(),
    )


def render_text(result: AuditResult, stream: TextIO | None = None, *, color: bool | None = None) -> None:
    console = make_console(stream, color)
    target = result.target
    header = Text()
    header.append("inboxready", style="bold")
    header.append(f" · {printable(target.from_domain)}")
    if target.from_address:
        header.append(f" · From {printable(target.from_address)}")
    if target.relay:
        header.append(f" · relay {printable(target.relay.host)}:{target.relay.port or '?'}")
    if target.provider_name:
        header.append(f" ({printable(target.provider_name)})")
    console.print(header)
    details = []
    if target.relay and target.relay.tls:
        details.append(f"TLS {target.relay.tls}")
    if target.app_id:
        details.append(f"{target.app_id} settings from {target.config_file}")
    details.append(f"envelope {target.envelope_domain}")
    if target.dkim_selectors_checked:
        details.append(f"DKIM selectors {', '.join(target.dkim_selectors_checked[:6])}"
                       + (" …" if len(target.dkim_selectors_checked) > 6 else ""))
    console.print(Text(printable(" · ".join(details)), style="dim"))

    worst = result.worst_severity()
    console.print(Text(verdict_line(result), style=SEVERITY_STYLE.get(worst or "", "bold green")))
    top = result.failed()[:3]
    for finding in top:
        line = Text("  • ")
        line.append(finding.severity.upper(), style=SEVERITY_STYLE[finding.severity])
        line.append(f"  {printable(finding.title)}")
        console.print(line)
    console.print()

    for finding in result.failed() + result.unknown():
        label = finding.severity.upper() if finding.status == "fail" else "UNKNOWN"
        style = SEVERITY_STYLE.get(finding.severity, "") if finding.status == "fail" else "magenta"
        title = Text()
        title.append(f"{label:<8}", style=style)
        title.append(f" {printable(finding.title)}", style="bold")
        title.append(f"  [{finding.rule}]", style="dim")
        console.print(title)
        for heading, body in (("What", finding.message), ("Why", finding.why), ("Do", finding.action)):
            if body and (finding.status == "fail" or heading == "What"):
                block = Text(f"  {heading + ':':<6}", style="dim")
                block.append(printable(body.strip()).replace("\n", "\n        "))
                console.print(block)
        for fix_id in finding.fixes:
            record = next((r for r in result.records if r.get("id") == fix_id), None)
            if record:
                console.print(Text(f"  Record: {record['name']} {record['type']} {printable(record['value'])}",
                                   style="green"))
        console.print()

    if result.target.assumptions:
        console.print(Text("Assumptions:", style="dim"))
        for assumption in result.target.assumptions:
            console.print(Text(f"  - {printable(assumption)}", style="dim"))
    facts_dns = result.facts.dns
    console.print(
        Text(
            f"{facts_dns.queries} DNS queries, {facts_dns.failed_count} failed"
            + (f", {facts_dns.overlay_answers} answered from zone files" if facts_dns.overlay_answers else ""),
            style="dim",
        )
    )
