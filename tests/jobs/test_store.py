"""The store's contract, run against both implementations (see conftest: `replica`)."""

import asyncio
import uuid
from pathlib import Path

import pytest

from bot.gist.models import Gist, GistType
from bot.jobs.cache import ResultCache
from bot.jobs.models import JobState
from bot.jobs.store import JobStore
from bot.jobs.store_base import StoreUnavailable
from tests.jobs.conftest import Replica, make_job


async def test_jobs_survive_reopening_and_dedupe_by_work_key(replica: Replica) -> None:
    store = await replica()
    job = make_job()
    assert await store.has_event("Ev1") is False
    assert await store.accept([job], "Ev1") == [True]  # the job and its event, together
    assert await store.has_event("Ev1") is True
    assert await store.accept([make_job()]) == [False]  # same work, new id: a duplicate
    job.asset_id, job.state = "asset1", JobState.RUNNING
    await store.save(job)
    await store.close()

    reopened = await replica()
    [resumed] = await reopened.unfinished()
    assert resumed.id == job.id and resumed.asset_id == "asset1"
    assert await reopened.has_event("Ev1") is True  # dedupe survives a restart
    assert await reopened.count(JobState.RUNNING) == 1 and await reopened.count() == 1
    resumed.state = JobState.DONE
    await reopened.save(resumed)
    assert await reopened.unfinished() == []
    assert (await reopened.get(job.id)) == resumed
    assert await reopened.get("nope") is None


async def test_an_event_is_accepted_once_even_when_its_jobs_have_new_keys(
    replica: Replica,
) -> None:
    store = await replica()
    assert await store.accept([make_job("k1")], "Ev1") == [True]
    # The same event again (a retry that reached another replica), its work keyed afresh:
    assert await store.accept([make_job(f"mention:{uuid.uuid4()}")], "Ev1") == [False]
    assert await store.count() == 1


async def test_concurrent_accepts_on_two_replicas_add_each_job_once(replica: Replica) -> None:
    a, b = await replica(), await replica()
    # Same event to both replicas (k*); the same work arriving by two different events (w*).
    pairs = [(f"k{i}", f"Ev{i}", f"Ev{i}") for i in range(10)]
    pairs += [(f"w{i}", f"A{i}", f"B{i}") for i in range(10)]
    results = await asyncio.gather(
        *(
            store.accept([make_job(key)], event)
            for key, event_a, event_b in pairs
            for store, event in ((a, event_a), (b, event_b))
        )
    )
    for i in range(len(pairs)):
        assert sorted([results[2 * i], results[2 * i + 1]]) == [[False], [True]]
    assert await a.count() == 20 and len(await b.unfinished()) == 20


async def test_a_batch_reports_each_job_and_duplicates_within_it(replica: Replica) -> None:
    store = await replica()
    assert await store.accept([make_job("b"), make_job("a"), make_job("b")]) == [
        True,
        True,
        False,
    ]


async def test_prune_forgets_old_dedupe_keys_only(replica: Replica) -> None:
    store = await replica()
    job = make_job("k")
    await store.accept([job], "Ev")
    await store.prune(3600)  # nothing that old
    assert await store.has_event("Ev") and await store.accept([make_job("k")]) == [False]
    await store.prune(-1)  # everything is older than a second from now
    assert not await store.has_event("Ev")
    assert await store.accept([make_job("k")]) == [True]  # the key may be reused
    assert await store.get(job.id) is not None  # jobs themselves are kept


async def test_cache_serves_subsets_and_survives_restart(replica: Replica) -> None:
    store = await replica()
    cache = ResultCache(store, ttl_s=3600)
    gist = Gist(title="T", topics=["a"], hashtags=["#b"], types=list(GistType.all()))
    await cache.put(["url:https://x/v.mp4", "sha256:abc"], gist)
    await store.close()

    store = await replica()
    cache = ResultCache(store, ttl_s=3600)
    only_tags = await cache.get(["sha256:abc"], frozenset({GistType.HASHTAG}))
    assert only_tags is not None
    assert only_tags.hashtags == ["#b"] and only_tags.title is None and only_tags.topics == []
    assert await cache.get(["url:https://other"], GistType.all()) is None
    # A title-only gist cannot answer a request that wants topics.
    await cache.put(["url:t"], Gist(title="T", types=[GistType.TITLE]))
    assert await cache.get(["url:t"], GistType.all()) is None
    # Writing the same key and types again replaces the row, newest first.
    await store.cache_put(["url:t"], "title", '{"v": 2}')
    assert await store.cache_get("url:t", 3600) == [("title", '{"v": 2}')]
    assert await store.cache_get("url:t", -1) == []  # older than the TTL


async def test_usage_totals_per_user_and_team(replica: Replica) -> None:
    store = await replica()
    await store.record_usage("j1", "T", "U1", 60.0, 100)
    await store.record_usage("j2", "T", "U2", 30.0, 50)
    await store.record_usage("j2", "T", "U2", 30.0, 50)  # recorded once per job
    assert (await store.usage_today("T", "U1"))["video_seconds"] == 60.0
    team = await store.usage_today("T")
    assert team == {"video_seconds": 90.0, "tokens": 150.0, "jobs": 2.0}
    assert await store.usage_today("other") == {"video_seconds": 0, "tokens": 0, "jobs": 0}


async def test_usage_recorded_by_two_replicas_counts_once(replica: Replica) -> None:
    a, b = await replica(), await replica()
    # The old owner of a job and the replica that took it over both record it.
    await asyncio.gather(
        *(a.record_usage(f"j{i}", "T", "U", 10.0, 5) for i in range(5)),
        *(b.record_usage(f"j{i}", "T", "U", 10.0, 5) for i in range(5)),
    )
    assert await a.usage_today("T", "U") == {"video_seconds": 50.0, "tokens": 25.0, "jobs": 5.0}


async def test_an_unusable_sqlite_path_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    store = JobStore(tmp_path / "file" / "jobs.sqlite3")
    with pytest.raises(StoreUnavailable, match=r"^GIST_DB_PATH: cannot open") as caught:
        await store.open()
    assert "\n" not in str(caught.value)
    await store.close()
