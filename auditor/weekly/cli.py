"""The `report`, `history` and `schedule` subcommands. `register(subparsers)` adds them to the main parser;
each sets `handler`, which takes the parsed arguments and returns the exit code."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path

from auditor.errors import AuditorError

PASSWORD_ENV = "INBOXREADY_SMTP_PASSWORD"

REPORT_EXAMPLES = """examples:
  inboxready report --env .env.production --mail-to admin@example.social
  inboxready report --env .env.production --mail-to admin@example.social --only-on-change --probe
  inboxready report example.social --smtp smtp.example.net:587 --smtp-login bot@example.social \\
      --smtp-password-file ~/.inboxready-smtp --mail-from bot@example.social --mail-to admin@example.social
  inboxready report --env .env.production --mail-to admin@example.social \\
      --notify-mastodon https://example.social/@admin --token-file ~/.inboxready-token

The mail goes out through the app's own relay (from --env/--config), so its arrival also shows that sending
works. Exit codes: 0 mailed (or nothing changed with --only-on-change), 1 something fails at or above
--fail-on (default: never), 2 bad input, 3 DNS unreachable, 4 the mail or the Mastodon notice could not be sent.
"""

HISTORY_EXAMPLES = """examples:
  inboxready history                      # every target, newest runs first
  inboxready history example.social --limit 5
  inboxready history example.social --format json
"""

SCHEDULE_EXAMPLES = """examples:
  inboxready schedule --env .env.production --mail-to admin@example.social --weekly mon 07:00
  inboxready schedule --env .env.production --mail-to admin@example.social --weekly mon 07:00 --install
  inboxready schedule --env .env.production --mail-to admin@example.social --cron

