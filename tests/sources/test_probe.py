from __future__ import annotations

import asyncio

import httpx
import pytest
from aiohttp import web

from bot.sources.probe import (
    ProbeError,
    ProbeResult,
    _check_peer,
    probe_media_url,
    sniff_video,
)
from bot.sources.urlguard import BlockedUrl
from tests.sources.conftest import Server, Tls

MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\x00" * 2000
WEBM_HEAD = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + b"\x00" * 100


async def probe(
    url: str,
    http: httpx.AsyncClient,
    *,
    allow_private: bool = True,
    max_redirects: int = 5,
    timeout_s: float = 10.0,
) -> ProbeResult:
    return await probe_media_url(
        url,
        allow_private=allow_private,
        http=http,
        max_redirects=max_redirects,
        timeout_s=timeout_s,
    )


async def test_head_video_mp4(server: Server, http: httpx.AsyncClient) -> None:
    @server.route("/v")
    async def _(request: web.Request) -> web.Response:
        return web.Response(body=MP4_HEAD, content_type="video/mp4")

    result = await probe(server.url("/v"), http)
    assert result.is_video and not result.is_html
    assert result.status == 200
    assert result.content_type == "video/mp4"
    assert result.content_length == len(MP4_HEAD)
    assert result.final_url == server.url("/v")
    assert [s.method for s in server.seen] == ["HEAD"]


