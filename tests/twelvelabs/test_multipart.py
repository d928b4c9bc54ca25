"""Multipart upload against the fake: streamed chunks, URL refresh, batching, resume."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bot.twelvelabs import MultipartSettings, TwelveLabsClient, errors
from tests.fakes.twelvelabs import FakeTwelveLabs, Fault
from tests.twelvelabs.conftest import Sleeps, make_client
from tests.twelvelabs.test_endpoints import file_size, sha256
from tests.videos import make_padded_video

CHUNK = 64 * 1024
SESSION = "/assets/multipart-uploads/{id}"
URLS = "/assets/multipart-uploads/{id}/presigned-urls"
PUT = "/_upload"


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """A real mp4 padded to 10 chunks of 64 KiB (the last one partial)."""
    return make_padded_video(tmp_path / "big.mp4", 9 * CHUNK + 1234)


def multipart_client(fake: FakeTwelveLabs, **kw: object) -> TwelveLabsClient:
    settings = kw.pop("multipart", MultipartSettings(concurrency=3, report_batch_size=3))
    return make_client(fake, direct_upload_limit=CHUNK, multipart=settings, **kw)


class Recorder:
    def __init__(self, fail_after: int | None = None) -> None:
        self.progress: list[tuple[int, int]] = []
        self.started: list[tuple[str, str]] = []
        self.fail_after = fail_after

    async def on_progress(self, done: int, total: int) -> None:
        self.progress.append((done, total))
        if self.fail_after is not None and done >= self.fail_after:
            raise KeyboardInterruptLike("simulated crash")

    async def on_started(self, upload_id: str, asset_id: str) -> None:
        self.started.append((upload_id, asset_id))


class KeyboardInterruptLike(Exception):
    pass


async def test_multipart_upload_streams_chunks_and_reports_in_batches(
    fake: FakeTwelveLabs, big: Path
) -> None:
    rec = Recorder()
    async with multipart_client(fake) as client:
        asset = await client.assets.upload(
            big, progress=rec.on_progress, on_multipart_started=rec.on_started, request_key="j1"
        )
        detail = await client.assets.wait(asset.id, timeout_s=10)
    total = file_size(big)
    assert detail.status == "ready" and detail.size == total
    assert fake.assets[asset.id].sha256 == sha256(big)
    assert fake.count("POST", "/assets") == 0
    [(upload_id, asset_id)] = rec.started
    assert asset_id == asset.id and fake.uploads[upload_id].status == "completed"
    create = next(c for c in fake.calls if c.template == "/assets/multipart-uploads")
    assert create.body == {
        "filename": "big.mp4",
        "type": "video",
        "total_size": total,
        "enable_thumbnail": True,
        "user_metadata": {"gistbot_request": "j1"},  # the key that finds a lost session's asset
    }
    # progress: by bytes, never backwards, ends at the total
    dones = [d for d, _ in rec.progress]
    assert dones == sorted(dones) and dones[-1] == total
    assert {t for _, t in rec.progress} == {total}
    assert len(dones) > 10  # finer than one call per chunk
    # chunk PUTs: presigned, no API key, octet-stream, exact sizes, once each
    puts = [c for c in fake.calls if c.template == PUT]
    assert len(puts) == 10 and all(c.status == 200 for c in puts)
    for c in puts:
        assert "x-api-key" not in c.headers
        assert c.headers["content-type"] == "application/octet-stream"
    assert sorted(int(c.path.rsplit("/", 1)[1]) for c in puts) == list(range(1, 11))
    assert sum(c.body for c in puts) == total
    # only 2 URLs came with the session: more were asked for, ≤ 50 at a time
    url_calls = [c for c in fake.calls if c.template == URLS]
    assert url_calls and all(c.body["count"] <= 50 for c in url_calls)
    # completed chunks reported in batches, each proof an unquoted ETag
    reports = [c for c in fake.calls if c.method == "POST" and c.template == SESSION]
    assert 2 <= len(reports) <= 5
    reported = [item for c in reports for item in c.body["completed_chunks"]]
    assert sorted(i["chunk_index"] for i in reported) == list(range(1, 11))
    assert all('"' not in i["proof"] and i["proof_type"] == "etag" for i in reported)
    assert (
        reported[-1]["chunk_size"] in (CHUNK, 1234)
        and sum(i["chunk_size"] for i in reported) == total
    )


async def test_many_chunks_need_several_url_batches(fake: FakeTwelveLabs, tmp_path: Path) -> None:
    fake.configure(multipart_chunk_size=4096)
    path = make_padded_video(tmp_path / "many.mp4", 120 * 4096 - 7)  # 120 chunks
    settings = MultipartSettings(concurrency=4, report_batch_size=25)
    async with multipart_client(fake, multipart=settings) as client:
        asset = await client.assets.upload(path)
        await client.assets.wait(asset.id, timeout_s=10)
    assert fake.assets[asset.id].sha256 == sha256(path)
    counts = [c.body["count"] for c in fake.calls if c.template == URLS]
    assert max(counts) <= 50 and sum(counts) >= 118
    assert fake.count("PUT", PUT) == 120


async def test_expiring_urls_are_refreshed(fake: FakeTwelveLabs, big: Path) -> None:
    fake.configure(presigned_url_ttl_s=0.5)
    # Every PUT takes a while, so URLs issued up front go stale before their turn.
    fake.add_fault(Fault(method="PUT", path=PUT, kind="delay", delay_s=0.12, times=100))
    settings = MultipartSettings(concurrency=1, report_batch_size=5)
    async with multipart_client(fake, multipart=settings) as client:
        asset = await client.assets.upload(big)
        await client.assets.wait(asset.id, timeout_s=10)
    assert fake.assets[asset.id].sha256 == sha256(big)
    # The first URLs cover all 10 chunks, so any presigned-urls call is a refresh. How many
    # depends on timing (a loaded machine batches differently), so only "some" is asserted.
    assert fake.count("POST", URLS) >= 1


async def test_refused_url_403_is_replaced(fake: FakeTwelveLabs, big: Path) -> None:
    async def burn_urls(upload_id: str, asset_id: str) -> None:
        # The URLs handed out with the session get used by someone else: S3 answers 403.
        for grant in fake._presigned.values():
            grant.used = True

    async with multipart_client(fake) as client:
        asset = await client.assets.upload(big, on_multipart_started=burn_urls)
        await client.assets.wait(asset.id, timeout_s=10)
    assert fake.assets[asset.id].sha256 == sha256(big)
    statuses = [c.status for c in fake.calls if c.template == PUT]
    assert statuses.count(403) == 2 and statuses.count(200) == 10


async def test_chunk_put_5xx_is_retried(fake: FakeTwelveLabs, big: Path) -> None:
    fake.add_fault(Fault(method="PUT", path=PUT, kind="503", retry_after="7", times=3))
    sleeps = Sleeps()
    async with multipart_client(fake, sleep=sleeps) as client:
        asset = await client.assets.upload(big)
        assert client.stats.retries[("PUT", "{upload_url}")] == 3
        assert sleeps.delays == [7.0] * 3  # the chunk retries wait through the injected sleep
        await client.assets.wait(asset.id, timeout_s=10)
    assert fake.assets[asset.id].sha256 == sha256(big)


@pytest.mark.parametrize("remember", ["everything", "upload_id_only"])
async def test_resume_half_finished_session(fake: FakeTwelveLabs, big: Path, remember: str) -> None:
    total = file_size(big)
    crash = Recorder(fail_after=5 * CHUNK)
    settings = MultipartSettings(concurrency=1, report_batch_size=2)
    async with multipart_client(fake, multipart=settings) as client:
        with pytest.raises(KeyboardInterruptLike):
            await client.assets.upload(
                big, progress=crash.on_progress, on_multipart_started=crash.on_started
            )
    [(upload_id, asset_id)] = crash.started
    upload = fake.uploads[upload_id]
    reported_before = {c.index for c in upload.reported}
    assert upload.status == "active" and 2 <= len(reported_before) < 10
    puts_before = fake.count("PUT", PUT)

    rec = Recorder()
    extra = {"resume_asset_id": asset_id} if remember == "everything" else {}
    async with multipart_client(fake, multipart=settings) as client:
        asset = await client.assets.upload(
            big,
            progress=rec.on_progress,
            on_multipart_started=rec.on_started,
            resume_upload_id=upload_id,
            **extra,  # type: ignore[arg-type]
        )
        detail = await client.assets.wait(asset.id, timeout_s=10)
    assert asset.id == asset_id and rec.started == []  # same session, no new one
    assert fake.count("POST", "/assets/multipart-uploads") == 1
    resent = fake.count("PUT", PUT) - puts_before
    assert resent == 10 - len(reported_before)  # only what the server lacked
    assert rec.progress[0][0] >= len(reported_before) * CHUNK and rec.progress[-1][0] == total
    assert detail.status == "ready" and fake.assets[asset_id].sha256 == sha256(big)


async def test_resume_a_finished_session_uploads_nothing(fake: FakeTwelveLabs, big: Path) -> None:
    rec = Recorder()
    async with multipart_client(fake) as client:
        asset = await client.assets.upload(big, on_multipart_started=rec.on_started)
        [(upload_id, asset_id)] = rec.started
        puts = fake.count("PUT", PUT)
        again = await client.assets.upload(
            big, resume_upload_id=upload_id, resume_asset_id=asset_id
        )
    assert again.id == asset.id and fake.count("PUT", PUT) == puts


async def test_resume_unknown_session_starts_a_new_one(fake: FakeTwelveLabs, big: Path) -> None:
    rec = Recorder()
    async with multipart_client(fake) as client:
        asset = await client.assets.upload(
            big, resume_upload_id="does-not-exist", on_multipart_started=rec.on_started
        )
        await client.assets.wait(asset.id, timeout_s=10)
    assert len(rec.started) == 1 and fake.count("POST", "/assets/multipart-uploads") == 1


async def test_failed_report_is_an_error(fake: FakeTwelveLabs, big: Path) -> None:
    fake.add_fault(Fault(method="POST", path=SESSION, kind="401"))
    async with multipart_client(fake) as client:
        with pytest.raises(errors.AuthenticationError):
            await client.assets.upload(big)


def test_chunk_geometry_of_the_fixture(big: Path) -> None:
    assert math.ceil(file_size(big) / CHUNK) == 10