Prints a systemd user service + timer that run `inboxready report` with the same options (--cron: a crontab
line instead). --install writes the units to ~/.config/systemd/user and says how to enable them.
"""

# Options of `schedule` itself, not passed on to the scheduled `report`.
_SCHEDULE_ONLY = {"weekly", "cron", "install", "unit_name", "handler", "command", "quiet"}
# Values that name files: made absolute in the scheduled command (units and cron run elsewhere).
_PATH_DESTS = {
    "env",
    "config",
    "zone",
    "history",
    "token_file",
    "smtp_password_file",
    "smtp_ca_file",
    "output",
}


def register(subparsers) -> None:
    """Add `report`, `history` and `schedule` to the main parser's subparsers."""
    formatter = argparse.RawDescriptionHelpFormatter
    report = subparsers.add_parser(
        "report",
        help="audit, then mail the report and what changed since last time",
        epilog=REPORT_EXAMPLES,
        formatter_class=formatter,
    )
    add_report_arguments(report)
    report.set_defaults(handler=report_command)

    history = subparsers.add_parser(
        "history",
        help="past runs: date, verdict, what changed",
        epilog=HISTORY_EXAMPLES,
        formatter_class=formatter,
    )
    history.add_argument("domain", nargs="?", help="only this target's runs")
    history.add_argument(
        "--history", type=Path, metavar="PATH", help="the history file (default: user data dir)"
    )
    history.add_argument("--limit", type=int, default=20, metavar="N", help="runs per target (default 20)")
    history.add_argument("--format", choices=["text", "json"], default="text")
    history.set_defaults(handler=history_command)

    schedule = subparsers.add_parser(
        "schedule",
        help="run `report` weekly (systemd timer or cron)",
        epilog=SCHEDULE_EXAMPLES,
        formatter_class=formatter,
    )
    add_report_arguments(schedule)
    schedule.add_argument(
        "--weekly",
        nargs=2,
        metavar=("DAY", "HH:MM"),
        default=["mon", "07:00"],
        help="when to run (default: mon 07:00, local time)",
    )
    schedule.add_argument("--cron", action="store_true", help="print a crontab line instead of systemd units")
    schedule.add_argument("--install", action="store_true", help="write the systemd user units")
    schedule.add_argument(
        "--unit-name", default="inboxready-report", help="unit name (default inboxready-report)"
    )
    schedule.set_defaults(handler=functools.partial(schedule_command, parser=schedule))


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    from auditor.cli import add_audit_arguments

    parser.add_argument("domain", nargs="?", help="the instance domain (default: the app's LOCAL_DOMAIN)")
    add_audit_arguments(parser)
    _add_settings_arguments_if_missing(parser)
    parser.set_defaults(fail_on="never")  # a report's job is the mail; --fail-on makes it exit 1 as well
    mail = parser.add_argument_group("the mail")
    mail.add_argument(
        "--mail-to", action="append", required=True, metavar="ADDRESS", help="recipient (repeatable)"
    )
    mail.add_argument("--mail-from", metavar="ADDRESS", help="sender (default: the app's From address)")
    mail.add_argument(
        "--smtp-login",
        metavar="USER",
        help=f"log in to --smtp as USER (password: --smtp-password-file or ${PASSWORD_ENV})",
    )
    mail.add_argument(
        "--smtp-password-file", type=Path, metavar="FILE", help="file holding the --smtp-login password"
    )
    mail.add_argument(
        "--smtp-tls",
        choices=["starttls", "implicit", "none"],
        help="TLS to the relay (default: from the settings or the port)",
    )
    mail.add_argument(
        "--smtp-ca-file", type=Path, metavar="FILE", help="trust this CA for the relay's certificate"
    )
    mail.add_argument("--smtp-timeout", type=float, default=30.0, metavar="SECONDS", help="(default 30)")
    mail.add_argument("--only-on-change", action="store_true", help="mail only when something changed")
    if "--probe" not in _options(parser):  # add_audit_arguments has it once the probe lands there
        mail.add_argument(
            "--probe", action="store_true", help="also run the live SMTP probe of the app's relay"
        )
    mail.add_argument(
        "--history", type=Path, metavar="PATH", help="the history file (default: user data dir)"
    )
    mail.add_argument("--save-eml", type=Path, metavar="FILE", help="also write the mail to FILE (.eml)")
    mail.add_argument("--notify-mastodon", metavar="URL", help="also send a direct message to this account")
    mail.add_argument(
        "--token-file", type=Path, metavar="FILE", help="Mastodon access token for --notify-mastodon"
    )
    mail.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing unless something fails (for cron)"
    )


def _add_settings_arguments_if_missing(parser: argparse.ArgumentParser) -> None:
    """--env/--config/--app come from add_audit_arguments once the settings path lands there; until then here."""
    known = _options(parser)
    if "--env" not in known:
        parser.add_argument("--env", metavar="FILE", help="the app's .env.production (its mail settings)")
    if "--config" not in known:
        parser.add_argument("--config", metavar="FILE", help="the app's settings file (YAML, INI, …)")
    if "--app" not in known:
        parser.add_argument("--app", metavar="ID", help="which app the settings file belongs to")


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def add_history_arguments(parser: argparse.ArgumentParser) -> None:
    """For `check`: --save stores the run in the history (as `report` does)."""
    parser.add_argument("--save", action="store_true", help="store this run in the history")
    parser.add_argument(
        "--history", type=Path, metavar="PATH", help="the history file (default: user data dir)"
    )


def save_check_result(args: argparse.Namespace, result) -> None:
    """Call from `check` after the audit: stores the run when --save was given."""
    if getattr(args, "save", False):
        from auditor.weekly.history import save_run

        save_run(result.to_json(), getattr(args, "history", None))


# -- report ------------------------------------------------------------------------------------------------


