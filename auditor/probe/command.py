"""`inboxready probe`: the live check of the app's SMTP relay alone, reported like an audit.

Only the rules tagged `probe` run, over facts where every root but `probe` (and `dns`, which logs the relay-name
lookups) is marked `status: skipped`. Running the settings-based `smtp.*` rules too was the alternative; they
are left to `check`, because several say the same thing as a probe finding from the other side (a TLS flag that
does not match the port is both `smtp.tls-mismatch` and, live, `smtp.tls-failed`), and `probe` should answer
one question: can the app send through this relay, and if not, which line to change. The JSON keeps the
`inboxready/1` contract; its `facts` hold only what was gathered (`dns`, `probe` with the masked transcript).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
from dataclasses import dataclass
from pathlib import Path

from auditor.audit import AuditOptions, AuditResult, dns_facts, make_resolver, run_probe, target_facts
from auditor.errors import AuditorError
from auditor.facts import model as facts_model
from auditor.target import Target

PROBE_TAG = "probe"
GATHERED_ROOTS = ("dns", "probe")
EXIT_NOTHING_ESTABLISHED = 3  # as `check` when DNS is unreachable: nothing could be checked
# The probe's setting changes that fix each rule's failure (by SmtpSettings field).
from auditor.fixes.settings import PROBE_RULE_FIELDS as RULE_SETTING_FIELDS  # noqa: E402 - one list, two users

SECRET_FIELDS = ("secret",)

EXAMPLES = """examples:
  inboxready probe --env /home/mastodon/live/.env.production           # connect, TLS, what the server offers
  inboxready probe --env .env.production --auth                         # also log in with the settings' credentials
  inboxready probe --env .env.production --send-test me@example.org     # send a real test message
  inboxready probe --smtp smtp.example.net:587 --from notifications@example.org
  inboxready probe --env .env.production --format json -v               # JSON with the SMTP transcript
"""


def register(subparsers) -> None:
    """Add `probe` to the main parser's subparsers; the handler is in `args.handler`."""
    from auditor.cli import add_probe_arguments

    parser = subparsers.add_parser(
        "probe",
        help="test the live SMTP connection to the app's relay, as the app makes it",
        description="Connect to the relay the app's settings name, as the app does (port, TLS mode, certificate "
        "check, login), and say what stops the app's mail there and which setting to change.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--env", type=Path, metavar="FILE", help="the app's env file, e.g. .env.production")
    source.add_argument("--config", type=Path, metavar="FILE", help="the app's settings file (YAML, INI, …)")
    parser.add_argument(
        "--app", metavar="ID", help="which app the settings file belongs to (default: recognised)"
    )
    parser.add_argument(
        "--from", dest="from_address", metavar="ADDRESS", help="the From address the app uses"
    )
    parser.add_argument("--smtp", metavar="HOST[:PORT]", help="the relay, when no settings file names it")
    parser.add_argument(
        "--provider", metavar="ID", help="the relay's provider, when its host name does not tell"
    )
    parser.add_argument(
        "--nameserver",
        action="append",
        default=[],
        metavar="IP[:PORT]",
        help="DNS server for the relay's name (repeatable); default: the system's",
    )
    parser.add_argument(
        "--timeout", type=float, default=3.0, metavar="SECONDS", help="per DNS lookup (default 3)"
    )
    parser.add_argument("--format", choices=["text", "json", "markdown", "html"], default="text")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write the report here, not to stdout"
    )
    parser.add_argument(
        "--fail-on",
        choices=["critical", "warning", "never"],
        default="critical",
        help="exit 1 when something fails at or above this severity (default critical)",
    )
    parser.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also print the SMTP dialogue (secrets masked)"
    )
    add_probe_arguments(parser)
    # What `commands.build_target_from_args` and `audit_options` read, which `probe` does not offer.
    parser.set_defaults(handler=probe_command, domain=None, envelope=None, dkim_selector=[], zone=[])


def probe_command(args: argparse.Namespace) -> int:
    from auditor import commands

    if not (args.env or args.config or args.smtp):
        raise AuditorError(
            "probe needs the app's settings (--env FILE or --config FILE) or a relay (--smtp HOST[:PORT])"
        )
    target = commands.build_target_from_args(args)
    result = run_probe_only(target, commands.audit_options(args), commands.probe_options(args))
    _write(result, args)
    if not any(f.status in ("pass", "fail") for f in result.findings):
        return EXIT_NOTHING_ESTABLISHED
    return commands.exit_code(result, args.fail_on)


