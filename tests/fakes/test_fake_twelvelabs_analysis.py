"""The fake TwelveLabs server's analysis: tasks, validation, results and sync analyze."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from tests.fakes.tl_helpers import (
    GIST_SCHEMA,
    analysis,
    upload,
    wait_asset,
    wait_task,
)
from tests.fakes.twelvelabs import FakeTwelveLabs, Fault
from tests.videos import make_video

# ---------------------------------------------------------------------- analysis


def test_task_lifecycle_and_short_video(api: httpx.Client, fake: FakeTwelveLabs) -> None:
    fake.asset_processing_s = 0.3
    fake.task_processing_s = 1.2  # each status lasts ≥ 0.3 s: seen even on a loaded machine
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
