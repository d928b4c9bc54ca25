"""The fake's search on the wire: the official SDK's `client.search.query` (and its pager) works
against it; required fields, filters, `group_by`, `page_limit`, paging, expired tokens, the
empty-body 429 and metadata updates behave as the API's definition says."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.fakes.twelvelabs import FakeTwelveLabs, Fault
from tests.videos import make_video

KEY = "tl-test-key"


def _ready(api: httpx.Client, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        doc: dict[str, Any] = api.get(path).json()
        if doc["status"] == "ready":
            return doc
        time.sleep(0.02)
    raise AssertionError(f"{path} never got ready")


def indexed(
    api: httpx.Client, names: dict[str, dict[str, Any] | None], *, addons: list[str] | None = None
) -> tuple[str, dict[str, str]]:
    """An index holding one ready video per name (same bytes, different names)."""
    video = make_video(5.0)
    spec = {
        "index_name": "search",
        "models": [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}],
    }
    if addons is not None:
        spec["addons"] = addons
    index_id = api.post("/indexes", json=spec).json()["_id"]
    ids: dict[str, str] = {}
    for name, metadata in names.items():
        with video.open("rb") as f:
            asset = api.post(
                "/assets", data={"method": "direct"}, files={"file": (name, f, "video/mp4")}
            ).json()["_id"]
        _ready(api, f"/assets/{asset}")
        body: dict[str, Any] = {"asset_id": asset}
        if metadata is not None:
            body["user_metadata"] = metadata
        item = api.post(f"/indexes/{index_id}/indexed-assets", json=body).json()["_id"]
        _ready(api, f"/indexes/{index_id}/indexed-assets/{item}")
        ids[name] = item
    return index_id, ids


def search(api: httpx.Client, **fields: Any) -> httpx.Response:
    """POST /search as multipart/form-data; a list value is sent once per item."""
    parts = [
        (name, (None, str(v)))
        for name, value in fields.items()
        for v in (value if isinstance(value, list) else [value])
    ]
    return api.post("/search", files=parts)


def test_official_sdk_search_query_and_its_pager(fake: FakeTwelveLabs, api: httpx.Client) -> None:
    from twelvelabs import TwelveLabs

    index_id, ids = indexed(
        api,
        {f"launch-{n}.mp4": {"team": "T1", "n": i} for i, n in enumerate("abc")}
        | {"other.mp4": {"team": "T2"}},
    )
    client = TwelveLabs(api_key=KEY, base_url=fake.base_url)
    pager = client.search.query(
        index_id=index_id,
        query_text="product launch",
        search_options=["visual", "transcription"],
        group_by="video",
        page_limit=2,
        filter=json.dumps({"team": "T1"}),
        include_user_metadata=True,
    )
    found = [item.id for item in pager]  # the pager follows next_page_token
    assert sorted(found) == sorted(ids[f"launch-{n}.mp4"] for n in "abc")
    assert fake.count("POST", "/search") == 1 and fake.count("GET", "/search/{token}") == 1
    first = client.search.create(
        index_id=index_id, search_options=["visual"], query_text="launch", page_limit=50
    )
    assert first.data is not None and all(item.rank for item in first.data)  # clips, ranked
    assert first.search_pool is not None and first.search_pool.total_count == 4


def test_required_fields_and_bad_values(api: httpx.Client) -> None:
    index_id, _ = indexed(api, {"demo.mp4": None})
    good = {"index_id": index_id, "search_options": "visual", "query_text": "demo"}
    missing = "parameter_not_provided"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"index_id": None}, 400, missing),
        ({"search_options": None}, 400, missing),
        ({"query_text": None}, 400, missing),
        ({"search_options": "smell"}, 400, "search_option_not_supported"),
        ({"transcription_options": "lexical"}, 400, "search_option_combination_not_supported"),
        ({"page_limit": "51"}, 400, "parameter_invalid"),
        ({"group_by": "scene"}, 400, "parameter_invalid"),
        ({"filter": "{not json"}, 400, "search_filter_invalid"),
        ({"filter": '{"team": ["a", "b"]}'}, 400, "search_filter_invalid"),
        ({"query_text": "word " * 501}, 400, "parameter_invalid"),
        ({"index_id": "0" * 24}, 404, "resource_not_exist"),
    ]
    for changes, status, code in cases:
        fields = {k: v for k, v in (good | changes).items() if v is not None}
        response = search(api, **fields)
        assert (response.status_code, response.json()["code"]) == (status, code), changes
    as_json = api.post("/search", json={"index_id": index_id, "search_options": ["visual"]})
    assert as_json.status_code == 400 and "multipart" in as_json.json()["message"]


def test_an_index_without_audio_has_no_transcription_search(api: httpx.Client) -> None:
    spec = {
        "index_name": "visual-only",
        "models": [{"model_name": "marengo3.0", "model_options": ["visual"]}],
    }
    index_id = api.post("/indexes", json=spec).json()["_id"]
    response = search(api, index_id=index_id, search_options="transcription", query_text="x")
    assert response.json()["code"] == "search_option_not_supported"


def test_results_follow_the_videos_words(api: httpx.Client) -> None:
    index_id, ids = indexed(
        api, {"onboarding-flow.mp4": None, "onboarding.mp4": None, "budget.mp4": None}
    )
    body = search(
        api,
        index_id=index_id,
        search_options=["visual", "transcription"],
        query_text="Which video showed the new onboarding flow?",
        group_by="video",
    ).json()
    assert [v["id"] for v in body["data"]] == [ids["onboarding-flow.mp4"], ids["onboarding.mp4"]]
    clip = body["data"][0]["clips"][0]
    assert clip["rank"] == 1 and 0 <= clip["start"] < clip["end"] <= 5.0
    spoken = [c for c in body["data"][0]["clips"] if "transcription" in c]
    assert spoken and "onboarding" in spoken[0]["transcription"]
    assert "thumbnail_url" not in clip  # no thumbnail addon on this index
    visual_only = search(
        api, index_id=index_id, search_options="visual", query_text="onboarding"
    ).json()
    assert all("transcription" not in c for c in visual_only["data"])
    nothing = search(api, index_id=index_id, search_options="visual", query_text="zebra").json()
    assert nothing["data"] == [] and nothing["search_pool"]["total_count"] == 3


def test_only_ready_videos_are_searched(fake: FakeTwelveLabs, api: httpx.Client) -> None:
    index_id, ids = indexed(api, {"demo.mp4": None})
    fake.indexed_assets[ids["demo.mp4"]].status = "indexing"
    body = search(api, index_id=index_id, search_options="visual", query_text="demo").json()
    assert body["data"] == [] and body["search_pool"]["total_count"] == 0


def test_filters_on_system_fields_and_user_metadata(api: httpx.Client) -> None:
    index_id, ids = indexed(
        api,
        {
            "demo-a.mp4": {"team": "T1", "channel": "C1", "reviewed": True, "n": 3},
            "demo-b.mp4": {"team": "T1", "channel": "C2", "reviewed": False, "n": 7},
            "demo-c.mp4": {"team": "T2", "channel": "C1"},
        },
    )

    def found(condition: dict[str, Any]) -> set[str]:
        body = search(
            api,
            index_id=index_id,
            search_options="visual",
            query_text="demo",
            group_by="video",
            filter=json.dumps(condition),
        ).json()
        return {v["id"] for v in body["data"]}

    assert found({"team": "T1"}) == {ids["demo-a.mp4"], ids["demo-b.mp4"]}
    assert found({"team": "T1", "channel": "C1"}) == {ids["demo-a.mp4"]}
    assert found({"reviewed": True}) == {ids["demo-a.mp4"]}
    assert found({"n": {"gte": 5}}) == {ids["demo-b.mp4"]}
    assert found({"id": [ids["demo-c.mp4"]]}) == {ids["demo-c.mp4"]}
    assert found({"filename": "demo-b.mp4"}) == {ids["demo-b.mp4"]}
    assert found({"duration": {"gte": 4, "lte": 6}}) == set(ids.values())
    assert found({"duration": {"gte": 60}}) == set()


def test_user_metadata_only_when_asked(api: httpx.Client) -> None:
    index_id, _ = indexed(api, {"demo.mp4": {"team": "T1"}})
    fields = {"index_id": index_id, "search_options": "visual", "query_text": "demo"}
    assert "user_metadata" not in search(api, **fields).json()["data"][0]
    shown = search(api, **fields, include_user_metadata="true", group_by="video").json()
    assert shown["data"][0]["user_metadata"] == {"team": "T1"}
    assert shown["data"][0]["clips"][0]["user_metadata"] == {"team": "T1"}


def test_paging_tokens_and_expiry(fake: FakeTwelveLabs, api: httpx.Client) -> None:
    index_id, ids = indexed(api, {f"demo-{n}.mp4": None for n in "abc"}, addons=["thumbnail"])
    first = search(
        api,
        index_id=index_id,
        search_options="visual",
        query_text="demo",
        group_by="video",
        page_limit=2,
    ).json()
    info = first["page_info"]
    assert len(first["data"]) == 2 and info["total_results"] == 3 and info["next_page_token"]
    assert first["data"][0]["clips"][0]["thumbnail_url"].endswith(".png")
    second = api.get(f"/search/{info['next_page_token']}").json()
    assert len(second["data"]) == 1 and "next_page_token" not in second["page_info"]
    seen = {v["id"] for v in first["data"] + second["data"]}
    assert seen == set(ids.values())
    again = api.get(f"/search/{info['next_page_token']}")  # a token can be read again
    assert again.json()["data"] == second["data"]
    fake.search.expire_pages()
    expired = api.get(f"/search/{info['next_page_token']}")
    assert expired.status_code == 400
    assert expired.json() == {
        "error_code": "search_page_token_expired",
        "message": "The page token has expired. Run the search again.",
    }


def test_empty_body_429(fake: FakeTwelveLabs, api: httpx.Client) -> None:
    index_id, _ = indexed(api, {"demo.mp4": None})
    fake.add_fault(Fault(method="POST", path="/search", kind="429-empty"))
    limited = search(api, index_id=index_id, search_options="visual", query_text="demo")
    assert limited.status_code == 429 and limited.content == b""
    after = search(api, index_id=index_id, search_options="visual", query_text="x")
    assert after.status_code == 200


def test_patch_indexed_asset_metadata(fake: FakeTwelveLabs, api: httpx.Client) -> None:
    index_id, ids = indexed(api, {"demo.mp4": {"a": "1", "b": "2"}})
    path = f"/indexes/{index_id}/indexed-assets/{ids['demo.mp4']}"
    assert api.patch(path, json={"user_metadata": {"b": None, "c": 3}}).status_code == 204
    assert api.get(path).json()["user_metadata"] == {"a": "1", "c": 3}
    assert api.patch(path, json={"user_metadata": {"x": {"nested": 1}}}).status_code == 400
    assert api.patch(f"/indexes/{index_id}/indexed-assets/nope", json={}).status_code == 404


def test_search_state_is_reset(fake: FakeTwelveLabs, api: httpx.Client) -> None:
    index_id, _ = indexed(api, {"demo-a.mp4": None, "demo-b.mp4": None})
    first = search(
        api, index_id=index_id, search_options="visual", query_text="demo", page_limit=1
    ).json()
    fake.reset()
    assert fake.search.searches == []
    assert api.get(f"/search/{first['page_info']['next_page_token']}").status_code == 400
