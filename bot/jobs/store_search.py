"""The SQLite store's search queries (a mixin of `JobStore`): indexed videos, jobs by asset,
recent gists per channel. The job look-ups read the job document with `json_extract`, written
exactly as in the expression indexes `jobs_asset` and `jobs_channel` (store.py, step 3), and
name their index (`INDEXED BY`): SQLite then must use it, and refuses the query outright should
the expressions ever drift apart, instead of silently scanning every job."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from bot.jobs.models import Job, JobState
from bot.jobs.store_base import MAX_CHANNELS, IndexedVideo

T = TypeVar("T")

_ASSET = "json_extract(data, '$.asset_id')"  # as in the index jobs_asset
_CHANNEL = "json_extract(data, '$.slack.channel')"  # as in the index jobs_channel
_HAS_GIST = (
    "json_extract(data, '$.gist') IS NOT NULL AND json_extract(data, '$.error_code') IS NULL"
)
_VIDEO_COLUMNS = (
    "indexed_asset_id, index_id, asset_id, job_id, team_id, channel, message_ts, created_at"
)


class SqliteSearchRows:
    """Needs the store's `_run` (one function on the store's thread, in a transaction)."""

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        raise NotImplementedError

    async def get_many(self, job_ids: Collection[str]) -> dict[str, Job]:
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return {}

        def op(conn: sqlite3.Connection) -> dict[str, Job]:
            marks = ",".join("?" * len(ids))
            rows = conn.execute(f"SELECT data FROM jobs WHERE id IN ({marks})", ids).fetchall()
            jobs = [Job.model_validate_json(r[0]) for r in rows]
            return {job.id: job for job in jobs}

        return await self._run(op, write=False)

    async def unindexed_assets(self) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                f"SELECT EXISTS(SELECT 1 FROM jobs WHERE {_ASSET} IS NOT NULL AND {_ASSET} "
                "NOT IN (SELECT asset_id FROM indexed_videos))"
            ).fetchone()
            return bool(row[0])

        return await self._run(op, write=False)

    async def job_by_asset(self, asset_id: str) -> Job | None:
        def op(conn: sqlite3.Connection) -> Job | None:
            row = conn.execute(
                f"SELECT data FROM jobs INDEXED BY jobs_asset WHERE {_ASSET} = ? "
                f"ORDER BY ({_HAS_GIST}) DESC, created_at LIMIT 1",
                (asset_id,),
            ).fetchone()
            return Job.model_validate_json(row[0]) if row else None

        return await self._run(op, write=False)

    async def recent_gists(self, team_id: str, channels: Collection[str], limit: int) -> list[Job]:
        wanted = sorted(set(channels))[:MAX_CHANNELS]
        if not wanted or limit < 1:
            return []

        def op(conn: sqlite3.Connection) -> list[Job]:
            marks = ",".join("?" * len(wanted))
            rows = conn.execute(
                f"SELECT data FROM jobs INDEXED BY jobs_channel WHERE {_CHANNEL} IN ({marks}) "
                "AND state = ? "
                f"AND json_extract(data, '$.slack.team_id') = ? AND {_HAS_GIST} "
                "ORDER BY updated_at DESC LIMIT ?",
                (*wanted, JobState.DONE.value, team_id, limit),
            ).fetchall()
            return [Job.model_validate_json(r[0]) for r in rows]

        return await self._run(op, write=False)

    async def record_indexed(self, video: IndexedVideo) -> None:
        await self._run(
            lambda conn: conn.execute(
                f"INSERT OR REPLACE INTO indexed_videos({_VIDEO_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                _video_row(video),
            )
        )

    async def indexed_videos(self, indexed_asset_ids: Collection[str]) -> dict[str, IndexedVideo]:
        ids = list(dict.fromkeys(indexed_asset_ids))
        if not ids:
            return {}

        def op(conn: sqlite3.Connection) -> dict[str, IndexedVideo]:
            marks = ",".join("?" * len(ids))
            rows = conn.execute(
                f"SELECT {_VIDEO_COLUMNS} FROM indexed_videos WHERE indexed_asset_id IN ({marks})",
                ids,
            ).fetchall()
            return {str(r[0]): IndexedVideo(*r) for r in rows}

        return await self._run(op, write=False)

    async def indexed_since(self, team_id: str, since: float) -> list[IndexedVideo]:
        def op(conn: sqlite3.Connection) -> list[IndexedVideo]:
            rows = conn.execute(
                f"SELECT {_VIDEO_COLUMNS} FROM indexed_videos WHERE team_id = ? "
                "AND created_at >= ? ORDER BY created_at DESC",
                (team_id, since),
            ).fetchall()
            return [IndexedVideo(*r) for r in rows]

        return await self._run(op, write=False)


def _video_row(video: IndexedVideo) -> tuple[Any, ...]:
    return (
        video.indexed_asset_id,
        video.index_id,
        video.asset_id,
        video.job_id,
        video.team_id,
        video.channel,
        video.message_ts,
        video.created_at,
    )
