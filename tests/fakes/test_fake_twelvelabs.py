"""Tests of the fake TwelveLabs server: the official SDK as a contract check, faults, chaos,
the control surface and the standalone command."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

import httpx
import pytest
from twelvelabs.wrapper.multipart_upload_client_wrapper import MultipartUploadClientWrapper

from tests.fakes.tl_helpers import (
    GIST_SCHEMA,
    KEY,
    MediaSite,
    analysis,
    upload,
    wait_asset,
    wait_for,
)
from tests.fakes.twelvelabs import FakeTwelveLabs, Fault
from tests.fakes.twelvelabs.media import probe
from tests.videos import make_padded_video, make_video

if TYPE_CHECKING:
    from twelvelabs import TwelveLabs


# ---------------------------------------------------------------------- the SDK contract


def test_official_sdk_drives_every_endpoint(fake: FakeTwelveLabs, tmp_path: Path) -> None:
    from twelvelabs import NotFoundError, TwelveLabs

    client = TwelveLabs(api_key=KEY, base_url=fake.base_url)
    video = make_video(5, name="sdk demo.mp4", directory=tmp_path)
    asset_id = _sdk_assets(client, video)
    _sdk_multipart(client, fake, tmp_path)
    _sdk_multipart_by_hand(client, fake)
    _sdk_indexes(client, asset_id)
    _sdk_analysis(client, asset_id)

    # Deleting an asset (forced: an index uses it).
    client.assets.delete(asset_id, force=True)
    with pytest.raises(NotFoundError):
        client.assets.retrieve(asset_id)


def _sdk_assets(client: TwelveLabs, video: Path) -> str:
    """Direct upload, then retrieve until ready; by URL; a missing one. Returns the first."""
    from twelvelabs import NotFoundError

    with video.open("rb") as f:
        created = client.assets.create(
            method="direct",
            file=("sdk demo.mp4", f, "video/mp4"),
            enable_thumbnail=True,
            user_metadata=json.dumps({"team": "video"}),
        )
    assert created.id and created.status == "processing" and created.method == "direct"
    assert created.user_metadata == {"team": "video"}
    asset_id: str = created.id
    asset = wait_for(lambda: (a := client.assets.retrieve(asset_id)).status == "ready" and a)
    assert asset.duration == pytest.approx(5.0)
    assert asset.size == video.stat().st_size
    assert asset.thumbnail and asset.thumbnail.representative_url
    assert httpx.get(asset.thumbnail.representative_url).content.startswith(b"\x89PNG")
    assert asset.technical_metadata and asset.technical_metadata.video_width == 360

    # Assets: by URL, fetched by the fake from a local server.
    site = MediaSite({"/media/remote.mp4": video})
    try:
        by_url = client.assets.create(method="url", url=f"{site.url}/media/remote.mp4")
        url_asset_id = str(by_url.id)
        remote = wait_for(
            lambda: (a := client.assets.retrieve(url_asset_id)).status != "processing" and a
        )
    finally:
        site.close()
    assert remote.status == "ready" and remote.filename == "remote.mp4"
    assert remote.duration == pytest.approx(5.0)
    with pytest.raises(NotFoundError):
        client.assets.retrieve("000000000000000000000000")
    return asset_id


def _sdk_multipart(client: TwelveLabs, fake: FakeTwelveLabs, tmp_path: Path) -> None:
    """The SDK's own uploader (create, presigned-urls, PUT, report), then status."""
    fake.multipart_chunk_size = 16 * 1024
    fake.initial_upload_urls = 2
    big = make_padded_video(tmp_path / "big.mp4", 100_000)
    uploader = cast(MultipartUploadClientWrapper, client.multipart_upload)
    result = uploader.upload_file(big, batch_size=3)
    assert result.asset_id and result.asset_url
    upload_id = next(iter(fake.uploads))
    chunks = list(uploader.get_status(upload_id, page_limit=2))
    assert [c.index for c in chunks] == [1, 2, 3, 4, 5, 6, 7]
    assert all(c.status == "completed" for c in chunks)
    status = uploader.wait_for_upload_completion(upload_id, sleep_interval=0.05)
    assert status.completed_chunks == 7
    assert fake.count("POST", "/assets/multipart-uploads/{id}/presigned-urls") >= 1
    uploaded = wait_for(
        lambda: (a := client.assets.retrieve(result.asset_id)).status == "ready" and a
    )
    assert uploaded.method == "multipart" and uploaded.size == 100_000
    assert fake.assets[result.asset_id].sha256 == hashlib.sha256(big.read_bytes()).hexdigest()


