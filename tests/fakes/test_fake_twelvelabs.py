"""Tests of the fake TwelveLabs server, starting with the official SDK as a contract check."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twelvelabs.wrapper.multipart_upload_client_wrapper import MultipartUploadClientWrapper

from tests.fakes.twelvelabs import FakeTwelveLabs, Fault
from tests.fakes.twelvelabs.media import probe
from tests.videos import make_padded_video, make_video

KEY = "tl-test-key"
T = TypeVar("T")
GIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "description": "A title."},
        "topics": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "hashtags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["title", "topics", "hashtags"],
}


@pytest.fixture
def fake() -> Iterator[FakeTwelveLabs]:
    server = FakeTwelveLabs(
        api_key=KEY, asset_processing_s=0.05, task_processing_s=0.05, index_processing_s=0.05
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api(fake: FakeTwelveLabs) -> Iterator[httpx.Client]:
    assert fake.base_url is not None
    with httpx.Client(base_url=fake.base_url, headers={"x-api-key": KEY}, timeout=10) as client:
        yield client


def wait_for(probe_fn: Callable[[], T | None], timeout: float = 5.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe_fn()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def upload(api: httpx.Client, video: Path, **fields: str) -> str:
    with video.open("rb") as f:
        response = api.post(
            "/assets",
            data={"method": "direct", **fields},
            files={"file": (video.name, f, "video/mp4")},
        )
    assert response.status_code == 201, response.text
    return str(response.json()["_id"])


def wait_asset(api: httpx.Client, asset_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body: dict[str, Any] = api.get(f"/assets/{asset_id}").json()
        return body if body["status"] != "processing" else None

    return wait_for(done)


def wait_task(api: httpx.Client, task_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body: dict[str, Any] = api.get(f"/analyze/tasks/{task_id}").json()
        return body if body["status"] in ("ready", "failed") else None

    return wait_for(done)


def analysis(asset_id: str, schema: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "model_name": "pegasus1.5",
        "video": {"type": "asset_id", "asset_id": asset_id},
        "prompt": "Give a title, topics and hashtags.",
        "response_format": {"type": "json_schema", "json_schema": schema or GIST_SCHEMA},
        **extra,
    }


class MediaSite:
    """A small aiohttp file server in its own thread (so blocking SDK calls can reach it)."""

    def __init__(self, routes: dict[str, web.StreamResponse | Path]) -> None:
        self.routes = routes
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.url = ""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        target = self.routes.get(request.path)
        if target is None:
            return web.Response(status=404, text="not found")
        if isinstance(target, Path):
            return web.FileResponse(target)
        return target

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


# ---------------------------------------------------------------------- the SDK contract


def test_official_sdk_drives_every_endpoint(fake: FakeTwelveLabs, tmp_path: Path) -> None:
    from twelvelabs import (
        AsyncResponseFormat,
        BadRequestError,
        CompletedChunk,
        IndexesCreateRequestModelsItem,
        NotFoundError,
        StreamAnalyzeResponse_StreamEnd,
        StreamAnalyzeResponse_TextGeneration,
        SyncResponseFormat,
        TwelveLabs,
        VideoContext_AssetId,
    )

    client = TwelveLabs(api_key=KEY, base_url=fake.base_url)
    video = make_video(5, name="sdk demo.mp4", directory=tmp_path)

    # Assets: direct upload, then retrieve until ready.
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

    # Multipart: the SDK's own uploader (create, presigned-urls, PUT, report), then status.
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

    # Multipart, by hand: create, list, more URLs, raw PUTs, report.
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

    # Indexes.
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

    # Async analysis.
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

    # Deleting an asset (forced: an index uses it).
    client.assets.delete(asset_id, force=True)
    with pytest.raises(NotFoundError):
        client.assets.retrieve(asset_id)


# ---------------------------------------------------------------------- assets


def test_direct_upload_reports_duration_and_differs_per_video(
    api: httpx.Client, fake: FakeTwelveLabs, tmp_path: Path
) -> None:
    first = upload(api, make_video(5, name="alpha.mp4"))
    second = upload(api, make_video(6, name="alpha.mp4", directory=tmp_path))
    assert wait_asset(api, first)["duration"] == pytest.approx(5.0)
    assert wait_asset(api, second)["duration"] == pytest.approx(6.0)
    titles = []
    for asset_id in (first, second):
        task = api.post("/analyze/tasks", json=analysis(asset_id)).json()["task_id"]
        titles.append(json.loads(wait_task(api, task)["result"]["data"])["title"])
    assert titles[0] != titles[1] and all(t.startswith("Alpha — ") for t in titles)
    body = fake.calls[0].body
    assert body["method"] == "direct" and body["file"] == make_video(5).stat().st_size
    assert fake.calls[0].headers["x-api-key"] == "[redacted]"


@pytest.mark.parametrize(
    "content",
    [b"", b"just some text, not a video\n" * 10, b"<!doctype html><html></html>", os.urandom(4096)],
    ids=["empty", "text", "html", "random"],
)
def test_non_video_upload_fails(api: httpx.Client, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "thing.mp4"
    path.write_bytes(content)
    asset = wait_asset(api, upload(api, path))
    assert asset["status"] == "failed"
    assert "not a valid video" in asset["error"]["message"]
    assert "duration" not in asset


def test_webm_is_accepted_with_nominal_duration(api: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "clip.webm"
    path.write_bytes(b"\x1a\x45\xdf\xa3" + os.urandom(2000))
    asset = wait_asset(api, upload(api, path))
    assert asset["status"] == "ready" and asset["duration"] == 10.0
    assert asset["file_type"] == "video/webm"


def test_direct_upload_limit(api: httpx.Client, fake: FakeTwelveLabs) -> None:
    fake.direct_upload_limit = 10_000
    with make_video(5).open("rb") as f:
        response = api.post("/assets", data={"method": "direct"}, files={"file": f})
    assert response.status_code == 400
    assert response.json()["code"] == "video_filesize_too_large"
    assert not fake.assets


def test_asset_validation_errors(api: httpx.Client) -> None:
    assert api.post("/assets", json={"method": "direct"}).status_code == 400
    missing = api.post("/assets", files={"method": (None, "url")})
    assert missing.status_code == 400 and missing.json()["code"] == "parameter_not_provided"
    bad = api.post("/assets", files={"method": (None, "url"), "url": (None, "ftp://x/y.mp4")})
    assert bad.json() == {"code": "parameter_invalid", "message": "The url parameter is invalid."}
    unknown = api.get("/assets/nope")
    assert unknown.status_code == 404 and unknown.json()["code"] == "resource_not_exist"


async def test_url_assets_are_fetched_like_the_platform_would(fake: FakeTwelveLabs) -> None:
    video = make_video(5)
    app = web.Application()

    async def ok(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(video)

    async def html(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html><body>A video page</body></html>", content_type="text/html")

    async def moved(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/files/clip.mp4")

    app.router.add_get("/files/clip.mp4", ok)
    app.router.add_get("/watch", html)
    app.router.add_get("/share/abc", moved)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with httpx.AsyncClient(base_url=str(fake.base_url), headers={"x-api-key": KEY}) as c:

            async def create(url: str) -> dict[str, Any]:
                r = await c.post("/assets", files={"method": (None, "url"), "url": (None, url)})
                assert r.status_code == 201, r.text
                asset_id = r.json()["_id"]
                for _ in range(250):
                    body: dict[str, Any] = (await c.get(f"/assets/{asset_id}")).json()
                    if body["status"] != "processing":
                        return body
                    await asyncio.sleep(0.02)
                raise AssertionError("asset never settled")

            base = str(server.make_url("")).rstrip("/")
            good, redirected, page, missing, dead = await asyncio.gather(
                create(f"{base}/files/clip.mp4"),
                create(f"{base}/share/abc"),
                create(f"{base}/watch"),
                create(f"{base}/nothing.mp4"),
                create("http://127.0.0.1:9/unreachable.mp4"),
            )
    finally:
        await server.close()
    assert good["status"] == "ready" and good["duration"] == pytest.approx(5.0)
    assert good["filename"] == "clip.mp4" and good["method"] == "url"
    assert redirected["status"] == "ready"
    assert page["status"] == "failed" and "not a valid video" in page["error"]["message"]
    assert missing["status"] == "failed" and "404" in missing["error"]["message"]
    assert dead["status"] == "failed" and "could not access" in dead["error"]["message"]


# ---------------------------------------------------------------------- multipart uploads


def test_multipart_with_small_chunks(
    api: httpx.Client, fake: FakeTwelveLabs, tmp_path: Path
) -> None:
    fake.multipart_chunk_size = 64 * 1024
    fake.initial_upload_urls = 1
    path = make_padded_video(tmp_path / "long.mp4", 300_000)
    data = path.read_bytes()
    created = api.post(
        "/assets/multipart-uploads",
        json={"filename": "long.mp4", "type": "video", "total_size": len(data)},
    )
    assert created.status_code == 201
    session = created.json()
    assert session["chunk_size"] == 65536 and session["total_chunks"] == 5
    assert [u["chunk_index"] for u in session["upload_urls"]] == [1]
    more = api.post(
        f"/assets/multipart-uploads/{session['upload_id']}/presigned-urls",
        json={"start": 2, "count": 50},
    ).json()
    assert more["count"] == 4 and more["start_index"] == 2
    urls = {u["chunk_index"]: u["url"] for u in session["upload_urls"] + more["upload_urls"]}
    assert fake.assets[session["asset_id"]].status == "processing"

    etags = {}
    for index in (5, 3, 1, 2, 4):  # any order
        piece = data[(index - 1) * 65536 : index * 65536]
        put = httpx.put(urls[index], content=piece)
        assert put.status_code == 200
        etags[index] = put.headers["ETag"]
        assert etags[index] == f'"{hashlib.md5(piece).hexdigest()}"'
        reused = httpx.put(urls[index], content=piece)
        assert reused.status_code == 403  # each URL works once

    def report(*indexes: int) -> dict[str, Any]:
        chunks = [
            {
                "chunk_index": i,
                "proof": etags[i].strip('"'),
                "proof_type": "etag",
                "chunk_size": len(data[(i - 1) * 65536 : i * 65536]),
            }
            for i in indexes
        ]
        r = api.post(
            f"/assets/multipart-uploads/{session['upload_id']}", json={"completed_chunks": chunks}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    first = report(1, 2, 2)
    assert (first["processed_chunks"], first["duplicate_chunks"], first["total_completed"]) == (
        2,
        1,
        2,
    )
    assert "url" not in first
    status = api.get(
        f"/assets/multipart-uploads/{session['upload_id']}", params={"page": 1, "page_limit": 3}
    ).json()
    assert status["status"] == "active" and status["chunks_completed"] == 2
    assert [c["status"] for c in status["uploaded_chunks"]] == ["completed", "completed", "pending"]
    assert status["page_info"]["total_page"] == 2
    wrong = api.post(
        f"/assets/multipart-uploads/{session['upload_id']}",
        json={
            "completed_chunks": [
                {"chunk_index": 3, "proof": "0" * 32, "proof_type": "etag", "chunk_size": 65536}
            ]
        },
    )
    assert wrong.status_code == 400

    last = report(3, 4, 5, 1)
    assert last["total_completed"] == 5 and last["duplicate_chunks"] == 1 and last["url"]
    done = api.get(f"/assets/multipart-uploads/{session['upload_id']}").json()
    assert done["status"] == "completed" and done["uploaded_size"] == len(data)
    asset = wait_asset(api, session["asset_id"])
    assert asset["status"] == "ready" and asset["size"] == len(data)
    assert asset["duration"] == pytest.approx(5.0)
    assert fake.assets[session["asset_id"]].sha256 == hashlib.sha256(data).hexdigest()


def test_chunk_urls_expire_and_sizes_are_checked(api: httpx.Client, fake: FakeTwelveLabs) -> None:
    fake.multipart_chunk_size = 1000
    fake.presigned_url_ttl_s = 0.2
    session = api.post(
        "/assets/multipart-uploads",
        json={"filename": "x.mp4", "type": "video", "total_size": 2500},
    ).json()
    urls = {u["chunk_index"]: u["url"] for u in session["upload_urls"]}
    assert sorted(urls) == [1, 2, 3]
    short = httpx.put(urls[1], content=b"x" * 999)
    assert short.status_code == 400
    assert httpx.put(urls[3], content=b"x" * 500).status_code == 200  # the last may be shorter
    tampered = urls[2].replace("sig=", "sig=x")
    assert httpx.put(tampered, content=b"x" * 1000).status_code == 403
    time.sleep(0.3)
    expired = httpx.put(urls[1], content=b"x" * 1000)
    assert expired.status_code == 403 and b"expired" in expired.content
    fake.presigned_url_ttl_s = 3600
    fresh = api.post(
        f"/assets/multipart-uploads/{session['upload_id']}/presigned-urls",
        json={"start": 1, "count": 2},
    ).json()["upload_urls"]
    fake.add_fault(Fault(method="PUT", path="/_upload", kind="503"))
    assert httpx.put(fresh[0]["url"], content=b"x" * 1000).status_code == 503
    assert httpx.put(fresh[0]["url"], content=b"x" * 1000).status_code == 200
    too_many = api.post(
        f"/assets/multipart-uploads/{session['upload_id']}/presigned-urls",
        json={"start": 1, "count": 51},
    )
    assert too_many.status_code == 400
    assert fake.count("PUT", "/_upload") == 6


# ---------------------------------------------------------------------- indexes


def test_indexes_and_indexed_assets(api: httpx.Client, fake: FakeTwelveLabs) -> None:
    models = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]
    ids = []
    for name in ("team-a", "team-a-archive", "team-b"):
        r = api.post("/indexes", json={"index_name": name, "models": models})
        assert r.status_code == 201 and set(r.json()) == {"_id"}
        ids.append(r.json()["_id"])
    duplicate = api.post("/indexes", json={"index_name": "team-a", "models": models})
    assert duplicate.status_code == 400
    assert duplicate.json()["code"] == "index_name_already_exists"
    for legacy in ("pegasus1.2", "marengo2.7"):
        r = api.post(
            "/indexes",
            json={
                "index_name": legacy,
                "models": [{"model_name": legacy, "model_options": ["visual"]}],
            },
        )
        assert r.status_code == 400 and r.json()["code"] == "parameter_invalid"

    listed = api.get("/indexes", params={"index_name": "team-a"}).json()
    assert {i["index_name"] for i in listed["data"]} == {"team-a", "team-a-archive"}
    page = api.get("/indexes", params={"page_limit": 2, "page": 2}).json()
    assert page["page_info"] == {
        "limit_per_page": 2,
        "page": 2,
        "total_page": 2,
        "total_results": 3,
    }
    assert [i["_id"] for i in page["data"]] == [ids[0]]  # newest first
    assert api.get("/indexes", params={"page": 3, "page_limit": 2}).json()["data"] == []
    assert api.get(f"/indexes/{ids[2]}").json()["index_name"] == "team-b"
    assert api.get("/indexes/nope").status_code == 404

    asset_id = upload(api, make_video(5))
    early = api.post(f"/indexes/{ids[0]}/indexed-assets", json={"asset_id": asset_id})
    assert early.status_code == 400  # the asset must be ready first
    wait_asset(api, asset_id)
    created = api.post(f"/indexes/{ids[0]}/indexed-assets", json={"asset_id": asset_id})
    assert created.status_code == 202
    item_id = created.json()["_id"]
    assert created.json()["asset_id"] == asset_id
    seen = {api.get(f"/indexes/{ids[0]}/indexed-assets/{item_id}").json()["status"]}

    def ready() -> bool:
        status = api.get(f"/indexes/{ids[0]}/indexed-assets/{item_id}").json()["status"]
        seen.add(status)
        return bool(status == "ready")

    wait_for(ready)
    assert seen <= {"pending", "queued", "indexing", "ready"} and "pending" in seen
    index = api.get(f"/indexes/{ids[0]}").json()
    assert index["video_count"] == 1 and index["total_duration"] == pytest.approx(5.0)
    other = api.get(f"/indexes/{ids[1]}/indexed-assets/{item_id}")
    assert other.status_code == 404


# ---------------------------------------------------------------------- analysis


def test_task_lifecycle_and_short_video(api: httpx.Client, fake: FakeTwelveLabs) -> None:
    fake.asset_processing_s = fake.task_processing_s = 0.3  # long enough to see each status
    asset_id = upload(api, make_video(5))
    short_id = upload(api, make_video(2))
    processing = api.post("/analyze/tasks", json=analysis(asset_id))
    assert processing.status_code == 400  # still processing
    assert processing.json()["error"]["code"] == "video_not_ready"
    wait_asset(api, asset_id)
    assert wait_asset(api, short_id)["duration"] == pytest.approx(2.0)

    created = api.post("/analyze/tasks", json=analysis(asset_id, custom_id="job-1"))
    assert created.status_code == 202
    assert created.json()["status"] == "queued"
    task_id = created.json()["task_id"]
    statuses: list[str] = []
    while (status := api.get(f"/analyze/tasks/{task_id}").json()["status"]) not in ("ready",):
        if not statuses or statuses[-1] != status:
            statuses.append(status)
        time.sleep(0.01)
    assert statuses == ["queued", "pending", "processing"]
    task = api.get(f"/analyze/tasks/{task_id}").json()
    assert task["custom_id"] == "job-1" and task["completed_at"]
    assert task["video_source"] == {
        "type": "asset_id",
        "asset_id": asset_id,
        "system_metadata": {"duration": 5.0},
    }
    assert task_id in fake.mark_task_ready_at

    failed = wait_task(api, api.post("/analyze/tasks", json=analysis(short_id)).json()["task_id"])
    assert failed["status"] == "failed" and "result" not in failed
    assert "too short" in failed["error"]["message"]

    missing = api.get("/analyze/tasks/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_not_exist"


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "string", "minLength": 1},
        {"type": "string", "maxLength": 100},
        {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        {"type": "array", "items": {"type": "string"}, "minItems": 2},
        {"type": "object", "properties": {}, "additionalProperties": False},
    ],
    ids=["minLength", "maxLength", "maxItems", "uniqueItems", "minItems2", "additionalProperties"],
)
def test_forbidden_schema_keywords_are_422(
    api: httpx.Client, fake: FakeTwelveLabs, bad: dict[str, Any]
) -> None:
    asset_id = upload(api, make_video(5))
    wait_asset(api, asset_id)
    schema = {"type": "object", "properties": {"title": {"type": "string"}, "deep": bad}}
    r = api.post("/analyze/tasks", json=analysis(asset_id, schema))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "parameter_invalid"
    sync = api.post("/analyze", json={**analysis(asset_id, schema), "stream": False})
    assert sync.status_code == 422 and "code" in sync.json()
    assert not fake.tasks


def test_analysis_request_validation(api: httpx.Client) -> None:
    asset_id = upload(api, make_video(5))
    wait_asset(api, asset_id)
    cases: list[tuple[dict[str, Any], int]] = [
        ({**analysis(asset_id), "model_name": "pegasus1.2"}, 400),
        ({**analysis(asset_id), "video": {"type": "asset_id"}}, 400),
        (
            {**analysis(asset_id), "video": {"type": "asset_id", "asset_id": asset_id, "url": "x"}},
            400,
        ),
        ({**analysis(asset_id), "video": {"type": "asset_id", "asset_id": "nope"}}, 400),
        ({**analysis(asset_id), "max_tokens": 100}, 400),
        ({k: v for k, v in analysis(asset_id).items() if k != "video"}, 400),
        ({**analysis(asset_id), "model_name": "pegasus1.6"}, 202),
    ]
    for body, status in cases:
        r = api.post("/analyze/tasks", json=body)
        assert r.status_code == status, (body, r.text)
        if status == 400:
            assert set(r.json()) == {"error"} and r.json()["error"]["message"]


def test_idempotency_key_returns_the_same_task(api: httpx.Client, fake: FakeTwelveLabs) -> None:
    asset_id = upload(api, make_video(5))
    wait_asset(api, asset_id)
    headers = {"Idempotency-Key": "gist-123"}
    first = api.post("/analyze/tasks", json=analysis(asset_id), headers=headers).json()
    again = api.post("/analyze/tasks", json=analysis(asset_id), headers=headers).json()
    other = api.post(
        "/analyze/tasks", json=analysis(asset_id), headers={"Idempotency-Key": "gist-456"}
    ).json()
    assert first["task_id"] == again["task_id"] != other["task_id"]
    assert len(fake.tasks) == 2 and fake.count("POST", "/analyze/tasks") == 3
    assert fake.calls[-1].headers["idempotency-key"] == "gist-456"


def test_error_after_carries_out_every_create(api: httpx.Client, fake: FakeTwelveLabs) -> None:
    for status in (500, 502, 503):
        fake.add_fault(Fault(method="*", path="*", kind="error-after", status=status))
        with make_video(5).open("rb") as f:
            r = api.post("/assets", data={"method": "direct"}, files={"file": ("c.mp4", f)})
        assert r.status_code == status
    assert len(fake.assets) == 3 and [c.status for c in fake.calls] == [500, 502, 503]
    fake.add_fault(Fault(method="POST", path="/assets/multipart-uploads", kind="error-after"))
    r = api.post(
        "/assets/multipart-uploads", json={"filename": "b.mp4", "type": "video", "total_size": 9}
    )
    assert r.status_code == 502 and len(fake.uploads) == 1


def test_task_listing_filters(api: httpx.Client, fake: FakeTwelveLabs) -> None:
    first, second = upload(api, make_video(5)), upload(api, make_video(6))
    wait_asset(api, first)
    wait_asset(api, second)
    ids = [
        api.post("/analyze/tasks", json=analysis(a, custom_id=f"c{n}")).json()["task_id"]
        for n, a in enumerate((first, first, second))
    ]
    listed = api.get("/analyze/tasks", params={"asset_id": first}).json()
    assert [t["task_id"] for t in listed["data"]] == [ids[1], ids[0]]  # newest first
    assert [t["custom_id"] for t in listed["data"]] == ["c1", "c0"]
    assert listed["page_info"]["total_results"] == 2
    assert len(api.get("/analyze/tasks").json()["data"]) == 3
    page = api.get("/analyze/tasks", params={"page_limit": 1, "page": 3}).json()
    assert [t["task_id"] for t in page["data"]] == [ids[0]]
    assert api.get("/analyze/tasks", params={"status": "failed"}).json()["data"] == []
    assert api.get("/analyze/tasks", params={"analysis_mode": "general"}).json()["data"]


def test_asset_indexes_listing_and_delete(api: httpx.Client, fake: FakeTwelveLabs) -> None:
    models = [{"model_name": "marengo3.0", "model_options": ["visual"]}]
    index_id = api.post("/indexes", json={"index_name": "i", "models": models}).json()["_id"]
    asset_id = upload(api, make_video(5))
    wait_asset(api, asset_id)
    assert api.get(f"/assets/{asset_id}/indexed-assets").json()["data"] == []
    item = api.post(f"/indexes/{index_id}/indexed-assets", json={"asset_id": asset_id}).json()
    listed = api.get(f"/assets/{asset_id}/indexed-assets").json()
    assert listed["data"] == [{"_id": item["_id"], "index": {"_id": index_id, "name": "i"}}]
    assert api.get("/assets/nope/indexed-assets").status_code == 404

    in_use = api.delete(f"/assets/{asset_id}")
    assert in_use.status_code == 409 and asset_id in fake.assets
    assert api.delete(f"/assets/{asset_id}", params={"force": "true"}).status_code == 200
    assert asset_id not in fake.assets and not fake.indexed_assets
    assert api.delete(f"/assets/{asset_id}").status_code == 404
    session = api.post(
        "/assets/multipart-uploads", json={"filename": "b.mp4", "type": "video", "total_size": 9}
    ).json()
    assert api.delete(f"/assets/{session['asset_id']}").status_code == 200
    assert fake.uploads[session["upload_id"]].status == "failed"  # its asset is gone


def test_result_follows_the_schema_and_the_knobs(api: httpx.Client, fake: FakeTwelveLabs) -> None:
    asset_id = upload(api, make_video(5, name="product launch.mp4"))
    wait_asset(api, asset_id)

    def run(schema: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        task_id = api.post("/analyze/tasks", json=analysis(asset_id, schema, **extra)).json()
        return dict(wait_task(api, task_id["task_id"])["result"])

    only_tags = {
        "type": "object",
        "properties": {"hashtags": GIST_SCHEMA["properties"]["hashtags"]},
    }
    tags = json.loads(run(only_tags)["data"])
    assert list(tags) == ["hashtags"] and "#productlaunch" in tags["hashtags"]
    generic = {
        "type": "object",
        "properties": {
            "score": {"type": "integer"},
            "ratio": {"type": "number"},
            "summary": {"type": "string"},
            "mood": {"type": "string", "enum": ["calm", "busy"]},
            "parts": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string"}}},
            },
        },
    }
    doc = json.loads(run(generic)["data"])
    assert isinstance(doc["score"], int) and isinstance(doc["ratio"], float)
    assert doc["mood"] in ("calm", "busy") and doc["parts"][0]["name"]

    fake.analysis_length_times = 1
    cut = run()
    assert cut["finish_reason"] == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut["data"])
    assert run()["finish_reason"] == "stop"

    fake.analysis_override = "{not json"
    assert run()["data"] == "{not json"
    fake.analysis_override = {"title": "Fixed"}
    assert json.loads(run()["data"]) == {"title": "Fixed"}
    fake.analysis_override = None
    fake.analysis_finish_reason = "length"
    assert run()["finish_reason"] == "length"


def test_sync_analyze_json_and_stream(api: httpx.Client, fake: FakeTwelveLabs) -> None:
    asset_id = upload(api, make_video(5))
    short_id = upload(api, make_video(2))
    wait_asset(api, asset_id)
    wait_asset(api, short_id)
    plain = api.post("/analyze", json={**analysis(asset_id), "stream": False})
    assert plain.status_code == 200
    body = plain.json()
    assert set(body) == {"id", "data", "finish_reason", "usage"}
    assert json.loads(body["data"])["title"]

    streamed = api.post("/analyze", json=analysis(asset_id))
    assert streamed.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in streamed.text.splitlines() if line]
    assert lines[0]["event_type"] == "stream_start" and lines[-1]["event_type"] == "stream_end"
    text = "".join(line["text"] for line in lines if line["event_type"] == "text_generation")
    assert json.loads(text) == json.loads(body["data"])

    short = api.post("/analyze", json={**analysis(short_id), "stream": False})
    assert short.status_code == 400 and short.json()["code"] == "video_duration_too_short"

    encoded = base64.b64encode(make_video(5).read_bytes()).decode()
    inline = api.post(
        "/analyze",
        json={
            **analysis(asset_id),
            "video": {"type": "base64_string", "base64_string": encoded},
            "stream": False,
        },
    )
    assert inline.status_code == 200


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
