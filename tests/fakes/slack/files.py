"""Files registered with the fake and the Slack file objects built from them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

FILE_MODES = ("hosted", "hidden_by_limit", "tombstone", "file_access")
_CHUNK = 256 * 1024

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

    def chunks(self, limit: int | None = None) -> Iterator[bytes]:
        """The content in chunks, at most ``limit`` bytes in total."""
        remaining = self.size if limit is None else min(limit, self.size)
        if isinstance(self.content, bytes):
            for start in range(0, remaining, _CHUNK):
                yield self.content[start : min(start + _CHUNK, remaining)]
            return
        with open(self.content, "rb") as fh:
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
