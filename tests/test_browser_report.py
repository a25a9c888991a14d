"""The HTML report in headless Chromium (Debian's `chromium`, driven by Playwright; no browser download).

No console error, no request beyond the file itself, copy buttons put the exact text on the clipboard, and
TXT records carrying markup stay text. Outside CI the test is skipped, with the reason, when Chromium or
Playwright is missing; in CI (the CI variable is set) that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from report_scenarios import IMG_PAYLOAD, SCRIPT_PAYLOAD, TRICKY_VALUE, demo_result, hostile_result

from auditor.render_reports import render_html, zone_file_text

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """Debian's chromium; INBOXREADY_CHROMIUM names another binary (a missing path means "not installed")."""
    override = os.environ.get("INBOXREADY_CHROMIUM")
    if override is not None:
        return override if Path(override).is_file() else None
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: .ci/run must install it)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The reports, built before the browser starts: Playwright's sync API holds an event loop, and the
    audits run their own with asyncio.run."""
    from dnsserver import DnsServer

    folder = tmp_path_factory.mktemp("reports")
    with DnsServer() as server:
        hostile = hostile_result(server)
    demo = demo_result()
    (folder / "hostile.html").write_text(render_html(hostile), encoding="utf-8")
    (folder / "demo.html").write_text(render_html(demo), encoding="utf-8")
    return {"hostile": (hostile, folder / "hostile.html"), "demo": (demo, folder / "demo.html")}


@pytest.fixture(scope="module")
def browser(reports):
    executable = chromium_path()
    require(executable is not None, "Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "Playwright is not installed (pip install 'inboxready[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Opened:
    """A report opened in a fresh context, with every request, console message and page error recorded."""

    def __init__(self, browser, path: Path, **context_options):
        self.context = browser.new_context(**context_options)
        self.context.grant_permissions(["clipboard-read", "clipboard-write"])
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)
        self.page.wait_for_load_state("load")

    def clipboard_after_click(self, selector: str) -> str:
        """Click a copy button; → the clipboard's text once the button reports the copy."""
        self.page.evaluate("navigator.clipboard.writeText('')")
        self.page.click(selector)
        self.page.wait_for_selector(f"{selector}.done, {selector}.failed")
        assert self.page.inner_text(selector) == "Copied"
        return self.page.evaluate("navigator.clipboard.readText()")

    def close(self):
        self.context.close()


@pytest.fixture
def hostile_report(reports):
    return reports["hostile"]


def test_hostile_report_is_inert_and_quiet(browser, hostile_report):
    _, path = hostile_report
    opened = Opened(browser, path)
    try:
        assert opened.requests == [opened.url]
        assert opened.console == [] and opened.errors == []
        page = opened.page
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("document.querySelectorAll('script').length") == 1
        assert page.evaluate("document.querySelectorAll('img').length") == 0
        body = page.inner_text("body")
        assert SCRIPT_PAYLOAD in body or SCRIPT_PAYLOAD in page.text_content("body")
        # Folded evidence holds the record too; open every fold and read it as text.
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        text = page.text_content("body")
        assert SCRIPT_PAYLOAD in text and IMG_PAYLOAD in text
        assert opened.requests == [opened.url] and opened.console == []
    finally:
        opened.close()


def test_copy_buttons_copy_exact_text(browser, hostile_report):
    result, path = hostile_report
    opened = Opened(browser, path)
    try:
        copied = opened.clipboard_after_click('#records .record[data-record="r2"] .value-row button.copy')
        assert copied == TRICKY_VALUE
        copied = opened.clipboard_after_click('#records .record[data-record="r3"] .value-row button.copy')
        assert copied == IMG_PAYLOAD  # markup in a record is copied as the record's text
        copied = opened.clipboard_after_click("#records .block-head button.copy")
        assert copied == zone_file_text(result.records)
        assert opened.console == [] and opened.errors == []
        assert opened.requests == [opened.url]
    finally:
        opened.close()


def test_print_hides_buttons_and_shows_folds(browser, reports):
    _, path = reports["demo"]
    opened = Opened(browser, path)
    try:
        page = opened.page
        assert page.is_visible("button.copy")
        assert not page.is_visible("details.evidence table")
        page.emulate_media(media="print")
        assert not page.is_visible("button.copy")
        assert page.is_visible("details.evidence table")
    finally:
        opened.close()


def test_phone_width_has_no_horizontal_scroll(browser, reports):
    _, path = reports["demo"]
    for scheme in ("light", "dark"):
        opened = Opened(browser, path, viewport={"width": 390, "height": 844}, color_scheme=scheme)
        try:
            width = opened.page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{scheme}: page is {width}px wide on a 390px screen"
            assert opened.console == [] and opened.errors == []
        finally:
            opened.close()


@pytest.mark.parametrize(("ci", "outcome"), [("1", "1 error"), (None, "1 skipped")])
def test_missing_chromium_fails_in_ci_and_skips_elsewhere(ci, outcome, tmp_path):
    """Run this file's first browser test in a child pytest that cannot find Chromium."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["INBOXREADY_CHROMIUM"] = str(tmp_path / "no-chromium")
    if ci:
        env["CI"] = ci
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            __file__,
            "-k",
            "inert_and_quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert outcome in run.stdout, run.stdout + run.stderr
    assert (run.returncode != 0) == bool(ci)
    assert "Chromium is not installed" in run.stdout
