"""Retries and resumed downloads of Slack files, against the fake Slack file host over loopback.

Waits go through an injected `sleep` that records them (and moves a fake clock), so the tests
assert the delays that were asked for, never wall-clock time.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bot.sources.download_retry import Backoff, parse_retry_after
from bot.sources.slack_files import (
    DownloadedFile,
    DownloadError,
    DownloadErrorKind,
    download_slack_file,
)
from tests.fakes.slack import FakeSlack
from tests.sources.conftest import Server

TOKEN = "xoxb-test-token"
SIZE = 1_000_000
CONTENT = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(SIZE // 32))
SHA = hashlib.sha256(CONTENT).hexdigest()
CEILING = Backoff(initial_s=1.0, max_s=8.0, jitter=lambda lo, hi: hi)  # always the cap


@dataclass
class Waits:
    """The injected sleep and clock: records each wait and moves time by it."""

    delays: list[float] = field(default_factory=list)
    now: float = 1000.0
    hook: Callable[[], None] | None = None  # runs during the wait (between two tries)

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        self.now += delay
        if self.hook is not None:
            self.hook()

    def clock(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def slack_host() -> Iterator[FakeSlack]:
    fake = FakeSlack(bot_token=TOKEN)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(slack_host: FakeSlack) -> FakeSlack:
    slack_host.reset()
    return slack_host


@pytest.fixture
def waits() -> Waits:
    return Waits()


async def fetch(
    url: str,
    tmp_path: Path,
    http: httpx.AsyncClient,
    waits: Waits,
    *,
    backoff: Backoff = CEILING,
    max_attempts: int = 5,
    retry_deadline: float | None = None,
    progress: list[tuple[int, int | None]] | None = None,
    expected_size: int | None = SIZE,
) -> DownloadedFile:
    async def report(done: int, total: int | None) -> None:
        if progress is not None:
            progress.append((done, total))

    return await download_slack_file(
        url,
        token=TOKEN,
        allowed_hosts=["127.0.0.1"],
        dest_dir=tmp_path,
        max_bytes=10 << 20,
        http=http,
        expected_size=expected_size,
        progress=report,
        max_attempts=max_attempts,
        retry_deadline=retry_deadline,
        backoff=backoff,
        sleep=waits.sleep,
        clock=waits.clock,
    )


def files_in(path: Path) -> list[Path]:
    return sorted(path.iterdir())


def assert_whole(got: DownloadedFile) -> None:
    assert (got.size, got.sha256) == (SIZE, SHA)
    assert got.path.read_bytes() == CONTENT


async def test_503_twice_then_success(
    fake: FakeSlack, http: httpx.AsyncClient, tmp_path: Path, waits: Waits
) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    fake.fail_download(f["id"], times=2, status=503)
    asked: list[tuple[float, float]] = []

    def jitter(lo: float, hi: float) -> float:
        asked.append((lo, hi))
        return hi / 4

    got = await fetch(
        f["url_private_download"], tmp_path, http, waits, backoff=Backoff(1.0, 8.0, jitter=jitter)
    )
    assert_whole(got)
    assert asked == [(0.0, 1.0), (0.0, 2.0)]  # full jitter under a doubling ceiling
    assert waits.delays == [0.25, 0.5]
    assert [d.status for d in fake.downloads(f["id"])] == [503, 503, 200]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 504])
async def test_every_transient_status_is_retried(
    fake: FakeSlack, http: httpx.AsyncClient, tmp_path: Path, waits: Waits, status: int
) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    fake.fail_download(f["id"], status=status)
    assert_whole(await fetch(f["url_private_download"], tmp_path, http, waits))
    assert waits.delays == [1.0]


async def test_retry_after_is_honoured(
    fake: FakeSlack, http: httpx.AsyncClient, tmp_path: Path, waits: Waits
) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    fake.fail_download(f["id"], status=429, retry_after=7)
    fake.fail_download(f["id"], status=503)  # no Retry-After: back to backoff (2nd retry: 2s)
    assert_whole(await fetch(f["url_private_download"], tmp_path, http, waits))
    assert waits.delays == [7.0, 2.0]


async def test_retry_after_beyond_the_cap_gives_up_at_once(
    fake: FakeSlack, http: httpx.AsyncClient, tmp_path: Path, waits: Waits
) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    fake.fail_download(f["id"], status=503, retry_after=3600)
    with pytest.raises(DownloadError) as err:
        await fetch(f["url_private_download"], tmp_path, http, waits)
    e = err.value
    assert (e.kind, e.status, e.transient, e.attempts) == ("http_error", 503, True, 1)
    assert e.retry_after == 3600.0
    assert waits.delays == []


@pytest.mark.parametrize("redirect", [False, True], ids=["direct", "via-cdn-hop"])
async def test_dropped_connection_resumes_with_range(
    fake: FakeSlack,
    http: httpx.AsyncClient,
    tmp_path: Path,
    waits: Waits,
    redirect: bool,
) -> None:
    f = fake.add_file("clip.mp4", CONTENT, redirect=redirect)
    fake.break_download(f["id"], after_bytes=300_000)
    progress: list[tuple[int, int | None]] = []
    got = await fetch(f["url_private_download"], tmp_path, http, waits, progress=progress)
    assert_whole(got)
    served = [d for d in fake.downloads(f["id"]) if d.status != 302]
    assert [(d.status, d.range, d.bytes_sent) for d in served] == [
        (200, None, 300_000),
        (206, "bytes=300000-", SIZE - 300_000),
    ]
    assert sum(d.bytes_sent for d in served) == SIZE  # nothing sent twice
    if redirect:  # the retry walked the chain again from Slack's URL, token on the first hop
        assert [(d.kind, d.authorized) for d in fake.downloads(f["id"])][::2] == [
            ("download", True),
            ("download", True),
        ]
    assert waits.delays == [1.0]
    assert progress[-1] == (SIZE, SIZE)
    assert [n for n, _ in progress] == sorted(n for n, _ in progress)


async def test_several_drops_resume_each_time_without_a_known_size(
    fake: FakeSlack, http: httpx.AsyncClient, tmp_path: Path, waits: Waits
) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    fake.break_download(f["id"], after_bytes=100_000, times=3)
    got = await fetch(f["url_private_download"], tmp_path, http, waits, expected_size=None)
    assert_whole(got)
    assert [(d.range, d.bytes_sent) for d in fake.downloads(f["id"])] == [
        (None, 100_000),
        ("bytes=100000-", 100_000),
        ("bytes=200000-", 100_000),
        ("bytes=300000-", SIZE - 300_000),
    ]
    assert waits.delays == [1.0, 2.0, 4.0]


async def test_host_ignoring_range_starts_over(
    fake: FakeSlack, http: httpx.AsyncClient, tmp_path: Path, waits: Waits
) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    fake.ignore_range = True
    fake.break_download(f["id"], after_bytes=400_000)
    progress: list[tuple[int, int | None]] = []
    got = await fetch(f["url_private_download"], tmp_path, http, waits, progress=progress)
    assert_whole(got)
    served = fake.downloads(f["id"])
    assert [(d.status, d.range, d.bytes_sent) for d in served] == [
        (200, None, 400_000),
        (200, "bytes=400000-", SIZE),
    ]
    # Progress never goes backwards: the re-sent first 400 kB aren't reported again.
    assert [n for n, _ in progress] == sorted(n for n, _ in progress)
    assert progress[-1] == (SIZE, SIZE)


async def test_404_is_not_retried(
    fake: FakeSlack, http: httpx.AsyncClient, tmp_path: Path, waits: Waits
) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    fake.delete_file(f["id"])
    with pytest.raises(DownloadError) as err:
        await fetch(f["url_private_download"], tmp_path, http, waits)
    assert (err.value.kind, err.value.transient, err.value.attempts) == ("not_found", False, 1)
    assert waits.delays == [] and len(fake.downloads(f["id"])) == 1


@pytest.mark.parametrize("between", ["delete", "revoke"])
async def test_permanent_error_on_a_retry_removes_the_partial_file(
    fake: FakeSlack,
    http: httpx.AsyncClient,
    tmp_path: Path,
    waits: Waits,
    between: str,
) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    fake.break_download(f["id"], after_bytes=200_000)
    seen: list[list[int]] = []

    def meanwhile() -> None:
        seen.append([p.stat().st_size for p in files_in(tmp_path)])  # kept for the retry
        if between == "delete":
            fake.delete_file(f["id"])
        else:
            fake.revoke()

    waits.hook = meanwhile
    with pytest.raises(DownloadError) as err:
        await fetch(f["url_private_download"], tmp_path, http, waits)
    assert err.value.kind == ("not_found" if between == "delete" else "login_page")
    assert err.value.attempts == 2 and not err.value.transient
    assert seen == [[200_000]]
    assert files_in(tmp_path) == []


async def test_attempts_exhausted_raises_transient_error(
    fake: FakeSlack, http: httpx.AsyncClient, tmp_path: Path, waits: Waits
) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    fake.fail_download(f["id"], times=10, status=503)
    with pytest.raises(DownloadError) as err:
        await fetch(f["url_private_download"], tmp_path, http, waits, max_attempts=3)
    e = err.value
    assert (e.kind, e.status, e.transient, e.attempts) == ("http_error", 503, True, 3)
    assert waits.delays == [1.0, 2.0]
    assert len(fake.downloads(f["id"])) == 3


async def test_deadline_exhausted_after_drops_removes_partial_file(
    fake: FakeSlack, http: httpx.AsyncClient, tmp_path: Path, waits: Waits
) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    fake.break_download(f["id"], after_bytes=50_000, times=10)
    deadline = waits.now + 5.0  # room for waits of 1 and 2 s; the next one (4 s) won't fit
    with pytest.raises(DownloadError) as err:
        await fetch(f["url_private_download"], tmp_path, http, waits, retry_deadline=deadline)
    e = err.value
    assert (e.kind, e.transient, e.attempts) == ("network", True, 3)
    assert waits.delays == [1.0, 2.0]
    assert [d.range for d in fake.downloads(f["id"])] == [None, "bytes=50000-", "bytes=100000-"]
    assert files_in(tmp_path) == []


async def test_cancel_during_a_backoff_wait_removes_partial_file(
    fake: FakeSlack, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    f = fake.add_file("clip.mp4", CONTENT)
    fake.break_download(f["id"], after_bytes=200_000)
    waiting = asyncio.Event()

    async def sleep_forever(delay: float) -> None:
        waiting.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(
        download_slack_file(
            f["url_private_download"],
            token=TOKEN,
            allowed_hosts=["127.0.0.1"],
            dest_dir=tmp_path,
            max_bytes=SIZE,
            http=http,
            sleep=sleep_forever,
        )
    )
    await asyncio.wait_for(waiting.wait(), 5)
    assert len(files_in(tmp_path)) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("answer", ["416", "wrong-start", "wrong-total", "other-etag"])
async def test_resume_answered_badly_starts_over_once_without_range(
    server: Server, http: httpx.AsyncClient, tmp_path: Path, waits: Waits, answer: str
) -> None:
    """A loopback host that drops the first answer, then botches the resumed one."""
    cut = 250_000
    calls = 0

    @server.route("/f.mp4")
    async def _(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if "Range" in request.headers:
            return bad_resume(answer, cut)
        resp = web.StreamResponse(headers={"Content-Type": "video/mp4", "ETag": '"v1"'})
        resp.content_length = SIZE
        await resp.prepare(request)
        if calls == 1:
            await resp.write(CONTENT[:cut])
            assert request.transport is not None
            request.transport.close()
            return resp
        await resp.write(CONTENT)
        await resp.write_eof()
        return resp

    got = await fetch(server.url("/f.mp4"), tmp_path, http, waits)
    assert_whole(got)
    assert [(s.headers.get("Range"), s.headers.get("If-Range")) for s in server.seen] == [
        (None, None),
        (f"bytes={cut}-", '"v1"'),
        (None, None),
    ]
    assert waits.delays == [1.0]  # the start-over didn't wait, nor count as a try
    assert files_in(tmp_path) == [got.path]


def bad_resume(answer: str, cut: int) -> web.Response:
    if answer == "416":
        return web.Response(status=416, headers={"Content-Range": f"bytes */{SIZE}"})
    first, total, etag = cut, SIZE, '"v1"'
    if answer == "wrong-start":
        first = 0
    elif answer == "wrong-total":
        total = SIZE + 1
    else:
        etag = '"v2"'
    return web.Response(
        status=206,
        body=CONTENT[first:],
        headers={
            "Content-Type": "video/mp4",
            "Content-Range": f"bytes {first}-{SIZE - 1}/{total}",
            "ETag": etag,
        },
    )


@pytest.mark.parametrize(
    ("kind", "status", "transient"),
    [
        ("network", None, True),
        ("size_mismatch", None, True),
        ("http_error", 503, True),
        ("http_error", 408, True),
        ("http_error", 403, False),
        ("http_error", 501, False),
        ("http_error", None, False),
        ("too_many_redirects", 302, False),
        ("not_found", 404, False),
        ("login_page", 200, False),
        ("forbidden_host", None, False),
        ("too_large", None, False),
        ("empty", None, False),
    ],
)
def test_transient_is_derived_from_kind_and_status(
    kind: DownloadErrorKind, status: int | None, transient: bool
) -> None:
    assert DownloadError(kind, "x", status=status).transient is transient


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_caps_and_gives_up_on_long_retry_after() -> None:
    b = Backoff(initial_s=1.0, max_s=5.0, retry_after_max_s=60.0, jitter=lambda lo, hi: hi)
    assert [b.delay(n, None) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert b.delay(0, 60.0) == 60.0
    assert b.delay(0, 61.0) is None
