"""A loopback upload sink that discards bytes as cheaply as Python can, and speaks just enough of
the TwelveLabs upload API for `client.assets.upload` (direct and multipart) to run against it.

    python -m bench._fast_sink [--chunk-mib 64] [--initial-urls 10]
    # prints "<port>", serves until SIGTERM/SIGINT

HTTP/1.1 with keep-alive and `Content-Length` bodies only (no chunked encoding), answering
`Expect: 100-continue`. Bodies land straight in one 1 MiB buffer (`asyncio.BufferedProtocol`,
`recv_into`): no per-read allocation, so the sink costs far less CPU than any client.

- `POST /v1.3/assets` (a form; discarded) → 201 asset;
- `POST /v1.3/assets/multipart-uploads` → 201 session with `--initial-urls` presigned URLs of
  `--chunk-mib` chunks; `POST …/{id}/presigned-urls` → more; `POST …/{id}` (chunk report)
  → `total_completed`;
- `PUT /sink/…` (presigned chunks; `curl -T`) → 200 with an `ETag`; any other `POST /sink/…`
  (`curl -F`) → 200;
- `GET /stats` → bytes received so far.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

BUFFER = 1 << 20
MAX_HEAD = 64 * 1024
MAX_JSON = 1 << 20


class Sink:
    def __init__(self, chunk_size: int, initial_urls: int) -> None:
        self.chunk_size = chunk_size
        self.initial_urls = initial_urls
        self.port = 0
        self.received = 0
        self.sessions: dict[str, dict[str, Any]] = {}
        self._ids = 0

    def new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:06d}"

    def urls(self, upload_id: str, start: int, count: int) -> list[dict[str, Any]]:
        total = self.sessions[upload_id]["total_chunks"]
        expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
        return [
            {
                "chunk_index": i,
                "url": f"http://127.0.0.1:{self.port}/sink/{upload_id}/{i}",
                "expires_at": expires,
            }
            for i in range(start, min(total, start + count - 1) + 1)
        ]

    def route(self, method: str, path: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON document, extra headers) for one request."""
        if path.startswith("/sink/"):
            return 200, {"ok": True}, {"ETag": f'"{abs(hash(path)):x}"'}
        if method == "GET" and path == "/stats":
            return 200, {"received": self.received}, {}
        if method == "POST" and path == "/v1.3/assets":
            asset = {"_id": self.new_id("asset"), "method": "direct", "status": "processing"}
            return 201, asset, {}
        if method == "POST" and path == "/v1.3/assets/multipart-uploads":
            doc = json.loads(body)
            upload_id, asset_id = self.new_id("up"), self.new_id("asset")
            total = math.ceil(int(doc["total_size"]) / self.chunk_size)
            self.sessions[upload_id] = {"total_chunks": total, "done": set(), "asset": asset_id}
            return (
                201,
                {
                    "upload_id": upload_id,
                    "asset_id": asset_id,
                    "upload_urls": self.urls(upload_id, 1, self.initial_urls),
                    "chunk_size": self.chunk_size,
                    "total_chunks": total,
                },
                {},
            )
        parts = path.split("/")  # "", v1.3, assets, multipart-uploads, id, [presigned-urls]
        if method == "POST" and len(parts) >= 5 and parts[3] == "multipart-uploads":
            session = self.sessions.get(parts[4])
            if session is None:
                return 404, {"code": "not_found", "message": "no such upload"}, {}
            doc = json.loads(body) if body else {}
            if len(parts) == 6 and parts[5] == "presigned-urls":
                start, count = int(doc.get("start", 1)), int(doc.get("count", 10))
                urls = self.urls(parts[4], start, count)
                return 200, {"upload_id": parts[4], "upload_urls": urls}, {}
            done: set[int] = session["done"]
            done.update(int(c["chunk_index"]) for c in doc.get("completed_chunks", []))
            report = {
                "asset_id": session["asset"],
                "processed_chunks": len(doc.get("completed_chunks", [])),
                "total_completed": len(done),
            }
            return 200, report, {}
        return 404, {"code": "not_found", "message": f"{method} {path}"}, {}


class Connection(asyncio.BufferedProtocol):
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.buffer = memoryview(bytearray(BUFFER))
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()
        self.remaining = -1  # body bytes still to come; -1: reading a head
        self.request: tuple[str, str] = ("", "")
        self.body: bytearray | None = None  # kept only for API calls (JSON)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        pos = 0
        while pos < nbytes:
            if self.remaining >= 0:
                take = min(self.remaining, nbytes - pos)
                if self.body is not None:
                    self.body += self.buffer[pos : pos + take]
                self.remaining -= take
                self.sink.received += take
                pos += take
                if self.remaining == 0:
                    self.finish()
                continue
            before = len(self.head)
            self.head += self.buffer[pos:nbytes]
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > MAX_HEAD:
                    self.fail(431)
                return
            pos += end + 4 - before
            self.start(bytes(self.head[:end]))
            self.head.clear()

    def start(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.fail(411)
            return
        self.request = (method, path.split("?", 1)[0])
        length = int(headers.get("content-length", "0") or 0)
        self.body = None if path.startswith("/sink/") or path == "/v1.3/assets" else bytearray()
        if self.body is not None and length > MAX_JSON:
            self.fail(413)
            return
        if headers.get("expect", "").lower() == "100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.remaining = length
        if length == 0:
            self.finish()

    def finish(self) -> None:
        method, path = self.request
        status, doc, extra = self.sink.route(method, path, bytes(self.body or b""))
        body = json.dumps(doc).encode()
        head = [f"HTTP/1.1 {status} X", "Content-Type: application/json"]
        head += [f"{k}: {v}" for k, v in extra.items()]
        head.append(f"Content-Length: {len(body)}")
        assert self.transport is not None
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        self.remaining = -1
        self.body = None

    def fail(self, status: int) -> None:
        if self.transport is not None:
            self.transport.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
            self.transport.close()


async def serve(chunk_size: int, initial_urls: int) -> None:
    sink = Sink(chunk_size, initial_urls)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(sink), "127.0.0.1", 0)
    sink.port = server.sockets[0].getsockname()[1]
    print(sink.port, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        server.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench._fast_sink")
    p.add_argument("--chunk-mib", type=float, default=64.0)
    p.add_argument("--initial-urls", type=int, default=10)
    args = p.parse_args(argv)
    asyncio.run(serve(int(args.chunk_mib * 1024 * 1024), args.initial_urls))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