def report_command(args: argparse.Namespace) -> int:
    from auditor.probe.redact import Redactor
    from auditor.weekly.diff import diff_runs
    from auditor.weekly.history import open_history
    from auditor.weekly.mail import build_message, parse_mailbox
    from auditor.weekly.notify import compose_status, parse_account_url, post_status, read_token
    from auditor.weekly.sending import send_message

    # Everything the user can get wrong is checked before the audit runs.
    for address in args.mail_to:
        _check_mailbox(parse_mailbox, address, "--mail-to")
    mastodon = token = None
    if args.notify_mastodon:
        if not args.token_file:
            raise AuditorError("--notify-mastodon needs --token-file FILE (a Mastodon access token)")
        mastodon, token = parse_account_url(args.notify_mastodon), read_token(args.token_file)
    settings = load_app_settings(args)
    relay = resolve_relay(args, settings)
    secrets = (settings.secrets() if settings else []) + ([relay.secret] if relay.secret else [])
    redact = Redactor(secrets, relay.login)

    result = run_report_audit(args, settings)
    current = redact.scrub(result.to_json())
    sender = (
        args.mail_from
        or (settings.from_address if settings else None)
        or current["target"].get("from_address")
    )
    if not sender:
        raise AuditorError("no sender address: pass --mail-from ADDRESS")
    _check_mailbox(parse_mailbox, sender, "--mail-from")

    with open_history(args.history) as history:
        previous = history.previous(current["target"]["domain"])
        diff = diff_runs(
            current, previous.result if previous else None, previous.recorded_at if previous else None
        )
        if args.only_on_change and not diff.changed:
            history.record(current)
            _say(
                args,
                f"no change for {current['target']['domain']} since {previous.recorded_at}; no mail sent",
            )
            return _exit_code(result, args.fail_on)
        message = build_message(
            current,
            diff,
            sender=sender,
            recipients=args.mail_to,
            attachment=full_report(result, redact),
            secrets=secrets,
            relay_words=relay.describe(),
        )
        if args.save_eml:
            _write(args.save_eml, message.as_bytes())
        try:
            send_message(message, relay, timeout=args.smtp_timeout)
        except AuditorError as exc:
            # Not recorded: next week's report compares with the last run that was mailed, so nothing is missed.
            raise type(exc)(f"{exc} (this run was not saved to the history)") from None
        history.record(current)
    _say(args, f"report mailed to {', '.join(args.mail_to)}: {message['Subject']}")
    if mastodon is not None and token is not None:
        text = redact.text(compose_status(current, diff, mastodon.mention, mailed_to=args.mail_to))
        post_status(mastodon, token, text)
        _say(
            args,
            f"Mastodon notice posted to {mastodon.mention or 'the token account'} on {mastodon.base_url}",
        )
    return _exit_code(result, args.fail_on)


def _check_mailbox(parse, address: str, option: str) -> None:
    try:
        parse(address)
    except ValueError:
        raise AuditorError(f"{option} {address!r}: not a mail address") from None


def _say(args: argparse.Namespace, line: str) -> None:
    if not args.quiet:
        print(line)


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise AuditorError(f"cannot write {path}: {exc.strerror or exc}") from None


def _exit_code(result, fail_on: str) -> int:
    from auditor.commands import exit_code

    return exit_code(result, fail_on)


def load_app_settings(args: argparse.Namespace):
    path = getattr(args, "env", None) or getattr(args, "config", None)
    if not path:
        return None
    from auditor.appconfig import load_settings

    return load_settings(path, app=getattr(args, "app", None))


def run_report_audit(args: argparse.Namespace, settings):
    """The same audit `check` runs, the live probe included when --probe (or --auth/--send-test) asks."""
    from auditor import commands
    from auditor.audit import run_audit

    target, options = build_target(args, settings), commands.audit_options(args)
    probe_options = getattr(commands, "probe_options", None)
    if probe_options is not None:
        return run_audit(target, options, probe_options=probe_options(args))
    if args.probe:
        raise AuditorError("--probe: the live SMTP probe is not available in this version")
    return run_audit(target, options)


