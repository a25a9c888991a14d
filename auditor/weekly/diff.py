"""What changed between two runs of the same target: pure functions over two JSON results.

Both inputs are `AuditResult.to_json()` dicts, possibly from different tool versions, so every key may be
absent and any fact may be `{"unknown": reason}`. A fact that is unknown on either side is never reported as
changed (a DNS timeout is not a removed record); a finding that was failing and now could not be checked is
reported as such, never as fixed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

PROBLEM_SEVERITIES = ("critical", "warning")  # what counts as a "problem" in the subject; info is a note
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


@dataclass
class FindingChange:
    kind: str  # "new" | "resolved" | "severity" | "unverifiable"
    rule: str
    title: str
    severity: str
    subject: str | None = None
    before: str | None = None  # previous status (new, unverifiable) or severity (severity)
    after: str | None = None

    @property
    def is_problem(self) -> bool:
        return self.severity in PROBLEM_SEVERITIES

    def text(self) -> str:
        if self.kind == "new":
            since = " (it could not be checked last time)" if self.before == "unknown" else ""
            return f"New {self.severity}: {self.title}{since}"
        if self.kind == "resolved":
            return f"Fixed: {self.title}"
        if self.kind == "severity":
            return f"Now {self.after} (was {self.before}): {self.title}"
        if self.after == "missing":
            return f"No longer checked by this version: {self.title}"
        was = "was failing" if self.before == "fail" else "was fine"
        return f"Could not be checked this time ({was}): {self.title}"


@dataclass
class FactChange:
    key: str  # a stable id, e.g. "spf.lookup_count", "dkim.key:s1"
    label: str  # plain words, e.g. "SPF lookups"
    before: Any = None
    after: Any = None
    note: str = ""  # extra plain words, e.g. "(limit 10)"

    def text(self) -> str:
        note = f" {self.note}" if self.note else ""
        if self.before is None:
            return f"{self.label}: now {_show(self.after)}{note}"
        if self.after is None:
            return f"{self.label}: {_show(self.before)} is gone{note}"
        return f"{self.label}: {_show(self.before)} → {_show(self.after)}{note}"


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


@dataclass
class RunDiff:
    previous_at: str | None  # when the compared run was recorded; None: this is the first run
    new: list[FindingChange] = field(default_factory=list)
    resolved: list[FindingChange] = field(default_factory=list)
    severity: list[FindingChange] = field(default_factory=list)
    unverifiable: list[FindingChange] = field(default_factory=list)
    facts: list[FactChange] = field(default_factory=list)

    @property
    def first_run(self) -> bool:
        return self.previous_at is None

    @property
    def changed(self) -> bool:
        """Anything worth a mail under --only-on-change (a first run always is)."""
        return self.first_run or bool(
            self.new or self.resolved or self.severity or self.unverifiable or self.facts
        )

    def finding_changes(self) -> list[FindingChange]:
        return self.new + self.severity + self.unverifiable + self.resolved

    def lines(self) -> list[str]:
        return [c.text() for c in self.finding_changes()] + [c.text() for c in self.facts]

    def to_json(self) -> dict:
        def finding(c: FindingChange) -> dict:
            return {
                "rule": c.rule,
                "subject": c.subject,
                "title": c.title,
                "severity": c.severity,
                "before": c.before,
                "after": c.after,
                "text": c.text(),
            }

        return {
            "previous_at": self.previous_at,
            "new": [finding(c) for c in self.new],
            "resolved": [finding(c) for c in self.resolved],
            "severity": [finding(c) for c in self.severity],
            "unverifiable": [finding(c) for c in self.unverifiable],
            "facts": [
                {"key": c.key, "label": c.label, "before": c.before, "after": c.after, "text": c.text()}
                for c in self.facts
            ],
        }


# -- the comparison ----------------------------------------------------------------------------------------


def diff_runs(current: dict, previous: dict | None, previous_at: str | None = None) -> RunDiff:
    """What changed from `previous` to `current` (both JSON results). No previous run: a first-run diff."""
    if previous is None:
        return RunDiff(previous_at=None)
    diff = RunDiff(previous_at=previous_at or previous.get("generated_at") or "")
    _diff_findings(diff, current, previous)
    diff.facts = diff_facts(current, previous)
    return diff


def _findings_by_key(result: dict) -> dict[tuple[str, str | None], dict]:
    found = {}
    for finding in result.get("findings") or []:
        if isinstance(finding, dict) and finding.get("rule"):
            found[(finding["rule"], finding.get("subject"))] = finding
    return found


def _diff_findings(diff: RunDiff, current: dict, previous: dict) -> None:
    now, before = _findings_by_key(current), _findings_by_key(previous)
    for key, finding in now.items():
        status, severity = finding.get("status"), finding.get("severity") or "info"
        old = before.get(key)
        old_status = old.get("status") if old else None
        change = FindingChange("", key[0], finding.get("title") or key[0], severity, key[1])
        if status == "fail" and old_status != "fail":
            change.kind, change.before, change.after = "new", old_status, "fail"
            diff.new.append(change)
        elif status == "fail" and old and old.get("severity") != severity:
            change.kind, change.before, change.after = "severity", old.get("severity"), severity
            diff.severity.append(change)
        elif old_status == "fail" and status in ("pass", "skip"):
            change.kind, change.before, change.after = "resolved", "fail", status
            change.title, change.severity = old.get("title") or change.title, old.get("severity") or severity
            diff.resolved.append(change)
        elif status == "unknown" and old_status in ("fail", "pass"):
            change.kind, change.before, change.after = "unverifiable", old_status, "unknown"
            if old_status == "fail":
                change.title, change.severity = (
                    old.get("title") or change.title,
                    old.get("severity") or severity,
                )
            diff.unverifiable.append(change)
    for key, old in before.items():
        if key not in now and old.get("status") == "fail":
            diff.unverifiable.append(
                FindingChange(
                    "unverifiable",
                    key[0],
                    old.get("title") or key[0],
                    old.get("severity") or "info",
                    key[1],
                    before="fail",
                    after="missing",
                )
            )
    for changes in (diff.new, diff.severity, diff.unverifiable, diff.resolved):
        changes.sort(key=lambda c: (SEVERITY_RANK.get(c.severity, 9), c.rule, c.subject or ""))


# -- facts -------------------------------------------------------------------------------------------------


def is_unknown(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"unknown"}


def dig(data: Any, path: str) -> Any:
    """`dig(result, "facts.spf.lookup_count")`; None for anything missing along the way."""
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _known(*values: Any) -> bool:
    return all(v is not None and not is_unknown(v) for v in values)


def diff_facts(current: dict, previous: dict) -> list[FactChange]:
    changes: list[FactChange] = []
    changes += _spf_changes(current, previous)
    changes += _dkim_changes(current, previous)
    changes += _dmarc_changes(current, previous)
    changes += _mx_changes(current, previous)
    changes += _relay_changes(current, previous)
    return changes


def _spf_changes(current: dict, previous: dict) -> list[FactChange]:
    out = []
    if _status_ok(current, previous, "spf"):
        before, after = dig(previous, "facts.spf.lookup_count"), dig(current, "facts.spf.lookup_count")
        if _known(before, after) and before != after:
            limit = dig(current, "facts.spf.lookup_limit") or 10
            out.append(FactChange("spf.lookup_count", "SPF DNS lookups", before, after, f"(limit {limit})"))
        before, after = dig(previous, "facts.spf.record"), dig(current, "facts.spf.record")
        if not is_unknown(before) and not is_unknown(after) and before != after:
            out.append(FactChange("spf.record", "SPF record", before, after))
    return out


def _status_ok(current: dict, previous: dict, root: str) -> bool:
    """Both runs established this fact root (its lookups did not fail)."""
    return all(dig(r, f"facts.{root}.status") in (None, "ok") for r in (current, previous))


def _dmarc_changes(current: dict, previous: dict) -> list[FactChange]:
    if not _status_ok(current, previous, "dmarc"):
        return []
    before, after = (
        dig(previous, "facts.dmarc.effective_policy"),
        dig(current, "facts.dmarc.effective_policy"),
    )
    if is_unknown(before) or is_unknown(after):
        return []
    if before != after:
        return [
            FactChange("dmarc.effective_policy", "DMARC policy", before or "no policy", after or "no policy")
        ]
    before, after = dig(previous, "facts.dmarc.record"), dig(current, "facts.dmarc.record")
    if not is_unknown(before) and not is_unknown(after) and before != after:
        return [FactChange("dmarc.record", "DMARC record", before, after)]
    return []


def _mx_hosts(result: dict) -> list[str] | None:
    if dig(result, "facts.mx.status") not in (None, "ok") or is_unknown(dig(result, "facts.mx.exists")):
        return None
    hosts = dig(result, "facts.mx.hosts")
    if not isinstance(hosts, list):
        return None
    return sorted({str(h.get("host", "")).rstrip(".").lower() for h in hosts if isinstance(h, dict)} - {""})


def _mx_changes(current: dict, previous: dict) -> list[FactChange]:
    before, after = _mx_hosts(previous), _mx_hosts(current)
    if before is None or after is None or before == after:
        return []
    return [FactChange("mx.hosts", "MX hosts", before, after)]


def _dkim_keys(result: dict) -> dict[str, dict]:
    found = dig(result, "facts.dkim.found")
    keys = {}
    for entry in found if isinstance(found, list) else []:
        if isinstance(entry, dict) and entry.get("selector"):
            keys[entry["selector"]] = entry
    return keys


def _dkim_failed_selectors(result: dict) -> set[str]:
    results = dig(result, "facts.dkim.results")
    failed = (
        {r.get("selector") for r in results if isinstance(r, dict) and r.get("failed")}
        if isinstance(results, list)
        else set()
    )
    unknown = dig(result, "facts.dkim.unknown")
    return failed | set(unknown if isinstance(unknown, list) else [])


def public_key(record: str | None) -> str | None:
    """The p= value of a DKIM key record, whitespace removed (RFC 6376 §3.6.1 allows folding)."""
    if not record:
        return None
    for tag in record.split(";"):
        name, _, value = tag.partition("=")
        if name.strip() == "p":
            return "".join(value.split())
    return None


def _dkim_changes(current: dict, previous: dict) -> list[FactChange]:
    before, after = _dkim_keys(previous), _dkim_keys(current)
    failed_now = _dkim_failed_selectors(current)
    out = []
    for selector in sorted(set(before) | set(after)):
        old, new = before.get(selector), after.get(selector)
        label = f"DKIM key {selector}"
        if old and not new:
            if selector not in failed_now and dig(current, "facts.dkim.status") in (None, "ok"):
                out.append(FactChange(f"dkim.key:{selector}", label, _key_words(old), None))
        elif new and not old:
            if selector not in _dkim_failed_selectors(previous):
                out.append(FactChange(f"dkim.key:{selector}", label, None, _key_words(new)))
        elif old and new:
            key_changed = public_key(old.get("record")) != public_key(new.get("record"))
            if old.get("bits") != new.get("bits"):
                out.append(
                    FactChange(
                        f"dkim.bits:{selector}",
                        f"{label} size",
                        _bits(old),
                        _bits(new),
                        "(key replaced)" if key_changed else "",
                    )
                )
            elif key_changed:
                out.append(FactChange(f"dkim.key:{selector}", label, "old key", "replaced by a new key"))
    return out


def _bits(entry: dict) -> str:
    return f"{entry['bits']} bits" if entry.get("bits") else "unknown size"


def _key_words(entry: dict) -> str:
    if entry.get("revoked"):
        return "revoked"
    kind = (entry.get("key_type") or "").upper() or "key"
    return f"{kind} {entry['bits']} bits" if entry.get("bits") else kind


def _relay_changes(current: dict, previous: dict) -> list[FactChange]:
    out = []
    before, after = _relay_words(dig(previous, "target.smtp")), _relay_words(dig(current, "target.smtp"))
    if before != after and (before or after):
        out.append(FactChange("target.smtp", "Relay", before or "none", after or "none"))
    before, after = (
        _provider_words(dig(previous, "target.provider")),
        _provider_words(dig(current, "target.provider")),
    )
    if before != after and (before or after):
        out.append(
            FactChange("target.provider", "Provider", before or "not recognised", after or "not recognised")
        )
    return out


def _relay_words(smtp: Any) -> str | None:
    if not isinstance(smtp, dict) or not smtp.get("host"):
        return None
    port = f":{smtp['port']}" if smtp.get("port") else ""
    tls = f" ({smtp['tls']})" if smtp.get("tls") else ""
    return f"{smtp['host']}{port}{tls}"


def _provider_words(provider: Any) -> str | None:
    if not isinstance(provider, dict) or not provider.get("id"):
        return None
    name = provider.get("name") or provider["id"]
    return f"{name} {provider['region']}" if provider.get("region") else name


# -- the verdict in words ----------------------------------------------------------------------------------


def open_problems(result: dict) -> list[dict]:
    return [
        f
        for f in result.get("findings") or []
        if isinstance(f, dict) and f.get("status") == "fail" and f.get("severity") in PROBLEM_SEVERITIES
    ]


def unknown_count(result: dict) -> int:
    return sum(
        1 for f in result.get("findings") or [] if isinstance(f, dict) and f.get("status") == "unknown"
    )


def short_date(iso: str, now: dt.datetime | None = None) -> str:
    """`27 Nov` (with the year when it is not this year)."""
    try:
        when = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    now = now or dt.datetime.now(dt.UTC)
    text = f"{when.day} {when:%b}"
    return text if when.year == now.year else f"{text} {when.year}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def headline(current: dict, diff: RunDiff, now: dt.datetime | None = None) -> str:
    """The verdict in a few words, for the subject: `1 new problem since 27 Nov`, `all good`, …"""
    problems = open_problems(current)
    new = [c for c in diff.new if c.is_problem]
    fixed = [c for c in diff.resolved if c.is_problem]
    since = f" since {short_date(diff.previous_at, now)}" if diff.previous_at else ""
    parts: list[str] = []
    if new:
        parts.append(_count(len(new), "new problem") + since)
        if len(problems) > len(new):
            parts.append(f"{len(problems) - len(new)} still open")
    elif problems:
        parts.append(_count(len(problems), "problem") + (" still open" if diff.previous_at else ""))
    if fixed:
        parts.append(f"{len(fixed)} fixed" + ("" if new else since))
    unknown = unknown_count(current)
    if not problems:
        parts.insert(
            0,
            "all good"
            if not unknown
            else f"no problems found, but {_count(unknown, 'check')} could not be completed",
        )
    elif unknown:
        parts.append(f"{unknown} not checked")
    if not new and not fixed and diff.previous_at:
        notes = len(diff.new) - len(new) + len(diff.resolved) - len(fixed)  # info-level findings
        other = notes + len(diff.severity) + len(diff.unverifiable) + len(diff.facts)
        parts.append(f"{_count(other, 'change')}{since}" if other else f"no change{since}")
    return ", ".join(parts)
