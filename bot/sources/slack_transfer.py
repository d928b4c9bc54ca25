"""One download across its tries: walking the redirect chain, checking answers, the body.

The rules are in `bot.sources.slack_files`' docstring; the retry loop lives there too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from bot.sources.download_errors import (
    BytesCb,
    DownloadedFile,
    DownloadError,
    login_error,
    status_error,
    too_large,
)
from bot.sources.partial_file import SNIFF_BYTES, PartialFile, parse_content_range

__all__ = ["HostAllowlist", "RangeRefused", "Transfer", "looks_like_html", "where"]

logger = logging.getLogger("bot.sources.slack_files")

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}$")


class RangeRefused(Exception):
    """A resumed request was answered with 416 or a 206 that doesn't fit the bytes held."""


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
    """The hosts that may receive the bot token (rules: `bot.sources.slack_files`)."""

    def __init__(self, entries: Sequence[str]) -> None:
        parsed = (_entry_to_host_port(e) for e in entries)
        self._entries = frozenset(p for p in parsed if p is not None)

    def allows(self, url: httpx.URL) -> bool:
        host = url.host.rstrip(".").lower()
        port = url.port or (443 if url.scheme == "https" else 80)
        return any(h == host and (p is None or p == port) for h, p in self._entries)


def where(url: httpx.URL) -> str:
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


def _encoded(response: httpx.Response) -> bool:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    return encoding not in ("", "identity")


def _content_length(response: httpx.Response) -> int | None:
    if _encoded(response):
        return None  # the header counts encoded bytes, not the file's
    value = response.headers.get("content-length")
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None


def _strong_etag(response: httpx.Response) -> str | None:
    """The ``ETag`` if it's strong: only a strong validator may go in ``If-Range``."""
    value = (response.headers.get("etag") or "").strip()
    return value if value.startswith('"') and value.endswith('"') and len(value) > 1 else None


def _suffix_for(url: httpx.URL) -> str:
    name = url.path.rsplit("/", 1)[-1]
    match = _SAFE_SUFFIX.search(name)
    return match.group(0).lower() if match else ""


def _redirect_target(current: httpx.URL, response: httpx.Response) -> httpx.URL:
    status = response.status_code
    location = response.headers.get("location")
    if not location:
        raise DownloadError(
            "http_error", "Slack answered the download with a redirect to nowhere.", status=status
        )
    try:
        target = current.join(location)
    except (httpx.InvalidURL, ValueError) as exc:
        raise DownloadError(
            "http_error", "Slack redirected the download to an invalid link.", status=status
        ) from exc
    if target.scheme not in ("http", "https") or not target.host:
        raise DownloadError(
            "forbidden_host",
            "Slack redirected the download to a link the app won't follow.",
            status=status,
        )
    logger.info("redirect %s -> %s", where(current), where(target))
    return target.copy_with(fragment=None)


