"""`inboxready demo`: audit the bundled sample Mastodon instance fully offline and write the reports.

Every DNS answer comes from `sample.zone` (origin ".") through the `--zone` overlay, so the demo asks no
DNS server at all and shows exactly what a real audit shows.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from auditor.errors import AuditorError

DEMO_DIR = Path(__file__).resolve().parent
SAMPLE_ZONE = DEMO_DIR / "sample.zone"
SAMPLE_ENV = DEMO_DIR / "env.production"
# Never contacted: the overlay's root zone answers every name. The resolver just needs an address.
UNUSED_NAMESERVER = ("127.0.0.1", 53)


def demo_target():
    from auditor.appconfig import load_settings
    from auditor.target import resolve_target

    settings = load_settings(SAMPLE_ENV, "mastodon")
    # Name the file as the admin knows it, not by its path inside the installed package.
    settings.config_file = ".env.production"
    settings.sources = {field: dataclasses.replace(source, file=".env.production")
                        for field, source in settings.sources.items()}
    if settings.tls_source is not None:
        settings.tls_source = dataclasses.replace(settings.tls_source, file=".env.production")
    # As if the admin ran `--dkim-selector …` with the token from the SES console: Easy DKIM tokens cannot be guessed.
    return resolve_target(None, settings=settings, dkim_selectors=["abcdefghijklmnopqrstuvwxyz234567"])


def run_demo(output: Path) -> int:
    from auditor import render
    from auditor.audit import AuditOptions, run_audit

    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AuditorError(f"cannot create {output}: {exc.strerror or exc}") from None
    options = AuditOptions(nameservers=[UNUSED_NAMESERVER], zone_files=[SAMPLE_ZONE], timeout=2.0)
    result = run_audit(demo_target(), options)
    from auditor import render_reports

    (output / "report.json").write_text(render.render_json(result), encoding="utf-8")
    (output / "report.md").write_text(render_reports.render_markdown(result), encoding="utf-8")
    (output / "report.html").write_text(render_reports.render_html(result), encoding="utf-8")
    render.render_text(result, sys.stdout)
    print(f"\nReports written to {output}/: report.html (open it in a browser), report.md, report.json")
    return 0