# -- the probe as an audit -----------------------------------------------------------------------------------


@dataclass
class ProbeResult(AuditResult):
    """An audit result whose JSON facts hold only the roots the probe gathered."""

    def to_json(self) -> dict:
        data = super().to_json()
        data["facts"] = {name: value for name, value in data["facts"].items() if name in GATHERED_ROOTS}
        return data


def run_probe_only(target: Target, options: AuditOptions, probe_options, rules=None) -> ProbeResult:
    return asyncio.run(probe_only_async(target, options, probe_options, rules))


async def probe_only_async(target: Target, options: AuditOptions, probe_options, rules=None) -> ProbeResult:
    import datetime as dt

    from auditor.engine import evaluate, load_rules

    if rules is None:
        rules = [rule for rule in load_rules(options.rules_dirs) if PROBE_TAG in rule.tags]
    resolver = make_resolver(options)
    probed = await run_probe(target, probe_options, resolver)
    facts = probe_facts(target, probed, dns_facts(resolver))
    findings = evaluate(rules, facts)
    generated = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    result = ProbeResult(target=target, facts=facts, findings=findings, generated_at=generated)
    result.settings = attach_setting_changes(result)
    return result


def probe_facts(target: Target, probed, dns: facts_model.DnsFacts) -> facts_model.Facts:
    """Facts with the probe filled in and every other root marked skipped (nothing was looked up for them)."""
    domain = target.from_domain
    skipped = "skipped"
    return facts_model.Facts(
        target=target_facts(target),
        spf=facts_model.SpfFacts(domain=domain, status=skipped),
        dmarc=facts_model.DmarcFacts(domain=domain, status=skipped),
        mx=facts_model.MxFacts(domain=domain, status=skipped),
        ptr=facts_model.PtrFacts(status=skipped),
        dkim=facts_model.DkimFacts(domain=domain, status=skipped),
        envelope=facts_model.EnvelopeFacts(domain=target.envelope_domain, status=skipped),
        align=facts_model.AlignFacts(status=skipped),
        smtp=facts_model.SmtpFacts(status=skipped),
        dns=dns,
        probe=probed,
    )


def attach_setting_changes(result: AuditResult) -> list[dict]:
    """The probe's setting lines, as the report's `settings` entries, each linked from the failed finding it fixes.

    This is what a named fix (`smtp.probe-settings`) would do in the fixes stage; `probe` has no fixes stage.
    Entries the report already holds are kept; a secret is never proposed, and a secret's current value is null.
    """
    probe = result.facts.probe
    settings = list(result.settings)
    secrets = set(result.target.settings.secrets()) if result.target.settings is not None else set()
    for finding in result.findings:
        fields = RULE_SETTING_FIELDS.get(finding.rule)
        if finding.status != "fail" or not fields:
            continue
        for change in probe.setting_changes:
            if change.field not in fields or change.field in SECRET_FIELDS or change.value in secrets:
                continue
            current = None if change.current in secrets else change.current
            entry = {
                "file": change.file,
                "key": change.key,
                "value": change.value,
                "current": current,
                "note": f"from the live probe of {probe.host}:{probe.port}",
            }
            same = next(
                (
                    s
                    for s in settings
                    if (s["file"], s["key"], s["value"]) == (entry["file"], entry["key"], entry["value"])
                ),
                None,
            )
            if same is None:
                same = {"id": f"s{len(settings) + 1}", **entry}
                settings.append(same)
            if same["id"] not in finding.fixes:
                finding.fixes.append(same["id"])
    return settings


# -- output --------------------------------------------------------------------------------------------------


def _write(result: ProbeResult, args: argparse.Namespace) -> None:
    """JSON, Markdown and HTML as `check` writes them; the terminal text is the probe's own."""
    from auditor import commands
    from auditor.probe.report import render_probe_text

    if args.format != "text":
        commands.write_report(result, args.format, args.output, args.color)
        return
    if not args.output:
        use_color = {"always": True, "never": False}.get(args.color)
        render_probe_text(result, sys.stdout, color=use_color, verbose=args.verbose)
        return
    buffer = io.StringIO()
    render_probe_text(result, buffer, color=False, verbose=args.verbose)
    try:
        args.output.write_text(buffer.getvalue(), encoding="utf-8")
    except OSError as exc:
        raise AuditorError(f"cannot write {args.output}: {exc.strerror or exc}") from None


__all__ = [
    "ProbeResult",
    "attach_setting_changes",
    "probe_command",
    "probe_facts",
    "probe_only_async",
    "register",
    "run_probe_only",
]
