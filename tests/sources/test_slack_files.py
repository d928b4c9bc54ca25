from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bot.sources.slack_files import (
    BytesCb,
    DownloadedFile,
    DownloadError,
    download_slack_file,
)
from tests.sources.conftest import Server, Tls

TOKEN = "xoxb-test-secret-token"
BEARER = f"Bearer {TOKEN}"
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def payload(n: int) -> bytes:
    return (MP4_HEAD + bytes(range(256)) * (n // 256 + 1))[:n]


def serve_bytes(body: bytes, content_type: str = "video/mp4") -> web.Response:
    return web.Response(body=body, content_type=content_type)


async def streamed(
    request: web.Request,
    total: int,
    *,
    chunk: bytes = b"\x00" * (1 << 16),
    content_type: str = "video/mp4",
    delay: float = 0.0,
) -> web.StreamResponse:
    """A chunked response (no Content-Length) of `total` bytes."""
    resp = web.StreamResponse(headers={"Content-Type": content_type})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    sent = 0
    try:
        while sent < total:
            piece = chunk[: total - sent]
            await resp.write(piece)
            sent += len(piece)
            if delay:
                await asyncio.sleep(delay)
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass  # the client hung up: expected when it aborts
    return resp


def files_in(path: Path) -> list[Path]:
    return sorted(path.iterdir())


async def download(
    url: str,
    tmp_path: Path,
    http: httpx.AsyncClient,
    *,
    allowed_hosts: Sequence[str] = ("127.0.0.1",),
    max_bytes: int = 10 << 20,
    expected_size: int | None = None,
    progress: BytesCb | None = None,
    max_redirects: int = 5,
    chunk_size: int = 1 << 20,
    max_attempts: int = 1,
) -> DownloadedFile:
    """One try by default: these tests are about a single answer; retries are tested apart."""
    return await download_slack_file(
        url,
        token=TOKEN,
        allowed_hosts=allowed_hosts,
        dest_dir=tmp_path,
        max_bytes=max_bytes,
        http=http,
        expected_size=expected_size,
        progress=progress,
        max_redirects=max_redirects,
        chunk_size=chunk_size,
        max_attempts=max_attempts,
    )


async def test_token_sent_to_allowed_host_and_file_written(
    server: Server, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    body = payload(300_000)

    @server.route("/files-pri/T1-F1/download/clip.mp4")
    async def _(request: web.Request) -> web.Response:
        return serve_bytes(body)

    calls: list[tuple[int, int | None]] = []

    async def progress(done: int, total: int | None) -> None:
        calls.append((done, total))

    got = await download(
        server.url("/files-pri/T1-F1/download/clip.mp4?t=abc"),
        tmp_path,
        http,
        expected_size=len(body),
        progress=progress,
        chunk_size=1 << 16,
    )
    assert server.seen[0].headers["Authorization"] == BEARER
    assert server.seen[0].headers.get("Accept-Encoding") == "identity"
    assert got.size == len(body)
    assert got.sha256 == hashlib.sha256(body).hexdigest()
    assert got.content_type == "video/mp4"
    assert got.path.parent == tmp_path and got.path.suffix == ".mp4"
    assert got.path.read_bytes() == body
    assert calls[-1] == (len(body), len(body))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


async def test_host_match_is_case_insensitive_and_port_entry_is_exact(
    server: Server, other_server: Server, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    @server.route("/f")
    async def _(request: web.Request) -> web.Response:
        raise web.HTTPFound(other_server.url("/f"))

    @other_server.route("/f")
    async def _other(request: web.Request) -> web.Response:
        return serve_bytes(b"video bytes")

    got = await download(
        server.url("/f", host="LOCALHOST"),
        tmp_path,
        http,
        allowed_hosts=[f"localhost:{server.port}", "127.0.0.1:1"],
    )
    assert got.size == len(b"video bytes")
    assert server.seen[0].headers["Authorization"] == BEARER
    # Same host name, different port: not on the list, so no token.
    assert "Authorization" not in other_server.seen[0].headers


async def test_redirect_within_allowed_host_keeps_token(
    server: Server, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    @server.route("/a")
    async def _a(request: web.Request) -> web.Response:
        raise web.HTTPFound("/b")

    @server.route("/b")
    async def _b(request: web.Request) -> web.Response:
        return serve_bytes(b"data")

    got = await download(server.url("/a"), tmp_path, http)
    assert got.size == 4
    assert [s.headers.get("Authorization") for s in server.seen] == [BEARER, BEARER]


async def test_token_not_sent_after_redirect_to_other_host(
    server: Server, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """One server, reachable as 127.0.0.1 (allowed) and as localhost (not allowed)."""

    @server.route("/files-pri/F1/download/v.mp4")
    async def _(request: web.Request) -> web.Response:
        raise web.HTTPFound(server.url("/cdn/v.mp4?sig=1", host="localhost"))

    @server.route("/cdn/v.mp4")
    async def _cdn(request: web.Request) -> web.Response:
        if request.host.startswith("127.0.0.1"):
            raise web.HTTPFound(server.url("/back", host="127.0.0.1"))
        raise web.HTTPFound(server.url("/cdn/v.mp4", host="127.0.0.1"))

    # localhost -> back to 127.0.0.1: the chain has left the allowlist, the token stays withheld.
    with pytest.raises(DownloadError) as err:
        await download(server.url("/files-pri/F1/download/v.mp4"), tmp_path, http)
    assert err.value.kind == "not_found"  # /back doesn't exist; the point is the headers
    seen = [(s.headers["Host"].split(":")[0], s.headers.get("Authorization")) for s in server.seen]
    assert seen == [
        ("127.0.0.1", BEARER),
        ("localhost", None),
        ("127.0.0.1", None),
        ("127.0.0.1", None),
    ]


async def test_client_default_authorization_is_not_leaked_to_other_hosts(
    server: Server, other_server: Server, tmp_path: Path
) -> None:
    @server.route("/f")
    async def _(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(other_server.url("/f", host="localhost"))

    @other_server.route("/f")
    async def _other(request: web.Request) -> web.Response:
        return serve_bytes(b"x" * 10)

    async with httpx.AsyncClient(
        trust_env=False, headers={"Authorization": "Bearer client-default"}, auth=("u", "p")
    ) as client:
        got = await download(server.url("/f"), tmp_path, client)
    assert got.size == 10
    assert server.seen[0].headers["Authorization"] == BEARER
    assert "Authorization" not in other_server.seen[0].headers


async def test_https_to_http_downgrade_withholds_token(
    tls_server: Server, server: Server, tls: Tls, tmp_path: Path
) -> None:
    @tls_server.route("/f")
    async def _(request: web.Request) -> web.Response:
        raise web.HTTPFound(server.url("/f", host="localhost"))  # same host, plain http

    @server.route("/f")
    async def _plain(request: web.Request) -> web.Response:
        return serve_bytes(b"abc")

    async with httpx.AsyncClient(trust_env=False, verify=tls.client_context()) as client:
        got = await download(
            tls_server.url("/f", host="localhost"), tmp_path, client, allowed_hosts=["localhost"]
        )
    assert got.size == 3
    assert tls_server.seen[0].headers["Authorization"] == BEARER
    assert "Authorization" not in server.seen[0].headers


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (200, "<!DOCTYPE html><html><body>Sign in to Slack</body></html>", "text/html"),
        (403, "forbidden", "text/plain"),
    ],
)
async def test_redirect_off_allowlist_then_refused_is_forbidden_host(
    server: Server,
    http: httpx.AsyncClient,
    tmp_path: Path,
    status: int,
    body: str,
    content_type: str,
) -> None:
    @server.route("/f")
    async def _(request: web.Request) -> web.Response:
        raise web.HTTPFound(server.url("/elsewhere", host="localhost"))

    @server.route("/elsewhere")
    async def _else(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type=content_type)

    with pytest.raises(DownloadError) as err:
        await download(server.url("/f"), tmp_path, http)
    assert err.value.kind == "forbidden_host"
    assert "localhost" in err.value.user_message
    assert not err.value.transient
    assert files_in(tmp_path) == []


async def test_initial_host_not_allowed_sends_nothing(
    server: Server, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    with pytest.raises(DownloadError) as err:
        await download(server.url("/f", host="localhost"), tmp_path, http)
    assert err.value.kind == "forbidden_host"
    assert server.seen == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<!DOCTYPE html><html><head><title>Slack</title></head></html>", "text/html"),
        ("\n  <html lang=en><body>Sign in</body></html>" + " " * 2000, "application/octet-stream"),
        ("<!doctype html>", "video/mp4"),
    ],
)
async def test_login_page_detected(
    server: Server, http: httpx.AsyncClient, tmp_path: Path, body: str, content_type: str
) -> None:
    @server.route("/f")
    async def _(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type=content_type)

    with pytest.raises(DownloadError) as err:
        await download(server.url("/f"), tmp_path, http, chunk_size=64)
    assert err.value.kind == "login_page"
    assert "files:read" in err.value.user_message
    assert TOKEN not in err.value.user_message and "127.0.0.1" not in err.value.user_message
    assert files_in(tmp_path) == []


async def test_size_cap_enforced_while_streaming_chunked(
    server: Server, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    @server.route("/f")
    async def _(request: web.Request) -> web.StreamResponse:
        return await streamed(request, 50 << 20)

    with pytest.raises(DownloadError) as err:
        await download(server.url("/f"), tmp_path, http, max_bytes=1 << 20, chunk_size=1 << 16)
    assert err.value.kind == "too_large"
    assert files_in(tmp_path) == []


async def test_size_cap_enforced_on_close_delimited_body(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """No Content-Length, no chunking: the body ends when the server closes the connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nConnection: close\r\n\r\n")
        try:
            for _ in range(200):
                writer.write(b"\x01" * (1 << 16))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    raw = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = raw.sockets[0].getsockname()[1]
    try:
        with pytest.raises(DownloadError) as err:
            await download(f"http://127.0.0.1:{port}/f", tmp_path, http, max_bytes=300_000)
    finally:
        raw.close()
    assert err.value.kind == "too_large"
    assert files_in(tmp_path) == []


async def test_content_length_over_cap_refused_before_body(
    server: Server, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    @server.route("/f")
    async def _(request: web.Request) -> web.Response:
        return serve_bytes(b"\x00" * 5000)

    with pytest.raises(DownloadError) as err:
        await download(server.url("/f"), tmp_path, http, max_bytes=4999)
    assert err.value.kind == "too_large"
    assert files_in(tmp_path) == []


async def test_expected_size_over_cap_refused_without_request(
    server: Server, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    with pytest.raises(DownloadError) as err:
        await download(server.url("/f"), tmp_path, http, max_bytes=100, expected_size=101)
    assert err.value.kind == "too_large"
    assert server.seen == []


@pytest.mark.parametrize(
    ("status", "kind", "transient"),
    [
        (404, "not_found", False),
        (410, "not_found", False),
        (403, "http_error", False),
        (400, "http_error", False),
        (408, "http_error", True),
        (429, "http_error", True),
        (503, "http_error", True),
        (501, "http_error", False),
    ],
)
async def test_http_statuses(
    server: Server,
    http: httpx.AsyncClient,
    tmp_path: Path,
    status: int,
    kind: str,
    transient: bool,
) -> None:
    @server.route("/f")
    async def _(request: web.Request) -> web.Response:
        return web.Response(status=status, text="nope")

    with pytest.raises(DownloadError) as err:
        await download(server.url("/f"), tmp_path, http)
    assert (err.value.kind, err.value.transient, err.value.status) == (kind, transient, status)
    assert files_in(tmp_path) == []


async def test_missing_route_is_not_found(
    server: Server, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    with pytest.raises(DownloadError) as err:
        await download(server.url("/gone"), tmp_path, http)
    assert err.value.kind == "not_found"


async def test_empty_file(server: Server, http: httpx.AsyncClient, tmp_path: Path) -> None:
    @server.route("/f")
    async def _(request: web.Request) -> web.Response:
        return serve_bytes(b"")

    with pytest.raises(DownloadError) as err:
        await download(server.url("/f"), tmp_path, http)
    assert err.value.kind == "empty"
    assert files_in(tmp_path) == []


async def test_expected_size_mismatch_by_content_length(
    server: Server, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    @server.route("/f")
    async def _(request: web.Request) -> web.Response:
        return serve_bytes(payload(1000))

    with pytest.raises(DownloadError) as err:
        await download(server.url("/f"), tmp_path, http, expected_size=1001)
    assert err.value.kind == "size_mismatch"
    assert files_in(tmp_path) == []


async def test_expected_size_mismatch_while_streaming(
    server: Server, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    @server.route("/f")
    async def _(request: web.Request) -> web.StreamResponse:
        return await streamed(request, 200_000)

    with pytest.raises(DownloadError) as err:
        await download(server.url("/f"), tmp_path, http, expected_size=300_000)
    assert err.value.kind == "size_mismatch"
    assert files_in(tmp_path) == []


async def test_redirect_loop(server: Server, http: httpx.AsyncClient, tmp_path: Path) -> None:
    @server.route("/loop")
    async def _(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    with pytest.raises(DownloadError) as err:
        await download(server.url("/loop"), tmp_path, http, max_redirects=3)
    assert err.value.kind == "too_many_redirects"
    assert len(server.seen) == 4


async def test_network_error_is_transient(
    closed_port: int, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    with pytest.raises(DownloadError) as err:
        await download(f"http://127.0.0.1:{closed_port}/f", tmp_path, http)
    assert (err.value.kind, err.value.transient) == ("network", True)


async def test_cancel_mid_download_removes_partial_file(
    server: Server, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    started = asyncio.Event()

    @server.route("/slow")
    async def _(request: web.Request) -> web.StreamResponse:
        return await streamed(request, 10 << 20, chunk=b"\x02" * 4096, delay=0.01)

    async def progress(done: int, total: int | None) -> None:
        started.set()

    task = asyncio.create_task(
        download(server.url("/slow"), tmp_path, http, progress=progress, chunk_size=4096)
    )
    await asyncio.wait_for(started.wait(), 5)
    assert len(files_in(tmp_path)) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_in(tmp_path) == []


async def test_large_file_streams_with_bounded_memory(
    server: Server, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    size = 50 << 20
    block = bytes(range(256)) * 4096  # 1 MiB, reused: the server holds no copy of the file

    @server.route("/big.mp4")
    async def _(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        resp.content_length = size
        await resp.prepare(request)
        for _i in range(size // len(block)):
            await resp.write(block)
        await resp.write_eof()
        return resp

    expected = hashlib.sha256()
    for _i in range(size // len(block)):
        expected.update(block)

    tracemalloc.start()
    try:
        got = await download(
            server.url("/big.mp4"), tmp_path, http, max_bytes=size, expected_size=size
        )
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.size == size
    assert got.path.stat().st_size == size
    assert got.sha256 == expected.hexdigest()
    assert peak < 12 << 20, f"peak traced memory {peak / (1 << 20):.1f} MiB"
