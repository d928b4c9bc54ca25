"""Uploads stream from disk: peak memory stays far below the file size."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from bot.twelvelabs import MultipartSettings
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.twelvelabs.conftest import make_client
from tests.twelvelabs.test_endpoints import sha256
from tests.videos import make_padded_video

MiB = 1024 * 1024
SIZE = 48 * MiB
CHUNK = 8 * MiB


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_padded_video(tmp_path_factory.mktemp("large") / "large.mp4", SIZE)


@pytest.mark.parametrize("mode", ["direct", "multipart"])
async def test_upload_memory_is_bounded(fake: FakeTwelveLabs, large: Path, mode: str) -> None:
    fake.configure(multipart_chunk_size=CHUNK)
    limit = SIZE + 1 if mode == "direct" else CHUNK
    settings = MultipartSettings(concurrency=3, report_batch_size=4)
    async with make_client(fake, direct_upload_limit=limit, multipart=settings) as client:
        tracemalloc.start()
        try:
            asset = await client.assets.upload(large)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        await client.assets.wait(asset.id, timeout_s=20)
    assert fake.assets[asset.id].sha256 == sha256(large)
    # The client holds ≤ 2 pieces of 1 MiB per stream (one read ahead) and what a socket has
    # not taken yet, ≤ 3 streams; the fake (same process) reads 1 MiB blocks. Holding one
    # 8 MiB chunk per worker (24 MiB), let alone the file, would blow well past this.
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"
