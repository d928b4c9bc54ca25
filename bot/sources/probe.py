"""Guarded probe of a link with no telling extension: is it a video file TwelveLabs can fetch?

Used only for an explicit `/gist <url>`. The probe never reads more than a few KB:

1. `resolve_checked` (the rules of `urlguard.check_url`) resolves the host and checks every
   address; a blocked URL raises `BlockedUrl` before any request is made.
2. The request is **pinned** to one of the checked addresses: the URL's host is replaced by the
   IP, the original `Host` header is kept, and TLS uses the original name for SNI and certificate
   verification (httpcore's `sni_hostname` extension). A second DNS answer (rebinding) is never
   consulted. After connecting, the peer address of the socket
   (`network_stream.get_extra_info("server_addr")`) is checked again.
3. `HEAD` first; when HEAD is refused (400/403/405/501) or its answer doesn't settle the
   question (no type, or `application/*`), a `GET` with `Range: bytes=0-1023` whose first bytes
   are sniffed. Redirects are followed by hand, each hop checked and pinned the same way.

The client passed in should not use a proxy (`trust_env=False`, no `proxy=`): behind a proxy the
peer is the proxy, and the peer check refuses a private one unless `allow_private`. The caller's
client-level auth and any default `Authorization` header are never sent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from dataclasses import dataclass
from typing import Literal

import httpx

from bot.sources.urlguard import BlockedUrl, check_address, parse_http_url, resolve_checked

logger = logging.getLogger(__name__)

ProbeErrorKind = Literal["unreachable", "http_error", "too_many_redirects"]

VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".qt",
        ".mkv",
        ".webm",
        ".avi",
        ".wmv",
        ".asf",
        ".flv",
        ".mpeg",
        ".mpg",
        ".mpe",
        ".m2v",
        ".ts",
        ".mts",
        ".m2ts",
        ".3gp",
        ".3g2",
        ".ogv",
    }
)

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_HEAD_REFUSED = frozenset({400, 403, 405, 501})
_GENERIC_TYPES = frozenset(
    {
        "application/octet-stream",
        "binary/octet-stream",
        "application/binary",
        "application/x-binary",
    }
)
_SNIFF_RANGE = "bytes=0-1023"
_MAX_BODY = 4096
_MAX_ADDRESSES = 4
_CONTENT_RANGE_TOTAL = re.compile(r"^\s*bytes\s+[^/]*/\s*(\d+)\s*$", re.IGNORECASE)

# ISO-BMFF brands that are still images or audio, not video.
_NON_VIDEO_BRANDS = frozenset(
    {
        b"heic",
        b"heix",
        b"heim",
        b"heis",
        b"hevc",
        b"hevx",
        b"mif1",
        b"msf1",
        b"avif",
        b"avis",
        b"M4A ",
        b"M4B ",
        b"M4P ",
        b"crx ",
    }
)
_QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})


@dataclass(frozen=True)
class ProbeResult:
    final_url: str
    status: int
    content_type: str | None
    content_length: int | None
    is_video: bool
    is_html: bool


class ProbeError(Exception):
    """The link couldn't be probed. `user_message` is safe to show (no full URL)."""

    def __init__(
        self, kind: ProbeErrorKind, user_message: str, *, status: int | None = None
    ) -> None:
        super().__init__(f"{kind}: {user_message}")
        self.kind: ProbeErrorKind = kind
        self.status = status
        self.user_message = user_message


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: httpx.Headers
    body: bytes


