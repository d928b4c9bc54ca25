"""A multipart/form-data body streamed from disk, with an exact Content-Length.

The body can be opened any number of times (one per attempt), so a retried upload re-sends
every form field and the whole file — never a half-consumed stream. The file is read in
`piece_size` pieces in a worker thread, so neither memory nor the event loop is tied up.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileBody", "FileRange", "FormBody", "FormFile", "guess_content_type"]

PIECE_SIZE = 256 * 1024
ByteCb = Callable[[int], Awaitable[None]]  # called with the number of file bytes just read


def guess_content_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def _quote(value: str) -> str:
    # What browsers (and httpx) do for names in Content-Disposition.
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


@dataclass(frozen=True)
class FileRange:
    """`length` bytes of `path` starting at `offset`, read lazily in pieces."""

    path: Path
    offset: int
    length: int
    piece_size: int = PIECE_SIZE

    async def stream(self, on_bytes: ByteCb | None = None) -> AsyncGenerator[bytes, None]:
        handle = await asyncio.to_thread(open, self.path, "rb")
        try:
            await asyncio.to_thread(handle.seek, self.offset)
            left = self.length
            while left > 0:
                piece = await asyncio.to_thread(handle.read, min(self.piece_size, left))
                if not piece:
                    raise OSError(
                        f"{self.path.name} shrank while being uploaded "
                        f"({self.length - left} of {self.length} bytes read)"
                    )
                left -= len(piece)
                yield piece
                if on_bytes is not None:
                    await on_bytes(len(piece))
        finally:
            await asyncio.to_thread(handle.close)


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
