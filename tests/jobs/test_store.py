import time
from pathlib import Path

from bot.gist.models import Gist, GistType
from bot.jobs.cache import ResultCache
from bot.jobs.models import Job, JobState, SlackContext, SourceSpec, Trigger
from bot.jobs.store import JobStore


def make_job(key: str = "T:C:1.0:F1") -> Job:
    return Job(
        work_key=key,
        trigger=Trigger.PASSIVE,
        slack=SlackContext(team_id="T", channel="C", user="U", thread_ts="1.0", source_ts="1.0"),
        source=SourceSpec(kind="slack_file", file_id="F1", filename="a.mp4"),
        types=list(GistType.all()),
        deadline_at=time.time() + 60,
    )


async def test_jobs_survive_reopening_and_dedupe_by_work_key(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite3"
    store = JobStore(db)
    job = make_job()
    assert await store.has_event("Ev1") is False
    assert await store.accept([job], "Ev1") == [True]  # the job and its event, together
    assert await store.has_event("Ev1") is True
    assert await store.accept([make_job()]) == [False]  # same work, new id: a duplicate
    job.asset_id, job.state = "asset1", JobState.RUNNING
    await store.save(job)
    await store.close()

    reopened = JobStore(db)
    [resumed] = await reopened.unfinished()
    assert resumed.id == job.id and resumed.asset_id == "asset1"
    assert await reopened.has_event("Ev1") is True  # dedupe survives a restart
    resumed.state = JobState.DONE
    await reopened.save(resumed)
    assert await reopened.unfinished() == []
    await reopened.close()


async def test_cache_serves_subsets_and_survives_restart(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite3"
    store = JobStore(db)
    cache = ResultCache(store, ttl_s=3600)
    gist = Gist(title="T", topics=["a"], hashtags=["#b"], types=list(GistType.all()))
    await cache.put(["url:https://x/v.mp4", "sha256:abc"], gist)
    await store.close()

    store = JobStore(db)
    cache = ResultCache(store, ttl_s=3600)
    only_tags = await cache.get(["sha256:abc"], frozenset({GistType.HASHTAG}))
    assert only_tags is not None
    assert only_tags.hashtags == ["#b"] and only_tags.title is None and only_tags.topics == []
    assert await cache.get(["url:https://other"], GistType.all()) is None
    # A title-only gist cannot answer a request that wants topics.
    await cache.put(["url:t"], Gist(title="T", types=[GistType.TITLE]))
    assert await cache.get(["url:t"], GistType.all()) is None
    await store.close()


async def test_usage_totals_per_user_and_team(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "u.sqlite3")
    await store.record_usage("j1", "T", "U1", 60.0, 100)
    await store.record_usage("j2", "T", "U2", 30.0, 50)
    await store.record_usage("j2", "T", "U2", 30.0, 50)  # recorded once per job
    assert (await store.usage_today("T", "U1"))["video_seconds"] == 60.0
    team = await store.usage_today("T")
    assert team["video_seconds"] == 90.0 and team["tokens"] == 150 and team["jobs"] == 2
    await store.close()
