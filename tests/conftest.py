"""Fixtures shared by the port-level tests (tests/jobs, tests/slack): a fast fake TwelveLabs
and a host that serves a real video. The end-to-end suite (tests/e2e) has its own timings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.jobs.rig import TL_KEY, MediaServer, media_server


@pytest.fixture
def fake_tl() -> Iterator[FakeTwelveLabs]:
    fake = FakeTwelveLabs(
        api_key=TL_KEY, asset_processing_s=0.1, task_processing_s=0.1, index_processing_s=0.1
    )
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
async def media() -> AsyncIterator[MediaServer]:
    async with media_server() as served:
        yield served
