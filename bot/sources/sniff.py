"""Is this file a video container? Decided from its first bytes (magic numbers), so a text file
renamed `.mp4` is refused before it is uploaded rather than after TwelveLabs looked at it.

Pure: give it the head of a file (HEAD_BYTES is enough); no I/O here.
"""

from __future__ import annotations

__all__ = ["HEAD_BYTES", "describe", "sniff_container"]

HEAD_BYTES = 1024  # three MPEG-TS packets (3 × 188) and any header below fit

_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_MXF_KEY = bytes.fromhex("060e2b34020501010d010201")
_TS_PACKET = 188
_M2TS_PACKET = 192

# ISO base media (ftyp) brands that are not video: audio and still images share the box format.
_NOT_VIDEO_BRANDS = {
    b"M4A ": "an audio file (M4A)",
    b"M4B ": "an audio book (M4B)",
    b"M4P ": "an audio file (M4P)",
    b"heic": "an image (HEIC)",
    b"heix": "an image (HEIC)",
    b"mif1": "an image (HEIF)",
    b"msf1": "an image sequence (HEIF)",
    b"avif": "an image (AVIF)",
    b"crx ": "a camera raw image (CR3)",
}
# QuickTime files without an ftyp box start straight with one of these atoms.
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")

_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "an image (PNG)"),
    (b"\xff\xd8\xff", "an image (JPEG)"),
    (b"GIF8", "an image (GIF)"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"ID3", "an audio file (MP3)"),
    (b"fLaC", "an audio file (FLAC)"),
    (b"\x1f\x8b", "a gzip archive"),
)


def _ftyp(head: bytes) -> str | None:
    brand = head[8:12]
    if brand in _NOT_VIDEO_BRANDS:
        return None
    if brand == b"qt  ":
        return "mov"
    if brand.startswith((b"3gp", b"3g2")):
        return "3gp"
    return "mp4"


def _ebml(head: bytes) -> str:
    return "webm" if b"webm" in head[:64] else "matroska"


def _riff(head: bytes) -> str | None:
    return "avi" if head[8:12] in (b"AVI ", b"AVIX") else None


def _mpeg_ts(head: bytes) -> str | None:
    """Two or three sync bytes one packet apart: a single 0x47 ("G") is far too common."""
    for offset, size in ((0, _TS_PACKET), (4, _M2TS_PACKET)):
        starts = range(offset, len(head), size)
        hits = [i for i in starts if head[i] == 0x47]
        if len(hits) >= 2 and len(hits) == len(starts) and len(head) >= offset + 2 * size:
            return "mpeg-ts" if size == _TS_PACKET else "m2ts"
    return None


def sniff_container(head: bytes) -> str | None:
    """The container a file's first bytes announce (`mp4`, `mov`, `3gp`, `webm`, `matroska`,
    `avi`, `mpeg-ts`, `m2ts`, `flv`, `asf`, `mpeg-ps`, `mpeg`, `ogg`, `mxf`), or None when they
    announce no video container."""
    if head[4:8] == b"ftyp":
        return _ftyp(head)
    if head[4:8] in _QUICKTIME_ATOMS:
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _ebml(head)
    if head.startswith(b"RIFF"):
        return _riff(head)
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(_ASF_GUID):
        return "asf"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg-ps"
    if head.startswith(b"\x00\x00\x01\xb3"):
        return "mpeg"
    if head.startswith(b"OggS"):
        return "ogg" if b"theora" in head else None
    if head.startswith(_MXF_KEY):
        return "mxf"
    return _mpeg_ts(head)


def describe(head: bytes) -> str:
    """What a file that is not a video seems to be, for the error message."""
    if not head:
        return "an empty file"
    if head[4:8] == b"ftyp" and head[8:12] in _NOT_VIDEO_BRANDS:
        return _NOT_VIDEO_BRANDS[head[8:12]]
    if head.startswith(b"RIFF"):
        kind = head[8:12]
        if kind == b"WAVE":
            return "an audio file (WAV)"
        if kind == b"WEBP":
            return "an image (WebP)"
    if head.startswith(b"OggS"):
        return "an Ogg file without video (audio?)"
    for magic, what in _OTHER_MAGIC:
        if head.startswith(magic):
            return what
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A cut multi-byte character at the end of the head is still text.
        text = head[:-4].decode("utf-8", errors="replace") if len(head) > 4 else ""
        if "\ufffd" in text:
            return "a file of an unknown kind"
    if text.lstrip().lower().startswith(("<!doctype html", "<html")):
        return "a web page (HTML)"
    printable = sum(c.isprintable() or c in "\r\n\t" for c in text)
    return "a text file" if printable >= 0.95 * len(text) else "a file of an unknown kind"
