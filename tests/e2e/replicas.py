"""Several `gistbot run` processes on one PostgreSQL database: a schema of their own per test
(or soak run), each replica's environment, and a look at the jobs table from outside — who
holds which job, until when — to pick a replica to kill mid-job and to see who took over."""

from __future__ import annotations

import asyncio
import json
import os
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bot.jobs.store_pg import redact
from tests.e2e.proc import AppProcess, app_env
from tests.fakes.slack import FakeSlack
from tests.fakes.twelvelabs import FakeTwelveLabs

PG_URL = os.environ.get("GIST_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pg_problem(url: str = PG_URL) -> str | None:
    """Why PostgreSQL at `url` can't be used (None: it can)."""
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at GIST_TEST_DATABASE_URL={redact(url)}: {' '.join(str(exc).split())}"
    return None


def schema_url(url: str, schema: str) -> str:
    """`url` with every table in `schema`: libpq's `options` URL parameter sets search_path,
    the way an operator would give a deployment a schema of its own."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def create_schema(url: str = PG_URL) -> str:
    """A new empty schema; returns its name. (The app creates its tables in it at start-up.)"""
    name = f"replicas_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    return name


def drop_schema(name: str, url: str = PG_URL) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@dataclass(frozen=True)
class Row:
    """One job as the jobs table holds it; `lease_until` and `db_now` are the server's clock
    (epoch seconds), the clock leases are judged by."""

    id: str
    state: str
    owner: str | None
    lease_until: float | None
    db_now: float
    data: dict[str, Any]

    @property
    def owner_pid(self) -> int | None:
        """The replica's process id: owners are named `host:pid:random`."""
        if self.owner is None:
            return None
        parts = self.owner.split(":")
        return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None

    @property
    def name(self) -> str:
        """The video's file name (or the link's last path part): unique per request here."""
        source = self.data.get("source") or {}
        return str(source.get("filename") or str(source.get("url") or "").rsplit("/", 1)[-1])


class JobsTable:
    """Reads the jobs table of one schema over a connection of its own (autocommit)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[Any] | None = None

    def rows(self) -> list[Row]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True)
        try:
            cur = self._conn.execute(
                "SELECT id, state, lease_owner, extract(epoch FROM lease_until)::float8,"
                " extract(epoch FROM now())::float8, data::text FROM jobs ORDER BY created_at"
            )
        except psycopg.errors.UndefinedTable:
            return []  # no replica has migrated the schema yet
        return [Row(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in cur.fetchall()]

    def usage(self) -> list[tuple[str, str, float]]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True)
        cur = self._conn.execute("SELECT job_id, user_id, video_seconds FROM usage")
        return [(str(r[0]), str(r[1]), float(r[2])) for r in cur.fetchall()]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def replica_env(
    slack: FakeSlack,
    tl: FakeTwelveLabs,
    tmp: Path,
    slot: int,
    database_url: str,
    lease_s: float,
    **overrides: str,
) -> dict[str, str]:
    """A replica's environment: the shared database, and a temp folder of its own (as on
    its own host or container: a replica sweeps its folder of stale downloads at start-up)."""
    own = tmp / f"replica{slot}"
    own.mkdir(parents=True, exist_ok=True)
    settings = {
        "GIST_DATABASE_URL": database_url,
        "GIST_LEASE_S": str(lease_s),
        "GIST_TMP_DIR": str(own / "tmp"),
        **overrides,
    }
    # GIST_DATABASE_URL wins over GIST_DB_PATH: no SQLite file is made.
    return app_env(slack, tl, own / "unused.sqlite3", **settings)


async def start_all(apps: list[AppProcess]) -> list[str]:
    return list(await asyncio.gather(*(app.start() for app in apps)))


def by_pid(apps: list[AppProcess], pid: int | None) -> AppProcess | None:
    return next((a for a in apps if a.proc is not None and a.proc.pid == pid), None)


def distinct_video(base: bytes, index: int) -> bytes:
    """The same playable mp4 plus a `free` box of unique bytes: a SHA-256 of its own, so no
    request is answered from another's cached gist."""
    pad = index.to_bytes(4, "big") + uuid.uuid4().bytes + os.urandom(16)
    return base + struct.pack(">I", 8 + len(pad)) + b"free" + pad
