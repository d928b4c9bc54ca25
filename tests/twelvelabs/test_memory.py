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
SIZE = 24 * MiB


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_padded_video(tmp_path_factory.mktemp("large") / "large.mp4", SIZE)


@pytest.mark.parametrize("mode", ["direct", "multipart"])
async def test_upload_memory_is_bounded(fake: FakeTwelveLabs, large: Path, mode: str) -> None:
    fake.configure(multipart_chunk_size=4 * MiB)
    limit = SIZE + 1 if mode == "direct" else 8 * MiB
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
    # The fake (same process) reads 1 MiB blocks; the client 256 KiB pieces, ≤ 3 chunks at once.
    # Holding one 4 MiB chunk per worker, let alone the file, would blow well past this.
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB"
