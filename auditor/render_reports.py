"""Markdown and self-contained HTML reports.

The templates in `reports/` see only the versioned JSON (`AuditResult.to_json()`) plus a few presentation
helpers computed here (verdict, findings grouped by status and severity, the zone-file text, the SPF tree
with each branch's lookup cost). Nothing here decides whether something passes or fails.

DNS answers are attacker-controlled, so every DNS-derived string is escaped for its output: HTML through
Jinja's autoescaping; Markdown through `finalize`, which escapes every `{{ … }}` unless a Markdown filter
below already produced safe text (`MdSafe`). Zone-file text quotes TXT data and writes anything outside
printable ASCII as `\\DDD`, so a record cannot break out of its quotes or of a comment line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from auditor.audit import AuditResult
from auditor.paths import reports_dir
from auditor.render import printable, verdict_line
from auditor.zonefile import txt_presentation

SEVERITIES = ("critical", "warning", "info")
SEVERITY_LABEL = {"critical": "Critical", "warning": "Warning", "info": "Info"}
RECORD_DEFAULTS = {
    "id": "",
    "action": "add",
    "current": None,
    "placeholder": False,
    "note": "",
    "where": None,
}
# Setting names whose current value must never be shown (the app's secrets).
_SECRET_KEY = re.compile(r"pass|secret|token|api[_-]?key|credential|private", re.IGNORECASE)


# -- Zone-file text ----------------------------------------------------------------------------------------


def _zone_safe(text: str) -> str:
    """Unquoted zone text (names, non-TXT data, comments): anything outside printable ASCII as `\\DDD`,
    so nothing can end the line or the comment it sits in."""
    return "".join(
        ch if " " <= ch <= "~" else "".join(f"\\{b:03d}" for b in ch.encode("utf-8")) for ch in text
    )


def record_rdata(record: dict[str, Any], value: str | None = None) -> str:
    value = record.get("value", "") if value is None else value
    if str(record.get("type", "")).upper() in ("TXT", "SPF"):
        return txt_presentation(value or "")
    return _zone_safe(value or "")


def zone_file_lines(records: list[dict[str, Any]]) -> list[str]:
    """The records as zone-file lines ready to paste: one line per record to add or replace.

    Removals and the value a record replaces are written as comments, so pasting the block never adds
    a record that should go away. Placeholders are preceded by a comment saying what to fill in.
    """
    width = max((len(_zone_safe(r.get("name", ""))) for r in records), default=0)
    lines: list[str] = []
    for record in records:
        name = _zone_safe(record.get("name", ""))
        rtype = _zone_safe(str(record.get("type", "")).upper())
        if record.get("action") == "remove":
            lines.append(f"; remove: {name} IN {rtype} {record_rdata(record)}")
            continue
        if record.get("note"):
            lines.append(f"; {_zone_safe(record['note'])}")
        if record.get("placeholder"):
            where = record.get("where") or "your provider's console"
            lines.append(f"; placeholder: replace the value below with the one from {_zone_safe(where)}")
        if record.get("action") == "replace" and record.get("current"):
            lines.append(f"; replaces: {record_rdata(record, record['current'])}")
        lines.append(f"{name.ljust(width)}  IN  {rtype.ljust(5)} {record_rdata(record)}")
    return lines


def zone_file_text(records: list[dict[str, Any]]) -> str:
    """The exact text the zone-file block's copy button copies."""
    lines = zone_file_lines(records)
    return "\n".join(lines) + "\n" if lines else ""


# -- App settings ------------------------------------------------------------------------------------------


def is_secret_setting(key: str) -> bool:
    return bool(_SECRET_KEY.search(key or ""))


def setting_line(setting: dict[str, Any]) -> str:
    """The line to write in the app's settings file, in that file's own syntax."""
    file = str(setting.get("file") or "")
    key = str(setting.get("key") or "")
    value = setting.get("value")
    if value is None:
        return f"# remove {key}"
    value = str(value)
    if file.endswith((".yml", ".yaml")):
        return f"{key}: {json.dumps(value) if _needs_quotes(value) else value}"
    if file.endswith((".ini", ".cfg", ".conf", ".toml")) or file.endswith("app.ini"):
        return f"{key} = {value}"
    return f"{key}={json.dumps(value) if _needs_quotes(value) else value}"


def _needs_quotes(value: str) -> bool:
    return value == "" or bool(re.search(r"[\s#'\"\\$`:]", value))


def shown_current(setting: dict[str, Any]) -> str | None:
    current = setting.get("current")
    if current is None:
        return None
    return "(hidden: a secret)" if is_secret_setting(str(setting.get("key"))) else str(current)


# -- Facts for display -------------------------------------------------------------------------------------


def is_unknown_fact(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"unknown"}


