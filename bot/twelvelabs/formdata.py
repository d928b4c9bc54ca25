"""A multipart/form-data body streamed from disk, with an exact Content-Length.

The body can be opened any number of times (one per attempt), so a retried upload re-sends
every form field and the whole file — never a half-consumed stream. The file is read in
`PIECE_SIZE` pieces in a worker thread, one piece ahead of the socket, so neither memory nor
the event loop is tied up.
"""

from __future__ import annotations

import asyncio
import ctypes
import mimetypes
import os
import secrets
import threading
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileBody", "FileRange", "FormBody", "FormFile", "guess_content_type"]

# Big enough that per-piece work (a thread hand-off, a send, callbacks: ~1,000 per GiB) is
# noise next to the copying; small enough that 3 chunks in flight, each with a piece read
# ahead, stay far below 64 MiB.
PIECE_SIZE = 1024 * 1024
# Pieces read ahead of the one being sent, so the socket doesn't wait for the disk. More
# measured no faster (on 2 cores the reading threads then compete with the sender) and
# costs a piece of memory per stream each.
READ_AHEAD = 1
# glibc's malloc parameters (mallopt): how much freed memory to keep rather than hand back.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
KEEP_FREED = 8 * 1024 * 1024  # per malloc arena: the pieces in flight, with room to spare
_tuned = threading.Event()
ByteCb = Callable[[int], Awaitable[None]]  # called with the number of file bytes just read


def guess_content_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def _quote(value: str) -> str:
    # What browsers (and httpx) do for names in Content-Disposition.
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


@dataclass(frozen=True)
class FileRange:
    """`length` bytes of `path` starting at `offset`, read lazily in pieces.

    `READ_AHEAD` pieces are read (in worker threads) while the one before them is being sent,
    so disk and socket work overlap; at most `READ_AHEAD + 1` pieces of a range are held.
    """

    path: Path
    offset: int
    length: int
    piece_size: int | None = None  # None: PIECE_SIZE

    async def stream(self, on_bytes: ByteCb | None = None) -> AsyncGenerator[bytes, None]:
        piece_size = self.piece_size or PIECE_SIZE
        keep_freed_memory()
        fd = await asyncio.to_thread(os.open, self.path, os.O_RDONLY)
        ahead: deque[asyncio.Future[bytes]] = deque()
        at = queued = self.offset
        end = self.offset + self.length
        try:
            while at < end:
                while len(ahead) < READ_AHEAD and queued < end:
                    ahead.append(_read(fd, min(piece_size, end - queued), queued))
                    queued += min(piece_size, end - queued)
                piece = await ahead[0]
                ahead.popleft()
                if len(piece) < min(piece_size, end - at):
                    raise OSError(
                        f"{self.path.name} shrank while being uploaded "
                        f"({at - self.offset + len(piece)} of {self.length} bytes read)"
                    )
                at += len(piece)
                yield piece
                if on_bytes is not None:
                    await on_bytes(len(piece))
        finally:
            if ahead:  # let the reads finish before their file is closed
                await asyncio.gather(*ahead, return_exceptions=True)
            await asyncio.to_thread(os.close, fd)


def keep_freed_memory() -> None:
    """Tell glibc to keep up to `KEEP_FREED` bytes of freed memory (once per process).

    Each piece is a fresh 1 MiB `bytes` (httpx sends exact `bytes` without copying them). By
    default glibc serves blocks that size by `mmap`, or trims them off its heap when freed, so
    every piece page-faults its memory in again: ~100,000 faults per GiB, a quarter of an
    upload's CPU. Kept, the next piece reuses it. Costs at most that much resident memory
    that would otherwise be returned; does nothing where the C library is not glibc.
    """
    if _tuned.is_set():
        return
    _tuned.set()
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols: no library search
    except (OSError, AttributeError):
        return
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # Fixing the mmap threshold also stops glibc from raising it (and the trim threshold
    # with it) on its own; pieces are well below it, so they come from the heap.
    mallopt(_M_MMAP_THRESHOLD, KEEP_FREED // 2)
    mallopt(_M_TRIM_THRESHOLD, KEEP_FREED)


def _read(fd: int, size: int, offset: int) -> asyncio.Future[bytes]:
    """`os.pread` in the default executor (a positioned read: no shared file offset)."""
    return asyncio.get_running_loop().run_in_executor(None, os.pread, fd, size, offset)


@dataclass(frozen=True)
class FileBody:
    """A raw byte range as a request body (a multipart chunk PUT)."""

    source: FileRange

    @property
    def content_length(self) -> int:
        return self.source.length

    def open(self, on_bytes: ByteCb | None = None) -> AsyncGenerator[bytes, None]:
        return self.source.stream(on_bytes)


@dataclass(frozen=True)
class FormFile:
    field: str
    path: Path
    filename: str
    content_type: str


class FormBody:
    """multipart/form-data with text fields and at most one file, streamed."""

    def __init__(
        self,
        fields: Sequence[tuple[str, str]],
        file: FormFile | None = None,
        *,
        boundary: str | None = None,
    ) -> None:
        self.boundary = boundary or f"gistbot-{secrets.token_hex(16)}"
        self.fields = list(fields)
        self.file = file
        b = self.boundary.encode("ascii")
        head = bytearray()
        for name, value in self.fields:
            head += b"--" + b + b"\r\n"
            head += f'Content-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode()
            head += value.encode("utf-8") + b"\r\n"
        self._file_size = 0
        if file is not None:
            self._file_size = file.path.stat().st_size
            head += b"--" + b + b"\r\n"
            head += (
                f'Content-Disposition: form-data; name="{_quote(file.field)}"; '
                f'filename="{_quote(file.filename)}"\r\n'
                f"Content-Type: {file.content_type}\r\n\r\n"
            ).encode()
        self._head = bytes(head)
        self._tail = (b"\r\n" if file is not None else b"") + b"--" + b + b"--\r\n"

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def content_length(self) -> int:
        return len(self._head) + self._file_size + len(self._tail)

    @property
    def file_size(self) -> int:
        return self._file_size

    def open(self, on_bytes: ByteCb | None = None) -> AsyncGenerator[bytes, None]:
        """A fresh stream of the whole body; `on_bytes` counts *file* bytes only."""
        return self._stream(on_bytes)

    async def _stream(self, on_bytes: ByteCb | None) -> AsyncGenerator[bytes, None]:
        yield self._head
        if self.file is not None:
            size_now = (await asyncio.to_thread(os.stat, self.file.path)).st_size
            if size_now != self._file_size:
                raise OSError(f"{self.file.filename} changed size while being uploaded")
            async with aclosing(
                FileRange(self.file.path, 0, self._file_size).stream(on_bytes)
            ) as it:
                async for piece in it:
                    yield piece
        yield self._tail
