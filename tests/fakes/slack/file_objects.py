"""Files registered with the fake Slack, the file objects built from them, and Range parsing."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

FILE_MODES = ("hosted", "hidden_by_limit", "tombstone", "file_access")
_CHUNK = 256 * 1024
_BYTE_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")

_PRETTY_TYPES = {
    "mp4": "MPEG 4 Video",
    "mov": "QuickTime Movie",
    "webm": "WebM",
    "mkv": "Matroska Video",
    "avi": "AVI",
    "m4v": "MPEG 4 Video",
    "mpg": "MPEG Video",
    "png": "PNG",
    "jpg": "JPEG",
    "pdf": "PDF",
    "text": "Plain Text",
}


@dataclass
class FakeFile:
    id: str
    team_id: str
    name: str
    title: str
    mimetype: str
    filetype: str
    mode: str
    user: str
    channel: str | None
    content: bytes | Path
    size: int
    redirect: bool
    duration_ms: int | None
    created: int
    deleted: bool = False

    @property
    def stem(self) -> str:
        return f"{self.team_id}-{self.id}"

    @property
    def secret(self) -> str:
        """Stable opaque part of CDN-style URLs."""
        return hashlib.sha256(f"{self.team_id}/{self.id}".encode()).hexdigest()[:10]

    @property
    def etag(self) -> str:
        """A strong validator; the fake's files never change, so this never does either."""
        return f'"{self.secret}-{self.size}"'

    def chunks(
        self, limit: int | None = None, start: int = 0, end: int | None = None
    ) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive; default: the end) in chunks, at most ``limit``
        bytes in total."""
        stop = self.size if end is None else min(end, self.size)
        remaining = max(0, stop - start)
        if limit is not None:
            remaining = min(limit, remaining)
        if isinstance(self.content, bytes):
            for at in range(start, start + remaining, _CHUNK):
                yield self.content[at : min(at + _CHUNK, start + remaining)]
            return
        with open(self.content, "rb") as fh:
            fh.seek(start)
            while remaining > 0:
                chunk = fh.read(min(_CHUNK, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

    def full_object(self, base_url: str) -> dict[str, Any]:
        """The complete file object, as in a hosted upload's ``files[]`` or ``files.info``."""
        name_q = quote(self.name)
        obj: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.name,
            "title": self.title,
            "mimetype": self.mimetype,
            "filetype": self.filetype,
            "pretty_type": _PRETTY_TYPES.get(self.filetype, self.filetype.upper()),
            "user": self.user,
            "user_team": self.team_id,
            "editable": False,
            "size": self.size,
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": True,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{base_url}files-pri/{self.stem}/{name_q}",
            "url_private_download": f"{base_url}files-pri/{self.stem}/download/{name_q}",
            "media_display_type": "unknown",
            "permalink": f"{base_url}files/{self.user}/{self.id}/{name_q}",
            "permalink_public": f"{base_url}{self.stem}-{self.secret}",
            "is_starred": False,
            "has_rich_preview": False,
            "file_access": "visible",
        }
        if self.mimetype.startswith("video/"):
            obj["media_display_type"] = "video"
            thumb_name = quote(os.path.splitext(self.name)[0] or "video")
            obj["thumb_video"] = (
                f"{base_url}files-tmb/{self.stem}-{self.secret}/{thumb_name}_thumb_video.jpeg"
            )
        if self.duration_ms is not None:
            obj["duration_ms"] = self.duration_ms
        return obj

    def event_object(self, base_url: str) -> dict[str, Any]:
        """The object as it appears in a message event's ``files[]`` for this file's mode."""
        if self.mode == "tombstone":
            return {"id": self.id, "mode": "tombstone"}
        if self.mode == "file_access":
            return {"id": self.id, "mode": "file_access", "file_access": "check_file_info"}
        if self.mode == "hidden_by_limit":
            return {
                "id": self.id,
                "created": self.created,
                "timestamp": self.created,
                "mode": "hidden_by_limit",
            }
        return self.full_object(base_url)

    def info_object(self, base_url: str) -> dict[str, Any]:
        """The object ``files.info`` returns (full for hosted and file_access stubs)."""
        if self.mode == "hidden_by_limit":
            return self.event_object(base_url)
        obj = self.full_object(base_url)
        channels: dict[str, list[str]] = {"channels": [], "groups": [], "ims": []}
        if self.channel:
            key = {"G": "groups", "D": "ims"}.get(self.channel[:1], "channels")
            channels[key].append(self.channel)
        obj.update(channels)
        obj["comments_count"] = 0
        return obj


def content_size(content: bytes | os.PathLike[str] | str) -> tuple[bytes | Path, int]:
    if isinstance(content, bytes | bytearray | memoryview):
        data = bytes(content)
        return data, len(data)
    path = Path(content)
    return path, path.stat().st_size


class Unsatisfiable(Exception):
    """A Range that starts at or past the end of the file (answered 416)."""


def requested_range(f: FakeFile, headers: Mapping[str, str]) -> tuple[int, int] | None:
    """The one byte range to send (first, last; inclusive), or None to send the whole file.

    Only a single ``bytes=first-[last]`` is honoured; anything else is ignored, as a server may.
    An ``If-Range`` other than the file's ETag gets the whole file. Raises `Unsatisfiable`.
    """
    header = headers.get("Range")
    if header is None:
        return None
    if_range = headers.get("If-Range")
    if if_range is not None and if_range != f.etag:
        return None  # the client holds another version: it gets this one whole
    match = _BYTE_RANGE.match(header.strip())
    if match is None:
        return None
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else f.size - 1
    if first >= f.size:
        raise Unsatisfiable
    if last < first:
        return None
    return first, min(last, f.size - 1)
