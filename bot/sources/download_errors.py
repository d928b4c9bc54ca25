"""What a Slack file download returns, and how it fails.

`DownloadError.transient` is derived from `kind` and `status`, so a retry loop and the job
layer read the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from bot.callbacks import BytesCb
from bot.sources.download_retry import RETRYABLE_STATUSES, parse_retry_after

__all__ = [
    "BytesCb",
    "DownloadError",
    "DownloadErrorKind",
    "DownloadedFile",
    "forbidden_redirect",
    "login_error",
    "status_error",
    "too_large",
]

DownloadErrorKind = Literal[
    "login_page",
    "too_large",
    "empty",
    "not_found",
    "forbidden_host",
    "too_many_redirects",
    "http_error",
    "network",
    "size_mismatch",
]


_LOGIN_PAGE_MESSAGE = (
    "Slack sent a sign-in page instead of the file. Check that the app has the files:read "
    "scope and is in this channel."
)


@dataclass(frozen=True)
class DownloadedFile:
    path: Path
    size: int
    sha256: str
    content_type: str | None


class DownloadError(Exception):
    """A download that didn't produce a file. `user_message` is safe to show in Slack.

    `transient` (derived from `kind` and `status`) is True when trying again later may work:
    ``network`` (connect/read timeouts, resets, dropped connections), ``size_mismatch`` (a body
    cut short, or one that disagrees with the announced size) and ``http_error`` with status
    408, 429, 500, 502, 503 or 504. Everything else is permanent — including
    ``too_many_redirects``: a redirect loop doesn't mend itself in seconds. A download that ran
    out of retries raises its last transient error. `attempts` is how many tries were made (0
    when refused before any request); `retry_after` the wait the host last asked for, in
    seconds (None when it didn't say).
    """

    def __init__(
        self,
        kind: DownloadErrorKind,
        user_message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(f"{kind}: {user_message}")
        self.kind: DownloadErrorKind = kind
        self.user_message = user_message
        self.status = status
        self.retry_after = retry_after
        self.attempts = attempts

    @property
    def transient(self) -> bool:
        if self.kind in ("network", "size_mismatch"):
            return True
        return self.kind == "http_error" and self.status in RETRYABLE_STATUSES


def _fmt_size(n: int) -> str:
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.0f} MB"
    return f"{n} bytes"


def too_large(max_bytes: int) -> DownloadError:
    return DownloadError(
        "too_large", f"The file is larger than the {_fmt_size(max_bytes)} this app accepts."
    )


def forbidden_redirect(host: str, status: int | None) -> DownloadError:
    return DownloadError(
        "forbidden_host",
        f"Slack redirected the download to {host}, which isn't on the app's list of Slack file "
        "hosts, so the app didn't send its token there and the file couldn't be fetched. An "
        "admin can add the host to SLACK_FILE_HOSTS.",
        status=status,
    )


def login_error(url: httpx.URL, *, token_sent: bool, status: int) -> DownloadError:
    if not token_sent:
        return forbidden_redirect(url.host, status)
    return DownloadError("login_page", _LOGIN_PAGE_MESSAGE, status=status)


def status_error(response: httpx.Response, *, token_sent: bool, host: str) -> DownloadError:
    status = response.status_code
    if status in (404, 410):
        return DownloadError(
            "not_found", "Slack couldn't find that file. It may have been deleted.", status=status
        )
    if status in (401, 403):
        if not token_sent:
            return forbidden_redirect(host, status)
        return DownloadError(
            "http_error",
            f"Slack refused access to the file (HTTP {status}). Check that the app has the "
            "files:read scope and is in this channel.",
            status=status,
        )
    if status in RETRYABLE_STATUSES:
        return DownloadError(
            "http_error",
            f"Slack's file server is busy or failing (HTTP {status}). Try again in a moment.",
            status=status,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    return DownloadError(
        "http_error", f"Slack answered the download with HTTP {status}.", status=status
    )
