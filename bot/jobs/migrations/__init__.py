"""Versioned PostgreSQL migrations: `NNN_name.sql` files beside this module, applied in order.

Scheme. The table `schema_migrations(version, name, applied_at)` records what is applied.
At start-up every replica runs `migrate`: in ONE transaction it takes a transaction-level
advisory lock (so replicas starting together queue up instead of racing; the lock goes with
the transaction, even if the process dies), creates the schema if one is named, and applies
each missing file with its `schema_migrations` row. PostgreSQL DDL is transactional: a failed
file leaves nothing half-applied. The replicas that waited then find nothing left to do.
Rules for new files: never edit an applied one; add the next number; statements must be
allowed in a transaction (no CREATE INDEX CONCURRENTLY); keep them backward compatible
(add, don't rename or drop) so replicas still on the previous release keep working during a
rolling upgrade.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    found = []
    for entry in resources.files(__package__).iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError("migrations must be numbered 001, 002, … without gaps or repeats")
    return found


async def migrate(conn: psycopg.AsyncConnection[Any], schema: str | None) -> list[int]:
    """Apply the missing migrations under the advisory lock; returns the versions applied.
    The connection's search_path must already point at `schema` (it may not exist yet)."""
    migrations = available()
    async with conn.transaction():
        # Keyed by schema: isolated schemas (tests, several deployments) don't wait on each other.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"gistbot.migrate:{schema or ''}",)
        )
        if schema:
            await conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            )
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY,"
            " name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT version FROM schema_migrations")
        applied = {int(row[0]) for row in await cur.fetchall()}
        done: list[int] = []
        for migration in migrations:
            if migration.version in applied:
                continue
            # bytes: sent as one simple query, so a file may hold several statements.
            await conn.execute(migration.sql.encode())
            await conn.execute(
                "INSERT INTO schema_migrations(version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            done.append(migration.version)
    if done:
        log.info("database schema migrated to version %d (applied %s)", done[-1], done)
    newest = max(applied, default=0)
    if newest > len(migrations):
        log.warning(
            "the database schema is at version %d, newer than this release knows (%d): "
            "a newer gistbot migrated it; carrying on (migrations only add)",
            newest,
            len(migrations),
        )
    return done
