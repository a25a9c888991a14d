"""What each subcommand does, given parsed arguments. Returns the exit code."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from auditor.audit import AuditOptions, AuditResult, run_audit
from auditor.dns import parse_nameserver
from auditor.errors import AuditorError
from auditor.target import Target, resolve_target

SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


def audit_options(args: argparse.Namespace) -> AuditOptions:
    if not 0 < args.timeout <= 60:
        raise AuditorError("--timeout must be between 0 and 60 seconds")
    for zone in args.zone:
        if not zone.is_file():
            raise AuditorError(f"--zone {zone}: no such file")
    return AuditOptions(
        nameservers=[parse_nameserver(ns) for ns in args.nameserver],
        timeout=args.timeout,
        total_timeout=max(10.0, args.timeout * 10),
        zone_files=list(args.zone),
    )


def exit_code(result: AuditResult, fail_on: str) -> int:
    if fail_on == "never":
        return 0
    limit = SEVERITY_RANK[fail_on]
    return 1 if any(SEVERITY_RANK.get(f.severity, 9) <= limit for f in result.failed()) else 0


def build_target_from_args(args: argparse.Namespace) -> Target:
    """The audit target from flags and, when given, the app's settings file."""
    settings = None
    path = getattr(args, "env", None) or getattr(args, "config", None)
    if path is not None:
        from auditor.appconfig import load_settings

        settings = load_settings(path, getattr(args, "app", None))
    elif getattr(args, "app", None):
        raise AuditorError("--app needs a settings file: add --env FILE or --config FILE")
    return resolve_target(
        getattr(args, "domain", None),
        args.from_address,
        args.smtp,
        settings=settings,
        provider_id=args.provider,
        envelope=args.envelope,
        dkim_selectors=list(args.dkim_selector),
    )


def probe_options(args: argparse.Namespace):
    """ProbeOptions from the flags, or None when no live check was asked for."""
    wanted = getattr(args, "probe", True) or args.auth or args.send_test
    if not wanted:
        return None
    from auditor.probe import ProbeOptions

    if not 0 < args.probe_timeout <= 120:
        raise AuditorError("--probe-timeout must be between 0 and 120 seconds")
    if args.send_test is not None and "@" not in args.send_test:
        raise AuditorError(f"--send-test {args.send_test!r}: expected an e-mail address")
    return ProbeOptions(auth=args.auth, send_test_to=args.send_test, timeout=args.probe_timeout)


def check(args: argparse.Namespace) -> int:
    target = build_target_from_args(args)
    result = run_audit(target, audit_options(args), probe_options=probe_options(args))
    from auditor.weekly.cli import save_check_result

    save_check_result(args, result)  # only with --save
    write_report(result, args.format, args.output, args.color)
    return exit_code(result, args.fail_on)


def write_report(result: AuditResult, fmt: str, output: Path | None, color: str = "auto") -> None:
    from auditor import render

    if fmt == "json":
        text = render.render_json(result)
    elif fmt in ("markdown", "html"):
        from auditor import render_reports

        text = render_reports.render_markdown(result) if fmt == "markdown" else render_reports.render_html(result)
    else:
        buffer = io.StringIO() if output else None
        use_color = {"always": True, "never": False}.get(color)
        if output:
            render.render_text(result, buffer, color=False)
            text = buffer.getvalue()
        else:
            render.render_text(result, sys.stdout, color=use_color)
            return
    if output:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise AuditorError(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)


def rules(args: argparse.Namespace) -> int:
    from auditor.engine import load_rules, validate_rules_dir

    if args.rules_command == "validate":
        if not args.directory.is_dir():
            raise AuditorError(f"{args.directory}: not a folder")
        errors = validate_rules_dir(args.directory)
        for line in errors:
            print(line, file=sys.stderr)
        if errors:
            return 2
        print(f"{args.directory}: all rules valid")
        return 0
    loaded = load_rules()
    if args.rules_command == "list":
        for rule in loaded:
            print(f"{rule.id:<28} {rule.severity:<9} {rule.title}")
        return 0
    matches = [r for r in loaded if r.id == args.rule_id or args.rule_id in r.aliases]
    if not matches:
        import difflib

        close = difflib.get_close_matches(args.rule_id, [r.id for r in loaded], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise AuditorError(f"no rule {args.rule_id!r}{hint}; `inboxready rules list` shows them all")
    print(matches[0].path.read_text(encoding="utf-8"), end="")
    return 0


def providers(args: argparse.Namespace) -> int:
    from auditor.providers import load_providers

    for provider in load_providers():
        print(f"{provider.id:<20} {provider.name}")
        if getattr(provider, "description", None):
            print(f"{'':<20} {provider.description}")
    return 0


def demo(args: argparse.Namespace) -> int:
    from auditor.demo import run_demo

    return run_demo(args.output)
