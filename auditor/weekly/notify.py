"""An optional Mastodon direct message with the verdict and what changed.

`--notify-mastodon URL` names the admin account to tell, as its profile URL (`https://example.social/@admin`,
or `https://example.social/@admin@other.example` for an account elsewhere); the status is posted on the
URL's instance with the access token from `--token-file` (a bot account's, or the admin's own, with the
`write:statuses` scope), visibility "direct", mentioning the admin so it lands in their direct messages.
A bare instance URL posts a direct status that only the token's own account sees.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from auditor.errors import AuditorError
from auditor.weekly.diff import RunDiff, dig, headline

STATUS_LIMIT = 500  # Mastodon's default maximum status length, in characters
DEFAULT_TIMEOUT = 20.0


class NotifyError(AuditorError):
    """The Mastodon notice could not be posted (exit code 4, like a mail that could not be sent)."""

    exit_code = 4


@dataclass
class MastodonTarget:
    base_url: str  # https://example.social
    mention: str | None  # "@admin" or "@admin@other.example"; None: the token's own account


def parse_account_url(url: str) -> MastodonTarget:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise AuditorError(
            f"--notify-mastodon {url!r}: expected a profile URL like https://example.social/@admin"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise AuditorError(f"--notify-mastodon {url!r}: the access token is only sent over https")
    path = parts.path.strip("/")
    mention = None
    if path:
        if not path.startswith("@") or "/" in path or len(path) < 2:
            raise AuditorError(
                f"--notify-mastodon {url!r}: expected a profile URL like https://example.social/@admin"
            )
        mention = path
    base = f"{parts.scheme}://{parts.netloc}"
    return MastodonTarget(base_url=base, mention=mention)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise AuditorError(f"--token-file {path}: {exc.strerror or exc}") from None
    if not token or any(c.isspace() for c in token):
        raise AuditorError(f"--token-file {path}: expected one access token on one line")
    return token


def compose_status(current: dict, diff: RunDiff, mention: str | None, *, mailed_to: list[str] = ()) -> str:
    """The notice text, at most STATUS_LIMIT characters: mention, verdict, changes (trimmed), where the mail went."""
    domain = dig(current, "target.domain") or "?"
    head = f"{mention} " if mention else ""
    head += f"inboxready: {domain} — {headline(current, diff)}"
    tail = f"\nFull report mailed to {', '.join(mailed_to)}." if mailed_to else ""
    lines = [f"• {line}" for line in diff.lines()]
    body = ""
    for index, line in enumerate(lines):
        more = len(lines) - index - 1
        candidate = body + "\n" + line
        room = STATUS_LIMIT - len(head) - len(tail) - len(f"\n… and {more} more")
        if len(candidate) > room:
            body += f"\n… and {len(lines) - index} more"
            break
        body = candidate
    text = head + ("\n" + body if body else "") + tail
    return text[:STATUS_LIMIT]


def post_status(target: MastodonTarget, token: str, text: str, *, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Post `text` as a direct status; returns the new status's URL (or id). NotifyError on failure."""
    endpoint = f"{target.base_url}/api/v1/statuses"
    headers = {
        "Authorization": f"Bearer {token}",
        # Mastodon drops a repeat with the same key for an hour: a retried cron job does not post twice.
        "Idempotency-Key": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "User-Agent": "inboxready",
    }
    try:
        response = httpx.post(
            endpoint, headers=headers, json={"status": text, "visibility": "direct"}, timeout=timeout
        )
    except httpx.TimeoutException:
        raise NotifyError(
            f"posting the Mastodon notice to {target.base_url} failed: no answer within {timeout:g}s"
        ) from None
    except httpx.HTTPError as exc:
        raise NotifyError(
            f"posting the Mastodon notice to {target.base_url} failed: {_scrub(str(exc), token)}"
        ) from None
    if response.status_code in (401, 403):
        raise NotifyError(
            f"posting the Mastodon notice to {target.base_url} failed: the access token was refused "
            f"(HTTP {response.status_code}); it needs the write:statuses scope"
        )
    if response.status_code >= 300:
        raise NotifyError(
            f"posting the Mastodon notice to {target.base_url} failed: HTTP {response.status_code} "
            f"{_scrub(_error_text(response), token)}".rstrip()
        )
    try:
        data = response.json()
    except ValueError:
        data = {}
    return str(data.get("url") or data.get("id") or "") if isinstance(data, dict) else ""


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
        if isinstance(data, dict) and data.get("error"):
            return str(data["error"])[:200]
    except ValueError:
        pass
    return response.reason_phrase or ""


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "****") if token else text