def _sdk_multipart_by_hand(client: TwelveLabs, fake: FakeTwelveLabs) -> None:
    """Create, list, more URLs, raw PUTs, report."""
    from twelvelabs import CompletedChunk

    fake.initial_upload_urls = 1
    raw = os.urandom(20_000)  # the wire format only; this asset will fail to process
    session = client.multipart_upload.create(filename="raw.mp4", type="video", total_size=20_000)
    assert session.upload_id and session.upload_urls and session.total_chunks == 2
    assert session.chunk_size == 16 * 1024 and session.expires_at
    incomplete = list(client.multipart_upload.list_incomplete_uploads())
    assert [u.upload_id for u in incomplete] == [session.upload_id]
    more = client.multipart_upload.get_additional_presigned_urls(
        session.upload_id, start=2, count=1
    )
    assert more.upload_urls and more.upload_urls[0].chunk_index == 2
    proofs = []
    for grant in session.upload_urls + more.upload_urls:
        assert grant.url and grant.chunk_index and grant.expires_at
        piece = raw[(grant.chunk_index - 1) * 16384 : grant.chunk_index * 16384]
        etag = httpx.put(grant.url, content=piece).headers["ETag"].strip('"')
        proofs.append(
            CompletedChunk(
                chunk_index=grant.chunk_index, proof=etag, proof_type="etag", chunk_size=len(piece)
            )
        )
    report = client.multipart_upload.report_chunk_batch(session.upload_id, completed_chunks=proofs)
    assert report.total_completed == 2 and report.processed_chunks == 2 and report.url


def _sdk_indexes(client: TwelveLabs, asset_id: str) -> None:
    """Indexes, then the asset put into one."""
    from twelvelabs import BadRequestError, IndexesCreateRequestModelsItem

    created_index = client.indexes.create(
        index_name="gistbot-sdk",
        models=[
            IndexesCreateRequestModelsItem(
                model_name="marengo3.0", model_options=["visual", "audio"]
            )
        ],
    )
    index_id = str(created_index.id)
    listed = list(client.indexes.list(index_name="gistbot-sdk"))
    assert [i.id for i in listed] == [index_id]
    assert client.indexes.retrieve(index_id).index_name == "gistbot-sdk"
    with pytest.raises(BadRequestError):
        client.indexes.create(
            index_name="legacy",
            models=[
                IndexesCreateRequestModelsItem(model_name="pegasus1.2", model_options=["visual"])
            ],
        )

    # Indexed assets.
    indexed = client.indexes.indexed_assets.create(index_id, asset_id=asset_id)
    assert indexed.id and indexed.asset_id == asset_id
    item_id = indexed.id
    item = wait_for(
        lambda: (
            (i := client.indexes.indexed_assets.retrieve(index_id, item_id)).status == "ready" and i
        )
    )
    by_asset = list(client.indexes.indexed_assets.list_by_asset(asset_id))
    assert [(e.id, e.index and e.index.id) for e in by_asset] == [(item_id, index_id)]
    assert item.system_metadata and item.system_metadata.duration == pytest.approx(5.0)
    assert client.indexes.retrieve(index_id).video_count == 1


