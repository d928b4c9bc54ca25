"""Durable job records, event dedupe, leases and the result cache in one embedded SQLite file.

All SQLite work runs on one dedicated thread (sqlite3 connections are thread-bound), so the
event loop never blocks on disk. WAL + synchronous=NORMAL: a commit survives a process kill
(SIGKILL), which is what the restart tests exercise. Writes run under BEGIN IMMEDIATE: the
write lock is taken up front, so two connections to one file (two stores in a test, or a
second process) serialise instead of failing an upgrade from read to write. Lease times use
this host's clock; the file serves one host. The search queries are a mixin
(`store_search.py`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bot.jobs.migrations.sqlite import STEPS as SQLITE_STEPS
from bot.jobs.models import Job, JobState
from bot.jobs.store_base import (
    UNFINISHED,
    LeaseLost,
    Store,
    StoreUnavailable,
    utc_day,
)
from bot.jobs.store_search import SqliteSearchRows

T = TypeVar("T")

_MIGRATIONS = SQLITE_STEPS
SCHEMA_VERSION = len(_MIGRATIONS)

_FREE = "(lease_owner IS NULL OR lease_until <= ?)"  # nobody holds it, or the lease ran out


class JobStore(SqliteSearchRows, Store):
    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobstore")
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn, write)

    def _call(self, fn: Callable[[sqlite3.Connection], T], write: bool) -> T:
        if self._conn is None:
            self._conn = self._connect()
        if not write:  # a single SELECT is consistent on its own
            return fn(self._conn)
        return _in_transaction(self._conn, fn)

    def _connect(self) -> sqlite3.Connection:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
        conn = sqlite3.connect(self._path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            _in_transaction(conn, _migrate)
        except BaseException:
            conn.close()
            raise
        return conn

    async def open(self) -> None:
        try:
            await self._run(lambda conn: None, write=False)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(
                f"GIST_DB_PATH: cannot open the job database {self._path}: {exc}"
            ) from None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=True)

    # -- intake and dedupe -------------------------------------------------------------
    async def has_event(self, event_id: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT 1 FROM events WHERE event_id = ?", (event_id,)).fetchone()
            return row is not None

        return await self._run(op, write=False)

    async def accept(
        self,
        jobs: list[Job],
        event_id: str | None = None,
        *,
        owner: str | None = None,
        lease_s: float | None = None,
    ) -> list[bool]:
        if owner is not None and lease_s is None:
            raise ValueError("accept(owner=...) needs lease_s")
        now = time.time()
        lease_until = now + lease_s if lease_s is not None else None

        def op(conn: sqlite3.Connection) -> list[bool]:
            if event_id:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO events(event_id, seen_at) VALUES (?, ?)",
                    (event_id, now),
                )
                if not cur.rowcount:  # accepted before, here or by another replica
                    return [False] * len(jobs)
            added: list[bool] = []
            for job in jobs:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO work_keys(work_key, job_id, created_at) "
                    "VALUES (?, ?, ?)",
                    (job.work_key, job.id, job.created_at),
                )
                if cur.rowcount:
                    _upsert(conn, job, owner, lease_until if owner else None)
                added.append(bool(cur.rowcount))
            return added

        return await self._run(op)

    # -- jobs --------------------------------------------------------------------------
    async def save(self, job: Job, owner: str | None = None) -> None:
        job.updated_at = time.time()
        if owner is None:
            await self._run(lambda conn: _upsert(conn, job))
            return

        def fenced(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE jobs SET state = ?, updated_at = ?, data = ? "
                "WHERE id = ? AND lease_owner = ?",
                (job.state.value, job.updated_at, job.model_dump_json(), job.id, owner),
            )
            if not cur.rowcount:
                raise LeaseLost(job.id, owner)

        await self._run(fenced)

    async def get(self, job_id: str) -> Job | None:
        def op(conn: sqlite3.Connection) -> Job | None:
            row = conn.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return Job.model_validate_json(row[0]) if row else None

        return await self._run(op, write=False)

    async def unfinished(self) -> list[Job]:
        def op(conn: sqlite3.Connection) -> list[Job]:
            rows = conn.execute(
                "SELECT data FROM jobs WHERE state IN (?, ?) ORDER BY created_at", UNFINISHED
            ).fetchall()
            return [Job.model_validate_json(r[0]) for r in rows]

        return await self._run(op, write=False)

    async def count(self, state: JobState | None = None) -> int:
        def op(conn: sqlite3.Connection) -> int:
            if state is None:
                row = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()
            else:
                row = conn.execute(
                    "SELECT COUNT(*) FROM jobs WHERE state = ?", (state.value,)
                ).fetchone()
            return int(row[0])

        return await self._run(op, write=False)

    # -- leases ------------------------------------------------------------------------
    async def claim(self, job_id: str, owner: str, lease_s: float) -> Job | None:
        def op(conn: sqlite3.Connection) -> Job | None:
            now = time.time()
            cur = conn.execute(
                "UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE id = ? "
                f"AND state IN (?, ?) AND (lease_owner = ? OR {_FREE})",
                (owner, now + lease_s, job_id, *UNFINISHED, owner, now),
            )
            if not cur.rowcount:
                return None
            row = conn.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return Job.model_validate_json(row[0])

        return await self._run(op)

    async def claim_expired(self, owner: str, lease_s: float, limit: int) -> list[Job]:
        def op(conn: sqlite3.Connection) -> list[Job]:
            # The write lock is held from BEGIN IMMEDIATE on: select-then-update is atomic.
            now = time.time()
            ids = [
                r[0]
                for r in conn.execute(
                    f"SELECT id FROM jobs WHERE state IN (?, ?) AND {_FREE} "
                    "ORDER BY created_at LIMIT ?",
                    (*UNFINISHED, now, limit),
                )
            ]
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            conn.execute(
                f"UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE id IN ({marks})",
                (owner, now + lease_s, *ids),
            )
            rows = conn.execute(
                f"SELECT data FROM jobs WHERE id IN ({marks}) ORDER BY created_at", ids
            ).fetchall()
            return [Job.model_validate_json(r[0]) for r in rows]

        return await self._run(op)

    async def renew(self, job_id: str, owner: str, lease_s: float) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ?",
                (time.time() + lease_s, job_id, owner),
            )
            return bool(cur.rowcount)

        return await self._run(op)

    async def renew_all(self, owner: str, lease_s: float) -> set[str]:
        def op(conn: sqlite3.Connection) -> set[str]:
            conn.execute(
                "UPDATE jobs SET lease_until = ? WHERE lease_owner = ?",
                (time.time() + lease_s, owner),
            )
            rows = conn.execute("SELECT id FROM jobs WHERE lease_owner = ?", (owner,))
            return {str(r[0]) for r in rows}

        return await self._run(op)

    async def release(self, job_id: str, owner: str) -> None:
        await self._run(
            lambda conn: conn.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_until = NULL "
                "WHERE id = ? AND lease_owner = ?",
                (job_id, owner),
            )
        )

    async def release_all(self, owner: str) -> int:
        def op(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
                (owner,),
            )
            return int(cur.rowcount)

        return await self._run(op)

    # -- single flight across replicas -----------------------------------------------
    async def join_flight(self, key: str, job_id: str) -> str | None:
        def op(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT f.job_id, j.state FROM flights f LEFT JOIN jobs j ON j.id = f.job_id "
                "WHERE f.key = ?",
                (key,),
            ).fetchone()
            if row is not None and row[0] != job_id and row[1] in UNFINISHED:
                return str(row[0])  # another job leads it
            conn.execute(
                "INSERT OR REPLACE INTO flights(key, job_id, started_at) VALUES (?, ?, ?)",
                (key, job_id, time.time()),
            )
            return None

        return await self._run(op)

    async def end_flight(self, key: str, job_id: str) -> None:
        await self._run(
            lambda conn: conn.execute(
                "DELETE FROM flights WHERE key = ? AND job_id = ?", (key, job_id)
            )
        )

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
        oldest = time.time() - max_age_s

        def op(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = conn.execute(
                "SELECT types, gist FROM cache WHERE video_key = ? AND created_at >= ? "
                "ORDER BY created_at DESC",
                (video_key, oldest),
            ).fetchall()
            return [(str(r[0]), str(r[1])) for r in rows]

        return await self._run(op, write=False)

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

        return await self._run(op, write=False)

    async def prune(self, older_than_s: float) -> None:
        cutoff = time.time() - older_than_s

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM events WHERE seen_at < ?", (cutoff,))
            conn.execute("DELETE FROM work_keys WHERE created_at < ?", (cutoff,))
            conn.execute("DELETE FROM flights WHERE started_at < ?", (cutoff,))

        await self._run(op)


def _in_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring the file to SCHEMA_VERSION; runs under BEGIN IMMEDIATE, so two processes opening
    one file at once apply each step once (executescript would commit midway: no)."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    for step in _MIGRATIONS[version:]:
        for statement in step.split(";"):
            if statement.strip():
                conn.execute(statement)
    if version < SCHEMA_VERSION:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _upsert(
    conn: sqlite3.Connection,
    job: Job,
    owner: str | None = None,
    lease_until: float | None = None,
) -> None:
    """Insert (with an optional first lease) or update the job's state and data; an update
    leaves the lease as it is."""
    conn.execute(
        "INSERT INTO jobs(id, work_key, state, created_at, updated_at, data, lease_owner, "
        "lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
        "state = excluded.state, updated_at = excluded.updated_at, data = excluded.data",
        (
            job.id,
            job.work_key,
            job.state.value,
            job.created_at,
            job.updated_at,
            job.model_dump_json(),
            owner,
            lease_until,
        ),
    )


__all__ = ["SCHEMA_VERSION", "JobStore", "LeaseLost", "Store", "StoreUnavailable", "utc_day"]
