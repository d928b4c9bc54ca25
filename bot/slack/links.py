"""Pure helpers for what a Slack message carries: links (and what kind they are) and files."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = [
    "DIRECT_MEDIA_EXTENSIONS",
    "ClassifiedUrl",
    "UrlKind",
    "classify_url",
    "extract_urls",
    "filename_from_url",
    "split_files",
    "video_files",
]

# `<https://x>` or `<https://x|label>` in message text (Slack's link markup).
_TEXT_LINK_RE = re.compile(r"<(https?://[^|>]+)(?:\|[^>]*)?>", re.IGNORECASE)

# Video container extensions TwelveLabs (and ffmpeg) can take from a direct link.
DIRECT_MEDIA_EXTENSIONS = frozenset(
    {
        "mp4", "m4v", "mov", "qt", "webm", "mkv", "avi", "mpeg", "mpg", "mpe", "m2v",
        "wmv", "asf", "flv", "f4v", "3gp", "3g2", "ts", "mts", "m2ts", "ogv", "mxf",
        "vob", "dv", "divx",
    }
)  # fmt: skip

# Hosts whose links are pages (players, share pages), not media files. A host matches a domain
# when it is the domain or a subdomain of it.
_HOSTING_DOMAINS: tuple[tuple[str, str], ...] = (
    ("youtube.com", "YouTube"),
    ("youtu.be", "YouTube"),
    ("youtube-nocookie.com", "YouTube"),
    ("vimeo.com", "Vimeo"),
    ("loom.com", "Loom"),
    ("drive.google.com", "Google Drive"),
    ("docs.google.com", "Google Drive"),
    ("photos.google.com", "Google Photos"),
    ("photos.app.goo.gl", "Google Photos"),
    ("dropbox.com", "Dropbox"),
    ("db.tt", "Dropbox"),
    ("tiktok.com", "TikTok"),
    ("instagram.com", "Instagram"),
    ("instagr.am", "Instagram"),
    ("facebook.com", "Facebook"),
    ("fb.watch", "Facebook"),
    ("fb.com", "Facebook"),
    ("twitter.com", "X"),
    ("x.com", "X"),
    ("twitch.tv", "Twitch"),
    ("dailymotion.com", "Dailymotion"),
    ("dai.ly", "Dailymotion"),
    ("streamable.com", "Streamable"),
    ("wistia.com", "Wistia"),
    ("vidyard.com", "Vidyard"),
    ("frame.io", "Frame.io"),
    ("box.com", "Box"),
    ("onedrive.live.com", "OneDrive"),
    ("1drv.ms", "OneDrive"),
    ("sharepoint.com", "SharePoint"),
    ("linkedin.com", "LinkedIn"),
    ("reddit.com", "Reddit"),
    ("v.redd.it", "Reddit"),
)

# Slack file `mode`s whose objects are stubs: fields redacted, `files.info` needed (or, for a
# tombstone, at least tried so the user can be told the file is gone).
_STUB_MODES = frozenset({"hidden_by_limit", "tombstone", "file_access"})

# Slack `filetype`s of video files, for when the mimetype is generic.
_VIDEO_FILETYPES = frozenset(
    {"mp4", "m4v", "mov", "webm", "mkv", "avi", "mpg", "mpeg", "wmv", "flv", "3gp", "ogv"}
)


# --------------------------------------------------------------------------------------------
# URLs in a message
# --------------------------------------------------------------------------------------------


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _walk_links(node: Any) -> Iterator[str]:
    """Every `url` of an element of type "link", anywhere under `node`, in document order."""
    if isinstance(node, dict):
        if node.get("type") == "link" and isinstance(node.get("url"), str):
            yield node["url"]
        for key in ("elements", "blocks"):
            child = node.get(key)
            if isinstance(child, list):
                yield from _walk_links(child)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_links(item)


def extract_urls(event: dict[str, Any]) -> list[str]:
    """The http(s) links a message holds, de-duplicated in order.

    Read from the `rich_text` blocks' link elements (lists, quotes and sections alike); when
    the blocks hold none, from the text's `<url>` / `<url|label>` markup (HTML entities such as
    `&amp;` unescaped). Mentions, channels, `mailto:` and other schemes are ignored."""
    found: list[str] = []
    blocks = event.get("blocks")
    if isinstance(blocks, list):
        for block in blocks:
            if isinstance(block, dict) and block.get("type") == "rich_text":
                found.extend(u.strip() for u in _walk_links(block.get("elements")))
    if not any(_is_http_url(u) for u in found):
        text = event.get("text")
        found = (
            [html.unescape(m.group(1)).strip() for m in _TEXT_LINK_RE.finditer(text)]
            if isinstance(text, str)
            else []
        )
    return list(dict.fromkeys(u for u in found if _is_http_url(u)))


# --------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------


class UrlKind(StrEnum):
    DIRECT_MEDIA = "direct_media"
    HOSTING_PAGE = "hosting_page"
    OTHER = "other"


@dataclass(frozen=True)
class ClassifiedUrl:
    url: str
    kind: UrlKind
    service: str | None = None  # the hosting service's name, for HOSTING_PAGE


def _host(url: str) -> str:
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".").lower()


def _extension(url: str) -> str:
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return ""
    last = unquote(path.rstrip("/").rsplit("/", 1)[-1])
    if "." not in last:
        return ""
    return last.rsplit(".", 1)[-1].strip().lower()


def _hosting_service(host: str) -> str | None:
    for domain, service in _HOSTING_DOMAINS:
        if host == domain or host.endswith("." + domain):
            return service
    return None


def _is_vimeo_file_link(host: str, url: str) -> bool:
    """Vimeo's own direct-file links (paid plans): player.vimeo.com/external/….mp4 and
    player.vimeo.com/progressive_redirect/….mp4 redirect to the file itself."""
    if host != "player.vimeo.com":
        return False
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return False
    return path.startswith(("/external/", "/progressive_redirect/"))


def classify_url(url: str) -> ClassifiedUrl:
    """DIRECT_MEDIA by the path's extension; HOSTING_PAGE by host (a page, even one whose path
    ends in `.mp4`, such as a Dropbox share link); OTHER for the rest and for non-http(s).

    Exception: Vimeo's direct-file links (`player.vimeo.com/external/…`, `/progressive_redirect/…`)
    with a media extension are DIRECT_MEDIA."""
    if not _is_http_url(url.strip()):
        return ClassifiedUrl(url, UrlKind.OTHER)
    host = _host(url)
    is_media = _extension(url) in DIRECT_MEDIA_EXTENSIONS
    if is_media and _is_vimeo_file_link(host, url):
        return ClassifiedUrl(url, UrlKind.DIRECT_MEDIA)
    service = _hosting_service(host)
    if service is not None:
        return ClassifiedUrl(url, UrlKind.HOSTING_PAGE, service)
    if is_media:
        return ClassifiedUrl(url, UrlKind.DIRECT_MEDIA)
    return ClassifiedUrl(url, UrlKind.OTHER)


def filename_from_url(url: str) -> str:
    """The last path segment, URL-decoded; else the host; else "video"."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "video"
    segment = parts.path.rstrip("/").rsplit("/", 1)[-1]
    name = unquote(segment).strip()
    if name:
        return name
    return (parts.hostname or "").rstrip(".") or "video"


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _is_stub(f: dict[str, Any]) -> bool:
    return f.get("mode") in _STUB_MODES or not f.get("mimetype")


def _is_video(f: dict[str, Any]) -> bool:
    mimetype = f.get("mimetype")
    if isinstance(mimetype, str) and mimetype.lower().startswith("video/"):
        return True
    filetype = f.get("filetype")
    return isinstance(filetype, str) and filetype.lower() in _VIDEO_FILETYPES


def split_files(
    event: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """`files[]` as (videos, non-videos, stubs that need `files.info`).

    A stub is an entry with `mode` hidden_by_limit / tombstone / file_access, or with no
    mimetype; its fields can't be trusted, so it is neither a video nor a non-video yet.
    Entries that aren't objects are dropped."""
    videos: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    stubs: list[dict[str, Any]] = []
    files = event.get("files")
    if not isinstance(files, list):
        return videos, others, stubs
    for f in files:
        if not isinstance(f, dict):
            continue
        if _is_stub(f):
            stubs.append(f)
        elif _is_video(f):
            videos.append(f)
        else:
            others.append(f)
    return videos, others, stubs


def video_files(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The `files[]` entries that are videos (stubs excluded: see `split_files`)."""
    return split_files(event)[0]