def fact_text(value: Any, compact: bool = False) -> str:
    """A fact or evidence value as readable text: unknown markers spelled out, structures as JSON."""
    if is_unknown_fact(value):
        return f"unknown ({value['unknown']})"
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(str(v) for v in value) if value else "none"
    return json.dumps(value, indent=None if compact else 2, ensure_ascii=False)


def spf_tree(node: dict[str, Any] | None) -> dict[str, Any] | None:
    """The SPF tree with `branch_cost`: what this branch adds to the 10-lookup budget.

    For an include or redirect that is the include term itself plus everything below it, the figure the
    SPF collector reports as `include_costs`; for the root it is the whole tree's cost.
    """
    if not isinstance(node, dict):
        return None
    via = node.get("via")
    cost = node.get("cost") or 0
    return {
        **node,
        "branch_cost": cost + 1 if via in ("include", "redirect") else cost,
        "children": [spf_tree(child) for child in node.get("children") or []],
    }


def reference_url(reference: str) -> str | None:
    """`RFC 7208 §4.6.4` → the RFC Editor's anchor; http(s) URLs as they are; anything else unlinked."""
    reference = reference.strip()
    if re.match(r"https?://\S+$", reference):
        return quote(reference, safe=":/?#[]@!$&'*+,;=%~-._")
    match = re.match(
        r"RFC\s*(\d+)(?:\s*(?:§|section)\s*([\d.]+)|\s*Appendix\s+([A-Z](?:\.[\d.]+)?))?", reference
    )
    if not match:
        return None
    url = f"https://www.rfc-editor.org/rfc/rfc{match.group(1)}"
    if match.group(2):
        url += f"#section-{match.group(2).rstrip('.')}"
    elif match.group(3):
        url += f"#appendix-{match.group(3).rstrip('.')}"
    return url


# -- Markdown escaping -------------------------------------------------------------------------------------


class MdSafe(str):
    """Text already escaped for Markdown; `finalize` passes it through unchanged."""


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#!])")


def md_text(value: Any) -> MdSafe:
    """Inline Markdown text: one line, Markdown punctuation backslash-escaped, HTML characters as entities.

    GitHub and Gitea pass raw HTML through, so `<`, `>` and `&` become entities; `|` is escaped so a
    value cannot split a table cell; line breaks become spaces so nothing can start a heading or a list.
    """
    if isinstance(value, MdSafe):
        return value
    text = printable(re.sub(r"\s+", " ", str(value)).strip())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    # A leading "-", "+", "=" or "1." would start a list or underline a heading at the start of a line.
    text = re.sub(r"^([-+=])", r"\\\1", text)
    text = re.sub(r"^(\d+)([.)])", r"\1\\\2", text)
    return MdSafe(text)


def md_code(value: Any, *, table: bool = False) -> MdSafe:
    """An inline code span whose fence is longer than any backtick run inside. In a table `|` is escaped
    (GFM splits cells on it even inside code spans)."""
    text = printable(re.sub(r"[\r\n]+", " ", str(value)))
    if table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if (
        text.startswith("`")
        or text.endswith("`")
        or (text.startswith(" ") and text.endswith(" ") and text.strip())
    ):
        text = f" {text} "
    if not text:
        return MdSafe("")
    return MdSafe(f"{fence}{text}{fence}")


def md_fence(value: Any, info: str = "") -> MdSafe:
    """A fenced code block longer than any backtick run inside; `text` keeps its own line breaks."""
    text = printable(str(value).replace("\r\n", "\n"), keep_newlines=True).rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return MdSafe(f"{fence}{info}\n{text}\n{fence}")


def md_link(text: Any, url: str | None) -> MdSafe:
    label = md_text(text)
    if not url:
        return label
    return MdSafe(f"[{label}]({url.replace('(', '%28').replace(')', '%29').replace(' ', '%20')})")


def _md_finalize(value: Any) -> Any:
    if isinstance(value, MdSafe) or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if value is None:
        return ""
    return md_text(value)


def spf_tree_text(tree: dict[str, Any] | None) -> str:
    """The annotated SPF tree as plain lines (for a Markdown code block)."""
    if not tree:
        return ""
    lines: list[str] = []

    def describe(node: dict[str, Any]) -> str:
        cost = node["branch_cost"]
        head = f"{node.get('domain')}  ({node.get('via')}, {cost} lookup{'s' if cost != 1 else ''}"
        if node.get("via") == "root":
            head = f"{node.get('domain')}  ({cost} lookup{'s' if cost != 1 else ''} in total"
        head += ")"
        if node.get("error"):
            head += f"  ! {node['error']}"
        elif node.get("outcome") not in (None, "ok"):
            head += f"  ! {node['outcome']}"
        return head

    def walk(node: dict[str, Any], prefix: str, last: bool, root: bool) -> None:
        if root:
            lines.append(describe(node))
            child_prefix = ""
        else:
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{describe(node)}")
            child_prefix = prefix + ("   " if last else "│  ")
        children = node.get("children") or []
        for index, child in enumerate(children):
            walk(child, child_prefix, index == len(children) - 1, False)

    walk(tree, "", True, True)
    return "\n".join(lines)


