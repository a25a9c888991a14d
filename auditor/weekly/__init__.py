"""The weekly report: run history, what changed since the last run, the report mail, a Mastodon notice,
and the systemd/cron schedule that runs it.

    from auditor.weekly.history import open_history, save_run
    from auditor.weekly.diff import diff_runs, headline
    from auditor.weekly.mail import build_message
    from auditor.weekly.sending import MailRelay, relay_from_settings, send_message
    from auditor.weekly.cli import register          # adds `report`, `history`, `schedule`
"""

from __future__ import annotations