def _sdk_analysis(client: TwelveLabs, asset_id: str) -> None:
    """Async analysis, then sync analysis as JSON and streamed."""
    from twelvelabs import (
        AsyncResponseFormat,
        StreamAnalyzeResponse_StreamEnd,
        StreamAnalyzeResponse_TextGeneration,
        SyncResponseFormat,
        VideoContext_AssetId,
    )

    task = client.analyze_async.tasks.create(
        model_name="pegasus1.5",
        video=VideoContext_AssetId(asset_id=asset_id),
        prompt="Title, topics, hashtags.",
        response_format=AsyncResponseFormat(type="json_schema", json_schema=GIST_SCHEMA),
        max_tokens=1024,
    )
    assert task.task_id and task.status == "queued"
    tasks = client.analyze_async.tasks.list(asset_id=asset_id)
    assert [t.task_id for t in tasks.data] == [task.task_id]
    done = wait_for(
        lambda: (t := client.analyze_async.tasks.retrieve(task.task_id)).status == "ready" and t
    )
    assert done.result and done.result.finish_reason == "stop" and done.completed_at
    gist = json.loads(done.result.data)
    assert set(gist) == {"title", "topics", "hashtags"}
    assert gist["title"].startswith("Sdk Demo — ")
    assert done.result.usage.output_tokens > 0

    # Sync analysis, JSON and streamed.
    sync = client.analyze(
        video=VideoContext_AssetId(asset_id=asset_id),
        prompt="Title, topics, hashtags.",
        response_format=SyncResponseFormat(type="json_schema", json_schema=GIST_SCHEMA),
    )
    assert sync.data is not None and json.loads(sync.data) == gist
    events = list(
        client.analyze_stream(
            video=VideoContext_AssetId(asset_id=asset_id),
            prompt="Title, topics, hashtags.",
            response_format=SyncResponseFormat(type="json_schema", json_schema=GIST_SCHEMA),
        )
    )
    text = "".join(
        e.text or "" for e in events if isinstance(e, StreamAnalyzeResponse_TextGeneration)
    )
    assert json.loads(text) == gist
    assert isinstance(events[-1], StreamAnalyzeResponse_StreamEnd)


# ---------------------------------------------------------------------- faults and auth


def test_faults(api: httpx.Client, fake: FakeTwelveLabs) -> None:
    fake.add_fault(Fault(method="POST", path="/assets", kind="429", times=2, retry_after="1"))
    for _ in range(2):
        r = api.post("/assets", files={"method": (None, "url"), "url": (None, "http://x/y.mp4")})
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert r.json()["code"] == "too_many_requests"
    assert not fake.assets and not fake.faults

    fake.add_fault(Fault(method="POST", path="/analyze/tasks", kind="429", ratelimit_reset=1e9))
    nested = api.post("/analyze/tasks", json={})
    assert nested.json()["error"]["code"] == "too_many_requests"
    assert nested.headers["X-Ratelimit-Reset"] == "1000000000"

    fake.add_fault(Fault(method="POST", path="/analyze", kind="429-empty"))
    empty = api.post("/analyze", json={})
    assert empty.status_code == 429 and empty.content == b""

    for kind in ("500", "502", "503", "504", "401"):
        fake.add_fault(Fault(method="GET", path="*", kind=kind))
        assert api.get("/indexes").status_code == int(kind)
    assert api.get("/indexes").status_code == 200

    fake.add_fault(Fault(method="POST", path="/indexes", kind="drop"))
    models = [{"model_name": "marengo3.0", "model_options": ["visual"]}]
    with pytest.raises(httpx.TransportError):
        api.post("/indexes", json={"index_name": "a", "models": models})
    assert not fake.indexes and fake.calls[-1].status == 0

    fake.add_fault(Fault(method="POST", path="/indexes", kind="drop-after"))
    with pytest.raises(httpx.TransportError):
        api.post("/indexes", json={"index_name": "a", "models": models})
    assert [i.index_name for i in fake.indexes.values()] == ["a"]

    fake.add_fault(Fault(method="POST", path="/indexes", kind="error-after"))
    done_but_502 = api.post("/indexes", json={"index_name": "b", "models": models})
    assert done_but_502.status_code == 502 and "Bad Gateway" in done_but_502.text
    assert sorted(i.index_name for i in fake.indexes.values()) == ["a", "b"]  # carried out
    assert fake.calls[-1].status == 502

    fake.add_fault(Fault(method="POST", path="/analyze/tasks", kind="error-after", status=503))
    nested_503 = api.post("/analyze/tasks", json={})  # invalid: the handler's answer is lost
    assert nested_503.status_code == 503
    assert nested_503.json()["error"]["code"] == "service_unavailable"
    with pytest.raises(ValueError):
        Fault(method="POST", path="*", kind="error-after", status=404)

    fake.add_fault(Fault(method="GET", path="/indexes/{id}", kind="delay", delay_s=0.3))
    started = time.monotonic()
    assert api.get(f"/indexes/{next(iter(fake.indexes))}").status_code == 200
    assert time.monotonic() - started >= 0.3

    fake.add_fault(Fault(method="GET", path="/indexes", kind="500", times=5))
    fake.clear_faults()
    assert api.get("/indexes").status_code == 200
    with pytest.raises(ValueError):
        Fault(method="GET", path="*", kind="teapot")


