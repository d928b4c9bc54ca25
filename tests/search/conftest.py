"""A search world: the fake TwelveLabs holding indexed videos (uploaded, indexed and tagged
through the real client, as the pipeline does), the real store holding their jobs, and the
search service over both. `Library.add` puts one video in a conversation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.gist.models import Gist, GistType
from bot.jobs.models import Job, JobState, SlackContext, SourceSpec, Trigger
from bot.jobs.store import JobStore
from bot.jobs.store_base import IndexedVideo
from bot.search.origin import Origin
from bot.search.service import Scope, SearchService
from bot.settings import TwelveLabsSettings
from bot.twelvelabs import TwelveLabsClient
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.jobs.rig import TL_KEY
from tests.slack_driver import next_ts
from tests.videos import make_video

TEAM = "T0001"
INDEX = "gistbot"


def settings_for(fake: FakeTwelveLabs, **overrides: Any) -> TwelveLabsSettings:
    values: dict[str, Any] = dict(
        twelvelabs_api_key=TL_KEY,
        twelvelabs_base_url=fake.base_url,
        twelvelabs_backoff_initial_s=0.01,
        gist_index_name=INDEX,
    )
    values.update(overrides)
    return TwelveLabsSettings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Library:
    fake: FakeTwelveLabs
    client: TwelveLabsClient
    store: JobStore
    settings: TwelveLabsSettings
    video: Path
    jobs: dict[str, Job] = field(default_factory=dict)  # by file name
    ids: dict[str, str] = field(default_factory=dict)  # file name → indexed asset id

    def service(self, **overrides: Any) -> SearchService:
        settings = self.settings.model_copy(update=overrides) if overrides else self.settings
        return SearchService(self.client, self.store, settings)

    async def index_id(self) -> str:
        return (await self.client.indexes.find_or_create(INDEX)).id

    async def add(
        self,
        name: str,
        channel: str,
        *,
        team: str = TEAM,
        tagged: bool = True,
        wait: bool = True,
        title: str | None = None,
    ) -> Job:
        """One video shared in `channel`: its job (done, with a gist) in the store, its asset
        in the index (tagged with its origin and remembered, unless `tagged=False`: indexed as
        before this release)."""
        ts = next_ts()
        job = Job(
            work_key=f"{team}:{channel}:{ts}:{name}",
            trigger=Trigger.PASSIVE,
            state=JobState.DONE,
            slack=SlackContext(
                team_id=team, channel=channel, user="U1", thread_ts=ts, source_ts=ts
            ),
            source=SourceSpec(kind="slack_file", file_id=f"F{ts.replace('.', '')}", filename=name),
            types=list(GistType.all()),
            deadline_at=time.time() + 600,
            gist=Gist(title=title or f"Gist of {name}"),
        )
        asset = await self.client.assets.upload(self.video, filename=name)
        await self.client.assets.wait(asset.id, timeout_s=10)
        job.asset_id = asset.id
        await self.store.accept([job])
        index_id = await self.index_id()
        origin = Origin(team, channel, ts, job.id)
        ref = await self.client.indexes.indexed_assets.create(
            index_id, asset.id, user_metadata=origin.metadata() if tagged else None
        )
        if tagged:
            await self.store.record_indexed(
                IndexedVideo(ref.id, index_id, asset.id, job.id, team, channel, ts, time.time())
            )
        if wait:
            await self.client.indexes.indexed_assets.wait(index_id, ref.id, timeout_s=10)
        self.jobs[name], self.ids[name] = job, ref.id
        return job

    async def add_many(self, names: Iterable[tuple[str, str]], **kw: Any) -> None:
        await asyncio.gather(*(self.add(name, channel, **kw) for name, channel in names))


def scope(*channels: str, team: str = TEAM) -> Scope:
    """What a person in `channels` may see; records each question asked."""
    allowed = frozenset(channels)

    async def visible(asked: frozenset[str]) -> frozenset[str]:
        return asked & allowed

    return Scope(team, visible)


@pytest.fixture
async def library(fake_tl: FakeTwelveLabs, tmp_path: Path) -> AsyncIterator[Library]:
    settings = settings_for(fake_tl)
    client = TwelveLabsClient(
        TL_KEY,
        fake_tl.base_url or "",
        max_retries=2,
        backoff_initial_s=0.01,
        backoff_max_s=0.02,
        poll_initial_s=0.02,
        poll_max_interval_s=0.05,
    )
    store = JobStore(tmp_path / "jobs.sqlite3")
    await store.open()
    lib = Library(fake_tl, client, store, settings, make_video(5.0))
    yield lib
    await client.aclose()
    await store.close()
