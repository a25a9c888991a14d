"""The weekly report mail: subject, plain-text and HTML bodies, the full report attached.

Everything here is pure (JSON result + diff in, `EmailMessage` out), so it is tested without a network.
The HTML part is built for mail clients: inline styles, table layout, no scripts, no external images or
fonts, autoescaped throughout (TXT records in the result are attacker-controlled). Every text that goes
into the message is scrubbed of the relay's secret first, as a second line behind the result never holding it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid

import jinja2

from auditor.probe.redact import Redactor
from auditor.weekly.diff import RunDiff, dig, headline, short_date

SEVERITY_COLOR = {"critical": "#b3261e", "warning": "#8a5a00", "info": "#1f5f8b"}
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


@dataclass
class Attachment:
    filename: str  # report.html or report.json
    content: str
    maintype: str = "text"
    subtype: str = "html"


def subject_line(current: dict, diff: RunDiff, now: dt.datetime | None = None) -> str:
    domain = dig(current, "target.domain") or "?"
    return f"inboxready: {domain} — {headline(current, diff, now)}"


# -- what the bodies show ----------------------------------------------------------------------------------


@dataclass
class FixLine:
    action: str
    name: str
    rtype: str
    value: str
    current: str | None
    placeholder: bool
    note: str | None


@dataclass
class Problem:
    severity: str
    title: str
    message: str
    action: str
    fixes: list[FixLine]


def problems(current: dict) -> list[Problem]:
    """Failing findings, worst first, each with the exact records that fix it."""
    records = {r.get("id"): r for r in current.get("records") or [] if isinstance(r, dict)}
    failing = [f for f in current.get("findings") or [] if isinstance(f, dict) and f.get("status") == "fail"]
    failing.sort(key=lambda f: SEVERITY_RANK.get(f.get("severity"), 9))
    out = []
    for finding in failing:
        fixes = []
        for fix_id in finding.get("fixes") or []:
            record = records.get(fix_id)
            if record:
                fixes.append(
                    FixLine(
                        action=str(record.get("action") or ""),
                        name=str(record.get("name") or ""),
                        rtype=str(record.get("type") or ""),
                        value=str(record.get("value") or ""),
                        current=record.get("current"),
                        placeholder=bool(record.get("placeholder")),
                        note=record.get("note"),
                    )
                )
        out.append(
            Problem(
                severity=str(finding.get("severity") or "info"),
                title=str(finding.get("title") or finding.get("rule") or ""),
                message=str(finding.get("message") or ""),
                action=str(finding.get("action") or ""),
                fixes=fixes,
            )
        )
    return out


def unknowns(current: dict) -> list[tuple[str, str]]:
    out = []
    for finding in current.get("findings") or []:
        if isinstance(finding, dict) and finding.get("status") == "unknown":
            reasons = finding.get("unknown_reasons") or []
            out.append((str(finding.get("title") or finding.get("rule")), "; ".join(map(str, reasons))))
    return out


def _readable_time(iso: str) -> str:
    """`2026-12-04T07:00:12Z` → `2026-12-04 07:00 UTC`."""
    try:
        when = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _context(
    current: dict, diff: RunDiff, relay_words: str | None, attachment: Attachment, now: dt.datetime | None
) -> dict:
    target = current.get("target") or {}
    summary = current.get("summary") or {}
    smtp = target.get("smtp") or {}
    provider = target.get("provider") or {}
    return {
        "domain": target.get("domain") or "?",
        "from_address": target.get("from_address"),
        "relay": f"{smtp.get('host')}:{smtp.get('port') or '?'}" if smtp.get("host") else None,
        "provider": provider.get("name"),
        "generated_at": _readable_time(current.get("generated_at") or ""),
        "version": dig(current, "tool.version") or "?",
        "headline": headline(current, diff, now),
        "since": short_date(diff.previous_at, now) if diff.previous_at else None,
        "first_run": diff.first_run,
        "changes": diff.lines(),
        "problems": problems(current),
        "unknowns": unknowns(current),
        "settings": [
            {
                "file": s.get("file") or "",
                "key": s.get("key") or "",
                "value": s.get("value"),
                "current": s.get("current"),
            }
            for s in current.get("settings") or []
            if isinstance(s, dict)
        ],
        "passed": summary.get("passed", 0),
        "worst": next((p.severity for p in problems(current)), None),
        "sent_through": relay_words,
        "attachment": attachment.filename,
        "attachment_is_json": attachment.filename.endswith(".json"),
    }


TEXT_TEMPLATE = """\
inboxready report for {{ domain }}
Checked {{ generated_at }}{% if from_address %} · From {{ from_address }}{% endif %}\
{% if relay %} · relay {{ relay }}{% endif %}{% if provider %} ({{ provider }}){% endif %}

Verdict: {{ headline }}