async def test_html_page(server: Server, http: httpx.AsyncClient) -> None:
    @server.route("/watch")
    async def _(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>x</title>", content_type="text/html")

    result = await probe(server.url("/watch"), http)
    assert result.is_html and not result.is_video
    assert [s.method for s in server.seen] == ["HEAD"]


async def test_redirect_chain_keeps_host_header(server: Server, http: httpx.AsyncClient) -> None:
    @server.route("/r1")
    async def _r1(request: web.Request) -> web.Response:
        raise web.HTTPFound(server.url("/r2", host="localhost"))

    @server.route("/r2")
    async def _r2(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/media/clip")

    @server.route("/media/clip")
    async def _v(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 10, content_type="video/quicktime")

    result = await probe(server.url("/r1"), http)
    assert result.is_video
    assert result.final_url == server.url("/media/clip", host="localhost")
    # Connections are pinned to the resolved address, yet each hop carries its own Host.
    hosts = [s.headers["Host"] for s in server.seen]
    assert hosts == [f"127.0.0.1:{server.port}"] + [f"localhost:{server.port}"] * 2


async def test_head_405_falls_back_to_ranged_get(server: Server, http: httpx.AsyncClient) -> None:
    @server.route("/dl")
    async def _(request: web.Request) -> web.Response:
        if request.method == "HEAD":
            return web.Response(status=405)
        assert request.headers["Range"] == "bytes=0-1023"
        return web.Response(
            status=206,
            body=MP4_HEAD[:1024],
            content_type="application/octet-stream",
            headers={"Content-Range": "bytes 0-1023/987654"},
        )

    result = await probe(server.url("/dl"), http)
    assert result.is_video and result.status == 206
    assert result.content_length == 987654
    assert [s.method for s in server.seen] == ["HEAD", "GET"]


async def test_octet_stream_without_extension_is_sniffed(
    server: Server, http: httpx.AsyncClient
) -> None:
    @server.route("/blob")
    async def _(request: web.Request) -> web.Response:
        return web.Response(body=WEBM_HEAD, content_type="application/octet-stream")

    result = await probe(server.url("/blob"), http)
    assert result.is_video
    assert [s.method for s in server.seen] == ["HEAD", "GET"]


async def test_octet_stream_with_media_extension_needs_no_get(
    server: Server, http: httpx.AsyncClient
) -> None:
    @server.route("/clip.MOV")
    async def _(request: web.Request) -> web.Response:
        return web.Response(body=b"\x00" * 10, content_type="application/octet-stream")

    result = await probe(server.url("/clip.MOV?x=1"), http)
    assert result.is_video
    assert [s.method for s in server.seen] == ["HEAD"]


async def test_get_ignoring_range_reads_only_a_few_kb(
    server: Server, http: httpx.AsyncClient
) -> None:
    big = b"<!DOCTYPE html>" + b"a" * (20 << 20)
    outcome: list[str] = []
    done = asyncio.Event()

    @server.route("/p")
    async def _(request: web.Request) -> web.StreamResponse:
        if request.method == "HEAD":
            return web.Response(status=405)
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        resp.content_length = len(big)
        await resp.prepare(request)
        try:
            for i in range(0, len(big), 1 << 16):
                await resp.write(big[i : i + (1 << 16)])
            outcome.append("sent everything")
        except ConnectionError:
            outcome.append("client hung up")
        finally:
            done.set()
        return resp

    result = await probe(server.url("/p"), http)
    assert result.is_html and not result.is_video
    assert result.content_length == len(big)
    await asyncio.wait_for(done.wait(), 5)
    assert outcome == ["client hung up"]  # 20 MB can't fit in socket buffers: we stopped early


async def test_too_many_redirects(server: Server, http: httpx.AsyncClient) -> None:
    @server.route("/loop")
    async def _(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    with pytest.raises(ProbeError) as err:
        await probe(server.url("/loop"), http, max_redirects=3)
    assert err.value.kind == "too_many_redirects"
    assert len(server.seen) == 4


async def test_http_error(server: Server, http: httpx.AsyncClient) -> None:
    with pytest.raises(ProbeError) as err:
        await probe(server.url("/missing"), http)
    assert (err.value.kind, err.value.status) == ("http_error", 404)
    assert "127.0.0.1" in err.value.user_message and "/missing" not in err.value.user_message


async def test_unreachable(closed_port: int, http: httpx.AsyncClient) -> None:
    with pytest.raises(ProbeError) as err:
        await probe(f"http://127.0.0.1:{closed_port}/v", http)
    assert err.value.kind == "unreachable"


async def test_unresolvable_is_unreachable(http: httpx.AsyncClient) -> None:
    with pytest.raises(ProbeError) as err:
        await probe("http://no-such-host.invalid/v", http)
    assert err.value.kind == "unreachable"


async def test_timeout_bounds_the_whole_probe(server: Server, http: httpx.AsyncClient) -> None:
    release = asyncio.Event()

    @server.route("/slow")
    async def _(request: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), 5)
        return web.Response(status=200)

    try:
        with pytest.raises(ProbeError) as err:
            await probe(server.url("/slow"), http, timeout_s=0.3)
        assert err.value.kind == "unreachable"
    finally:
        release.set()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_private_refused_before_any_request(
    server: Server, http: httpx.AsyncClient, host: str
) -> None:
    with pytest.raises(BlockedUrl):
        await probe(server.url("/v", host=host), http, allow_private=False)
    assert server.seen == []


async def test_client_default_authorization_not_sent(server: Server) -> None:
    @server.route("/v")
    async def _(request: web.Request) -> web.Response:
        return web.Response(body=b"x", content_type="video/mp4")

    async with httpx.AsyncClient(
        trust_env=False, headers={"Authorization": "Bearer secret"}, auth=("u", "p")
    ) as client:
        await probe(server.url("/v"), client)
    assert "Authorization" not in server.seen[0].headers


async def test_tls_pinned_connection_verifies_the_name(tls_server: Server, tls: Tls) -> None:
    """Pinned to 127.0.0.1, yet TLS uses SNI `localhost` and checks the cert against it."""

    @tls_server.route("/v")
    async def _(request: web.Request) -> web.Response:
        return web.Response(body=b"x", content_type="video/mp4")

    async with httpx.AsyncClient(trust_env=False, verify=tls.client_context()) as client:
        result = await probe(tls_server.url("/v", host="localhost"), client)
        assert result.is_video
        assert tls_server.seen[0].headers["Host"] == f"localhost:{tls_server.port}"
        # The certificate names only `localhost`: asked for by IP, verification fails.
        with pytest.raises(ProbeError) as err:
            await probe(tls_server.url("/v", host="127.0.0.1"), client)
        assert err.value.kind == "unreachable"


@pytest.mark.parametrize(
    ("head", "video"),
    [
        (MP4_HEAD, True),
        (WEBM_HEAD, True),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", True),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat", True),
        (b"RIFF\x00\x00\x00\x00AVI LIST", True),
        (b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heic", False),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", False),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, False),
        (b"<!DOCTYPE html>", False),
        (b"", False),
    ],
)
def test_sniff_video(head: bytes, video: bool) -> None:
    assert sniff_video(head) is video


@pytest.mark.parametrize("use_tls", [False, True])
async def test_peer_address_check_sees_the_real_socket(
    server: Server, tls_server: Server, tls: Tls, use_tls: bool
) -> None:
    """The rebinding defence reads the connected peer; make sure that works on this httpx."""
    srv = tls_server if use_tls else server

    @srv.route("/v")
    async def _(request: web.Request) -> web.Response:
        return web.Response(body=b"x", content_type="video/mp4")

    async with httpx.AsyncClient(trust_env=False, verify=tls.client_context()) as client:
        response = await client.send(
            client.build_request("GET", srv.url("/v", host="localhost")), stream=True
        )
        try:
            _check_peer(response, allow_private=True)
            with pytest.raises(BlockedUrl) as err:
                _check_peer(response, allow_private=False)
            assert "loopback" in err.value.reason
        finally:
            await response.aclose()
    # No network stream to inspect (e.g. a mock transport): fail closed.
    bare = httpx.Response(200)
    with pytest.raises(BlockedUrl):
        _check_peer(bare, allow_private=False)
