"""`inboxready schedule`: a systemd user service + timer (or a crontab line) that runs `report` weekly.

The generated command is the exact `report` command line the admin gave, with every file path made
absolute (units and cron run from another directory) and `--quiet` added (cron mails any output; the
report goes out by mail, so only failures should print). Nothing secret is written into a unit: the relay
password stays in the app's settings file or a --smtp-password-file, which the command names.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import AuditorError

DAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 0}
SYSTEMD_DAYS = {
    "mon": "Mon",
    "tue": "Tue",
    "wed": "Wed",
    "thu": "Thu",
    "fri": "Fri",
    "sat": "Sat",
    "sun": "Sun",
}
DEFAULT_UNIT = "inboxready-report"
_UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.\\-]+$")


@dataclass
class WeeklyTime:
    day: str  # mon … sun
    hour: int
    minute: int

    @property
    def hhmm(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


_FULL_DAYS = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}


def parse_weekly(day: str, time: str) -> WeeklyTime:
    word = day.strip().lower()
    key = word if word in DAYS else _FULL_DAYS.get(word)
    if key is None:
        raise AuditorError(f"--weekly {day!r}: expected a day such as mon, tue, … sun")
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", time.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise AuditorError(f"--weekly {day} {time!r}: expected a time such as 07:00 (24-hour clock)")
    return WeeklyTime(key, int(match[1]), int(match[2]))


def check_unit_name(name: str) -> str:
    if not _UNIT_NAME.match(name) or name.endswith((".service", ".timer")):
        raise AuditorError(f"--unit-name {name!r}: letters, digits and - _ . : only, without .service/.timer")
    return name


def program_words() -> list[str]:
    """How to start this same inboxready: the console script when that is what runs, else `python -m auditor`."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "inboxready" and argv0.exists():
        return [str(argv0.absolute())]
    return [sys.executable, "-m", "auditor"]


def command_line(words: list[str]) -> str:
    return shlex.join(words)


def systemd_service(name: str, command: list[str], working_dir: Path) -> str:
    # systemd splits ExecStart itself: quote like a shell, and double every % (a specifier otherwise).
    exec_start = command_line(command).replace("%", "%%")
    return f"""\
# Written by `inboxready schedule`. Runs the weekly mail report once; {name}.timer starts it.
[Unit]
Description=inboxready weekly mail report
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
WorkingDirectory={str(working_dir).replace("%", "%%")}
ExecStart={exec_start}
# No secrets here: the relay password is read from the settings file the command names.
NoNewPrivileges=yes
PrivateTmp=yes
"""


def systemd_timer(name: str, when: WeeklyTime) -> str:
    return f"""\
# Written by `inboxready schedule`.
[Unit]
Description=Weekly inboxready mail report ({SYSTEMD_DAYS[when.day]} {when.hhmm})

[Timer]
OnCalendar={SYSTEMD_DAYS[when.day]} *-*-* {when.hhmm}:00
# A run missed while the machine was off happens at the next boot.
Persistent=true
RandomizedDelaySec=120

[Install]
WantedBy=timers.target
"""


def cron_line(command: list[str], when: WeeklyTime) -> str:
    # In a crontab an unescaped % ends the command; everything else is a /bin/sh command line.
    return (
        f"{when.minute} {when.hour} * * {DAYS[when.day]} {command_line(command).replace('%', chr(92) + '%')}"
    )


def user_unit_dir() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user"


def install_units(name: str, service: str, timer: str, unit_dir: Path | None = None) -> list[Path]:
    """Write the two unit files (replacing earlier ones of the same name); returns their paths."""
    unit_dir = unit_dir or user_unit_dir()
    written = []
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        for suffix, text in ((".service", service), (".timer", timer)):
            path = unit_dir / f"{name}{suffix}"
            temporary = path.with_name(path.name + ".tmp")
            temporary.write_text(text, encoding="utf-8")
            temporary.replace(path)  # atomic: systemd never reads half a unit
            written.append(path)
    except OSError as exc:
        raise AuditorError(f"cannot write the units to {unit_dir}: {exc.strerror or exc}") from None
    return written


def enable_instructions(name: str) -> str:
    return (
        "To enable the weekly report:\n"
        "  systemctl --user daemon-reload\n"
        f"  systemctl --user enable --now {name}.timer\n"
        f"  systemctl --user list-timers {name}.timer      # shows the next run\n"
        "So that it also runs while you are logged out:\n"
        f"  sudo loginctl enable-linger {os.environ.get('USER') or '$USER'}\n"
        "To try it now:\n"
        f"  systemctl --user start {name}.service && journalctl --user -u {name}.service -n 20\n"
    )