def build_target(args: argparse.Namespace, settings):
    """The lead's settings-aware builder once it exists; until then flags, filled in from the settings."""
    from auditor import commands

    builder = getattr(commands, "build_target_from_args", None)
    if builder is not None:
        return builder(args)
    from auditor.target import build_target as from_flags

    domain, from_address, smtp = args.domain, args.from_address, args.smtp
    if settings is not None:
        domain = domain or settings.instance_domain
        from_address = from_address or settings.from_address
        if not smtp and settings.host:
            smtp = f"{settings.host}:{settings.port}" if settings.port else settings.host
    target = from_flags(domain, from_address, smtp)
    target.dkim_selectors = list(args.dkim_selector)
    return target


def resolve_relay(args: argparse.Namespace, settings):
    """The relay to send through: --smtp (with --smtp-login) when given, else the app's own."""
    from auditor.target import parse_relay
    from auditor.weekly.sending import MailRelay, relay_from_settings

    if args.smtp:
        spec = parse_relay(args.smtp)
        app_relay = relay_from_settings(settings) if settings is not None and settings.host else None
        same_host = (
            app_relay is not None and app_relay.host == spec.host and spec.port in (None, app_relay.port)
        )
        if same_host:
            relay = app_relay
        else:
            # The app's credentials only ever go to the app's own relay.
            relay = MailRelay(
                host=spec.host, port=spec.port or 587, tls=spec.tls if spec.port else "starttls"
            )
    elif settings is not None:
        relay = relay_from_settings(settings)
    else:
        raise AuditorError(
            "no relay to send the report through: pass --env FILE (the app's settings) or --smtp HOST:PORT"
        )
    if args.smtp_login:
        relay.login, relay.secret, relay.auth_method = args.smtp_login, read_password(args), None
    if args.smtp_tls:
        relay.tls = args.smtp_tls
    if args.smtp_ca_file:
        if not args.smtp_ca_file.is_file():
            raise AuditorError(f"--smtp-ca-file {args.smtp_ca_file}: no such file")
        relay.ca_file = str(args.smtp_ca_file)
    return relay


def read_password(args: argparse.Namespace) -> str:
    if args.smtp_password_file:
        try:
            return args.smtp_password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise AuditorError(
                f"--smtp-password-file {args.smtp_password_file}: {exc.strerror or exc}"
            ) from None
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    raise AuditorError(f"--smtp-login needs a password: --smtp-password-file FILE or ${PASSWORD_ENV}")


def full_report(result, redact):
    """The full HTML report to attach; the JSON report until the HTML renderer is available."""
    from auditor.weekly.mail import Attachment

    try:
        from auditor.render_reports import render_html
    except ImportError:
        render_html = None
    if render_html is not None:
        return Attachment("report.html", redact.text(render_html(result)), "text", "html")
    text = json.dumps(redact.scrub(result.to_json()), indent=2, ensure_ascii=False) + "\n"
    return Attachment("report.json", text, "application", "json")


# -- history -----------------------------------------------------------------------------------------------


def history_command(args: argparse.Namespace) -> int:
    from auditor.weekly.diff import diff_runs
    from auditor.weekly.history import open_history

    if args.limit < 1:
        raise AuditorError("--limit must be at least 1")
    path = args.history
    if path is not None and not path.exists():
        raise AuditorError(f"--history {path}: no such file")
    with open_history(path) as history:
        targets = [args.domain.lower().rstrip(".")] if args.domain else history.targets()
        listing = []
        for target in targets:
            runs = history.runs(
                target, limit=args.limit + 1
            )  # one more, to say what the oldest shown changed
            entries = []
            for index, run in enumerate(runs[: args.limit]):
                older = next((r for r in runs[index + 1 :] if r.readable), None)
                diff = diff_runs(
                    run.result, older.result if older else None, older.recorded_at if older else None
                )
                entries.append((run, diff))
            listing.append((target, entries))
    if args.domain and not listing[0][1]:
        raise AuditorError(f"no runs of {args.domain} in the history {history.path}")
    if args.format == "json":
        print(json.dumps(_history_json(listing), indent=2, ensure_ascii=False))
    else:
        _print_history(listing, history.path)
    return 0


