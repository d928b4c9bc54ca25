"""Store fixtures: every store test runs against the SQLite file and a real PostgreSQL server.

PostgreSQL comes from GIST_TEST_DATABASE_URL (default: the local server, trust auth). Each test
gets its own schema, dropped afterwards. An unreachable server skips the PostgreSQL half on a
laptop, and fails it when CI is set: CI must not go green having tested only SQLite.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from bot.gist.models import GistType
from bot.jobs.models import Job, SlackContext, SourceSpec, Trigger
from bot.jobs.store import JobStore
from bot.jobs.store_base import Store
from bot.jobs.store_pg import PgStore, redact
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.jobs.rig import Rig, build_rig, make_settings

PG_URL = os.environ.get("GIST_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")

Replica = Callable[[], Awaitable[Store]]


def make_job(key: str = "T:C:1.0:F1", created_at: float | None = None) -> Job:
    job = Job(
        work_key=key,
        trigger=Trigger.PASSIVE,
        slack=SlackContext(team_id="T", channel="C", user="U", thread_ts="1.0", source_ts="1.0"),
        source=SourceSpec(kind="slack_file", file_id="F1", filename="a.mp4"),
        types=list(GistType.all()),
        deadline_at=time.time() + 60,
    )
    if created_at is not None:
        job.created_at = created_at
    return job


@cache
def _pg_problem() -> str | None:
    try:
        psycopg.connect(PG_URL, connect_timeout=5).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at GIST_TEST_DATABASE_URL={redact(PG_URL)}: {exc}"
    return None


@pytest.fixture
def pg_url() -> str:
    problem = _pg_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL for the store tests: {problem}")
        pytest.skip(problem)
    return PG_URL


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh schema name (not created: opening a store creates it), dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgres"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """Makes unopened stores that share one state: each is a replica (or a restart)."""
    if request.param == "sqlite":
        return lambda: JobStore(tmp_path / "jobs.sqlite3")
    url: str = request.getfixturevalue("pg_url")
    schema: str = request.getfixturevalue("pg_schema")
    return lambda: PgStore(url, schema=schema, max_size=4)


@pytest.fixture
async def replica(new_store: Callable[[], Store]) -> AsyncIterator[Replica]:
    """`await replica()`: an opened store on the shared state, closed after the test."""
    opened: list[Store] = []

    async def open_one() -> Store:
        store = new_store()
        await store.open()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


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
