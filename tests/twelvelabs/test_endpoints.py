"""Every endpoint the client uses, over real sockets against the fake TwelveLabs server."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from bot.twelvelabs import REQUEST_KEY, TwelveLabsClient, errors, models
from tests.fakes.twelvelabs import FakeTwelveLabs, Fault
from tests.twelvelabs.conftest import API_KEY, Sleeps, VirtualClock, make_client
from tests.videos import make_video

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "topics": {"type": "array", "items": {"type": "string"}},
        "hashtags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["title", "topics", "hashtags"],
}


def file_size(path: Path) -> int:
    return path.stat().st_size


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def ready_asset(client: TwelveLabsClient, video: Path) -> models.AssetDetail:
    asset = await client.assets.upload(video)
    return await client.assets.wait(asset.id, timeout_s=10)


async def test_direct_upload_streams_file_and_reports_progress(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    asset = await client.assets.upload(
        video, filename="demo clip.mp4", enable_thumbnail=True, progress=progress
    )
    assert asset.status == models.AssetStatus.PROCESSING and asset.method == "direct"
    size = file_size(video)
    assert seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted({d for d, _ in seen})  # strictly increasing
    call = next(c for c in fake.calls if c.template == "/assets")
    metadata = json.loads(call.body.pop("user_metadata"))
    assert call.body == {
        "method": "direct",
        "filename": "demo clip.mp4",
        "enable_thumbnail": "true",
        "file": size,
    }
    # Without a request key the client makes one: every create can be looked up.
    assert list(metadata) == [REQUEST_KEY] and len(metadata[REQUEST_KEY]) == 32
    assert call.headers["content-length"] == str(int(call.headers["content-length"]))
    assert "transfer-encoding" not in call.headers

    detail = await client.assets.wait(asset.id, timeout_s=10)
    assert detail.status == "ready" and detail.filename == "demo clip.mp4"
    assert detail.size == size and detail.duration == pytest.approx(5.0, abs=0.5)
    assert detail.thumbnail_url and detail.thumbnail_url.endswith(".png")
    assert fake.assets[asset.id].sha256 == sha256(video)


async def test_asset_from_url_with_metadata(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    # The fake fetches the URL like the platform does; its own thumbnail route is a handy
    # URL, but a real video needs a real file server: serve the clip from a tiny aiohttp app.
    from aiohttp import web

    app = web.Application()

    async def serve(_: web.Request) -> web.FileResponse:
        return web.FileResponse(video)

    app.router.add_get("/v.mp4", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        asset = await client.assets.create_from_url(
            f"http://127.0.0.1:{port}/v.mp4",
            user_metadata={"channel": "C1", "n": 2},
            request_key="job-7",
        )
        assert asset.method == "url" and asset.filename == "v.mp4"
        assert asset.user_metadata == {"channel": "C1", "n": 2, REQUEST_KEY: "job-7"}
        detail = await client.assets.wait(asset.id, timeout_s=10)
        assert detail.status == "ready"
        assert fake.assets[asset.id].sha256 == sha256(video)
        call = next(c for c in fake.calls if c.template == "/assets")
        assert call.body["method"] == "url" and json.loads(call.body["user_metadata"])["n"] == 2
        assert call.body["filename"] == "v.mp4"  # sent, so a look-up can filter on it
    finally:
        await runner.cleanup()


async def test_failed_asset_raises_asset_failed(client: TwelveLabsClient, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.mp4"
    bogus.write_bytes(b"this is not a video at all\n" * 100)
    asset = await client.assets.upload(bogus)
    with pytest.raises(errors.AssetFailed) as info:
        await client.assets.wait(asset.id, timeout_s=10)
    assert info.value.resource_id == asset.id and info.value.permanent
    assert "not a valid video" in info.value.message


async def test_get_missing_asset_is_not_found_without_retries(
    client: TwelveLabsClient, fake: FakeTwelveLabs
) -> None:
    with pytest.raises(errors.NotFoundError) as info:
        await client.assets.wait("nope", timeout_s=5)
    assert info.value.code == "resource_not_exist"
    assert fake.count("GET", "/assets/{id}") == 1


async def test_polling_deadline(fake: FakeTwelveLabs, video: Path) -> None:
    fake.configure(asset_processing_s=5.0)
    clock = VirtualClock()
    async with make_client(fake, sleep=clock.sleep, clock=clock.time) as client:
        asset = await client.assets.upload(video)
        with pytest.raises(errors.PollTimeout) as info:
            await client.assets.wait(asset.id, timeout_s=0.3)
    # Intervals grow 0.02 ×1.5 up to 0.05; the last wait ends exactly at the deadline.
    assert clock.delays == pytest.approx([0.02, 0.03, 0.045] + [0.05] * 4 + [0.005])
    assert clock.now == pytest.approx(0.3)
    assert info.value.last_status == "processing" and info.value.transient
    assert fake.count("GET", "/assets/{id}") == len(clock.delays) + 1  # one at the deadline


async def test_unknown_status_keeps_polling(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    fake.configure(asset_processing_s=0.4)
    asset = await client.assets.upload(video)
    fake.assets[asset.id].status = "transcoding"  # a status the client has never heard of
    seen: list[str] = []

    async def on_status(status: str) -> None:
        seen.append(status)

    detail = await client.assets.wait(asset.id, timeout_s=10, on_status=on_status)
    assert detail.status == "ready"
    assert seen[0] == "transcoding" and seen[-1] == "ready"


async def test_find_or_create_index(client: TwelveLabsClient, fake: FakeTwelveLabs) -> None:
    created = await client.indexes.find_or_create("gistbot")
    assert created.index_name == "gistbot"
    assert created.models[0].model_name == "marengo3.0"
    body = next(c.body for c in fake.calls if c.method == "POST" and c.template == "/indexes")
    assert body["models"] == [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]
    # A name that merely contains ours must not be taken for it (the filter is partial).
    fake.indexes.clear()
    other = await client.indexes.find_or_create("gistbot-archive")
    again = await client.indexes.find_or_create("gistbot")
    assert again.id != other.id
    assert (await client.indexes.find_or_create("gistbot")).id == again.id
    assert fake.count("POST", "/indexes") == 3


@pytest.mark.parametrize("conflict_status", [400, 409])
async def test_find_or_create_index_race(fake: FakeTwelveLabs, conflict_status: int) -> None:
    fake.configure(index_name_conflict_status=conflict_status)
    # Both lookups see no index, both try to create it; the loser finds the winner's.
    fake.add_fault(Fault(method="GET", path="/indexes", kind="delay", delay_s=0.2, times=2))
    async with make_client(fake) as one, make_client(fake) as two:
        a, b = await asyncio.gather(
            one.indexes.find_or_create("team"), two.indexes.find_or_create("team")
        )
    assert a.id == b.id
    assert len(fake.indexes) == 1
    assert fake.count("POST", "/indexes") == 2


async def test_indexed_asset(client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path) -> None:
    asset = await ready_asset(client, video)
    index = await client.indexes.find_or_create("idx")
    ref = await client.indexes.indexed_assets.create(index.id, asset.id)
    assert ref.asset_id == asset.id and ref.id in fake.indexed_assets
    item = await client.indexes.indexed_assets.get(index.id, ref.id)
    assert item.status in models.INDEXED_ASSET_STATUSES
    done = await client.indexes.indexed_assets.wait(index.id, ref.id, timeout_s=10)
    assert done.status == "ready"
    assert done.system_metadata is not None and done.system_metadata.filename == "clip.mp4"


async def test_analysis_task_roundtrip(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    asset = await ready_asset(client, video)
    ref = await client.analysis.create(
        asset_id=asset.id,
        prompt="Title, topics, hashtags.",
        json_schema=SCHEMA,
        max_tokens=2048,
        temperature=0.2,
        custom_id="job-1",
    )
    assert ref.task_id in fake.tasks and ref.status in models.ANALYSIS_TASK_STATUSES
    call = next(c for c in fake.calls if c.template == "/analyze/tasks")
    assert call.body["video"] == {"type": "asset_id", "asset_id": asset.id}
    assert call.body["model_name"] == "pegasus1.5"
    assert call.body["response_format"] == {"type": "json_schema", "json_schema": SCHEMA}
    assert call.body["custom_id"] == "job-1" and call.body["max_tokens"] == 2048
    assert call.headers.get("idempotency-key")
    seen: list[str] = []

    async def on_status(status: str) -> None:
        seen.append(status)

    task = await client.analysis.wait(ref.task_id, timeout_s=10, on_status=on_status)
    assert task.status == "ready" and seen[-1] == "ready"
    assert task.result is not None and task.result.finish_reason == "stop"
    data = json.loads(task.result.data)
    assert set(data) == {"title", "topics", "hashtags"}
    assert task.result.usage.output_tokens > 0 and task.result.generation_id
    again = await client.analysis.get(ref.task_id)
    assert again.custom_id == "job-1"


async def test_analysis_task_failed_and_canceled(
    client: TwelveLabsClient, fake: FakeTwelveLabs, tmp_path: Path
) -> None:
    short = make_video(2.0, directory=tmp_path, name="short.mp4")  # below the 4 s minimum
    asset = await ready_asset(client, short)
    ref = await client.analysis.create(asset_id=asset.id, prompt="p", json_schema=SCHEMA)
    with pytest.raises(errors.AnalysisFailed) as info:
        await client.analysis.wait(ref.task_id, timeout_s=10)
    assert info.value.status == "failed" and "too short" in info.value.message

    long_enough = await ready_asset(client, make_video(5.0))
    ref = await client.analysis.create(asset_id=long_enough.id, prompt="p", json_schema=SCHEMA)
    await client.analysis.wait(ref.task_id, timeout_s=10)
    fake.tasks[ref.task_id].status = "canceled"
    with pytest.raises(errors.AnalysisFailed) as info:
        await client.analysis.wait(ref.task_id, timeout_s=10)
    assert info.value.status == "canceled"


async def test_sync_analyze(client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path) -> None:
    asset = await ready_asset(client, video)
    fake.configure(analysis_override={"title": "Fixed", "topics": ["a"], "hashtags": ["#b"]})
    result = await client.analysis.analyze(asset_id=asset.id, prompt="p", json_schema=SCHEMA)
    assert json.loads(result.data) == {"title": "Fixed", "topics": ["a"], "hashtags": ["#b"]}
    assert result.finish_reason == "stop" and result.generation_id
    call = next(c for c in fake.calls if c.template == "/analyze")
    assert call.body["stream"] is False


async def test_error_body_shapes_from_the_wire(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    # flat {code, message}
    with pytest.raises(errors.NotFoundError) as flat:
        await client.assets.get("missing")
    assert flat.value.code == "resource_not_exist" and "missing" in flat.value.message
    # nested {"error": {code, message}}
    with pytest.raises(errors.NotFoundError) as nested:
        await client.analysis.get("missing")
    assert nested.value.code == "resource_not_exist" and "missing" in nested.value.message
    # 422 for a schema keyword the dialect rejects
    asset = await ready_asset(client, video)
    bad = {"type": "object", "properties": {"t": {"type": "string", "maxLength": 5}}}
    with pytest.raises(errors.BadRequestError) as unprocessable:
        await client.analysis.create(asset_id=asset.id, prompt="p", json_schema=bad)
    assert unprocessable.value.status_code == 422 and unprocessable.value.permanent
    assert "maxLength" in unprocessable.value.message
    # 502 with an HTML body, after retries
    fake.add_fault(Fault(method="GET", path="/assets/{id}", kind="502", times=10))
    with pytest.raises(errors.ServerError) as html:
        await client.assets.get(asset.id)
    assert html.value.status_code == 502 and "Bad Gateway" in html.value.message
    assert html.value.transient


async def test_stats_count_requests_per_template(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    asset = await client.assets.upload(video)
    await client.assets.get(asset.id)
    await client.assets.get(asset.id)
    assert client.stats.requests[("POST", "/assets")] == 1
    assert client.stats.requests[("GET", "/assets/{asset_id}")] == 2
    assert sum(client.stats.requests.values()) == len(fake.calls) == 3


async def test_list_assets_filters_by_filename_and_returns_user_metadata(
    fake: FakeTwelveLabs, client: TwelveLabsClient, tmp_path: Path
) -> None:
    video = make_video(5.0, directory=tmp_path, name="listed-clip.mp4")
    first = await client.assets.upload(video, request_key="job1")
    await client.assets.upload(make_video(5.0, directory=tmp_path, name="other.mp4"))
    listed = await client.assets.list(filename="listed-clip").to_list()
    assert [a.id for a in listed] == [first.id]
    assert listed[0].user_metadata == {REQUEST_KEY: "job1"}
    assert len(await client.assets.list().to_list()) == 2
    found = await client.assets.find("job1", "listed-clip.mp4")
    assert found is not None and found.id == first.id
    assert await client.assets.find("job1", "other.mp4") is None
    assert (await client.assets.find("job1")) == found  # no filename: the newest assets
    assert await client.assets.find("job2") is None


async def test_delete_asset(client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path) -> None:
    asset = await client.assets.upload(video)
    await client.assets.delete(asset.id)
    assert asset.id not in fake.assets
    await client.assets.delete(asset.id)  # already gone: fine
    assert [c.status for c in fake.calls if c.method == "DELETE"] == [200, 404]


async def test_base_url_without_version_is_a_configuration_error(fake: FakeTwelveLabs) -> None:
    # The fake serves the API under /v1.3 only, like the real one.
    unversioned = TwelveLabsClient(API_KEY, fake.origin, max_retries=2, sleep=Sleeps())
    async with unversioned:
        with pytest.raises(errors.ConfigurationError) as info:
            await unversioned.assets.list().to_list()
        with pytest.raises(errors.ConfigurationError):
            await unversioned.indexes.find_or_create("x")
        # a missing *resource* stays a NotFoundError
        with pytest.raises(errors.NotFoundError) as missing:
            await unversioned.assets.get("a1")
    assert info.value.permanent and info.value.status_code == 404
    assert "TWELVELABS_BASE_URL" in str(info.value) and "/v1.3" in str(info.value)
    assert not isinstance(missing.value, errors.ConfigurationError)
    assert sum(unversioned.stats.retries.values()) == 0
