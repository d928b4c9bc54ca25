"""PostgreSQL-only behaviour: migrations at start-up, a clear refusal when the database can't
be used, the factory, and recovery after the server drops our connections."""

import asyncio
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from bot.jobs.migrations import available
from bot.jobs.store import JobStore
from bot.jobs.store_base import StoreUnavailable, open_store
from bot.jobs.store_pg import PgStore, redact
from bot.settings import Settings, SettingsError, load
from tests.jobs.conftest import make_job


def _rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    settings: Settings = load(
        Settings,
        slack_bot_token="xoxb-1",
        slack_signing_secret="s",
        twelvelabs_api_key="k",
        gist_db_path=tmp_path / "jobs.sqlite3",
        **overrides,
    )
    return settings


async def test_replicas_starting_together_migrate_once(pg_url: str, pg_schema: str) -> None:
    stores = [PgStore(pg_url, schema=pg_schema, max_size=2) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))  # the schema doesn't exist yet
    try:
        applied = _rows(pg_url, f"SELECT version, name FROM {pg_schema}.schema_migrations")
        assert sorted(applied) == [(m.version, m.name) for m in available()]
        assert await stores[0].accept([make_job()]) == [True]
        assert await stores[3].count() == 1  # one schema, seen by all
    finally:
        for store in stores:
            await store.close()


async def test_reopening_applies_nothing_and_keeps_data(pg_url: str, pg_schema: str) -> None:
    store = PgStore(pg_url, schema=pg_schema)
    await store.open()
    await store.accept([make_job()], "Ev1")
    await store.close()
    query = f"SELECT version, applied_at FROM {pg_schema}.schema_migrations ORDER BY version"
    applied = _rows(pg_url, query)
    assert [version for version, _ in applied] == [m.version for m in available()]

    again = PgStore(pg_url, schema=pg_schema)
    await again.open()
    try:
        assert await again.has_event("Ev1") and await again.count() == 1
        assert _rows(pg_url, query) == applied
    finally:
        await again.close()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://gist:s3cret@127.0.0.1:1/test", "Connection refused"),  # nobody listens
        ("postgresql://postgres:s3cret@127.0.0.1:5432/no_such_db", "no_such_db"),  # refused
    ],
)
async def test_unusable_database_is_one_clear_line(pg_url: str, url: str, reason: str) -> None:
    store = PgStore(url)
    with pytest.raises(StoreUnavailable) as caught:
        await store.open()
    message = str(caught.value)
    assert message.startswith("GIST_DATABASE_URL: cannot use the database at ")
    assert reason in message and "\n" not in message
    assert "s3cret" not in message and ":***@" in message
    await store.close()


async def test_a_broken_url_is_reported_too() -> None:
    with pytest.raises(StoreUnavailable, match="GIST_DATABASE_URL"):
        await PgStore("postgresql://[::1").open()


async def test_store_recovers_when_the_server_drops_its_connections(
    pg_url: str, pg_schema: str
) -> None:
    # Our own application_name (the URL's wins over the default) finds our connections.
    url = f"{pg_url}?application_name={pg_schema}"
    store = PgStore(url, schema=pg_schema, min_size=2, max_size=2)
    await store.open()
    try:
        await store.accept([make_job()])
        ended = _rows(
            pg_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            pg_schema,
        )
        assert ended == [(True,), (True,)]  # every pooled connection is gone (a restart)
        assert await store.count() == 1  # a dead pooled connection is replaced, not used
    finally:
        await store.close()


async def test_open_store_picks_the_implementation(
    pg_url: str, pg_schema: str, tmp_path: Path
) -> None:
    sqlite = await open_store(_settings(tmp_path))
    assert isinstance(sqlite, JobStore)
    await sqlite.close()

    # An operator may choose the schema in the URL (libpq `options`); it must exist then.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg_schema)))
    url = f"{pg_url}?options=-csearch_path%3D{pg_schema}"
    pg = await open_store(_settings(tmp_path, gist_database_url=url))
    try:
        assert isinstance(pg, PgStore)
        await pg.accept([make_job()])
        assert _rows(pg_url, f"SELECT count(*) FROM {pg_schema}.jobs") == [(1,)]
    finally:
        await pg.close()

    with pytest.raises(StoreUnavailable, match="GIST_DATABASE_URL"):
        await open_store(
            _settings(tmp_path, gist_database_url="postgresql://postgres@127.0.0.1:1/x")
        )


def test_settings_accept_only_postgresql_urls(tmp_path: Path) -> None:
    assert _settings(tmp_path).gist_database_url is None
    assert _settings(tmp_path, gist_database_url="").gist_database_url is None
    assert _settings(tmp_path).gist_lease_s == 30
    with pytest.raises(SettingsError, match="GIST_DATABASE_URL"):
        _settings(tmp_path, gist_database_url="mysql://x@y/z")
    with pytest.raises(SettingsError, match="GIST_LEASE_S"):
        _settings(tmp_path, gist_lease_s=0)


def test_redact_hides_passwords() -> None:
    assert redact("postgresql://u:p@h:5/d") == "postgresql://u:***@h:5/d"
    assert redact("postgresql://u@h/d?password=p&sslmode=require") == (
        "postgresql://u@h/d?password=***&sslmode=require"
    )
    assert redact("postgresql://h/d") == "postgresql://h/d"


def test_schema_names_are_checked() -> None:
    with pytest.raises(ValueError):
        PgStore("postgresql://h/d", schema='x"; DROP TABLE jobs; --')
