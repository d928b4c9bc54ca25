"""Stream a Slack upload (`url_private_download`) to a temporary file, safely.

Token rules
-----------
The bot token (``Authorization: Bearer …``) goes only to hosts in ``allowed_hosts``
(``SLACK_FILE_HOSTS``). Matching is on the host name, exact and case-insensitive (a trailing dot
is ignored; no wildcards). An entry may carry a port — ``127.0.0.1:8123`` or ``[::1]:8123`` —
and then matches only that port; an entry without a port matches the host on any port. An entry
written as a URL (``https://files.slack.com``) is accepted and reduced to its host[:port].

Redirects are followed by hand (``follow_redirects=False``), at most ``max_redirects`` hops, and
every hop is re-checked:

* the first URL's host must be allowed, else ``forbidden_host`` and nothing is sent;
* a hop to an allowed host keeps the token, unless it downgrades ``https`` to ``http``;
* a hop to any other host is followed **without** the token, and from then on the token is never
  sent again in that chain (a host outside the list can't steer the token anywhere);
* if a token-less hop ends in a sign-in page or 401/403 the error is ``forbidden_host``: the
  file lives on a host that isn't in ``SLACK_FILE_HOSTS``.

Any ``Authorization`` header the caller's client carries by default is removed from requests
that must not hold the token, and client-level ``auth`` is disabled for these requests.

Body rules
----------
The body is written in ``chunk_size`` pieces to a ``mkstemp`` file in ``dest_dir``; each write
and SHA-256 update runs in a worker thread (``asyncio.to_thread``), so the event loop never
blocks on disk and memory stays bounded by a couple of chunks. ``max_bytes`` is enforced while
streaming and, earlier, against ``Content-Length`` and ``expected_size``. A body that is HTML
(by ``Content-Type`` or by its first bytes) is Slack's sign-in page — what Slack sends, with
HTTP 200, when the token is missing or lacks ``files:read``. On every error the partial file is
removed. ``Accept-Encoding: identity`` is requested so byte counts are the file's own.

Logging names the host and path only — never the token, never the query string.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import httpx

logger = logging.getLogger(__name__)

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

ProgressCb = Callable[[int, int | None], Awaitable[None]]

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_SNIFF_BYTES = 512
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}$")

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
    """A download that didn't produce a file. `user_message` is safe to show in Slack."""

    def __init__(
        self,
        kind: DownloadErrorKind,
        user_message: str,
        *,
        transient: bool = False,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{kind}: {user_message}")
        self.kind: DownloadErrorKind = kind
        self.user_message = user_message
        self.transient = transient
        self.status = status


def _entry_to_host_port(entry: str) -> tuple[str, int | None] | None:
    raw = entry.strip()
    if not raw:
        return None
    try:
        url = httpx.URL(raw if "://" in raw else f"http://{raw}")
    except (httpx.InvalidURL, ValueError):
        return None
    if not url.host:
        return None
    return url.host.rstrip(".").lower(), url.port


class HostAllowlist:
    """The hosts that may receive the bot token (see the module docstring for the rules)."""

    def __init__(self, entries: Sequence[str]) -> None:
        parsed = (_entry_to_host_port(e) for e in entries)
        self._entries = frozenset(p for p in parsed if p is not None)

    def allows(self, url: httpx.URL) -> bool:
        host = url.host.rstrip(".").lower()
        port = url.port or (443 if url.scheme == "https" else 80)
        return any(h == host and (p is None or p == port) for h, p in self._entries)


def _where(url: httpx.URL) -> str:
    """Host and path for logs: no query string, no fragment, no credentials."""
    return f"{url.host}{':' + str(url.port) if url.port else ''}{url.path}"


def _media_type(response: httpx.Response) -> str | None:
    value = response.headers.get("content-type")
    if not value:
        return None
    return value.split(";", 1)[0].strip().lower() or None


def _is_html_type(media_type: str | None) -> bool:
    return media_type in ("text/html", "application/xhtml+xml")


def looks_like_html(head: bytes) -> bool:
    """True when the first bytes of a body are an HTML document."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    return text.startswith((b"<!doctype html", b"<html"))


def _content_length(response: httpx.Response) -> int | None:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return None  # the header counts encoded bytes, not the file's
    value = response.headers.get("content-length")
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None


def _suffix_for(url: httpx.URL) -> str:
    name = url.path.rsplit("/", 1)[-1]
    match = _SAFE_SUFFIX.search(name)
    return match.group(0).lower() if match else ""


def _fmt_size(n: int) -> str:
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.0f} MB"
    return f"{n} bytes"


def _too_large(max_bytes: int) -> DownloadError:
    return DownloadError(
        "too_large", f"The file is larger than the {_fmt_size(max_bytes)} this app accepts."
    )


def _forbidden_redirect(host: str, status: int | None) -> DownloadError:
    return DownloadError(
        "forbidden_host",
        f"Slack redirected the download to {host}, which isn't on the app's list of Slack file "
        "hosts, so the app didn't send its token there and the file couldn't be fetched. An "
        "admin can add the host to SLACK_FILE_HOSTS.",
        status=status,
    )


def _status_error(status: int, *, token_sent: bool, host: str) -> DownloadError:
    if status in (404, 410):
        return DownloadError(
            "not_found", "Slack couldn't find that file. It may have been deleted.", status=status
        )
    if status in (401, 403):
        if not token_sent:
            return _forbidden_redirect(host, status)
        return DownloadError(
            "http_error",
            f"Slack refused access to the file (HTTP {status}). Check that the app has the "
            "files:read scope and is in this channel.",
            status=status,
        )
    if status == 429 or status >= 500:
        return DownloadError(
            "http_error",
            f"Slack's file server is busy or failing (HTTP {status}). Try again in a moment.",
            transient=True,
            status=status,
        )
    return DownloadError(
        "http_error", f"Slack answered the download with HTTP {status}.", status=status
    )


def _write_chunk(f: IO[bytes], digest: hashlib._Hash, chunk: bytes) -> None:
    f.write(chunk)
    digest.update(chunk)


def _open_temp(dest_dir: Path, suffix: str) -> tuple[IO[bytes], Path]:
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="slack-", suffix=suffix, dir=dest_dir)
    return os.fdopen(fd, "wb"), Path(name)


def _discard(f: IO[bytes], path: Path) -> None:
    try:
        f.close()
    finally:
        path.unlink(missing_ok=True)


async def download_slack_file(
    url: str,
    *,
    token: str,
    allowed_hosts: Sequence[str],
    dest_dir: Path,
    max_bytes: int,
    http: httpx.AsyncClient,
    expected_size: int | None = None,
    progress: ProgressCb | None = None,
    max_redirects: int = 5,
    chunk_size: int = 1 << 20,
) -> DownloadedFile:
    """Download a Slack file to a new temporary file in `dest_dir`; the caller deletes it.

    Raises `DownloadError`. `progress(bytes_so_far, total_or_None)` is awaited after every chunk
    (throttle in the callback if it talks to Slack). `OSError` from the local disk propagates.
    """
    if expected_size is not None and expected_size > max_bytes:
        raise _too_large(max_bytes)
    allowlist = HostAllowlist(allowed_hosts)
    try:
        current = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise DownloadError("forbidden_host", "The file link from Slack isn't valid.") from exc
    if current.scheme not in ("http", "https") or not current.host:
        raise DownloadError("forbidden_host", "The file link from Slack isn't an http(s) link.")
    if not allowlist.allows(current):
        logger.warning("refusing file download from non-allowed host %s", _where(current))
        raise DownloadError(
            "forbidden_host",
            f"The file is on {current.host}, which isn't on the app's list of Slack file hosts. "
            "An admin can add it to SLACK_FILE_HOSTS.",
        )

    original_scheme = current.scheme
    token_allowed = True  # becomes False for good once the chain leaves the allowlist
    for hop in range(max_redirects + 1):
        downgrade = original_scheme == "https" and current.scheme == "http"
        if not allowlist.allows(current):
            token_allowed = False
        send_token = token_allowed and not downgrade
        request = http.build_request("GET", current, headers={"Accept-Encoding": "identity"})
        request.headers.pop("Authorization", None)
        if send_token:
            request.headers["Authorization"] = f"Bearer {token}"
        logger.info(
            "downloading Slack file %s (hop %d, token %s)",
            _where(current),
            hop,
            "sent" if send_token else "withheld",
        )
        try:
            response = await http.send(request, stream=True, follow_redirects=False, auth=None)
        except httpx.TransportError as exc:
            logger.warning("network error downloading %s: %s", _where(current), type(exc).__name__)
            raise DownloadError(
                "network",
                "Couldn't reach Slack's file server. Try again in a moment.",
                transient=True,
            ) from exc
        try:
            if response.status_code in _REDIRECT_STATUSES:
                location = response.headers.get("location")
                if not location:
                    raise DownloadError(
                        "http_error",
                        "Slack answered the download with a redirect to nowhere.",
                        status=response.status_code,
                    )
                try:
                    target = current.join(location)
                except (httpx.InvalidURL, ValueError) as exc:
                    raise DownloadError(
                        "http_error",
                        "Slack redirected the download to an invalid link.",
                        status=response.status_code,
                    ) from exc
                if target.scheme not in ("http", "https") or not target.host:
                    raise DownloadError(
                        "forbidden_host",
                        "Slack redirected the download to a link the app won't follow.",
                        status=response.status_code,
                    )
                logger.info("redirect %s -> %s", _where(current), _where(target))
                current = target.copy_with(fragment=None)
                continue
            if not response.is_success:
                raise _status_error(response.status_code, token_sent=send_token, host=current.host)
            return await _stream_to_file(
                response,
                url=current,
                token_sent=send_token,
                dest_dir=dest_dir,
                max_bytes=max_bytes,
                expected_size=expected_size,
                progress=progress,
                chunk_size=chunk_size,
            )
        finally:
            await response.aclose()
    logger.warning("too many redirects downloading %s", _where(httpx.URL(url)))
    raise DownloadError("too_many_redirects", "Slack redirected the download too many times.")


async def _stream_to_file(
    response: httpx.Response,
    *,
    url: httpx.URL,
    token_sent: bool,
    dest_dir: Path,
    max_bytes: int,
    expected_size: int | None,
    progress: ProgressCb | None,
    chunk_size: int,
) -> DownloadedFile:
    media_type = _media_type(response)

    def login_page() -> DownloadError:
        if not token_sent:
            return _forbidden_redirect(url.host, response.status_code)
        return DownloadError("login_page", _LOGIN_PAGE_MESSAGE, status=response.status_code)

    if _is_html_type(media_type):
        logger.warning("got an HTML page instead of a file from %s", _where(url))
        raise login_page()
    length = _content_length(response)
    if length is not None:
        if length > max_bytes:
            raise _too_large(max_bytes)
        if expected_size is not None and length != expected_size:
            raise DownloadError(
                "size_mismatch",
                f"Slack announced {length:,} bytes but the file should be {expected_size:,} bytes.",
            )
    total = expected_size if expected_size is not None else length

    f, path = await asyncio.to_thread(_open_temp, dest_dir, _suffix_for(url))
    digest = hashlib.sha256()
    received = 0
    head = b""
    sniffed = False
    try:
        try:
            async for chunk in response.aiter_bytes(chunk_size):
                if not chunk:
                    continue
                if not sniffed:
                    head += chunk[: _SNIFF_BYTES - len(head)]
                    if len(head) >= _SNIFF_BYTES:
                        sniffed = True
                        if looks_like_html(head):
                            raise login_page()
                received += len(chunk)
                if received > max_bytes:
                    logger.warning("file from %s exceeds %d bytes", _where(url), max_bytes)
                    raise _too_large(max_bytes)
                await asyncio.to_thread(_write_chunk, f, digest, chunk)
                if progress is not None:
                    await progress(received, total)
        except httpx.TransportError as exc:
            logger.warning("network error reading %s: %s", _where(url), type(exc).__name__)
            raise DownloadError(
                "network",
                "The download from Slack was interrupted. Try again in a moment.",
                transient=True,
            ) from exc
        except httpx.DecodingError as exc:
            raise DownloadError(
                "http_error", "Slack sent the file in a form the app couldn't read."
            ) from exc
        if not sniffed and looks_like_html(head):
            raise login_page()
        if received == 0:
            raise DownloadError("empty", "The file is empty (0 bytes).")
        if expected_size is not None and received != expected_size:
            raise DownloadError(
                "size_mismatch",
                f"Slack sent {received:,} bytes but the file should be {expected_size:,} bytes.",
            )
        await asyncio.to_thread(f.close)
    except BaseException:
        # Synchronous on purpose: it must also run while the task is being cancelled, and a
        # close + unlink of a local file is far below a millisecond.
        _discard(f, path)
        raise
    logger.info("downloaded %s: %d bytes", _where(url), received)
    return DownloadedFile(
        path=path, size=received, sha256=digest.hexdigest(), content_type=media_type
    )
