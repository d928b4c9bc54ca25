"""Fixtures for the job runner's tests: the fake TwelveLabs, a media host, and the rig."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.jobs.rig import TL_KEY, MediaServer, Rig, build_rig, make_settings, media_server


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


@pytest.fixture
async def make_rig(
    fake_tl: FakeTwelveLabs, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Rig]]]:
    built: list[Rig] = []

    async def factory(**overrides: Any) -> Rig:
        assert fake_tl.base_url is not None
        rig = await build_rig(make_settings(tmp_path, fake_tl.base_url, **overrides), fake_tl)
        built.append(rig)
        return rig

    yield factory
    for rig in built:
        await rig.close()


@pytest.fixture
async def rig(make_rig: Callable[..., Awaitable[Rig]]) -> Rig:
    return await make_rig()
