"""Command line: parse arguments, call the library, pick the renderer, set the exit code. Nothing else."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from auditor import __version__
from auditor.errors import AuditorError
from auditor.probe.command import register as register_probe

EXAMPLES = """examples:
  inboxready check --env /home/mastodon/live/.env.production
  inboxready check --config /etc/peertube/production.yaml --app peertube
  inboxready check example.social --smtp smtp.sendgrid.net:587 --from notifications@example.social
  inboxready check social.example.org --from notifications@social.example.org
  inboxready check social.example.org --nameserver 127.0.0.1:5353 --format json
  inboxready check social.example.org --zone planned.zone      # audit records before publishing them
  inboxready rules list
  inboxready demo -o ./demo
"""

EXIT_OK, EXIT_FAILING, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors: one line, exit 2
        raise AuditorError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="inboxready",
        description="Why a self-hosted app's mail does not arrive or lands in spam, and exactly what to change.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"inboxready {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = sub.add_parser("check", help="audit a sending domain", epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("domain", nargs="?", help="the instance domain (default: the app's LOCAL_DOMAIN)")
    add_audit_arguments(check)

    rules = sub.add_parser("rules", help="list, show or validate rules")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, parser_class=_Parser)
    rules_sub.add_parser("list", help="every rule with its severity")
    show = rules_sub.add_parser("show", help="one rule in full")
    show.add_argument("rule_id")
    validate = rules_sub.add_parser("validate", help="check a folder of rule files, as the loader would")
    validate.add_argument("directory", type=Path)

    sub.add_parser("providers", help="the relays inboxready knows and what it checks for each")

    demo = sub.add_parser("demo", help="audit the bundled sample instance offline and write the reports")
    demo.add_argument("-o", "--output", type=Path, default=Path("inboxready-demo"), help="folder for the reports")
    register_probe(sub)
    from auditor.weekly.cli import add_history_arguments
    from auditor.weekly.cli import register as register_weekly

    register_weekly(sub)  # report, history, schedule
    add_history_arguments(check)  # check --save / --history
    return parser


def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--env", type=Path, metavar="FILE", help="the app's env file, e.g. Mastodon's .env.production")
    source.add_argument("--config", type=Path, metavar="FILE", help="the app's settings file (YAML, INI, hjson, …)")
    parser.add_argument("--app", metavar="ID", help="which app the settings file belongs to (default: recognised)")
    parser.add_argument("--from", dest="from_address", metavar="ADDRESS", help="the From address the app uses")
    parser.add_argument("--smtp", metavar="HOST[:PORT]", help="the relay the app sends through")
    parser.add_argument("--provider", metavar="ID", help="the relay's provider, when its host name does not tell")
    parser.add_argument("--envelope", metavar="DOMAIN",
                        help="the Return-Path (envelope) domain, when the provider's cannot be guessed")
    parser.add_argument("--dkim-selector", action="append", default=[], metavar="SEL", help="a DKIM selector to check")
    parser.add_argument("--nameserver", action="append", default=[], metavar="IP[:PORT]",
                        help="DNS server to ask (repeatable); default: the system's")
    parser.add_argument("--zone", action="append", default=[], type=Path, metavar="FILE",
                        help="answer names inside this zone file from the file (audit planned records)")
    parser.add_argument("--timeout", type=float, default=3.0, metavar="SECONDS", help="per lookup (default 3)")
    parser.add_argument("--format", choices=["text", "json", "markdown", "html"], default="text")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the report here instead of stdout")
    parser.add_argument("--fail-on", choices=["critical", "warning", "never"], default="critical",
                        help="exit 1 when something fails at or above this severity (default critical)")
    parser.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    add_probe_arguments(parser, in_check=True)


def add_probe_arguments(parser: argparse.ArgumentParser, *, in_check: bool = False) -> None:
    if in_check:
        parser.add_argument("--probe", action="store_true", help="also test the live SMTP connection to the relay")
    parser.add_argument("--auth", action="store_true", help="probe: also log in with the configured credentials")
    parser.add_argument("--send-test", metavar="TO", help="probe: send a real test message to this address")
    parser.add_argument("--probe-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="probe: per network step (default 10)")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return _dispatch(args)
    except AuditorError as exc:
        print(f"inboxready: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("inboxready: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from auditor import commands

    if getattr(args, "handler", None) is not None:  # subcommands that register themselves (probe, …)
        return args.handler(args)
    if args.command == "check":
        return commands.check(args)
    if args.command == "rules":
        return commands.rules(args)
    if args.command == "providers":
        return commands.providers(args)
    if args.command == "demo":
        return commands.demo(args)
    raise AuditorError(f"unknown command {args.command!r}")


if __name__ == "__main__":
    raise SystemExit(main())
