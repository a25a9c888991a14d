"""Applying proposed fixes to test inputs: records to zone text, setting lines to a .env file."""

from __future__ import annotations

import dns.rdatatype
from dnsserver import parse_zone_text

from auditor.zonefile import zone_line


def _logical(rdtype: str, text: str) -> str:
    """How a record value compares: TXT as the logical string, names case-insensitive."""
    return text if rdtype == "TXT" else text.lower()


def _rdata_value(rdata) -> str:
    if rdata.rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8")
    return rdata.to_text()


def apply_records(zone_text: str, records: list[dict]) -> str:
    """The zone text with the records' changes made; a replaced or removed record must exist."""
    existing = [
        (name.to_text().lower(), dns.rdatatype.to_text(rdata.rdtype), ttl, rdata)
        for name, ttl, rdata in parse_zone_text(zone_text)
    ]
    taken: set[int] = set()
    for record in records:
        if record["action"] not in ("replace", "remove"):
            continue
        match = [
            i
            for i, (name, rdtype, _, rdata) in enumerate(existing)
            if name == record["name"]
            and rdtype == record["type"]
            and _logical(rdtype, _rdata_value(rdata)) == _logical(rdtype, record["current"])
        ]
        assert match, f"{record['id']} {record['action']}s {record['current']!r}, which is not in the zone"
        taken.update(match)
    lines = [
        f"{name} {ttl} IN {rdtype} {rdata.to_text()}"
        for i, (name, rdtype, ttl, rdata) in enumerate(existing)
        if i not in taken
    ]
    lines += [
        zone_line(r["name"], r["type"], r["value"]) for r in records if r["action"] in ("add", "replace")
    ]
    return "\n".join(lines) + "\n"


def apply_settings(text: str, settings: list[dict]) -> str:
    """KEY=value settings text (.env style) with each proposed line set: replaced where the key is, else added."""
    lines = text.splitlines()
    for change in settings:
        line = f"{change['key']}={change['value']}"
        index = next(
            (i for i, old in enumerate(lines) if old.split("=", 1)[0].strip() == change["key"]), None
        )
        if index is None:
            lines.append(line)
        else:
            lines[index] = line
    return "\n".join(lines) + "\n"
