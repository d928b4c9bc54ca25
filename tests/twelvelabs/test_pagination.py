"""Every listing pages through one loop: 50 a page, stops at `total_page`, reads no more than
it needs, and never more than its cap."""

from __future__ import annotations

import random
from pathlib import Path

import httpx

from bot.twelvelabs import TwelveLabsClient, models
from bot.twelvelabs.pagination import PAGE_LIMIT, paginate
from bot.twelvelabs.retry import RetryPolicy
from bot.twelvelabs.session import ApiSession
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.twelvelabs.conftest import API_KEY, make_client
from tests.videos import make_padded_video

SESSION = "/assets/multipart-uploads/{id}"


async def _make_indexes(client: TwelveLabsClient, count: int) -> list[str]:
    return [(await client.indexes.find_or_create(f"ix-{n:03d}")).id for n in range(count)]


def _pages_read(fake: FakeTwelveLabs, template: str) -> list[tuple[str, str]]:
    return [
        (c.query.get("page", ""), c.query.get("page_limit", ""))
        for c in fake.calls
        if c.method == "GET" and c.template == template
    ]


async def test_a_listing_reads_every_page_then_stops(
    client: TwelveLabsClient, fake: FakeTwelveLabs
) -> None:
    made = await _make_indexes(client, PAGE_LIMIT + 3)
    fake.calls.clear()
    listed = await client.indexes.list().to_list()
    assert sorted(i.id for i in listed) == sorted(made)
    assert _pages_read(fake, "/indexes") == [("1", "50"), ("2", "50")]  # total_page is 2
    fake.calls.clear()
    seen = [index.id async for index in client.indexes.list()]
    assert seen == [i.id for i in listed]  # iterating again starts again from page 1
    assert _pages_read(fake, "/indexes") == [("1", "50"), ("2", "50")]


async def test_find_reads_no_further_than_its_match(
    client: TwelveLabsClient, fake: FakeTwelveLabs
) -> None:
    await _make_indexes(client, PAGE_LIMIT + 3)
    first = (await client.indexes.list().to_list())[0]
    fake.calls.clear()
    found = await client.indexes.list().find(lambda i: i.id == first.id)
    assert found is not None and found.id == first.id
    assert _pages_read(fake, "/indexes") == [("1", "50")]
    fake.calls.clear()
    assert await client.indexes.list().find(lambda i: False) is None
    assert len(_pages_read(fake, "/indexes")) == 2


async def test_max_pages_caps_a_listing(client: TwelveLabsClient, fake: FakeTwelveLabs) -> None:
    await _make_indexes(client, PAGE_LIMIT + 3)
    fake.calls.clear()
    assert fake.base_url is not None
    session = ApiSession(
        api_key=API_KEY,
        base_url=fake.base_url,
        policy=RetryPolicy(max_retries=0, rng=random.uniform),
        timeout=httpx.Timeout(10.0),
    )
    try:
        capped = await paginate(session, "/indexes", models.IndexList, max_pages=1).to_list()
    finally:
        await session.aclose()
    assert len(capped) == PAGE_LIMIT
    assert _pages_read(fake, "/indexes") == [("1", "50")]


async def test_session_status_reads_every_page_of_chunks(
    fake: FakeTwelveLabs, tmp_path: Path
) -> None:
    fake.configure(multipart_chunk_size=4096)
    path = make_padded_video(tmp_path / "many.mp4", 120 * 4096 - 7)  # 120 chunks: 3 pages
    started: list[tuple[str, str]] = []

    async def on_started(upload_id: str, asset_id: str) -> None:
        started.append((upload_id, asset_id))

    async with make_client(fake, direct_upload_limit=4096) as client:
        asset = await client.assets.upload(path, on_multipart_started=on_started)
        [(upload_id, asset_id)] = started
        fake.calls.clear()
        # Resuming a finished session reads its whole status, then uploads nothing.
        again = await client.assets.upload(
            path, resume_upload_id=upload_id, resume_asset_id=asset_id
        )
    assert again.id == asset.id
    assert _pages_read(fake, SESSION) == [("1", "50"), ("2", "50"), ("3", "50")]
    assert fake.count("PUT", "/_upload") == 0
