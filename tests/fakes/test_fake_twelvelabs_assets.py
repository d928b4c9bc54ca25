"""The fake TwelveLabs server's assets, multipart uploads and indexes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fakes.tl_helpers import (
    KEY,
    analysis,
    upload,
    wait_asset,
    wait_for,
    wait_task,
)
from tests.fakes.twelvelabs import FakeTwelveLabs, Fault
from tests.videos import make_padded_video, make_video

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