def _post_url_asset(api: httpx.Client) -> httpx.Response | None:
    """POST /assets (method=url); None when the connection was closed unanswered."""
    try:
        return api.post(
            "/assets", files={"method": (None, "url"), "url": (None, "http://x.test/y.mp4")}
        )
    except httpx.TransportError:
        return None


def test_chaos_each_kind_and_after_effect_faults_carry_out_the_call(
    api: httpx.Client, fake: FakeTwelveLabs
) -> None:
    seen: dict[str, tuple[int, int]] = {}  # kind → (status seen, assets created)
    for kind in ("429", "429-bare", "5xx", "drop", "after-5xx", "after-drop", "stall"):
        fake.chaos(1.0, seed=3, kinds=[kind], endpoints=["POST /assets"], stall_s=(0.01, 0.01))
        before = len(fake.assets)
        r = _post_url_asset(api)
        seen[kind] = (0 if r is None else r.status_code, len(fake.assets) - before)
        assert fake.chaos_counts() == {kind: 1}
        assert fake.calls[-1].chaos == kind and fake.calls[-1].template == "/assets"
        if kind == "429":
            assert r is not None and r.headers["Retry-After"] == "1"
            assert r.json()["code"] == "too_many_requests"
        if kind == "429-bare":
            assert r is not None and r.content == b"" and "Retry-After" not in r.headers
    assert seen["429"] == seen["429-bare"] == (429, 0)
    assert seen["5xx"][0] in (500, 502, 503) and seen["5xx"][1] == 0
    assert seen["drop"] == (0, 0)
    # After the effect: the asset exists although the client never heard of it.
    assert seen["after-5xx"] == (502, 1) and seen["after-drop"] == (0, 1)
    assert seen["stall"] == (201, 1)

    asset_id = upload(api, make_video(5))  # still on, but only stalling POST /assets 10 ms
    wait_asset(api, asset_id)
    fake.chaos(1.0, seed=1, kinds=["after-drop"], endpoints=["POST /analyze/tasks"])
    with pytest.raises(httpx.TransportError):
        api.post("/analyze/tasks", json=analysis(asset_id))
    assert len(fake.tasks) == 1 and fake.chaos_counts() == {"after-drop": 1}
    fake.chaos(None)
    assert api.get("/indexes").status_code == 200


def test_chaos_share_is_seeded_and_spares_the_control_surface(
    api: httpx.Client, fake: FakeTwelveLabs
) -> None:
    def run() -> list[int]:
        fake.chaos(0.3, seed=11, kinds={"429": 1, "5xx": 2})
        return [api.get("/indexes").status_code for _ in range(100)]

    first = run()
    report = fake.chaos_report()
    assert run() == first  # same seed, same requests: same faults
    failed = [s for s in first if s != 200]
    assert 0 < len(failed) < 100 and set(failed) <= {429, 500, 502, 503}
    assert report["seen"] == 100 and report["injected_total"] == len(failed)
    assert report["by_endpoint"].keys() == {"GET /indexes"}
    assert report["config"]["p"] == 0.3 and report["config"]["seed"] == 11

    fake.chaos(1.0, kinds=["5xx"])
    origin = fake.origin
    for path in ("/_fake/calls", "/_fake/config", "/_fake/chaos"):
        assert httpx.get(origin + path).status_code == 200
    assert fake.chaos_counts() == {}
    with pytest.raises(ValueError):
        fake.chaos(0.5, kinds=["teapot"])