def _verdict(summary: dict) -> str:
    parts = [f"{summary[k]} {k}" for k in ("critical", "warning", "info") if summary.get(k)]
    if summary.get("unknown"):
        parts.append(f"{summary['unknown']} unknown")
    return ", ".join(parts) if parts else "all good"


def _print_history(listing, path: Path) -> None:
    from auditor.render import printable

    if not listing:
        print(f"no runs in the history {path} yet")
        return
    for target, entries in listing:
        print(printable(target))
        for run, diff in entries:
            when = run.recorded_at.replace("T", " ").replace("Z", " UTC")
            if not run.readable:
                print(f"  {when}  (this run's stored result is unreadable)")
                continue
            if diff.first_run:
                changed = "first run"
            elif diff.changed:
                changed = "; ".join(diff.lines())
            else:
                changed = "no change"
            print(f"  {when}  {_verdict(run.summary):<32} {printable(changed)}")


def _history_json(listing) -> list[dict]:
    return [
        {
            "target": target,
            "runs": [
                {
                    "id": run.id,
                    "recorded_at": run.recorded_at,
                    "tool_version": run.tool_version,
                    "readable": run.readable,
                    "summary": run.summary,
                    "changes": diff.to_json(),
                }
                for run, diff in entries
            ],
        }
        for target, entries in listing
    ]


# -- schedule ----------------------------------------------------------------------------------------------


def schedule_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from auditor.weekly.schedule import (
        check_unit_name,
        cron_line,
        enable_instructions,
        install_units,
        parse_weekly,
        program_words,
        systemd_service,
        systemd_timer,
    )

    when = parse_weekly(*args.weekly)
    name = check_unit_name(args.unit_name)
    for option, path in (("--env", getattr(args, "env", None)), ("--config", getattr(args, "config", None))):
        if path and not Path(path).is_file():
            raise AuditorError(f"{option} {path}: no such file")
    command = program_words() + ["report"] + report_arguments(args, parser) + ["--quiet"]
    if args.cron:
        print(cron_line(command, when))
        return 0
    service, timer = systemd_service(name, command, Path.cwd()), systemd_timer(name, when)
    if args.install:
        for path in install_units(name, service, timer):
            print(f"wrote {path}")
        print(enable_instructions(name), end="")
        return 0
    print(
        f"# ~/.config/systemd/user/{name}.service\n{service}\n# ~/.config/systemd/user/{name}.timer\n{timer}"
    )
    print("# --install writes these two files; then:", file=sys.stderr)
    print(
        "\n".join(f"#   {line.strip()}" for line in enable_instructions(name).splitlines()[1:3]),
        file=sys.stderr,
    )
    return 0


def report_arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[str]:
    """The `report` options `args` holds, as command-line words (defaults left out, paths made absolute)."""
    positional: list[str] = []
    words: list[str] = []
    for action in parser._actions:
        dest = action.dest
        if dest in _SCHEDULE_ONLY or isinstance(action, argparse._HelpAction) or not hasattr(args, dest):
            continue
        value = getattr(args, dest)
        if value is None or value == action.default or value == [] or value is False:
            continue
        if dest in _PATH_DESTS:
            value = [_absolute(v) for v in value] if isinstance(value, list) else _absolute(value)
        if not action.option_strings:
            positional.append(str(value))
            continue
        option = max(action.option_strings, key=len)  # the long spelling reads best in a unit file
        if action.nargs == 0:
            words.append(option)
        elif isinstance(value, list):
            for item in value:
                words += [option, str(item)]
        else:
            words += [option, str(value)]
    return positional + words


def _absolute(value) -> str:
    return str(Path(os.path.expanduser(str(value))).absolute())
