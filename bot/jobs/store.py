"""Durable job records, event dedupe and the result cache in one embedded SQLite file.

All SQLite work runs on one dedicated thread (sqlite3 connections are thread-bound), so the
event loop never blocks on disk. WAL + synchronous=NORMAL: a commit survives a process kill
(SIGKILL), which is what the restart tests exercise.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bot.jobs.models import Job, JobState

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    work_key TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
CREATE TABLE IF NOT EXISTS work_keys (
    work_key TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    seen_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cache (
    video_key TEXT NOT NULL,
    types TEXT NOT NULL,
    gist TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (video_key, types)
);
CREATE TABLE IF NOT EXISTS usage (
    job_id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    day TEXT NOT NULL,
    video_seconds REAL NOT NULL,
    tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_day ON usage(day, team_id, user_id);
"""


def utc_day(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts if ts is not None else time.time()))


class JobStore:
    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobstore")
        self._conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._conn = self._connect()
        with self._conn:  # one transaction per call
            return fn(self._conn)

    def _connect(self) -> sqlite3.Connection:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path)  # `with conn:` wraps each call in a transaction
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(_SCHEMA)
        return conn

    async def open(self) -> None:
        await self._run(lambda conn: None)

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=True)

    # -- dedupe ------------------------------------------------------------------------
    async def has_event(self, event_id: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT 1 FROM events WHERE event_id = ?", (event_id,)).fetchone()
            return row is not None

        return await self._run(op)

    async def accept(self, jobs: list[Job], event_id: str | None = None) -> list[bool]:
        """Insert jobs (each unless its work key exists) and mark the event that carried them
        as seen, in one transaction: one round trip on the ack path, and the event is never
        marked without its jobs."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> list[bool]:
            added: list[bool] = []
            for job in jobs:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO work_keys(work_key, job_id, created_at) "
                    "VALUES (?, ?, ?)",
                    (job.work_key, job.id, job.created_at),
                )
                if cur.rowcount:
                    _upsert(conn, job)
                added.append(bool(cur.rowcount))
            if event_id:
                conn.execute(
                    "INSERT OR IGNORE INTO events(event_id, seen_at) VALUES (?, ?)",
                    (event_id, now),
                )
            return added

        return await self._run(op)

    async def save(self, job: Job) -> None:
        job.updated_at = time.time()
        await self._run(lambda conn: _upsert(conn, job))

    async def get(self, job_id: str) -> Job | None:
        def op(conn: sqlite3.Connection) -> Job | None:
            row = conn.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return Job.model_validate_json(row[0]) if row else None

        return await self._run(op)

    async def unfinished(self) -> list[Job]:
        def op(conn: sqlite3.Connection) -> list[Job]:
            rows = conn.execute(
                "SELECT data FROM jobs WHERE state IN (?, ?) ORDER BY created_at",
                (JobState.QUEUED.value, JobState.RUNNING.value),
            ).fetchall()
            return [Job.model_validate_json(r[0]) for r in rows]

        return await self._run(op)

    async def count(self, state: JobState | None = None) -> int:
        def op(conn: sqlite3.Connection) -> int:
            if state is None:
                row = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()
            else:
                row = conn.execute(
                    "SELECT COUNT(*) FROM jobs WHERE state = ?", (state.value,)
                ).fetchone()
            return int(row[0])

        return await self._run(op)

    # -- result cache ------------------------------------------------------------------
    async def cache_put(self, video_keys: list[str], types: str, gist_json: str) -> None:
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO cache(video_key, types, gist, created_at) "
                "VALUES (?, ?, ?, ?)",
                [(key, types, gist_json, now) for key in video_keys],
            )

        await self._run(op)

    async def cache_get(self, video_key: str, max_age_s: float) -> list[tuple[str, str]]:
        """(types, gist_json) rows for a video, newest first."""
        oldest = time.time() - max_age_s

        def op(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = conn.execute(
                "SELECT types, gist FROM cache WHERE video_key = ? AND created_at >= ? "
                "ORDER BY created_at DESC",
                (video_key, oldest),
            ).fetchall()
            return [(str(r[0]), str(r[1])) for r in rows]

        return await self._run(op)

    # -- usage (quotas, /gist usage) ---------------------------------------------------
    async def record_usage(
        self, job_id: str, team_id: str, user_id: str, video_seconds: float, tokens: int
    ) -> None:
        day = utc_day()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO usage(job_id, team_id, user_id, day, video_seconds, "
                "tokens) VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, team_id, user_id, day, video_seconds, tokens),
            )

        await self._run(op)

    async def usage_today(self, team_id: str, user_id: str | None = None) -> dict[str, float]:
        day = utc_day()

        def op(conn: sqlite3.Connection) -> dict[str, float]:
            sql = (
                "SELECT COALESCE(SUM(video_seconds), 0), COALESCE(SUM(tokens), 0), COUNT(*) "
                "FROM usage WHERE day = ? AND team_id = ?"
            )
            args: tuple[Any, ...] = (day, team_id)
            if user_id is not None:
                sql += " AND user_id = ?"
                args = (*args, user_id)
            seconds, tokens, jobs = conn.execute(sql, args).fetchone()
            return {"video_seconds": float(seconds), "tokens": float(tokens), "jobs": float(jobs)}

        return await self._run(op)

    async def prune(self, older_than_s: float) -> None:
        """Forget dedupe keys and finished jobs past any retry window."""
        cutoff = time.time() - older_than_s

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM events WHERE seen_at < ?", (cutoff,))
            conn.execute("DELETE FROM work_keys WHERE created_at < ?", (cutoff,))

        await self._run(op)


def _upsert(conn: sqlite3.Connection, job: Job) -> None:
    conn.execute(
        "INSERT INTO jobs(id, work_key, state, created_at, updated_at, data) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
        "state = excluded.state, updated_at = excluded.updated_at, data = excluded.data",
        (
            job.id,
            job.work_key,
            job.state.value,
            job.created_at,
            job.updated_at,
            job.model_dump_json(),
        ),
    )


__all__ = ["JobStore", "json", "utc_day"]
