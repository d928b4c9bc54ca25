"""The job store in PostgreSQL, shared by several replicas (`GIST_DATABASE_URL`).

Driver: psycopg 3 with psycopg-pool. It is typed (mypy --strict with no third-party stubs),
built on libpq (so GIST_DATABASE_URL takes every libpq URL option operators know from psql:
sslmode, sslrootcert, target_session_attrs, options, …) and its binary wheel carries libpq.
No ORM: a dozen statements, written out.

Each method is one transaction on a pooled connection (READ COMMITTED). Atomicity comes from
the statements themselves: unique keys with ON CONFLICT DO NOTHING for once-only intake, and
row locks for leases — a claim is one UPDATE whose WHERE is re-checked on the locked row, and
`claim_expired` picks rows with FOR UPDATE SKIP LOCKED, so racing replicas take disjoint sets.
Lease times use the server's clock (now()).
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from bot.jobs.migrations import migrate
from bot.jobs.models import Job, JobState
from bot.jobs.store_base import (
    MAX_CHANNELS,
    UNFINISHED,
    IndexedVideo,
    LeaseLost,
    Store,
    StoreUnavailable,
    utc_day,
)

Conn = psycopg.AsyncConnection[TupleRow]
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Literal, not a parameter: the planner can then use the partial index jobs_unfinished.
_OPEN = "state IN ('queued', 'running')"
assert UNFINISHED == ("queued", "running")
_LEASE = "now() + %s::float8 * interval '1 second'"
_FREE = "(lease_owner IS NULL OR lease_until <= now())"  # nobody holds it, or it ran out
_HAS_GIST = "data->'gist' <> 'null'::jsonb AND data->'error_code' = 'null'::jsonb"
_VIDEO_COLUMNS = (
    "indexed_asset_id, index_id, asset_id, job_id, team_id, channel, message_ts, created_at"
)
_UPSERT = (
    "INSERT INTO jobs(id, work_key, state, created_at, updated_at, data, lease_owner, "
    f"lease_until) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, {_LEASE}) "
    "ON CONFLICT (id) DO UPDATE SET "
    "state = excluded.state, updated_at = excluded.updated_at, data = excluded.data"
)


class PgStore(Store):
    """`schema`: keep every table in this PostgreSQL schema (created if missing) — tests and
    deployments sharing a database isolate their state this way. None: the connection's
    search_path decides (an operator can also set it in the URL: `?options=-csearch_path%3Dx`)."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout_s: int = 10,
    ) -> None:
        if schema is not None and not SCHEMA_NAME.match(schema):
            raise ValueError(f"schema must match {SCHEMA_NAME.pattern}: {schema!r}")
        self._url = url
        self._schema = schema
        self._sizes = (min_size, max_size)
        self._connect_timeout_s = connect_timeout_s
        self._pool: AsyncConnectionPool[Conn] | None = None

    # -- lifecycle ---------------------------------------------------------------------
    async def open(self) -> None:
        """Connect, migrate under the advisory lock, then open the pool. Any failure is one
        StoreUnavailable line naming GIST_DATABASE_URL (password hidden)."""
        try:
            conninfo = self._conninfo()
            async with await psycopg.AsyncConnection.connect(conninfo) as conn:
                await migrate(conn, self._schema)
            self._pool = await self._open_pool(conninfo)
        except psycopg.Error as exc:
            raise StoreUnavailable(self._explain(exc)) from None

    async def _open_pool(self, conninfo: str) -> AsyncConnectionPool[Conn]:
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            conninfo,
            min_size=self._sizes[0],
            max_size=self._sizes[1],
            open=False,
            name="gistbot",
            # One round trip per checkout buys recovery from a database restart or failover
            # without a failed job step per stale pooled connection.
            check=AsyncConnectionPool.check_connection,
        )
        try:
            await pool.open(wait=True, timeout=float(self._connect_timeout_s))
        except BaseException:
            await pool.close()  # stops its reconnecting workers
            raise
        return pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _conninfo(self) -> str:
        params: dict[str, Any] = conninfo_to_dict(self._url)
        params.setdefault("application_name", "gistbot")
        params.setdefault("connect_timeout", self._connect_timeout_s)
        if self._schema:
            params["options"] = f"{params.get('options', '')} -c search_path={self._schema}"
        return make_conninfo("", **params)

    def _explain(self, exc: BaseException) -> str:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return f"GIST_DATABASE_URL: cannot use the database at {redact(self._url)}: {reason}"

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Conn]:
        """A pooled connection in a transaction: committed on success, rolled back on any
        exception (LeaseLost included). Connection trouble becomes StoreUnavailable."""
        if self._pool is None:
            raise RuntimeError("PgStore used before open()")
        try:
            async with self._pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(self._explain(exc)) from exc

    async def _rows(self, query: str, params: tuple[Any, ...] = ()) -> list[TupleRow]:
        async with self._tx() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchall()

    async def _rowcount(self, query: str, params: tuple[Any, ...]) -> int:
        async with self._tx() as conn:
            cur = await conn.execute(query, params)
            return cur.rowcount

    # -- intake and dedupe -------------------------------------------------------------
    async def has_event(self, event_id: str) -> bool:
        return bool(await self._rows("SELECT 1 FROM events WHERE event_id = %s", (event_id,)))

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
        added = [False] * len(jobs)
        async with self._tx() as conn:
            if event_id:
                cur = await conn.execute(
                    "INSERT INTO events(event_id, seen_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (event_id, now),
                )
                if not cur.rowcount:  # accepted before, here or by another replica
                    return added
            # Work keys in one order everywhere: overlapping batches wait, never deadlock.
            for i in sorted(range(len(jobs)), key=lambda i: jobs[i].work_key):
                job = jobs[i]
                cur = await conn.execute(
                    "INSERT INTO work_keys(work_key, job_id, created_at) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    (job.work_key, job.id, job.created_at),
                )
                if cur.rowcount:
                    await conn.execute(_UPSERT, _job_row(job, owner, lease_s if owner else None))
                    added[i] = True
        return added

    # -- jobs --------------------------------------------------------------------------
    async def save(self, job: Job, owner: str | None = None) -> None:
        job.updated_at = time.time()
        if owner is None:
            await self._rowcount(_UPSERT, _job_row(job))
            return
        fenced = await self._rowcount(
            "UPDATE jobs SET state = %s, updated_at = %s, data = %s::jsonb "
            "WHERE id = %s AND lease_owner = %s",
            (job.state.value, job.updated_at, job.model_dump_json(), job.id, owner),
        )
        if not fenced:
            raise LeaseLost(job.id, owner)

    async def get(self, job_id: str) -> Job | None:
        rows = await self._rows("SELECT data::text FROM jobs WHERE id = %s", (job_id,))
        return Job.model_validate_json(rows[0][0]) if rows else None

    async def unfinished(self) -> list[Job]:
        rows = await self._rows(f"SELECT data::text FROM jobs WHERE {_OPEN} ORDER BY created_at")
        return [Job.model_validate_json(r[0]) for r in rows]

    async def count(self, state: JobState | None = None) -> int:
        if state is None:
            rows = await self._rows("SELECT COUNT(*) FROM jobs")
        else:
            rows = await self._rows("SELECT COUNT(*) FROM jobs WHERE state = %s", (state.value,))
        return int(rows[0][0])

    # -- leases ------------------------------------------------------------------------
    async def claim(self, job_id: str, owner: str, lease_s: float) -> Job | None:
        rows = await self._rows(
            f"UPDATE jobs SET lease_owner = %s, lease_until = {_LEASE} "
            f"WHERE id = %s AND {_OPEN} AND (lease_owner = %s OR {_FREE}) "
            "RETURNING data::text",
            (owner, lease_s, job_id, owner),
        )
        return Job.model_validate_json(rows[0][0]) if rows else None

    async def claim_expired(self, owner: str, lease_s: float, limit: int) -> list[Job]:
        rows = await self._rows(
            "WITH picked AS ("
            f" SELECT id FROM jobs WHERE {_OPEN} AND {_FREE}"
            " ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"UPDATE jobs SET lease_owner = %s, lease_until = {_LEASE} "
            "FROM picked WHERE jobs.id = picked.id "
            "RETURNING jobs.created_at, jobs.data::text",
            (limit, owner, lease_s),
        )
        return [Job.model_validate_json(r[1]) for r in sorted(rows, key=lambda r: r[0])]

    async def renew(self, job_id: str, owner: str, lease_s: float) -> bool:
        return bool(
            await self._rowcount(
                f"UPDATE jobs SET lease_until = {_LEASE} WHERE id = %s AND lease_owner = %s",
                (lease_s, job_id, owner),
            )
        )

    async def renew_all(self, owner: str, lease_s: float) -> set[str]:
        rows = await self._rows(
            f"UPDATE jobs SET lease_until = {_LEASE} WHERE lease_owner = %s RETURNING id",
            (lease_s, owner),
        )
        return {str(r[0]) for r in rows}

    async def release(self, job_id: str, owner: str) -> None:
        await self._rowcount(
            "UPDATE jobs SET lease_owner = NULL, lease_until = NULL "
            "WHERE id = %s AND lease_owner = %s",
            (job_id, owner),
        )

    async def release_all(self, owner: str) -> int:
        return await self._rowcount(
            "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = %s",
            (owner,),
        )

    # -- single flight across replicas -----------------------------------------------
    async def join_flight(self, key: str, job_id: str) -> str | None:
        async with self._tx() as conn:
            # The conflicting row is locked even when the WHERE keeps it: the SELECT below
            # then reads a leader that can't leave before this transaction ends.
            cur = await conn.execute(
                "INSERT INTO flights(key, job_id, started_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET job_id = excluded.job_id, "
                "started_at = excluded.started_at WHERE flights.job_id = excluded.job_id "
                "OR NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id = flights.job_id AND "
                f"jobs.{_OPEN}) RETURNING job_id",
                (key, job_id, time.time()),
            )
            if await cur.fetchone() is not None:
                return None
            cur = await conn.execute("SELECT job_id FROM flights WHERE key = %s", (key,))
            row = await cur.fetchone()
            return str(row[0]) if row else None

    async def end_flight(self, key: str, job_id: str) -> None:
        await self._rowcount("DELETE FROM flights WHERE key = %s AND job_id = %s", (key, job_id))

    # -- result cache ------------------------------------------------------------------
    async def cache_put(self, video_keys: list[str], types: str, gist_json: str) -> None:
        now = time.time()
        async with self._tx() as conn, conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO cache(video_key, types, gist, created_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (video_key, types) DO UPDATE SET "
                "gist = excluded.gist, created_at = excluded.created_at",
                [(key, types, gist_json, now) for key in video_keys],
            )

    async def cache_get(self, video_key: str, max_age_s: float) -> list[tuple[str, str]]:
        rows = await self._rows(
            "SELECT types, gist FROM cache WHERE video_key = %s AND created_at >= %s "
            "ORDER BY created_at DESC",
            (video_key, time.time() - max_age_s),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    # -- usage (quotas, /gist usage) ---------------------------------------------------
    async def record_usage(
        self, job_id: str, team_id: str, user_id: str, video_seconds: float, tokens: int
    ) -> None:
        await self._rowcount(
            "INSERT INTO usage(job_id, team_id, user_id, day, video_seconds, tokens) "
            "VALUES (%s, %s, %s, %s::date, %s, %s) ON CONFLICT (job_id) DO UPDATE SET "
            "team_id = excluded.team_id, user_id = excluded.user_id, day = excluded.day, "
            "video_seconds = excluded.video_seconds, tokens = excluded.tokens",
            (job_id, team_id, user_id, utc_day(), video_seconds, tokens),
        )

    async def usage_today(self, team_id: str, user_id: str | None = None) -> dict[str, float]:
        query = (
            "SELECT COALESCE(SUM(video_seconds), 0), COALESCE(SUM(tokens), 0), COUNT(*) "
            "FROM usage WHERE day = %s::date AND team_id = %s"
        )
        params: tuple[Any, ...] = (utc_day(), team_id)
        if user_id is not None:
            query += " AND user_id = %s"
            params = (*params, user_id)
        [(seconds, tokens, jobs)] = await self._rows(query, params)
        return {"video_seconds": float(seconds), "tokens": float(tokens), "jobs": float(jobs)}

    async def prune(self, older_than_s: float) -> None:
        cutoff = time.time() - older_than_s
        async with self._tx() as conn:
            await conn.execute("DELETE FROM events WHERE seen_at < %s", (cutoff,))
            await conn.execute("DELETE FROM work_keys WHERE created_at < %s", (cutoff,))
            await conn.execute("DELETE FROM flights WHERE started_at < %s", (cutoff,))

    # -- search: indexed videos, jobs by asset, recent gists ---------------------------
    async def get_many(self, job_ids: Collection[str]) -> dict[str, Job]:
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return {}
        rows = await self._rows("SELECT data::text FROM jobs WHERE id = ANY(%s)", (ids,))
        jobs = [Job.model_validate_json(r[0]) for r in rows]
        return {job.id: job for job in jobs}

    async def unindexed_assets(self) -> bool:
        rows = await self._rows(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE data->>'asset_id' IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM indexed_videos v WHERE v.asset_id = jobs.data->>'asset_id'))"
        )
        return bool(rows[0][0])

    async def job_by_asset(self, asset_id: str) -> Job | None:
        rows = await self._rows(
            "SELECT data::text FROM jobs WHERE data->>'asset_id' = %s "
            f"ORDER BY ({_HAS_GIST}) DESC, created_at LIMIT 1",
            (asset_id,),
        )
        return Job.model_validate_json(rows[0][0]) if rows else None

    async def recent_gists(self, team_id: str, channels: Collection[str], limit: int) -> list[Job]:
        wanted = sorted(set(channels))[:MAX_CHANNELS]
        if not wanted or limit < 1:
            return []
        rows = await self._rows(
            "SELECT data::text FROM jobs WHERE data->'slack'->>'channel' = ANY(%s) "
            f"AND state = 'done' AND data->'slack'->>'team_id' = %s AND {_HAS_GIST} "
            "ORDER BY updated_at DESC LIMIT %s",
            (wanted, team_id, limit),
        )
        return [Job.model_validate_json(r[0]) for r in rows]

    async def record_indexed(self, video: IndexedVideo) -> None:
        await self._rowcount(
            f"INSERT INTO indexed_videos({_VIDEO_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (indexed_asset_id) DO UPDATE SET index_id = excluded.index_id, "
            "asset_id = excluded.asset_id, job_id = excluded.job_id, "
            "team_id = excluded.team_id, channel = excluded.channel, "
            "message_ts = excluded.message_ts, created_at = excluded.created_at",
            (
                video.indexed_asset_id,
                video.index_id,
                video.asset_id,
                video.job_id,
                video.team_id,
                video.channel,
                video.message_ts,
                video.created_at,
            ),
        )

    async def indexed_videos(self, indexed_asset_ids: Collection[str]) -> dict[str, IndexedVideo]:
        ids = list(dict.fromkeys(indexed_asset_ids))
        if not ids:
            return {}
        rows = await self._rows(
            f"SELECT {_VIDEO_COLUMNS} FROM indexed_videos WHERE indexed_asset_id = ANY(%s)",
            (ids,),
        )
        return {str(r[0]): IndexedVideo(*r) for r in rows}

    async def indexed_since(self, team_id: str, since: float) -> list[IndexedVideo]:
        rows = await self._rows(
            f"SELECT {_VIDEO_COLUMNS} FROM indexed_videos WHERE team_id = %s "
            "AND created_at >= %s ORDER BY created_at DESC",
            (team_id, since),
        )
        return [IndexedVideo(*r) for r in rows]


def _job_row(job: Job, owner: str | None = None, lease_s: float | None = None) -> tuple[Any, ...]:
    return (
        job.id,
        job.work_key,
        job.state.value,
        job.created_at,
        job.updated_at,
        job.model_dump_json(),
        owner,
        lease_s,
    )


def redact(url: str) -> str:
    """The URL with any password replaced by ***, fit for a log line or an error."""
    url = re.sub(r"(://[^:/@?#]*:)[^@/?#]*@", r"\1***@", url)
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", url)


__all__ = ["SCHEMA_NAME", "PgStore", "redact"]
