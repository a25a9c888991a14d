"""Markdown report and the zone-file text: exact, escaped, pasteable.

Golden files live in tests/golden/; `INBOXREADY_UPDATE_GOLDEN=1 pytest tests/test_render_*.py` rewrites them.
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import dns.rdata
import dns.zone
import pytest
from markdown_it import MarkdownIt
from report_scenarios import (
    IMG_PAYLOAD,
    LONG_SPF,
    SCRIPT_PAYLOAD,
    TRICKY_VALUE,
    demo_result,
    hostile_result,
    normalise,
)

from auditor.render_reports import (
    md_code,
    md_fence,
    md_text,
    render_markdown,
    render_markdown_from_json,
    zone_file_lines,
    zone_file_text,
)
from auditor.zonefile import txt_chunks

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("INBOXREADY_UPDATE_GOLDEN") == "1"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    text = normalise(text)
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with INBOXREADY_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs; INBOXREADY_UPDATE_GOLDEN=1 rewrites it"


def txt(name: str, value: str, action: str = "add", **extra) -> dict:
    return {
        "id": "r",
        "action": action,
        "name": name,
        "type": "TXT",
        "value": value,
        "current": None,
        "placeholder": False,
        "note": "",
        **extra,
    }


def parse_txt_line(line: str) -> list[bytes]:
    """The character-strings of one zone-file TXT line, as a DNS server would load them."""
    rdata_text = line.split(" IN ", 1)[1].strip()
    assert rdata_text.startswith("TXT")
    rdata = dns.rdata.from_text("IN", "TXT", rdata_text[3:].strip())
    return list(rdata.strings)


def load_zone(text: str) -> dict[tuple[str, str], list[bytes]]:
    """Load zone text the way a name server does; → {(name, type): [logical values]}."""
    zone = dns.zone.from_text("$TTL 300\n" + text, origin=".", check_origin=False, relativize=False)
    loaded = {}
    for name, rdataset in zone.iterate_rdatasets():
        for rdata in rdataset:
            value = b"".join(rdata.strings) if hasattr(rdata, "strings") else rdata.to_text().encode()
            loaded.setdefault((name.to_text(), dns.rdatatype.to_text(rdataset.rdtype)), []).append(value)
    return loaded


# -- zone_file_lines ---------------------------------------------------------------------------------------


def test_600_byte_spf_is_split_into_255_byte_strings_with_spaces_inside():
    terms = "v=spf1 " + " ".join(f"ip4:198.51.100.{n}" for n in range(30)) + " include:amazonses.com"
    value = terms + " note=" + "x" * (600 - len(terms) - len(" note=") - len(" -all")) + " -all"
    assert len(value.encode()) == 600
    [line] = zone_file_lines([txt("example.org.", value)])
    strings = parse_txt_line(line)
    assert len(strings) == 3
    assert all(len(s) <= 255 for s in strings)
    assert b"".join(strings) == value.encode()  # joined with nothing in between, as receivers do
    for string in strings[:-1]:
        assert string.endswith(b" ")  # the separating space stays inside the chunk
    assert not any(s.startswith(b" ") for s in strings[1:])


def test_quotes_and_backslashes_survive_a_zone_load():
    value = 'v=DKIM1; n="quoted \\"inner\\"" back\\slash; p=abc'
    [line] = zone_file_lines([txt("sel._domainkey.example.org.", value)])
    assert parse_txt_line(line) == [value.encode()]
    assert '\\"' in line and "\\\\" in line


def test_value_without_spaces_is_cut_at_255_bytes():
    key = "p=" + "A" * 700
    strings = parse_txt_line(zone_file_lines([txt("k._domainkey.example.org.", key)])[0])
    assert [len(s) for s in strings] == [255, 255, 192]
    assert b"".join(strings) == key.encode()


def test_multibyte_characters_are_not_split():
    value = "é" * 200  # 400 bytes of two-byte characters, no spaces
    chunks = txt_chunks(value)  # whole characters only: each chunk is a str
    assert all(len(c.encode("utf-8")) <= 255 for c in chunks)
    assert "".join(chunks) == value
    strings = parse_txt_line(zone_file_lines([txt("example.org.", value)])[0])
    assert b"".join(strings) == value.encode()


def test_empty_value_is_one_empty_string():
    assert parse_txt_line(zone_file_lines([txt("example.org.", "")])[0]) == [b""]


def test_control_characters_cannot_start_a_new_zone_line():
    hostile = 'v=spf1 -all"\nevil.example.org. IN TXT "injected'
    records = [
        txt("example.org.", hostile, action="replace", current="old\nevil2.example.org. IN A 192.0.2.66"),
        {**txt("example.org.", "x"), "note": "note\nevil3.example.org. IN A 192.0.2.67"},
    ]
    loaded = load_zone(zone_file_text(records))
    assert set(loaded) == {("example.org.", "TXT")}
    assert sorted(loaded[("example.org.", "TXT")]) == sorted([hostile.encode(), b"x"])


def test_zone_text_loads_to_exactly_the_records_to_add_or_replace():
    records = [
        txt("example.org.", LONG_SPF, action="replace", current="v=spf1 include:old.example -all"),
        txt("_dmarc.example.org.", "v=DMARC1; p=none; rua=mailto:d@example.org"),
        {
            "id": "r3",
            "action": "add",
            "name": "s1._domainkey.example.org.",
            "type": "CNAME",
            "value": "s1.dkim.example.net.",
            "current": None,
            "placeholder": True,
            "where": "the console",
            "note": "",
        },
        txt("example.org.", "v=spf1 -all", action="remove"),
        {
            "id": "r5",
            "action": "add",
            "name": "example.org.",
            "type": "MX",
            "value": "10 mx.example.net.",
            "current": None,
            "placeholder": False,
            "note": "",
        },
    ]
    text = zone_file_text(records)
    assert text.endswith("\n")
    loaded = load_zone(text)
    assert loaded == {
        ("example.org.", "TXT"): [LONG_SPF.encode()],
        ("_dmarc.example.org.", "TXT"): [b"v=DMARC1; p=none; rua=mailto:d@example.org"],
        ("s1._domainkey.example.org.", "CNAME"): [b"s1.dkim.example.net."],
        ("example.org.", "MX"): [b"10 mx.example.net."],
    }
    lines = text.splitlines()
    assert '; remove: example.org. IN TXT "v=spf1 -all"' in lines
    assert '; replaces: "v=spf1 include:old.example -all"' in lines
    assert any(line.startswith("; placeholder:") and "the console" in line for line in lines)


def test_no_records_no_zone_text():
    assert zone_file_lines([]) == []
    assert zone_file_text([]) == ""


# -- Markdown escaping -------------------------------------------------------------------------------------


def test_md_text_escapes_html_and_markdown():
    assert md_text("<b>x</b> & y") == "&lt;b&gt;x&lt;/b&gt; &amp; y"
    assert md_text("a|b") == "a\\|b"
    assert md_text("_under_ *star* `tick` [link](x)") == "\\_under\\_ \\*star\\* \\`tick\\` \\[link\\](x)"
    assert md_text("line\n# heading\n- item") == "line \\# heading - item"
    assert md_text("1. first") == "1\\. first"


def test_md_code_fence_is_longer_than_any_backtick_run():
    assert md_code("plain") == "`plain`"
    assert md_code("a ``b`` c") == "```a ``b`` c```"
    assert md_code("`edge`") == "`` `edge` ``"
    assert md_code("a|b", table=True) == "`a\\|b`"


def test_md_fence_outgrows_the_content():
    block = md_fence("x\n````\ny", "dns")
    assert block.startswith("`````dns\n") and block.endswith("\n`````")


# -- Rendered reports --------------------------------------------------------------------------------------


class TagCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)


def as_github_would(markdown: str) -> str:
    """Render like GitHub/Gitea: CommonMark plus tables, raw HTML passed through."""
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


@pytest.fixture(scope="module")
def demo():
    return demo_result()


@pytest.fixture(scope="module")
def demo_markdown(demo) -> str:
    return render_markdown(demo)


@pytest.fixture
def hostile(dns_server):
    return hostile_result(dns_server)


def test_demo_markdown_golden(demo_markdown):
    check_golden("demo.md", demo_markdown)


def test_hostile_markdown_golden(hostile):
    check_golden("hostile.md", render_markdown(hostile))


def test_demo_markdown_sections(demo, demo_markdown):
    assert demo_markdown.startswith("# Mail delivery report: social.example.net\n")
    for heading in (
        "## What to fix",
        "## Records to add or change",
        "## Settings to change",
        "## Passed checks",
    ):
        assert f"\n{heading}" in demo_markdown
    assert "```dns\n" + zone_file_text(demo.records) + "```" in demo_markdown
    assert "demo-secret-not-real" not in demo_markdown  # the sample's SMTP_PASSWORD never shows
    assert "SMTP_OPENSSL_VERIFY_MODE=peer" in demo_markdown  # the sample's one settings problem, as a line
    # Every failed finding is under "What to fix" with its why and what to do.
    fixes = demo_markdown.split("## What to fix", 1)[1].split("\n## ", 1)[0]
    for finding in demo.failed():
        assert f"`{finding.rule}`" in fixes


def test_zone_block_in_markdown_is_the_zone_text(hostile):
    markdown = render_markdown(hostile)
    assert "```dns\n" + zone_file_text(hostile.records) + "```" in markdown
    assert "\n; remove: example.org. IN TXT " in markdown


def test_hostile_markdown_renders_no_markup(hostile):
    markdown = render_markdown(hostile)
    html = as_github_would(markdown)
    collector = TagCollector()
    collector.feed(html)
    assert "script" not in collector.tags and "img" not in collector.tags
    assert not any(name.startswith("on") for name, _ in collector.attrs)
    # ...yet the hostile text is all there, as text.
    for payload in (SCRIPT_PAYLOAD, IMG_PAYLOAD):
        assert (
            payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            in html
        )


def test_hostile_markdown_table_keeps_its_columns(hostile):
    markdown = render_markdown(hostile)
    html = as_github_would(markdown)
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    record_rows = [r for r in rows if "<td>" in r and re.search(r"<td>(Add|Replace|Remove)</td>", r)]
    assert len(record_rows) == 3
    assert all(r.count("<td>") == 5 for r in record_rows)
    tricky_row = next(r for r in record_rows if "sel._domainkey" in r)
    expected = TRICKY_VALUE.replace("&", "&amp;").replace('"', "&quot;")
    assert f"<code>{expected}</code>" in tricky_row


def test_unknown_findings_are_listed_apart(hostile):
    markdown = render_markdown(hostile)
    unknown = markdown.split("## Could not be checked", 1)[1].split("\n## ", 1)[0]
    passed = markdown.split("## Passed checks", 1)[1]
    fixes = markdown.split("## What to fix", 1)[1].split("## Could not be checked", 1)[0]
    for finding in hostile.unknown():
        assert f"`{finding.rule}`" in unknown
        assert f"`{finding.rule}`" not in passed and f"`{finding.rule}`" not in fixes


def test_markdown_from_json_without_facts_roots(hostile):
    data = hostile.to_json()
    data["facts"] = {}
    markdown = render_markdown_from_json(data)
    assert "## SPF lookups" not in markdown and "## Live SMTP test" not in markdown
    assert "## What to fix" in markdown
