"""The self-contained HTML report, read with an HTML parser: escaped, no external resource, exact copy text.

Golden files live in tests/golden/; `INBOXREADY_UPDATE_GOLDEN=1 pytest tests/test_render_*.py` rewrites them.
(tests/test_browser_report.py opens the same reports in Chromium.)
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from report_scenarios import IMG_PAYLOAD, SCRIPT_PAYLOAD, TRICKY_VALUE, demo_result, hostile_result
from test_render_markdown import check_golden

from auditor.render_reports import reference_url, render_html, render_html_from_json, zone_file_text


class Page(HTMLParser):
    """Tags, attributes and text of a page, with `data-copy` texts and the text inside each section."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.copies: list[str] = []
        self.sections: dict[str, list[str]] = {}
        self._section: str | None = None
        self._in_script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "section" and attributes.get("id"):
            self._section = attributes["id"]
            self.sections[self._section] = []
        if tag == "script":
            self._in_script = True
        if "data-copy" in attributes:
            self.copies.append(attributes["data-copy"])

    def handle_endtag(self, tag):
        if tag == "section":
            self._section = None
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            return
        self.text.append(data)
        if self._section:
            self.sections[self._section].append(data)

    def all_text(self) -> str:
        return "".join(self.text)

    def section_text(self, name: str) -> str:
        return "".join(self.sections.get(name, []))


@pytest.fixture(scope="module")
def demo():
    return demo_result()


@pytest.fixture(scope="module")
def demo_html(demo) -> str:
    return render_html(demo)


@pytest.fixture
def hostile(dns_server):
    return hostile_result(dns_server)


def test_demo_html_golden(demo_html):
    check_golden("demo.html", demo_html)


def test_hostile_html_golden(hostile):
    check_golden("hostile.html", render_html(hostile))


def test_self_contained_with_a_csp_that_forbids_requests(demo_html):
    page = Page(demo_html)
    names = [tag for tag, _ in page.tags]
    assert names.count("script") == 1 and names.count("style") == 1
    assert not {"link", "img", "iframe", "object", "embed", "video", "audio", "source", "form"} & set(names)
    for tag, attrs in page.tags:
        assert "src" not in attrs, tag
        if "href" in attrs:
            assert tag == "a" and (attrs["href"].startswith(("#", "https://"))), attrs["href"]
    csp = next(
        a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    )
    assert "default-src 'none'" in csp and "img-src data:" in csp
    assert any(t == "meta" and a.get("name") == "viewport" for t, a in page.tags)
    assert "prefers-color-scheme: dark" in demo_html and "@media print" in demo_html
    assert "url(" not in demo_html and "@import" not in demo_html


def test_hostile_txt_renders_as_text(hostile):
    html = render_html(hostile)
    page = Page(html)
    names = [tag for tag, _ in page.tags]
    assert names.count("script") == 1  # only the report's own
    assert "img" not in names
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)
    text = page.all_text()
    assert SCRIPT_PAYLOAD in text and IMG_PAYLOAD in text  # shown, as text


def test_copy_buttons_carry_exact_values(hostile):
    page = Page(render_html(hostile))
    for record in hostile.records:
        assert record["value"] in page.copies
        assert record["name"] in page.copies
    assert TRICKY_VALUE in page.copies
    assert zone_file_text(hostile.records) in page.copies


def test_verdict_and_sections(demo, demo_html):
    page = Page(demo_html)
    assert "level-critical" in demo_html.split('id="verdict"')[0]
    fix = page.section_text("fix")
    for finding in demo.failed():
        assert finding.title in fix
        if finding.action:
            assert finding.action in fix
    passed = page.section_text("passed")
    assert all(f.title in passed for f in demo.findings if f.status == "pass")
    assert "hunter2" not in demo_html
    spf = page.section_text("spf")
    assert "14 of 10 DNS lookups" in spf
    # Each top-level include shows what it adds to the count, as the SPF facts computed it.
    for domain, cost in demo.facts.spf.include_costs.items():
        node = rf'<code>{re.escape(domain)}</code>\s*<span class="via">include</span>\s*<span class="cost[^"]*">{cost} lookups?<'
        assert re.search(node, demo_html), domain


def test_spf_branch_costs_match_the_collector(demo):
    from auditor.render_reports import spf_tree

    data = demo.to_json()["facts"]["spf"]
    tree = spf_tree(data["tree"])
    assert tree["branch_cost"] == data["lookup_count"]
    assert {c["domain"]: c["branch_cost"] for c in tree["children"]} == data["include_costs"]


def test_unknown_findings_are_neither_passed_nor_failed(hostile):
    page = Page(render_html(hostile))
    unknown = page.section_text("unknown")
    assert hostile.unknown()
    for finding in hostile.unknown():
        assert finding.title in unknown
        assert finding.title not in page.section_text("passed")
        assert finding.title not in page.section_text("fix")
    assert "Could not be checked" in unknown


def test_tolerates_missing_facts_roots(hostile):
    data = hostile.to_json()
    data["facts"] = {"dns": data["facts"]["dns"]}
    page = Page(render_html_from_json(data))
    assert "spf" not in page.sections and "probe" not in page.sections
    assert "fix" in page.sections and "records" in page.sections


def test_probe_transcript_is_folded_when_present(hostile):
    data = hostile.to_json()
    data["facts"]["probe"] = {
        "host": "smtp.example.org",
        "port": 587,
        "tls_mode": "starttls",
        "suggestions": ["Use port 587 with STARTTLS"],
        "transcript": ["S: 220 smtp.example.org ESMTP <b>hi</b>", "C: EHLO example.org"],
    }
    html = render_html_from_json(data)
    page = Page(html)
    assert "S: 220 smtp.example.org ESMTP <b>hi</b>" in page.section_text("probe")
    assert ("b", {}) not in page.tags
    assert '<details class="transcript">' in html


@pytest.mark.parametrize(
    ("reference", "url"),
    [
        ("RFC 7208 §4.6.4", "https://www.rfc-editor.org/rfc/rfc7208#section-4.6.4"),
        ("RFC 9989 Appendix A.6", "https://www.rfc-editor.org/rfc/rfc9989#appendix-A.6"),
        ("RFC 9990", "https://www.rfc-editor.org/rfc/rfc9990"),
        ("https://support.google.com/a/answer/81126", "https://support.google.com/a/answer/81126"),
        ("javascript:alert(1)", None),
        ("M3AAWG sender best practices", None),
    ],
)
def test_reference_links(reference, url):
    assert reference_url(reference) == url


def test_records_with_only_the_required_keys_render(hostile):
    from auditor.render_reports import render_markdown_from_json

    data = hostile.to_json()
    data["records"] = [
        {"id": "r1", "action": "add", "name": "example.org.", "type": "TXT", "value": "v=spf1 -all"}
    ]
    data["settings"] = [{"file": ".env.production", "key": "SMTP_PORT", "value": "587"}]
    page = Page(render_html_from_json(data))
    assert "v=spf1 -all" in page.copies and 'example.org.  IN  TXT   "v=spf1 -all"\n' in page.copies
    assert "SMTP_PORT=587" in page.copies
    markdown = render_markdown_from_json(data)
    assert "| Add | `example.org.` | `TXT` | `v=spf1 -all` |" in markdown
    assert "SMTP_PORT=587" in markdown
