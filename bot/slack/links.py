"""Pure helpers for what a Slack message carries: links and files. What kind a link is lives
in `bot.sources.urls` (re-exported here)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

from bot.sources.urls import (
    DIRECT_MEDIA_EXTENSIONS,
    ClassifiedUrl,
    UrlKind,
    classify_url,
    filename_from_url,
    is_http_url,
)

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
    if not any(is_http_url(u) for u in found):
        text = event.get("text")
        found = (
            [html.unescape(m.group(1)).strip() for m in _TEXT_LINK_RE.finditer(text)]
            if isinstance(text, str)
            else []
        )
    return list(dict.fromkeys(u for u in found if is_http_url(u)))


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
