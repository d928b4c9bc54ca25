"""What the fake learns from an uploaded file: is it a video, how long, how big.

Only box headers are read (mp4/mov) so probing a 1 GiB file is instant. WebM/Matroska files are
recognised by their EBML magic and given a nominal duration of 10 s.
"""

from __future__ import annotations

import mimetypes
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

EBML_MAGIC = b"\x1a\x45\xdf\xa3"
EBML_DURATION_S = 10.0
NOT_A_VIDEO = "The file is not a valid video. Upload a video in a supported format."
BROKEN_VIDEO = "The video file is broken or unreadable: no playable video track was found."

_CODECS = {
    b"avc1": "h264",
    b"avc3": "h264",
    b"hvc1": "hevc",
    b"hev1": "hevc",
    b"vp09": "vp9",
    b"av01": "av1",
    b"mp4a": "aac",
    b"Opus": "opus",
    b"mp4v": "mpeg4",
}

_MIME_BY_EXT = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
}


@dataclass
class Track:
    handler: str = ""
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    fps: float | None = None


@dataclass
class MediaInfo:
    """The outcome of probing a file. `error` is set when the platform would reject it."""

    size: int
    container: str | None = None  # "mp4" | "ebml" | None
    duration: float | None = None
    tracks: list[Track] = field(default_factory=list)
    error: str | None = None

    @property
    def video(self) -> Track | None:
        return next((t for t in self.tracks if t.handler == "vide"), None)

    @property
    def audio(self) -> Track | None:
        return next((t for t in self.tracks if t.handler == "soun"), None)

    def technical_metadata(self, mime: str) -> dict[str, Any]:
        meta: dict[str, Any] = {"file_size_bytes": self.size, "file_mime_type": mime}
        if self.container == "mp4":
            meta["file_container_format"] = "mov,mp4,m4a,3gp,3g2,mj2"
        elif self.container == "ebml":
            meta["file_container_format"] = "matroska,webm"
        video, audio = self.video, self.audio
        videos = [t for t in self.tracks if t.handler == "vide"]
        audios = [t for t in self.tracks if t.handler == "soun"]
        if self.container is not None:
            meta["total_video_streams"] = len(videos) if self.container == "mp4" else 1
            meta["total_audio_streams"] = len(audios)
            meta["has_audio"] = bool(audios)
        if video is not None:
            meta["video_codec"] = video.codec
            meta["video_width"] = video.width
            meta["video_height"] = video.height
            meta["video_fps"] = video.fps
            meta["video_duration_seconds"] = video.duration_s
            if video.width and video.height:
                meta["storage_aspect_ratio"] = round(video.width / video.height, 4)
            meta["video_streams"] = [
                {
                    "index": i,
                    "codec": t.codec,
                    "width": t.width,
                    "height": t.height,
                    "fps": t.fps,
                    "duration_seconds": t.duration_s,
                }
                for i, t in enumerate(videos)
            ]
        elif self.container == "ebml":
            meta["video_duration_seconds"] = self.duration
        if audio is not None:
            meta["audio_codec"] = audio.codec
            meta["audio_duration_seconds"] = audio.duration_s
        return {k: v for k, v in meta.items() if v is not None}


def guess_mime(filename: str, fallback: str | None = None) -> str:
    ext = Path(filename).suffix.lower()
    if ext in _MIME_BY_EXT:
        return _MIME_BY_EXT[ext]
    if fallback and fallback != "application/octet-stream":
        return fallback
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _boxes(f: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, payload_start, box_end) for each well-formed box in [start, end)."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        header = f.read(8)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header)
        header_len = 8
        if size == 1:
            large = f.read(8)
            if len(large) < 8:
                return
            size = struct.unpack(">Q", large)[0]
            header_len = 16
        elif size == 0:
            size = end - pos
        if size < header_len or pos + size > end:
            return
        yield kind, pos + header_len, pos + size
        pos += size


def _find(f: BinaryIO, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for k, s, e in _boxes(f, start, end):
        if k == kind:
            return s, e
    return None


def _read(f: BinaryIO, pos: int, n: int) -> bytes:
    f.seek(pos)
    return f.read(n)


def _full_box_times(f: BinaryIO, start: int) -> tuple[int, int]:
    """(timescale, duration) from an mvhd/mdhd payload."""
    version = _read(f, start, 1)[0]
    if version == 1:
        timescale, duration = struct.unpack(">IQ", _read(f, start + 20, 12))
    else:
        timescale, duration = struct.unpack(">II", _read(f, start + 12, 8))
    return timescale, duration


def _track(f: BinaryIO, start: int, end: int) -> Track:
    track = Track()
    tkhd = _find(f, start, end, b"tkhd")
    if tkhd is not None:
        version = _read(f, tkhd[0], 1)[0]
        offset = tkhd[0] + (88 if version == 1 else 76)
        raw = _read(f, offset, 8)
        if len(raw) == 8:
            w, h = struct.unpack(">II", raw)
            track.width, track.height = w >> 16, h >> 16
    mdia = _find(f, start, end, b"mdia")
    if mdia is None:
        return track
    hdlr = _find(f, *mdia, b"hdlr")
    if hdlr is not None:
        track.handler = _read(f, hdlr[0] + 8, 4).decode("latin-1")
    mdhd = _find(f, *mdia, b"mdhd")
    if mdhd is not None:
        timescale, duration = _full_box_times(f, mdhd[0])
        if timescale:
            track.duration_s = round(duration / timescale, 3)
    minf = _find(f, *mdia, b"minf")
    stbl = _find(f, *minf, b"stbl") if minf else None
    if stbl is not None:
        stsd = _find(f, *stbl, b"stsd")
        if stsd is not None:
            fourcc = _read(f, stsd[0] + 12, 4)
            track.codec = _CODECS.get(fourcc, fourcc.decode("latin-1").strip())
        stsz = _find(f, *stbl, b"stsz")
        if stsz is not None and track.duration_s:
            (count,) = struct.unpack(">I", _read(f, stsz[0] + 8, 4))
            track.fps = round(count / track.duration_s, 3)
    if track.handler != "vide":
        track.width = track.height = None
    return track


def probe(path: Path) -> MediaInfo:
    """Inspect a file on disk the way the platform's validation would (roughly)."""
    size = path.stat().st_size
    info = MediaInfo(size=size)
    with path.open("rb") as f:
        head = f.read(16)
        if head[:4] == EBML_MAGIC:
            info.container = "ebml"
            info.duration = EBML_DURATION_S
            return info
        if len(head) < 8 or head[4:8] != b"ftyp":
            info.error = NOT_A_VIDEO
            return info
        info.container = "mp4"
        for kind, start, end in _boxes(f, 0, size):
            if kind != b"moov":
                continue
            mvhd = _find(f, start, end, b"mvhd")
            if mvhd is not None:
                timescale, duration = _full_box_times(f, mvhd[0])
                if timescale:
                    info.duration = round(duration / timescale, 3)
            info.tracks = [_track(f, s, e) for k, s, e in _boxes(f, start, end) if k == b"trak"]
            break
    if info.duration is None or (info.tracks and info.video is None):
        info.error = BROKEN_VIDEO
    return info


def sniff(head: bytes) -> bool:
    """True when the first bytes look like an mp4/mov or a WebM/Matroska file."""
    return head[:4] == EBML_MAGIC or head[4:8] == b"ftyp"


def _png(width: int = 16, height: int = 9) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\x00" + b"\x30\x60\x90" * width
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


THUMBNAIL_PNG = _png()