# -- Context and rendering ---------------------------------------------------------------------------------


def _verdict_level(data: dict[str, Any]) -> str:
    summary = data["summary"]
    for severity in SEVERITIES:
        if summary.get(severity):
            return severity
    return "unknown" if summary.get("unknown") else "ok"


@dataclass
class _SummaryView:
    """What `verdict_line` reads from a result, for rendering a saved JSON report."""

    summary: dict[str, int]


def report_context(result: AuditResult) -> dict[str, Any]:
    """Everything the templates see: the JSON report and presentation helpers derived from it."""
    return context_from_json(result.to_json())


def context_from_json(data: dict[str, Any]) -> dict[str, Any]:
    """The template context from a JSON report (`inboxready/1`); facts roots may be missing."""
    findings = data.get("findings") or []
    failed = [f for f in findings if f["status"] == "fail"]
    groups = [
        {"severity": severity, "label": SEVERITY_LABEL[severity], "findings": members}
        for severity in SEVERITIES
        if (members := [f for f in failed if f["severity"] == severity])
    ]
    # Optional keys get their defaults here, so the templates (StrictUndefined) need no guards for them.
    records = [{**RECORD_DEFAULTS, **r} for r in data.get("records") or []]
    settings = [{"current": None, **s} for s in data.get("settings") or []]
    settings_by_file: dict[str, list[dict[str, Any]]] = {}
    for setting in settings:
        settings_by_file.setdefault(str(setting.get("file") or "settings"), []).append(setting)
    facts = data.get("facts") or {}
    spf = facts.get("spf") if isinstance(facts.get("spf"), dict) else None
    return {
        "report": data,
        "target": data["target"],
        "summary": data["summary"],
        "facts": facts,
        "verdict": verdict_line(_SummaryView(data["summary"])),
        "verdict_level": _verdict_level(data),
        "groups": groups,
        "unknown_findings": [f for f in findings if f["status"] == "unknown"],
        "passed_findings": [f for f in findings if f["status"] == "pass"],
        "skipped_findings": [f for f in findings if f["status"] == "skip"],
        "records": records,
        "records_by_id": {r.get("id"): r for r in records},
        "zone_lines": zone_file_lines(records),
        "zone_text": zone_file_text(records),
        "settings_by_file": settings_by_file,
        "spf": spf,
        "spf_tree": spf_tree(spf.get("tree")) if spf else None,
        "probe": _probe_run(facts.get("probe")),
        "dns": facts.get("dns") if isinstance(facts.get("dns"), dict) else None,
    }


def _probe_run(probe: Any) -> dict[str, Any] | None:
    """The live SMTP test's facts, when one ran (the facts root exists, empty, when it did not)."""
    return probe if isinstance(probe, dict) and probe.get("host") else None


def _common_filters(env: Environment) -> None:
    env.filters["fact_text"] = fact_text
    env.filters["reference_url"] = reference_url
    env.filters["setting_line"] = setting_line
    env.filters["shown_current"] = shown_current
    env.filters["record_rdata"] = record_rdata
    env.filters["printable"] = lambda value: printable(str(value), keep_newlines=True)
    env.tests["unknown_fact"] = is_unknown_fact


@cache
def markdown_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(reports_dir())),
        autoescape=False,  # Markdown escaping is done by `finalize` and the md_* filters
        undefined=StrictUndefined,
        finalize=_md_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    _common_filters(env)
    env.filters["md"] = md_text
    env.filters["code"] = md_code
    env.filters["cell"] = lambda value: md_code(value, table=True)
    env.filters["fence"] = md_fence
    env.filters["link"] = md_link
    env.filters["spf_tree_text"] = spf_tree_text
    return env


@cache
def html_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(reports_dir())),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    _common_filters(env)
    return env


def render_markdown(result: AuditResult) -> str:
    return render_markdown_from_json(result.to_json())


def render_html(result: AuditResult) -> str:
    return render_html_from_json(result.to_json())


def render_markdown_from_json(data: dict[str, Any]) -> str:
    """A Markdown report from a JSON report (e.g. one saved by an earlier run)."""
    return markdown_environment().get_template("report.md.j2").render(**context_from_json(data))


def render_html_from_json(data: dict[str, Any]) -> str:
    """A self-contained HTML report from a JSON report (e.g. one saved by an earlier run)."""
    return html_environment().get_template("report.html.j2").render(**context_from_json(data))