@dataclass
class Transfer:
    """One download, across tries: the file so far, what the host said about it, the tries."""

    url: httpx.URL
    token: str
    allowlist: HostAllowlist
    http: httpx.AsyncClient
    sink: PartialFile
    max_bytes: int
    expected_size: int | None
    progress: BytesCb | None
    max_redirects: int
    chunk_size: int
    use_range: bool = True
    tries: int = 0
    total: int | None = None  # the file's size, once an answer said it
    etag: str | None = None  # strong validator of the bytes held, for If-Range
    reported: int = 0  # highest count handed to `progress`
    offset: int = field(default=0, init=False)  # where this try's Range starts (0: no Range)

    async def attempt(self) -> DownloadedFile:
        """One try: walk the redirect chain from the original URL and receive the body."""
        self.tries += 1
        self.offset = self.sink.size if self.use_range else 0
        current = self.url
        token_allowed = True  # becomes False for good once the chain leaves the allowlist
        for hop in range(self.max_redirects + 1):
            if not self.allowlist.allows(current):
                token_allowed = False
            downgrade = self.url.scheme == "https" and current.scheme == "http"
            send_token = token_allowed and not downgrade
            response = await self._send(current, hop, send_token)
            try:
                if response.status_code in _REDIRECT_STATUSES:
                    current = _redirect_target(current, response)
                    continue
                return await self._receive(response, current, token_sent=send_token)
            finally:
                await response.aclose()
        logger.warning("too many redirects downloading %s", where(self.url))
        raise DownloadError("too_many_redirects", "Slack redirected the download too many times.")

    async def _send(self, url: httpx.URL, hop: int, send_token: bool) -> httpx.Response:
        request = self.http.build_request("GET", url, headers={"Accept-Encoding": "identity"})
        request.headers.pop("Authorization", None)
        if send_token:
            request.headers["Authorization"] = f"Bearer {self.token}"
        if self.offset:
            request.headers["Range"] = f"bytes={self.offset}-"
            if self.etag is not None:
                request.headers["If-Range"] = self.etag
        logger.info(
            "downloading Slack file %s (try %d, hop %d, from byte %d, token %s)",
            where(url),
            self.tries,
            hop,
            self.offset,
            "sent" if send_token else "withheld",
        )
        try:
            return await self.http.send(request, stream=True, follow_redirects=False, auth=None)
        except httpx.TransportError as exc:
            logger.warning("network error downloading %s: %s", where(url), type(exc).__name__)
            raise DownloadError(
                "network", "Couldn't reach Slack's file server. Try again in a moment."
            ) from exc

    async def _receive(
        self, response: httpx.Response, url: httpx.URL, *, token_sent: bool
    ) -> DownloadedFile:
        status = response.status_code
        if status == 416 and self.offset:
            raise RangeRefused("416")
        if not response.is_success:
            raise status_error(response, token_sent=token_sent, host=url.host)
        media_type = _media_type(response)
        if _is_html_type(media_type):
            logger.warning("got an HTML page instead of a file from %s", where(url))
            raise login_error(url, token_sent=token_sent, status=status)
        if status == 206:
            self._check_resume(response)
        else:
            if self.sink.size:
                logger.info("%s ignored Range; downloading from the start", where(url))
                await self.sink.restart()
            self._check_whole(response)
        await self.sink.open(_suffix_for(url))
        await self._stream(response, url, token_sent=token_sent)
        self._check_complete(url, token_sent=token_sent, status=status)
        path, sha256 = await self.sink.finish()
        logger.info("downloaded %s: %d bytes in %d tries", where(url), self.sink.size, self.tries)
        return DownloadedFile(
            path=path, size=self.sink.size, sha256=sha256, content_type=media_type
        )

    def _check_whole(self, response: httpx.Response) -> None:
        """A 200: the whole file follows."""
        length = _content_length(response)
        if length is not None:
            if length > self.max_bytes:
                raise too_large(self.max_bytes)
            if self.expected_size is not None and length != self.expected_size:
                raise DownloadError(
                    "size_mismatch",
                    f"Slack announced {length:,} bytes but the file should be "
                    f"{self.expected_size:,} bytes.",
                )
        self.total = self.expected_size if self.expected_size is not None else length
        self.etag = _strong_etag(response)
        if _encoded(response):
            self.use_range = False  # a Range counts encoded bytes; ours are decoded ones

    def _check_resume(self, response: httpx.Response) -> None:
        """A 206: valid only as the rest of the very bytes already held."""
        if not self.offset:
            raise DownloadError(
                "http_error",
                "Slack sent part of the file when the app asked for all of it.",
                status=206,
            )
        got = parse_content_range(response.headers.get("content-range"))
        length = _content_length(response)
        etag = _strong_etag(response)
        if (
            got is None
            or got.first != self.offset
            or (length is not None and length != got.length)
            or (got.total is not None and self.total is not None and got.total != self.total)
            or (etag is not None and self.etag is not None and etag != self.etag)
        ):
            raise RangeRefused(f"Content-Range {response.headers.get('content-range')!r}")
        if got.total is not None:
            if got.total > self.max_bytes:
                raise too_large(self.max_bytes)
            self.total = got.total

    async def _stream(self, response: httpx.Response, url: httpx.URL, *, token_sent: bool) -> None:
        sink = self.sink
        buf = bytearray()
        try:
            async for piece in response.aiter_bytes():
                buf += piece
                held = sink.size + len(buf)
                if held > self.max_bytes:
                    logger.warning("file from %s exceeds %d bytes", where(url), self.max_bytes)
                    raise too_large(self.max_bytes)
                if self.expected_size is not None and held > self.expected_size:
                    await sink.restart()  # these bytes aren't the file Slack described
                    raise DownloadError(
                        "size_mismatch", "Slack sent more bytes than the file should have."
                    )
                if sink.size < SNIFF_BYTES <= held:
                    head = sink.head + bytes(buf[: SNIFF_BYTES - sink.size])
                    if looks_like_html(head):
                        raise login_error(url, token_sent=token_sent, status=response.status_code)
                if len(buf) >= self.chunk_size:
                    await self._flush(buf)
                    buf = bytearray()
        except httpx.TransportError as exc:
            # What did arrive is good: keep it so the next try resumes after it.
            await self._flush(buf)
            logger.warning("network error reading %s: %s", where(url), type(exc).__name__)
            raise DownloadError(
                "network", "The download from Slack was interrupted. Try again in a moment."
            ) from exc
        except httpx.DecodingError as exc:
            raise DownloadError(
                "http_error", "Slack sent the file in a form the app couldn't read."
            ) from exc
        await self._flush(buf)

    async def _flush(self, buf: bytearray) -> None:
        if not buf:
            return
        await self.sink.append(buf)
        if self.progress is not None and self.sink.size > self.reported:
            self.reported = self.sink.size
            await self.progress(self.sink.size, self.total)

    def _check_complete(self, url: httpx.URL, *, token_sent: bool, status: int) -> None:
        size = self.sink.size
        if size < SNIFF_BYTES and looks_like_html(self.sink.head):
            raise login_error(url, token_sent=token_sent, status=status)
        if size == 0:
            raise DownloadError("empty", "The file is empty (0 bytes).")
        if self.total is not None and size != self.total:
            raise DownloadError(
                "size_mismatch",
                f"Slack sent {size:,} bytes but the file should be {self.total:,} bytes.",
            )
