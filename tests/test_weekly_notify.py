"""The Mastodon notice, posted to a real HTTP server on loopback that records and checks each request."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from auditor.errors import AuditorError
from auditor.weekly.diff import FactChange, FindingChange, RunDiff
from auditor.weekly.notify import (
    STATUS_LIMIT,
    NotifyError,
    compose_status,
    parse_account_url,
    post_status,
    read_token,
)

TOKEN = "tok-Vq93-distinctive-ZZ"


class FakeMastodon:
    """Answers POST /api/v1/statuses like Mastodon does, for the right token only."""

    def __init__(self, status_code: int = 200) -> None:
        self.requests: list[dict] = []
        self.status_code = status_code
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's spelling)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                authorized = self.headers.get("Authorization") == f"Bearer {TOKEN}"
                code = outer.status_code if authorized else 401
                payload = (
                    {"id": "1090", "url": "http://127.0.0.1/@bot/1090"}
                    if code == 200
                    else {"error": "The access token is invalid"}
                )
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeMastodon:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def current_result(problems: int = 1) -> dict:
    findings = [
        {"rule": f"r{i}", "status": "fail", "severity": "critical", "title": f"t{i}"} for i in range(problems)
    ]
    return {"target": {"domain": "example.social"}, "findings": findings}


def a_diff(changes: int = 1) -> RunDiff:
    diff = RunDiff(previous_at="2026-11-27T07:00:00Z")
    diff.new = [FindingChange("new", "r0", "DKIM key missing", "critical")]
    diff.facts = [FactChange(f"k{i}", f"Fact {i}", i, i + 1) for i in range(changes - 1)]
    return diff


def test_direct_message_reaches_the_api_with_token_and_visibility():
    with FakeMastodon() as server:
        target = parse_account_url(f"{server.url}/@admin")
        text = compose_status(current_result(), a_diff(), target.mention, mailed_to=["admin@example.social"])
        assert post_status(target, TOKEN, text, timeout=5) == "http://127.0.0.1/@bot/1090"
        [request] = server.requests
    assert request["path"] == "/api/v1/statuses"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["headers"]["Idempotency-Key"]
    body = json.loads(request["body"])
    assert body["visibility"] == "direct"
    assert body["status"].startswith("@admin inboxready: example.social — 1 new problem since 27 Nov")
    assert "• New critical: DKIM key missing" in body["status"]
    assert body["status"].endswith("Full report mailed to admin@example.social.")


def test_refused_token_is_one_line_without_the_token(tmp_path):
    with FakeMastodon() as server:
        target = parse_account_url(f"{server.url}/@admin")
        with pytest.raises(NotifyError) as caught:
            post_status(target, "wrong-token-Kp2", "hello", timeout=5)
    assert "access token was refused (HTTP 401)" in str(caught.value)
    assert "wrong-token-Kp2" not in str(caught.value)
    assert caught.value.exit_code == 4


def test_server_error_and_unreachable_server():
    with FakeMastodon(status_code=422) as server:
        with pytest.raises(NotifyError, match="HTTP 422"):
            post_status(parse_account_url(server.url), TOKEN, "hello", timeout=5)
        url = server.url
    with pytest.raises(NotifyError, match="failed"):
        post_status(parse_account_url(url), TOKEN, "hello", timeout=2)


def test_long_change_lists_are_trimmed_to_the_status_limit():
    text = compose_status(current_result(), a_diff(changes=80), "@admin@other.example")
    assert len(text) <= STATUS_LIMIT
    assert "more" in text.splitlines()[-1]
    assert text.startswith("@admin@other.example inboxready: example.social")


@pytest.mark.parametrize(
    ("url", "base", "mention"),
    [
        ("https://example.social/@admin", "https://example.social", "@admin"),
        ("https://example.social/@admin@other.example/", "https://example.social", "@admin@other.example"),
        ("https://example.social", "https://example.social", None),
        ("http://127.0.0.1:8080/@admin", "http://127.0.0.1:8080", "@admin"),
    ],
)
def test_account_urls(url, base, mention):
    target = parse_account_url(url)
    assert (target.base_url, target.mention) == (base, mention)


@pytest.mark.parametrize(
    "url", ["http://example.social/@admin", "example.social/@admin", "https://example.social/users/admin"]
)
def test_bad_account_urls(url):
    with pytest.raises(AuditorError):
        parse_account_url(url)


def test_token_file(tmp_path):
    good = tmp_path / "token"
    good.write_text(f"{TOKEN}\n")
    assert read_token(good) == TOKEN
    bad = tmp_path / "bad"
    bad.write_text("two words\n")
    with pytest.raises(AuditorError, match="one access token"):
        read_token(bad)
    with pytest.raises(AuditorError, match="--token-file"):
        read_token(tmp_path / "missing")