{% if first_run -%}
This is the first report for {{ domain }}: the next ones will say what changed since this one.
{% elif changes -%}
What changed since {{ since }}:
{% for line in changes %}  - {{ line }}
{% endfor %}{% else -%}
Nothing changed since {{ since }}.
{% endif %}
{% if problems -%}
Problems and how to fix them:
{% for p in problems %}
  [{{ p.severity | upper }}] {{ p.title }}
{% if p.message %}{{ p.message | wordwrap(100, break_long_words=false, break_on_hyphens=false) | indent(4, true) }}
{% endif %}{% if p.action %}{{ ('What to do: ' ~ p.action) | wordwrap(100, break_long_words=false, break_on_hyphens=false) | indent(4, true) }}
{% endif %}{% for f in p.fixes %}    {{ f.action | capitalize }} {{ f.rtype }} record {{ f.name }}
      {{ f.value }}
{% if f.current %}      (currently: {{ f.current }})
{% endif %}{% if f.placeholder %}      (the value is a placeholder: {{ f.note or 'your provider shows the real one' }})
{% endif %}{% endfor %}{% endfor %}
{% else -%}
No problems found.
{% endif %}{% if settings %}
Settings to change:
{% for s in settings %}  {{ s.file }}: {{ s.key }}={{ s.value }}{% if s.current is not none %} (now: {{ s.current }}){% endif %}
{% endfor %}{% endif %}{% if unknowns %}
Could not be checked (a lookup failed; this is not a "missing" record):
{% for title, reason in unknowns %}  - {{ title }}{% if reason %}: {{ reason }}{% endif %}
{% endfor %}{% endif %}
{{ passed }} checks passed. The full report is attached ({{ attachment }}).
{% if sent_through %}This mail was sent through {{ sent_through }}, the relay your app uses, so its arrival also \
shows that sending works.
{% endif %}-- inboxready {{ version }}
"""

# Mail clients strip <style> and ignore most of CSS: inline styles on tables only, system fonts, no images.
HTML_TEMPLATE = """\
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>inboxready report for {{ domain }}</title></head>
<body style="margin:0;padding:0;background:#f4f4f5;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f4f4f5;">
<tr><td align="center" style="padding:16px;">
<table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0"
 style="max-width:640px;width:100%;box-sizing:border-box;overflow-wrap:anywhere;word-break:break-word;background:#ffffff;border:1px solid #dddddd;font-family:Arial,Helvetica,sans-serif;\
font-size:15px;line-height:1.45;color:#1c1c1c;">
<tr><td style="padding:20px 24px 8px 24px;">
<div style="font-size:13px;color:#555555;">inboxready report for</div>
<div style="font-size:22px;font-weight:bold;">{{ domain }}</div>
<div style="font-size:13px;color:#555555;">Checked {{ generated_at }}{% if from_address %} · From {{ from_address }}\
{% endif %}{% if relay %} · relay {{ relay }}{% endif %}{% if provider %} ({{ provider }}){% endif %}</div>
</td></tr>
<tr><td style="padding:8px 24px;">
<div style="padding:12px 14px;font-size:17px;font-weight:bold;color:#ffffff;\
background:{{ worst_color }};">{{ headline }}</div>
</td></tr>
<tr><td style="padding:8px 24px;">
{% if first_run %}<p style="margin:0;">This is the first report for {{ domain }}: the next ones will say what changed \
since this one.</p>
{% elif changes %}<div style="font-weight:bold;margin:0 0 6px 0;">What changed since {{ since }}</div>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">
{% for line in changes %}<tr><td style="padding:3px 0;border-bottom:1px solid #eeeeee;">{{ line }}</td></tr>
{% endfor %}</table>
{% else %}<p style="margin:0;">Nothing changed since {{ since }}.</p>{% endif %}
</td></tr>
{% if problems %}<tr><td style="padding:12px 24px 4px 24px;font-weight:bold;">Problems and how to fix them</td></tr>
{% for p in problems %}<tr><td style="padding:6px 24px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"
 style="border-left:4px solid {{ colors.get(p.severity, '#555555') }};">