def sniff_video(head: bytes) -> bool:
    """True when `head` (the first bytes of a file) starts like a video container."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return head[8:12] not in _NON_VIDEO_BRANDS
    if len(head) >= 8 and head[4:8] in _QUICKTIME_ATOMS:
        return True
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska / WebM
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    if head.startswith((b"FLV\x01", b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")):  # FLV, ASF/WMV
        return True
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):  # MPEG-PS / MPEG-1/2 video
        return True
    return len(head) > 188 and head[0] == 0x47 and head[188] == 0x47  # MPEG-TS sync bytes


def _looks_like_html(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    return text.startswith((b"<!doctype html", b"<html"))


def _media_type(headers: httpx.Headers) -> str | None:
    value = headers.get("content-type")
    if not value:
        return None
    return value.split(";", 1)[0].strip().lower() or None


def _has_video_extension(url: httpx.URL) -> bool:
    name = url.path.rsplit("/", 1)[-1].lower()
    return any(name.endswith(ext) for ext in VIDEO_EXTENSIONS)


def _content_length(answer: _Answer) -> int | None:
    if answer.status == 206:
        match = _CONTENT_RANGE_TOTAL.match(answer.headers.get("content-range", ""))
        return int(match.group(1)) if match else None
    encoding = answer.headers.get("content-encoding", "identity").strip().lower()
    value = answer.headers.get("content-length")
    if value is None or encoding not in ("", "identity"):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _where(url: httpx.URL) -> str:
    return f"{url.host}{':' + str(url.port) if url.port else ''}{url.path}"


def _unreachable(url: httpx.URL) -> ProbeError:
    return ProbeError(
        "unreachable", f"Couldn't reach {url.host}. Check that the link is public and try again."
    )


def _http_error(status: int, url: httpx.URL) -> ProbeError:
    if status in (401, 403):
        hint = " It seems to need a sign-in; TwelveLabs can only fetch public links."
    elif status in (404, 410):
        hint = " There's nothing at that link."
    elif status == 429 or status >= 500:
        hint = " The site is busy or failing; try again later."
    else:
        hint = ""
    return ProbeError("http_error", f"{url.host} answered with HTTP {status}.{hint}", status=status)


def _check_peer(response: httpx.Response, *, allow_private: bool) -> None:
    if allow_private:
        return
    stream = response.extensions.get("network_stream")
    addr = stream.get_extra_info("server_addr") if stream is not None else None
    if not addr:
        raise BlockedUrl("Couldn't verify where that link leads, so the app won't fetch it.")
    ip = ipaddress.ip_address(str(addr[0]).split("%", 1)[0])
    check_address(ip, allow_private=False)


async def _fetch(
    method: Literal["HEAD", "GET"],
    url: httpx.URL,
    *,
    allow_private: bool,
    http: httpx.AsyncClient,
    timeout_s: float,
) -> _Answer:
    try:
        addresses = await resolve_checked(url, allow_private=allow_private)
    except BlockedUrl as exc:
        if exc.kind == "unresolvable":
            raise _unreachable(url) from exc
        raise
    host_header = url.netloc.decode("ascii")
    sni = url.raw_host.decode("ascii")
    headers = {"Host": host_header, "Accept-Encoding": "identity"}
    if method == "GET":
        headers["Range"] = _SNIFF_RANGE
    last_error: Exception | None = None
    for ip in addresses[:_MAX_ADDRESSES]:
        request = http.build_request(
            method,
            url.copy_with(host=str(ip)),
            headers=headers,
            timeout=timeout_s,
            extensions={"sni_hostname": sni},
        )
        request.headers.pop("Authorization", None)
        try:
            response = await http.send(request, stream=True, follow_redirects=False, auth=None)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            last_error = exc
            continue
        except httpx.TransportError as exc:
            raise _unreachable(url) from exc
        try:
            _check_peer(response, allow_private=allow_private)
            body = b""
            if method == "GET" and response.is_success:
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) >= _MAX_BODY:
                        break
            return _Answer(response.status_code, response.headers, body[:_MAX_BODY])
        except httpx.TransportError as exc:
            raise _unreachable(url) from exc
        finally:
            await response.aclose()
    logger.info("probe of %s: no address answered (%s)", _where(url), type(last_error).__name__)
    raise _unreachable(url) from last_error


def _result(url: httpx.URL, answer: _Answer, *, sniffed: bool) -> ProbeResult:
    media_type = _media_type(answer.headers)
    is_html = media_type in ("text/html", "application/xhtml+xml") or (
        sniffed and _looks_like_html(answer.body)
    )
    is_video = not is_html and (
        (media_type is not None and media_type.startswith("video/"))
        or ((media_type is None or media_type in _GENERIC_TYPES) and _has_video_extension(url))
        or (sniffed and sniff_video(answer.body))
    )
    return ProbeResult(
        final_url=str(url),
        status=answer.status,
        content_type=media_type,
        content_length=_content_length(answer),
        is_video=is_video,
        is_html=is_html,
    )


def _worth_sniffing(result: ProbeResult) -> bool:
    if result.is_video or result.is_html:
        return False
    return result.content_type is None or result.content_type.startswith("application/")


async def _probe(
    url: str, *, allow_private: bool, http: httpx.AsyncClient, max_redirects: int, timeout_s: float
) -> ProbeResult:
    current = parse_http_url(url).copy_with(fragment=None)
    method: Literal["HEAD", "GET"] = "HEAD"
    redirects = 0
    while True:
        answer = await _fetch(
            method, current, allow_private=allow_private, http=http, timeout_s=timeout_s
        )
        logger.info("probe %s %s -> %d", method, _where(current), answer.status)
        if answer.status in _REDIRECT_STATUSES:
            location = answer.headers.get("location")
            if not location:
                raise _http_error(answer.status, current)
            redirects += 1
            if redirects > max_redirects:
                raise ProbeError(
                    "too_many_redirects", "That link redirects too many times.", status=None
                )
            try:
                target = current.join(location)
            except (httpx.InvalidURL, ValueError) as exc:
                raise _http_error(answer.status, current) from exc
            current = parse_http_url(target).copy_with(fragment=None)
            continue
        if method == "HEAD" and answer.status in _HEAD_REFUSED:
            method = "GET"
            continue
        if not 200 <= answer.status < 300:
            raise _http_error(answer.status, current)
        result = _result(current, answer, sniffed=method == "GET")
        if method == "HEAD" and _worth_sniffing(result):
            method = "GET"
            continue
        return result


async def probe_media_url(
    url: str,
    *,
    allow_private: bool,
    http: httpx.AsyncClient,
    max_redirects: int = 5,
    timeout_s: float = 10.0,
) -> ProbeResult:
    """Probe `url` (see the module docstring). Raises `BlockedUrl` or `ProbeError`.

    `timeout_s` bounds the whole probe, redirects included.
    """
    try:
        async with asyncio.timeout(timeout_s):
            return await _probe(
                url,
                allow_private=allow_private,
                http=http,
                max_redirects=max_redirects,
                timeout_s=timeout_s,
            )
    except TimeoutError as exc:
        raise ProbeError(
            "unreachable", "That link took too long to answer. Try again later."
        ) from exc
