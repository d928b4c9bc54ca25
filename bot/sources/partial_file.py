"""The temporary file a download fills, kept across retries so a resumed body continues it.

The SHA-256 state lives next to the file: bytes appended by a resumed (``206``) answer extend
the same hash, so the file is never read back. `restart` empties the file and the hash for a
host that sends the whole file again.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["SNIFF_BYTES", "ContentRange", "PartialFile", "parse_content_range"]

SNIFF_BYTES = 512  # how much of the file's start is kept to tell a sign-in page from a video

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


def _open_temp(dest_dir: Path, suffix: str) -> tuple[IO[bytes], Path]:
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="slack-", suffix=suffix, dir=dest_dir)
    return os.fdopen(fd, "wb"), Path(name)


def _write(f: IO[bytes], digest: hashlib._Hash, data: bytes | bytearray) -> None:
    f.write(data)
    digest.update(data)


def _truncate(f: IO[bytes]) -> None:
    f.seek(0)
    f.truncate()


class PartialFile:
    """Bytes written so far (`size`), their running SHA-256 and the file's first bytes (`head`).

    Disk work runs in worker threads. The file is created on the first `open`.
    """

    def __init__(self, dest_dir: Path) -> None:
        self._dest_dir = dest_dir
        self._f: IO[bytes] | None = None
        self._path: Path | None = None
        self._digest = hashlib.sha256()
        self.size = 0
        self.head = b""

    @property
    def path(self) -> Path | None:
        return self._path

    async def open(self, suffix: str) -> None:
        if self._f is None:
            self._f, self._path = await asyncio.to_thread(_open_temp, self._dest_dir, suffix)

    async def append(self, data: bytes | bytearray) -> None:
        if self._f is None:
            raise RuntimeError("PartialFile.append before open")
        if len(self.head) < SNIFF_BYTES:
            self.head += bytes(data[: SNIFF_BYTES - len(self.head)])
        await asyncio.to_thread(_write, self._f, self._digest, data)
        self.size += len(data)

    async def restart(self) -> None:
        """Forget every byte: the host is sending the file from its first byte again."""
        if self._f is not None and self.size:
            await asyncio.to_thread(_truncate, self._f)
        self._digest = hashlib.sha256()
        self.size = 0
        self.head = b""

    async def finish(self) -> tuple[Path, str]:
        """Close the file; return its path and SHA-256 (hex)."""
        if self._f is None or self._path is None:
            raise RuntimeError("PartialFile.finish before open")
        await asyncio.to_thread(self._f.close)
        return self._path, self._digest.hexdigest()

    def discard(self) -> None:
        """Close and delete the file. Synchronous on purpose: it must also run while the task
        is being cancelled, and a close + unlink of a local file is far below a millisecond."""
        f, path = self._f, self._path
        self._f = self._path = None
        try:
            if f is not None:
                f.close()
        finally:
            if path is not None:
                path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class ContentRange:
    """A parsed ``Content-Range: bytes first-last/total`` (``total`` None for ``*``)."""

    first: int
    last: int
    total: int | None

    @property
    def length(self) -> int:
        return self.last - self.first + 1


def parse_content_range(value: str | None) -> ContentRange | None:
    """The range of a ``206`` answer, or None when the header is missing or inconsistent."""
    match = _CONTENT_RANGE.match(value or "")
    if match is None:
        return None
    first, last = int(match.group(1)), int(match.group(2))
    total = None if match.group(3) == "*" else int(match.group(3))
    if last < first or (total is not None and last >= total):
        return None
    return ContentRange(first, last, total)
