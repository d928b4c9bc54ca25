"""Leases across replicas, against both stores: claims are atomic, a lapsed lease is taken
over at the last durable step, and the replica that lost it can no longer write.

`lease_s=0` stands in for a replica that died: its lease has run out the moment it is taken,
so no test waits on a clock."""

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.jobs.models import JobState
from bot.jobs.store import SCHEMA_VERSION, JobStore
from bot.jobs.store_base import LeaseLost, Store
from tests.jobs.conftest import Replica, make_job

LONG = 3600.0


async def test_claim_takes_a_free_job_once(replica: Replica) -> None:
    store = await replica()
    job, done = make_job("k1"), make_job("k2")
    done.state = JobState.DONE
    await store.accept([job, done])

    claimed = await store.claim(job.id, "A", LONG)
    assert claimed is not None and claimed.id == job.id
    assert await store.claim(job.id, "B", LONG) is None  # held by A's live lease
    assert await store.claim(job.id, "A", LONG) is not None  # A again: renewed
    assert await store.claim(done.id, "A", LONG) is None  # finished jobs are not run again
    assert await store.claim("unknown", "A", LONG) is None


async def test_racing_claims_on_one_job_have_one_winner(replica: Replica) -> None:
    a, b = await replica(), await replica()
    jobs = [make_job(f"k{i}") for i in range(10)]
    await a.accept(jobs)
    for job in jobs:
        won = await asyncio.gather(a.claim(job.id, "A", LONG), b.claim(job.id, "B", LONG))
        assert sum(result is not None for result in won) == 1


async def test_racing_claim_expired_splits_the_jobs(replica: Replica) -> None:
    a, b = await replica(), await replica()
    jobs = [make_job(f"k{i}", created_at=1000.0 + i) for i in range(30)]
    await a.accept(jobs)
    taken: dict[str, list[str]] = {"A": [], "B": []}

    async def drain(store: Store, owner: str) -> None:
        while batch := await store.claim_expired(owner, LONG, 4):
            created = [j.created_at for j in batch]
            assert created == sorted(created)  # oldest first
            taken[owner] += [j.id for j in batch]

    await asyncio.gather(drain(a, "A"), drain(b, "B"))
    assert not set(taken["A"]) & set(taken["B"])  # no job claimed twice
    assert sorted(taken["A"] + taken["B"]) == sorted(j.id for j in jobs)  # none left behind


async def test_a_lapsed_lease_is_taken_over_at_the_last_durable_step(replica: Replica) -> None:
    a, b = await replica(), await replica()
    job = make_job()
    await a.accept([job], owner="A", lease_s=0)  # A accepts, starts, then dies
    job.state, job.asset_id = JobState.RUNNING, "asset1"
    await a.save(job, owner="A")  # its last durable step

    [taken] = await b.claim_expired("B", LONG, 10)
    assert taken.id == job.id and taken.asset_id == "asset1"  # B resumes from there
    assert await a.claim_expired("A", LONG, 10) == []  # B's lease is live now
    taken.task_id = "task1"
    await b.save(taken, owner="B")

    # A wakes up: every write is refused and nothing of B's is overwritten.
    job.asset_id = "asset-from-a-stale-view"
    with pytest.raises(LeaseLost):
        await a.save(job, owner="A")
    assert await a.renew(job.id, "A", LONG) is False
    stored = await b.get(job.id)
    assert stored is not None and stored.asset_id == "asset1" and stored.task_id == "task1"


async def test_a_live_lease_is_not_taken_over(replica: Replica) -> None:
    a, b = await replica(), await replica()
    held, free = make_job("k1"), make_job("k2")
    await a.accept([held], owner="A", lease_s=LONG)
    await a.accept([free])  # nobody holds it yet
    assert [j.id for j in await b.claim_expired("B", LONG, 10)] == [free.id]
    assert await b.claim(held.id, "B", LONG) is None


async def test_renew_release_and_heartbeat(replica: Replica) -> None:
    a, b = await replica(), await replica()
    j1, j2, j3 = make_job("k1"), make_job("k2"), make_job("k3")
    await a.accept([j1, j2, j3], owner="A", lease_s=0)
    assert await a.renew(j1.id, "A", LONG) is True  # expired but not taken: still A's
    assert await a.renew_all("A", LONG) == {j1.id, j2.id, j3.id}
    assert await b.claim_expired("B", LONG, 10) == []  # the heartbeat kept them

    await a.release(j1.id, "A")  # handed back: free at once, no waiting for expiry
    await a.release(j1.id, "A")  # releasing twice is harmless
    claimed = await b.claim(j1.id, "B", LONG)
    assert claimed is not None
    await a.release(j1.id, "A")  # no longer A's: does not free B's lease
    assert await a.claim(j1.id, "A", LONG) is None
    assert await a.renew_all("A", LONG) == {j2.id, j3.id}  # the runner learns j1 is lost
    with pytest.raises(LeaseLost):
        await a.save(claimed, owner="A")

    assert await a.release_all("A") == 2  # shutdown: the rest goes back at once
    assert {j.id for j in await b.claim_expired("B", LONG, 10)} == {j2.id, j3.id}


async def test_fenced_save_needs_the_lease(replica: Replica) -> None:
    store = await replica()
    job = make_job()
    await store.accept([job])
    with pytest.raises(LeaseLost):  # never claimed
        await store.save(job, owner="A")
    await store.claim(job.id, "A", LONG)
    job.state, job.task_id = JobState.DONE, "t1"
    await store.save(job, owner="A")
    await store.release(job.id, "A")
    with pytest.raises(LeaseLost):  # let go: a late write is refused
        await store.save(job, owner="A")
    stored = await store.get(job.id)
    assert stored is not None and stored.state is JobState.DONE and stored.task_id == "t1"
    assert await store.claim_expired("B", LONG, 10) == []  # finished: nothing to take over


async def test_unfenced_save_keeps_the_lease(replica: Replica) -> None:
    a, b = await replica(), await replica()
    job = make_job()
    await a.accept([job], owner="A", lease_s=LONG)
    job.asset_id = "x"
    await a.save(job)  # no owner: a plain write, which must not drop A's claim
    assert await b.claim_expired("B", LONG, 10) == []
    await a.save(job, owner="A")


async def test_accept_with_an_owner_needs_a_lease_length(replica: Replica) -> None:
    store = await replica()
    with pytest.raises(ValueError):
        await store.accept([make_job()], owner="A")


async def test_sqlite_file_from_before_leases_is_migrated(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    job = make_job()
    old = sqlite3.connect(db)
    old.execute(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, work_key TEXT NOT NULL, state TEXT NOT NULL, "
        "created_at REAL NOT NULL, updated_at REAL NOT NULL, data TEXT NOT NULL)"
    )
    old.execute(
        "INSERT INTO jobs VALUES (?, ?, 'queued', ?, ?, ?)",
        (job.id, job.work_key, job.created_at, job.updated_at, job.model_dump_json()),
    )
    old.commit()
    old.close()

    store = JobStore(db)
    await store.open()
    [claimed] = await store.claim_expired("A", LONG, 10)
    assert claimed.id == job.id
    await store.close()
    again = JobStore(db)  # opening a migrated file again changes nothing
    await again.open()
    assert await again.claim(job.id, "B", LONG) is None
    await again.close()
    check = sqlite3.connect(db)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    check.close()