<tr><td style="padding:4px 10px;"><span style="font-size:12px;font-weight:bold;color:{{ colors.get(p.severity, \
'#555555') }};">{{ p.severity | upper }}</span> <b>{{ p.title }}</b></td></tr>
{% if p.message %}<tr><td style="padding:2px 10px;">{{ p.message }}</td></tr>{% endif %}
{% if p.action %}<tr><td style="padding:2px 10px;"><i>What to do:</i> {{ p.action }}</td></tr>{% endif %}
{% for f in p.fixes %}<tr><td style="padding:4px 10px;">
<div style="font-size:13px;">{{ f.action | capitalize }} {{ f.rtype }} record <b>{{ f.name }}</b></div>
<div style="font-family:Consolas,Menlo,monospace;font-size:13px;background:#f6f6f6;border:1px solid #e2e2e2;\
padding:6px;word-break:break-all;">{{ f.value }}</div>
{% if f.current %}<div style="font-size:12px;color:#555555;">Currently: <span style="font-family:Consolas,Menlo,\
monospace;word-break:break-all;">{{ f.current }}</span></div>{% endif %}
{% if f.placeholder %}<div style="font-size:12px;color:#8a5a00;">The value is a placeholder: \
{{ f.note or 'your provider shows the real one' }}</div>{% endif %}
</td></tr>{% endfor %}
</table></td></tr>
{% endfor %}{% else %}<tr><td style="padding:8px 24px;">No problems found.</td></tr>{% endif %}
{% if settings %}<tr><td style="padding:12px 24px 4px 24px;font-weight:bold;">Settings to change</td></tr>
{% for s in settings %}<tr><td style="padding:2px 24px;font-family:Consolas,Menlo,monospace;font-size:13px;\
word-break:break-all;">\
{{ s.file }}: {{ s.key }}={{ s.value }}{% if s.current is not none %} (now: {{ s.current }}){% endif %}</td></tr>
{% endfor %}{% endif %}
{% if unknowns %}<tr><td style="padding:12px 24px 4px 24px;font-weight:bold;">Could not be checked</td></tr>
<tr><td style="padding:0 24px;font-size:13px;color:#555555;">A lookup failed; this is not a missing record.</td></tr>
{% for title, reason in unknowns %}<tr><td style="padding:2px 24px;">{{ title }}{% if reason %}: \
<span style="color:#555555;">{{ reason }}</span>{% endif %}</td></tr>
{% endfor %}{% endif %}
<tr><td style="padding:16px 24px 20px 24px;font-size:13px;color:#555555;">
{{ passed }} checks passed. The full report is attached ({{ attachment }}).
{% if sent_through %}This mail was sent through {{ sent_through }}, the relay your app uses, so its arrival also \
shows that sending works.{% endif %}<br>inboxready {{ version }}
</td></tr>
</table>
</td></tr></table>
</body></html>
"""

_ENV_TEXT = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
_ENV_HTML = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def compose_text(
    current: dict,
    diff: RunDiff,
    *,
    relay_words: str | None = None,
    attachment: Attachment | None = None,
    now: dt.datetime | None = None,
) -> str:
    attachment = attachment or Attachment("report.html", "")
    return _ENV_TEXT.from_string(TEXT_TEMPLATE).render(_context(current, diff, relay_words, attachment, now))


def compose_html(
    current: dict,
    diff: RunDiff,
    *,
    relay_words: str | None = None,
    attachment: Attachment | None = None,
    now: dt.datetime | None = None,
) -> str:
    attachment = attachment or Attachment("report.html", "")
    context = _context(current, diff, relay_words, attachment, now)
    context["colors"] = SEVERITY_COLOR
    context["worst_color"] = SEVERITY_COLOR.get(context["worst"], "#1e7a34")
    return _ENV_HTML.from_string(HTML_TEMPLATE).render(context)


# -- the message ------------------------------------------------------------------------------------------


def parse_mailbox(text: str) -> Address:
    """`Mastodon <notifications@example.social>` or a bare address → Address; ValueError when not one."""
    pairs = getaddresses([text])
    if len(pairs) != 1 or "@" not in pairs[0][1]:
        raise ValueError(f"not a mail address: {text!r}")
    name, address = pairs[0]
    local, _, domain = address.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def build_message(
    current: dict,
    diff: RunDiff,
    *,
    sender: str,
    recipients: list[str],
    attachment: Attachment,
    secrets: Sequence[str] = (),
    relay_words: str | None = None,
    now: dt.datetime | None = None,
) -> EmailMessage:
    """multipart/mixed: multipart/alternative (text/plain + text/html), then the full report attached."""
    redact = Redactor(list(secrets))
    now = now or dt.datetime.now(dt.UTC)
    from_address = parse_mailbox(sender)
    message = EmailMessage()
    message["Subject"] = redact.text(subject_line(current, diff, now))
    message["From"] = from_address
    message["To"] = [parse_mailbox(r) for r in recipients]
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid("inboxready", domain=from_address.domain or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a cron mail
    message["X-Mailer"] = f"inboxready {dig(current, 'tool.version') or ''}".strip()
    message.set_content(
        redact.text(compose_text(current, diff, relay_words=relay_words, attachment=attachment, now=now))
    )
    message.add_alternative(
        redact.text(compose_html(current, diff, relay_words=relay_words, attachment=attachment, now=now)),
        subtype="html",
    )
    message.add_attachment(
        redact.text(attachment.content).encode("utf-8"),
        maintype=attachment.maintype,
        subtype=attachment.subtype,
        filename=attachment.filename,
    )
    return message
