"""`client.search` against the fake: the multipart request, the two result shapes, paging by
token, filters on user metadata, retries of the empty-body 429, and metadata updates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.twelvelabs import TwelveLabsClient, errors
from tests.fakes.twelvelabs import FakeTwelveLabs, Fault
from tests.twelvelabs.conftest import make_client


async def index_videos(
    client: TwelveLabsClient, video: Path, names: dict[str, dict[str, Any] | None]
) -> tuple[str, dict[str, str]]:
    """Upload `video` once per file name, index each with its metadata; (index id, name → id)."""
    index = await client.indexes.find_or_create("search-test")
    ids: dict[str, str] = {}
    for name, metadata in names.items():
        asset = await client.assets.upload(video, filename=name)
        await client.assets.wait(asset.id, timeout_s=10)
        ref = await client.indexes.indexed_assets.create(index.id, asset.id, user_metadata=metadata)
        await client.indexes.indexed_assets.wait(index.id, ref.id, timeout_s=10)
        ids[name] = ref.id
    return index.id, ids


async def test_query_sends_the_documented_form_and_reads_videos(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    index_id, ids = await index_videos(
        client,
        video,
        {"onboarding-flow.mp4": {"team": "T1"}, "quarterly-review.mp4": {"team": "T1"}},
    )
    page = await client.search.query(index_id, "the new onboarding flow", filter={"team": "T1"})
    [search] = [c for c in fake.calls if c.template == "/search"]
    assert search.method == "POST"
    assert search.body["search_options"] == ["visual", "audio", "transcription"]
    assert search.body["group_by"] == "video" and search.body["include_user_metadata"] == "true"
    assert search.body["filter"] == '{"team": "T1"}'
    [match] = page.videos()
    assert match.video_id == ids["onboarding-flow.mp4"]
    assert match.rank == 1 and match.user_metadata == {"team": "T1"}
    assert [c.rank for c in match.clips] == sorted(c.rank or 0 for c in match.clips)
    assert all(c.start is not None and c.end is not None and c.end > c.start for c in match.clips)
    assert any(c.transcription and "onboarding" in c.transcription for c in match.clips)
    assert match.clips[0].thumbnail_url  # the index was made with the thumbnail addon
    assert page.search_pool is not None and page.search_pool.total_count == 2


async def test_clip_results_are_grouped_by_video_here(
    client: TwelveLabsClient, video: Path
) -> None:
    index_id, ids = await index_videos(
        client, video, {"onboarding-flow.mp4": None, "onboarding-tips.mp4": None}
    )
    page = await client.search.query(index_id, "onboarding flow", group_by="clip")
    assert {c.video_id for c in page.data} == set(ids.values())
    videos = page.videos()
    assert [v.video_id for v in videos] == [ids["onboarding-flow.mp4"], ids["onboarding-tips.mp4"]]
    assert videos[0].rank < videos[1].rank  # two words beat one


async def test_paging_by_token_and_an_expired_token(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    names: dict[str, dict[str, Any] | None] = {f"demo-{n}.mp4": None for n in "abc"}
    index_id, ids = await index_videos(client, video, names)
    pages = [p async for p in client.search.pages(index_id, "demo", page_limit=1, max_pages=5)]
    assert [len(p.videos()) for p in pages] == [1, 1, 1]
    assert {p.videos()[0].video_id for p in pages} == set(ids.values())
    assert fake.count("POST", "/search") == 1 and fake.count("GET", "/search/{token}") == 2
    first = await client.search.query(index_id, "demo", page_limit=1)
    assert first.next_page_token
    fake.search.expire_pages()
    with pytest.raises(errors.BadRequestError) as info:
        await client.search.retrieve(first.next_page_token)
    assert info.value.code == "search_page_token_expired" and not info.value.transient


async def test_empty_body_429_is_retried(fake: FakeTwelveLabs, video: Path) -> None:
    async with make_client(fake) as client:
        index_id, _ = await index_videos(client, video, {"demo.mp4": None})
        fake.add_fault(Fault(method="POST", path="/search", kind="429-empty", times=2))
        page = await client.search.query(index_id, "demo")
        assert client.stats.retries[("POST", "/search")] == 2
    assert len(page.videos()) == 1
    assert fake.count("POST", "/search") == 3


async def test_429_after_retries_is_a_transient_rate_limit(
    fake: FakeTwelveLabs, video: Path
) -> None:
    async with make_client(fake, max_retries=1) as client:
        index_id, _ = await index_videos(client, video, {"demo.mp4": None})
        fake.add_fault(Fault(method="POST", path="/search", kind="429-empty", times=5))
        with pytest.raises(errors.RateLimitedError) as info:
            await client.search.query(index_id, "demo")
    assert info.value.transient and info.value.status_code == 429


async def test_unknown_index_is_not_found_not_a_bad_base_url(client: TwelveLabsClient) -> None:
    with pytest.raises(errors.NotFoundError) as info:
        await client.search.query("0" * 24, "demo")
    assert not isinstance(info.value, errors.ConfigurationError)


async def test_update_metadata_merges_and_filters_find_it(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    index_id, ids = await index_videos(client, video, {"demo.mp4": {"keep": "yes", "drop": "x"}})
    await client.indexes.indexed_assets.update_metadata(
        index_id, ids["demo.mp4"], {"team": "T9", "drop": None}
    )
    assert fake.indexed_assets[ids["demo.mp4"]].user_metadata == {"keep": "yes", "team": "T9"}
    assert (await client.search.query(index_id, "demo", filter={"team": "T9"})).videos()
    assert not (await client.search.query(index_id, "demo", filter={"team": "T1"})).videos()


async def test_bad_arguments_are_refused_before_sending(fake: FakeTwelveLabs) -> None:
    async with make_client(fake) as client:
        with pytest.raises(ValueError, match="page_limit"):
            await client.search.query("i", "q", page_limit=51)
        with pytest.raises(ValueError, match="search option"):
            await client.search.query("i", "q", search_options=())
    assert fake.calls == []
