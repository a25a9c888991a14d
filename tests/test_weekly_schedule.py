"""`schedule`: systemd units and cron lines that run the same `report` command, with absolute paths."""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.cli import build_parser
from auditor.errors import AuditorError
from auditor.weekly.cli import register
from auditor.weekly.schedule import cron_line, install_units, parse_weekly, systemd_service, systemd_timer


def parser_with_weekly() -> argparse.ArgumentParser:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "schedule" not in subparsers.choices:
        register(subparsers)
    return parser


def run_schedule(argv: list[str], capsys) -> tuple[int, str]:
    args = parser_with_weekly().parse_args(["schedule", *argv])
    code = args.handler(args)
    return code, capsys.readouterr().out


def report_words_from(command_line: str) -> list[str]:
    words = shlex.split(command_line)
    return words[words.index("report") :]


@pytest.fixture
def env_file(tmp_path, monkeypatch) -> str:
    monkeypatch.chdir(tmp_path)
    Path(".env.production").write_text("LOCAL_DOMAIN=example.social\n")
    return ".env.production"


def test_units_run_the_same_report_with_absolute_paths(env_file, tmp_path, capsys):
    code, out = run_schedule(
        [
            "--env",
            env_file,
            "--mail-to",
            "admin@example.social",
            "--mail-to",
            "ops@example.social",
            "--only-on-change",
            "--history",
            "h.sqlite3",
            "--weekly",
            "tue",
            "06:30",
        ],
        capsys,
    )
    assert code == 0
    exec_start = next(line for line in out.splitlines() if line.startswith("ExecStart="))
    words = report_words_from(exec_start.removeprefix("ExecStart="))
    # What the unit runs parses back to the options given, with file paths made absolute.
    args = parser_with_weekly().parse_args(words)
    assert args.command == "report"
    assert Path(args.env) == tmp_path / ".env.production"
    assert args.history == tmp_path / "h.sqlite3"
    assert args.mail_to == ["admin@example.social", "ops@example.social"]
    assert args.only_on_change and args.quiet
    assert "OnCalendar=Tue *-*-* 06:30:00" in out
    assert f"WorkingDirectory={tmp_path}" in out
    assert "Persistent=true" in out


def test_cron_line(env_file, capsys):
    code, out = run_schedule(["--env", env_file, "--mail-to", "admin@example.social", "--cron"], capsys)
    assert code == 0
    fields = out.strip().split(" ", 5)
    assert fields[:5] == ["0", "7", "*", "*", "1"]  # default: Monday 07:00
    assert report_words_from(fields[5])[1:3] == ["--env", str(Path(env_file).absolute())]


def test_percent_signs_are_escaped_for_systemd_and_cron(tmp_path):
    when = parse_weekly("sunday", "23:05")
    command = ["/usr/bin/inboxready", "report", "--mail-to", "a%b@example.social"]
    assert "a%%b@example.social" in systemd_service("x", command, tmp_path)
    assert cron_line(command, when) == "5 23 * * 0 /usr/bin/inboxready report --mail-to a\\%b@example.social"
    assert "OnCalendar=Sun *-*-* 23:05:00" in systemd_timer("x", when)


def test_install_writes_both_units_and_says_how_to_enable(env_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    code, out = run_schedule(
        ["--env", env_file, "--mail-to", "admin@example.social", "--install", "--unit-name", "weekly-mail"],
        capsys,
    )
    assert code == 0
    unit_dir = tmp_path / "config" / "systemd" / "user"
    assert sorted(p.name for p in unit_dir.iterdir()) == ["weekly-mail.service", "weekly-mail.timer"]
    assert "systemctl --user enable --now weekly-mail.timer" in out
    assert "ExecStart=" in (unit_dir / "weekly-mail.service").read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_units_pass_systemd_analyze(tmp_path):
    service = systemd_service("inboxready-report", ["/bin/true", "report"], tmp_path)
    timer = systemd_timer("inboxready-report", parse_weekly("mon", "07:00"))
    paths = install_units("inboxready-report", service, timer, tmp_path / "units")
    run = subprocess.run(["systemd-analyze", "verify", *map(str, paths)], capture_output=True, text=True)
    assert "error" not in run.stderr.lower(), run.stderr
    calendar = subprocess.run(
        ["systemd-analyze", "calendar", "Mon *-*-* 07:00:00"], capture_output=True, text=True
    )
    assert calendar.returncode == 0


@pytest.mark.parametrize(
    ("day", "time"), [("moonday", "07:00"), ("mon", "7"), ("mon", "24:00"), ("mon", "07:60")]
)
def test_bad_weekly_times(day, time):
    with pytest.raises(AuditorError, match="--weekly"):
        parse_weekly(day, time)


def test_missing_settings_file_and_bad_unit_name(env_file, capsys):
    with pytest.raises(AuditorError, match="no such file"):
        run_schedule(["--env", "missing.env", "--mail-to", "a@example.social"], capsys)
    with pytest.raises(AuditorError, match="--unit-name"):
        run_schedule(["--env", env_file, "--mail-to", "a@example.social", "--unit-name", "x.timer"], capsys)
