"""The fake Slack file host: the bot token, redirects, large files, byte ranges and download
faults, checked with plain HTTP clients."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests.fakes.slack import FakeSlack

TOKEN = "xoxb-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONTENT = bytes(range(256)) * 400  # 102_400 bytes


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlack]:
    fake = FakeSlack(bot_token=TOKEN)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server: FakeSlack) -> FakeSlack:
    server.reset()
    return server


async def test_range_answered_206_with_content_range(fake: FakeSlack) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    url = f["url_private_download"]
    async with httpx.AsyncClient() as http:
        whole = await http.get(url, headers=AUTH)
        part = await http.get(url, headers={**AUTH, "Range": "bytes=1000-"})
        bounded = await http.get(url, headers={**AUTH, "Range": "bytes=10-19"})
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    etag = whole.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-{len(CONTENT) - 1}/{len(CONTENT)}"
    assert part.headers["content-length"] == str(len(CONTENT) - 1000)
    assert part.content == CONTENT[1000:] and part.headers["etag"] == etag
    assert (bounded.status_code, bounded.content) == (206, CONTENT[10:20])
    got = [(d.status, d.range, d.bytes_sent) for d in fake.downloads(f["id"])]
    assert got == [
        (200, None, len(CONTENT)),
        (206, "bytes=1000-", len(CONTENT) - 1000),
        (206, "bytes=10-19", 10),
    ]


async def test_range_past_the_end_is_416(fake: FakeSlack) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    async with httpx.AsyncClient() as http:
        r = await http.get(
            f["url_private_download"], headers={**AUTH, "Range": f"bytes={len(CONTENT)}-"}
        )
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(CONTENT)}"


@pytest.mark.parametrize(
    "headers",
    [{"Range": "bytes=0-1,5-9"}, {"Range": "bytes=-100"}, {"If-Range": '"another"'}],
    ids=["multi", "suffix", "if-range-mismatch"],
)
async def test_odd_range_or_stale_if_range_gets_whole_file(
    fake: FakeSlack, headers: dict[str, str]
) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    async with httpx.AsyncClient() as http:
        r = await http.get(
            f["url_private_download"], headers={"Range": "bytes=5-", **AUTH, **headers}
        )
    assert r.status_code == 200 and r.content == CONTENT


async def test_matching_if_range_gets_the_range(fake: FakeSlack) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    url = f["url_private_download"]
    async with httpx.AsyncClient() as http:
        etag = (await http.get(url, headers=AUTH)).headers["etag"]
        r = await http.get(url, headers={**AUTH, "Range": "bytes=5-", "If-Range": etag})
    assert r.status_code == 206 and r.content == CONTENT[5:]


async def test_ignore_range_switch(fake: FakeSlack) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    fake.ignore_range = True
    async with httpx.AsyncClient() as http:
        r = await http.get(f["url_private_download"], headers={**AUTH, "Range": "bytes=5-"})
    assert r.status_code == 200 and r.content == CONTENT
    assert "accept-ranges" not in r.headers
    fake.reset()
    assert fake.ignore_range is False


async def test_fail_download_n_times_then_serve(fake: FakeSlack) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    fake.fail_download(f["id"], times=2, status=503, retry_after=7)
    fake.fail_download(f["id"], status=502)
    async with httpx.AsyncClient() as http:
        answers = [await http.get(f["url_private_download"], headers=AUTH) for _ in range(4)]
    assert [r.status_code for r in answers] == [503, 503, 502, 200]
    assert [r.headers.get("retry-after") for r in answers[:3]] == ["7", "7", None]
    assert answers[3].content == CONTENT
    assert [d.status for d in fake.downloads(f["id"])] == [503, 503, 502, 200]


async def test_faults_hit_the_hop_that_sends_bytes(fake: FakeSlack) -> None:
    f = fake.add_file("clip.mp4", CONTENT, redirect=True)
    fake.fail_download(f["id"])
    async with httpx.AsyncClient(follow_redirects=True) as http:
        r = await http.get(f["url_private_download"], headers=AUTH)
    assert r.status_code == 503
    assert [(d.kind, d.status) for d in fake.downloads(f["id"])] == [
        ("download", 302),
        ("edge", 503),
    ]


async def test_break_download_n_times_counts_bytes_of_each_answer(fake: FakeSlack) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    fake.break_download(f["id"], after_bytes=300, times=2)
    url = f["url_private_download"]
    async with httpx.AsyncClient() as http:
        for headers in (AUTH, {**AUTH, "Range": "bytes=300-"}):
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get(url, headers=headers)
        rest = await http.get(url, headers={**AUTH, "Range": "bytes=600-"})
    assert rest.content == CONTENT[600:]
    sent = [(d.status, d.bytes_sent) for d in fake.downloads(f["id"])]
    assert sent == [(200, 300), (206, 300), (206, len(CONTENT) - 600)]


# --------------------------------------------------------------------------- downloads


async def test_download_needs_the_bot_token(fake: FakeSlack) -> None:
    content = bytes(range(256)) * 1000
    f = fake.add_file("clip.mp4", content)
    url = f["url_private_download"]
    async with httpx.AsyncClient() as http:
        good = await http.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200 and good.content == content
        assert good.headers["content-type"] == "video/mp4"
        assert good.headers["content-length"] == str(len(content))
        for headers in ({}, {"Authorization": "Bearer xoxb-wrong"}):
            login = await http.get(url, headers=headers)
            assert login.status_code == 200
            assert login.headers["content-type"].startswith("text/html")
            assert "<!DOCTYPE html>" in login.text and "Sign in" in login.text
    assert [(d.authorized, d.had_token, d.status) for d in fake.downloads(f["id"])] == [
        (True, True, 200),
        (False, False, 200),
        (False, True, 200),
    ]
    fake.delete_file(f["id"])
    async with httpx.AsyncClient() as http:
        gone = await http.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert gone.status_code == 404


async def test_redirect_same_host_and_cross_host(fake: FakeSlack) -> None:
    f = fake.add_file("clip.mp4", b"video-bytes", redirect=True)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient() as http:
        hop = await http.get(f["url_private_download"], headers=auth)
        assert hop.status_code == 302
        assert hop.headers["location"].startswith(f"http://127.0.0.1:{fake.port}/files-edge/")

        same = await http.get(f["url_private_download"], headers=auth, follow_redirects=True)
        assert same.content == b"video-bytes"
        fake.redirect_host = "localhost"
        cross = await http.get(f["url_private_download"], headers=auth, follow_redirects=True)
        assert cross.content == b"video-bytes"
        assert cross.url.host == "localhost"
    edge = [d for d in fake.downloads(f["id"]) if d.kind == "edge"]
    # httpx keeps the token on a same-origin redirect and strips it across hosts.
    assert [(d.host.split(":")[0], d.had_token) for d in edge] == [
        ("127.0.0.1", True),
        ("localhost", False),
    ]
    fake.edge_requires_auth = True
    async with httpx.AsyncClient() as http:
        login = await http.get(f["url_private_download"], headers=auth, follow_redirects=True)
    assert login.headers["content-type"].startswith("text/html")


async def test_large_file_streams_from_disk_and_broken_download(
    fake: FakeSlack, tmp_path: Path
) -> None:
    path = tmp_path / "big.mp4"
    data = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32 + 7)
    path.write_bytes(data)
    f = fake.add_file("big.mp4", path)
    assert f["size"] == len(data)
    digest = hashlib.sha256()
    async with (
        aiohttp.ClientSession() as session,
        session.get(f["url_private_download"], headers={"Authorization": f"Bearer {TOKEN}"}) as r,
    ):
        assert r.content_length == len(data)
        async for chunk in r.content.iter_chunked(65536):
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()

    fake.break_download(f["id"], after_bytes=1000)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientPayloadError):
            async with session.get(
                f["url_private_download"], headers={"Authorization": f"Bearer {TOKEN}"}
            ) as r:
                await r.read()
