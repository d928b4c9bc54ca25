"""A loopback sink for the raw-copy baseline: discards what it receives, as fast as it can.

    python -m bench._sink        # prints "<http_port> <tcp_port>", serves until SIGTERM/SIGINT

- HTTP (aiohttp, the same server stack as the fake): `PUT /sink` reads the body and drops it,
  answering `{"received": n}`.
- Raw TCP: the client sends an 8-byte big-endian length, then that many bytes; the server
  answers `OK` once it has them all.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from bench._common import serve, until_signalled


async def _put(request: web.Request) -> web.Response:
    received = 0
    while True:
        data = await request.content.readany()
        if not data:
            break
        received += len(data)
    return web.json_response({"received": received})


class _Discard(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.header = b""
        self.expected: int | None = None
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.expected is None:
            self.header += data
            if len(self.header) < 8:
                return
            self.expected = int.from_bytes(self.header[:8], "big")
            self.received = len(self.header) - 8
            self.header = b""
        else:
            self.received += len(data)
        if self.received >= self.expected and self.transport is not None:
            self.transport.write(b"OK")


async def _serve() -> None:
    app = web.Application()
    app.router.add_put("/sink", _put)
    runner, _ = await serve(app)
    http_port = runner.addresses[0][1]
    server = await asyncio.get_running_loop().create_server(_Discard, "127.0.0.1", 0)
    tcp_port = server.sockets[0].getsockname()[1]
    print(http_port, tcp_port, flush=True)
    try:
        await until_signalled()
    finally:
        server.close()
        await runner.cleanup()


def main() -> int:
    asyncio.run(_serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
