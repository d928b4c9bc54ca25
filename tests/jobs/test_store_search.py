"""What search needs from the store, on both implementations: indexed videos and where they
were shared, jobs by asset, and recent gists per channel list."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bot.gist.models import Gist
from bot.jobs.models import Job, JobState
from bot.jobs.store import SCHEMA_VERSION, JobStore
from bot.jobs.store_base import IndexedVideo
from tests.jobs.conftest import Replica, make_job


def video(
    item: str, *, team: str = "T", channel: str = "C", at: float | None = None
) -> IndexedVideo:
    return IndexedVideo(
        indexed_asset_id=item,
        index_id="idx",
        asset_id=f"asset-{item}",
        job_id=f"job-{item}",
        team_id=team,
        channel=channel,
        message_ts="1.0",
        created_at=time.time() if at is None else at,
    )


def done(key: str, *, channel: str = "C", team: str = "T", title: str | None = "A title") -> Job:
    job = make_job(key)
    job.slack.channel, job.slack.team_id = channel, team
    job.state = JobState.DONE
    job.gist = Gist(title=title) if title is not None else None
    return job


async def test_indexed_videos_are_remembered_and_replaced(replica: Replica) -> None:
    store = await replica()
    await store.record_indexed(video("v1", at=100.0))
    await store.record_indexed(video("v2", at=200.0, channel="C2"))
    await store.record_indexed(video("v3", team="OTHER", at=300.0))
    found = await store.indexed_videos(["v1", "v2", "nope"])
    assert set(found) == {"v1", "v2"} and found["v2"].channel == "C2"
    assert found["v1"] == video("v1", at=100.0)
    assert [v.indexed_asset_id for v in await store.indexed_since("T", 150.0)] == ["v2"]
    assert [v.indexed_asset_id for v in await store.indexed_since("T", 0.0)] == ["v2", "v1"]
    await store.record_indexed(video("v1", at=400.0, channel="C9"))  # indexed again
    assert (await store.indexed_videos(["v1"]))["v1"].channel == "C9"
    assert await store.indexed_videos([]) == {}


async def test_job_by_asset_prefers_the_one_with_a_gist(replica: Replica) -> None:
    store = await replica()
    failed, good = make_job("k1"), done("k2")
    failed.asset_id = good.asset_id = "A1"
    failed.state, failed.error_code = JobState.DONE, "rejected"
    failed.created_at = good.created_at - 10  # older, but it failed
    await store.accept([failed, good])
    found = await store.job_by_asset("A1")
    assert found is not None and found.id == good.id
    assert await store.job_by_asset("A2") is None


async def test_unindexed_assets(replica: Replica) -> None:
    store = await replica()
    assert await store.unindexed_assets() is False  # a fresh store: nothing to tag
    await store.accept([make_job("no-asset")])
    assert await store.unindexed_assets() is False
    job = done("with-asset")
    job.asset_id = "asset-v1"
    await store.accept([job])
    assert await store.unindexed_assets() is True  # indexed before rows were kept, maybe
    await store.record_indexed(video("v1"))  # its asset is asset-v1
    assert await store.unindexed_assets() is False


async def test_recent_gists_per_channel_list(replica: Replica) -> None:
    store = await replica()
    jobs = [
        done("a", channel="C1"),
        done("b", channel="C2"),
        done("c", channel="C3"),
        done("d", channel="C1", team="OTHER"),
        done("e", channel="C1", title=None),  # no gist: failed
    ]
    running = make_job("f")
    running.slack.channel, running.slack.team_id = "C1", "T"
    await store.accept([*jobs, running])
    for job in jobs:  # saved in order: updated_at grows
        await store.save(job)
    recent = await store.recent_gists("T", ["C1", "C2", "C9"], limit=10)
    assert [j.id for j in recent] == [jobs[1].id, jobs[0].id]
    assert [j.id for j in await store.recent_gists("T", ["C1", "C2"], limit=1)] == [jobs[1].id]
    assert await store.recent_gists("T", [], limit=10) == []
    assert set(await store.get_many([jobs[2].id, "nope"])) == {jobs[2].id}


async def test_sqlite_schema_version(tmp_path: Path) -> None:
    # The look-ups name their expression indexes (INDEXED BY): the functional tests above would
    # fail with "no query solution" if an index stopped matching its query.
    store = JobStore(tmp_path / "db.sqlite3")
    await store.open()
    await store.close()
    conn = sqlite3.connect(tmp_path / "db.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    conn.close()


async def test_sqlite_file_of_the_previous_version_gains_search(tmp_path: Path) -> None:
    db = tmp_path / "v2.sqlite3"
    job = done("k")
    job.asset_id = "A1"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, work_key TEXT NOT NULL, state TEXT NOT NULL, "
        "created_at REAL NOT NULL, updated_at REAL NOT NULL, data TEXT NOT NULL, "
        "lease_owner TEXT, lease_until REAL); PRAGMA user_version = 2;"
    )
    conn.execute(
        "INSERT INTO jobs(id, work_key, state, created_at, updated_at, data) "
        "VALUES (?, ?, 'done', ?, ?, ?)",
        (job.id, job.work_key, job.created_at, job.updated_at, job.model_dump_json()),
    )
    conn.commit()
    conn.close()
    store = JobStore(db)
    await store.open()
    try:
        found = await store.job_by_asset("A1")  # a row written before the upgrade
        assert found is not None and found.id == job.id
        await store.record_indexed(video("v1"))
        assert await store.indexed_videos(["v1"])
    finally:
        await store.close()