def test_chaos_control_surface(api: httpx.Client, fake: FakeTwelveLabs) -> None:
    url = f"{fake.origin}/_fake/chaos"
    assert httpx.post(url, json={"p": 1, "kinds": ["nope"]}).status_code == 400
    assert httpx.post(url, json={"p": 2}).status_code == 400
    on = httpx.post(url, json={"p": 1, "seed": 5, "kinds": ["429-bare"]})
    assert on.status_code == 200 and on.json()["config"]["kinds"] == {"429-bare": 1.0}
    assert api.get("/indexes").status_code == 429
    off = httpx.delete(url).json()
    assert off["config"] is None and off["injected"] == {"429-bare": 1}  # counts stay
    assert api.get("/indexes").status_code == 200
    httpx.post(url, json={"p": 1})
    fake.reset()
    assert fake.chaos_report()["config"] is None
    assert api.get("/indexes").status_code == 200


def test_api_key_is_required(fake: FakeTwelveLabs) -> None:
    for headers in ({}, {"x-api-key": "wrong"}, {"Authorization": f"Bearer {KEY}"}):
        r = httpx.get(f"{fake.base_url}/indexes", headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "api_key_invalid"
    nested = httpx.get(f"{fake.base_url}/analyze/tasks/x")
    assert nested.status_code == 401 and nested.json()["error"]["code"] == "api_key_invalid"


# ---------------------------------------------------------------------- control surface, CLI


def test_http_control_surface(api: httpx.Client, fake: FakeTwelveLabs) -> None:
    origin = fake.origin
    assert (
        httpx.post(
            f"{origin}/_fake/config", json={"latency_s": 0.0, "task_processing_s": 0.1}
        ).status_code
        == 200
    )
    assert fake.task_processing_s == 0.1
    assert httpx.post(f"{origin}/_fake/config", json={"nope": 1}).status_code == 400
    fault = {"method": "GET", "path": "/indexes", "kind": "503", "times": 1}
    assert httpx.post(f"{origin}/_fake/faults", json=fault).status_code == 201
    assert api.get("/indexes").status_code == 503
    httpx.post(f"{origin}/_fake/faults", json=fault)
    assert httpx.delete(f"{origin}/_fake/faults").status_code == 204
    assert api.get("/indexes").status_code == 200
    calls = httpx.get(f"{origin}/_fake/calls").json()
    assert [(c["method"], c["template"], c["status"]) for c in calls] == [
        ("GET", "/indexes", 503),
        ("GET", "/indexes", 200),
    ]
    upload(api, make_video(5))
    assert httpx.post(f"{origin}/_fake/reset").status_code == 204
    assert not fake.assets and not fake.calls and fake.task_processing_s == 0.1
    fake.reset()
    assert not fake.calls


def test_standalone_command_prints_its_url_and_stops_on_sigterm() -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.twelvelabs", "--port", "0", "--api-key", "k"],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1.3")
        assert httpx.get(f"{base_url}/indexes", headers={"x-api-key": "k"}).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


# ---------------------------------------------------------------------- fixtures themselves


def test_video_fixtures(tmp_path: Path) -> None:
    clip = make_video(5)
    assert make_video(5) == clip  # cached
    copy = make_video(5, name="copy.mp4", directory=tmp_path)
    assert copy.read_bytes() == clip.read_bytes() and copy.parent == tmp_path
    info = probe(clip)
    assert info.duration == pytest.approx(5.0) and info.video and info.video.codec == "h264"
    assert clip.read_bytes()[4:8] == b"ftyp"
    padded = make_padded_video(tmp_path / "padded.mp4", 3 * 1024 * 1024 + 7)
    assert padded.stat().st_size == 3 * 1024 * 1024 + 7
    assert probe(padded).duration == pytest.approx(5.0)


@pytest.fixture
async def async_fake() -> AsyncIterator[FakeTwelveLabs]:
    server = FakeTwelveLabs(api_key=KEY, asset_processing_s=0.05)
    server.start()
    yield server
    server.stop()


async def test_usable_from_async_tests(async_fake: FakeTwelveLabs) -> None:
    async with httpx.AsyncClient(
        base_url=str(async_fake.base_url), headers={"x-api-key": KEY}
    ) as c:
        responses = await asyncio.gather(*(c.get("/indexes") for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    assert async_fake.count("GET", "/indexes") == 20
