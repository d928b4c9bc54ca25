"""Fixtures: the fake TwelveLabs server on loopback and a client tuned for fast tests.

Clients get a `Sleeps` recorder as their sleep: tests assert the delays the client asked for
(a `Retry-After: 2` is a recorded 2.0), never the time that passed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.twelvelabs import MultipartSettings, TwelveLabsClient
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.videos import make_video

API_KEY = "tl-test-key"


class Sleeps:
    """An injectable sleep that records every delay asked for and waits at most `cap` (real
    time keeps moving, so the fake's own timers still run)."""

    def __init__(self, cap: float = 0.02) -> None:
        self.delays: list[float] = []
        self.cap = cap

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(min(delay, self.cap))


class VirtualClock:
    """A clock that moves only when slept on: polling deadlines become exact."""

    def __init__(self) -> None:
        self.now = 0.0
        self.delays: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        self.now += delay
        await asyncio.sleep(0)


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
    """A client with fast settings and a recording sleep (`overrides` win)."""
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
        "sleep": Sleeps(),
    }
    kw.update(overrides)
    return TwelveLabsClient(kw.pop("api_key", API_KEY), fake.base_url, **kw)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(fake: FakeTwelveLabs, sleeps: Sleeps) -> AsyncIterator[TwelveLabsClient]:
    async with make_client(fake, sleep=sleeps) as tl:
        yield tl


@pytest.fixture(scope="session")
def video() -> Path:
    """A real 5 s mp4 (read-only, shared)."""
    return make_video(5.0)
