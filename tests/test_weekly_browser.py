"""The HTML mail part in headless Chromium: it renders, runs no script and asks the network for nothing."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.demo import SAMPLE_ZONE, UNUSED_NAMESERVER, demo_target
from auditor.weekly.diff import diff_runs
from auditor.weekly.mail import compose_html

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
HOSTILE = '<script>window.__pwned = 1</script><img src="https://tracker.example/pixel.gif" onerror="window.__pwned=2">'

pytestmark = pytest.mark.slow


def chromium_or_skip() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but Chromium is not installed at {CHROMIUM}")
    pytest.skip(f"Chromium is not installed at {CHROMIUM} (CI installs it)")


@pytest.fixture(scope="module")
def mail_html() -> str:
    options = AuditOptions(nameservers=[UNUSED_NAMESERVER], zone_files=[SAMPLE_ZONE], timeout=2.0)
    current = run_audit(demo_target(), options).to_json()
    previous = copy.deepcopy(current)
    for finding in previous["findings"]:
        if finding["rule"] == "spf.lookup-limit":
            finding["status"] = "pass"
    # A TXT value is attacker-controlled: it goes into the mail as a record to copy, and must stay text.
    current["records"] = [
        {
            "id": "r1",
            "action": "replace",
            "name": "social.example.net.",
            "type": "TXT",
            "value": HOSTILE,
            "current": "v=spf1 mx ~all",
            "placeholder": False,
            "note": None,
        }
    ]
    for finding in current["findings"]:
        if finding["rule"] == "spf.lookup-limit":
            finding["fixes"] = ["r1"]
    return compose_html(current, diff_runs(current, previous, "2026-11-27T07:00:00Z"))


def test_html_mail_renders_without_scripts_or_requests(mail_html, tmp_path):
    executable = chromium_or_skip()
    try:
        from playwright import sync_api
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI is set but the playwright package is not installed (pip install '.[test]')")
        pytest.skip("the playwright package is not installed")
    requests: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 700, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.route("**/*", lambda route: route.abort())  # nothing may leave; anything asked is recorded
            page.set_content(mail_html, wait_until="load")
            assert page.evaluate("document.scripts.length") == 0
            assert page.evaluate("document.images.length") == 0
            assert page.evaluate("window.__pwned") is None
            body = page.inner_text("body")
            assert "1 new problem since 27 Nov" in body
            assert HOSTILE in body  # shown as text, exactly, ready to copy
            assert "What changed since 27 Nov" in body
            # Table layout fits a phone-sized mail pane without a horizontal scroll bar.
            page.set_viewport_size({"width": 380, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth") <= 380 + 1
            page.screenshot(path=str(tmp_path / "mail.png"), full_page=True)
        finally:
            browser.close()
    assert requests == []
    assert (tmp_path / "mail.png").stat().st_size > 0
