"""Fixtures: the fake TwelveLabs server on loopback and a client tuned for fast tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.twelvelabs import MultipartSettings, TwelveLabsClient
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.videos import make_video

API_KEY = "tl-test-key"


@pytest.fixture
def fake() -> Iterator[FakeTwelveLabs]:
    server = FakeTwelveLabs(
        api_key=API_KEY,
        asset_processing_s=0.1,
        task_processing_s=0.1,
        index_processing_s=0.1,
        multipart_chunk_size=64 * 1024,
        initial_upload_urls=2,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def make_client(fake: FakeTwelveLabs, **overrides: Any) -> TwelveLabsClient:
    assert fake.base_url is not None
    kw: dict[str, Any] = {
        "max_retries": 4,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
        "connect_timeout_s": 5.0,
        "read_timeout_s": 10.0,
        "poll_initial_s": 0.02,
        "poll_max_interval_s": 0.05,
        "multipart": MultipartSettings(concurrency=3, report_batch_size=3),
    }
    kw.update(overrides)
    return TwelveLabsClient(kw.pop("api_key", API_KEY), fake.base_url, **kw)


@pytest.fixture
async def client(fake: FakeTwelveLabs) -> AsyncIterator[TwelveLabsClient]:
    async with make_client(fake) as tl:
        yield tl


@pytest.fixture(scope="session")
def video() -> Path:
    """A real 5 s mp4 (read-only, shared)."""
    return make_video(5.0)
