"""The runner with leases: what happens to a replica's jobs when another replica takes one of
them over (its lease lapsed while this replica stalled). Replica B is a second runner on the
same store, with a lease of its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.jobs.assemble import build_runner
from bot.jobs.leases import LOCAL_OWNER, Lease
from bot.jobs.models import JobState
from bot.jobs.phases import Phase
from bot.jobs.runner import JobRunner
from bot.jobs.store import JobStore
from tests.jobs.rig import MediaServer, RecordingNotifier, Rig, link_job

MakeRig = Callable[..., Awaitable[Rig]]


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> bool:
    """A guard against hanging, not a timing: poll `check` until it holds."""
    async with asyncio.timeout(timeout_s):
        while True:
            if await check():
                break
            await asyncio.sleep(0.02)
    return True


async def test_a_job_sharing_work_that_another_replica_took_over_gets_its_gist(
    make_rig: MakeRig, media: MediaServer
) -> None:
    rig = await make_rig(gist_lease_s=0.3)  # a heartbeat every 0.1 s
    rig.tl.asset_processing_s = 1.0  # the first job waits on its asset while it is taken away
    other = build_runner(  # replica B: the same store and TwelveLabs, a lease of its own
        rig.settings,
        store=rig.store,
        service=rig.service,
        notifier=RecordingNotifier(),
        fetcher=rig.fetcher,
        http=rig.http,
        lease=Lease(rig.store, "replica-B", 3600.0),
    )
    heartbeat = asyncio.create_task(rig.runner.keep_leases())
    leader, follower = link_job(media.url()), link_job(media.url())  # one video, two messages
    try:
        assert all(await rig.runner.accept_many([leader, follower]))
        rig.runner.start(leader)

        async def asset_saved() -> bool:
            return (await rig.reload(leader)).asset_id is not None

        await until(asset_saved)
        rig.runner.start(follower)

        async def sharing() -> bool:
            return Phase.PROCESSING in rig.notifier.phases(follower.id)

        await until(sharing)
        # This replica stalls past the leader's lease: B takes that job over and finishes it.
        await rig.store.release(leader.id, LOCAL_OWNER)
        assert await other.take_over() == 1

        async def both_done() -> bool:
            jobs = [await rig.reload(job) for job in (leader, follower)]
            return all(job.state in (JobState.DONE, JobState.FAILED) for job in jobs)

        await until(both_done)
    finally:
        heartbeat.cancel()
        await other.stop(0.5)
    done, shared = await rig.reload(leader), await rig.reload(follower)
    assert done.state is JobState.DONE and shared.state is JobState.DONE
    assert shared.cached and shared.gist == done.gist  # B's work, not a second analysis
    assert rig.count("POST", "/assets") == 1 and rig.count("POST", "/analyze/tasks") == 1
    assert [s.kind for s in rig.notifier.calls("result")] == ["result"]  # the follower's
    assert rig.notifier.calls("result", leader.id) == []  # the leader's reply is B's to post


class HeldBack(JobStore):
    """The SQLite store, but one method's answer is held back (after it took effect) until
    `let_go` is set: the heartbeat's view of the world goes stale the way a slow database
    round trip makes it."""

    def __init__(self, path: Path, method: str) -> None:
        super().__init__(path)
        self.method = method
        self.entered = asyncio.Event()
        self.let_go = asyncio.Event()

    async def _held(self) -> None:
        self.entered.set()
        await self.let_go.wait()

    async def renew_all(self, owner: str, lease_s: float) -> set[str]:
        held = await super().renew_all(owner, lease_s)
        if self.method == "renew_all":
            await self._held()
        return held

    async def release(self, job_id: str, owner: str) -> None:
        await super().release(job_id, owner)
        if self.method == "release":
            await self._held()


async def runner_on(store: JobStore, rig: Rig) -> JobRunner:
    await store.open()
    return build_runner(
        rig.settings,
        store=store,
        service=rig.service,
        notifier=RecordingNotifier(),
        fetcher=rig.fetcher,
        http=rig.http,
        lease=Lease(store, "replica-A", rig.settings.gist_lease_s),
    )


async def test_a_job_accepted_while_the_heartbeat_renews_is_not_taken_for_lost(
    make_rig: MakeRig, media: MediaServer, tmp_path: Path
) -> None:
    rig = await make_rig(gist_lease_s=0.3)
    store = HeldBack(tmp_path / "other.sqlite3", "renew_all")
    runner = await runner_on(store, rig)
    heartbeat = asyncio.create_task(runner.keep_leases())
    job = link_job(media.url())
    try:
        await store.entered.wait()  # the renewal ran; its answer (no jobs) is on its way
        assert await runner.accept(job)
        runner.start(job)
        store.let_go.set()

        async def ended() -> bool:
            stored = await store.get(job.id)
            return stored is not None and stored.state in (JobState.DONE, JobState.FAILED)

        await until(ended)
        stored = await store.get(job.id)
    finally:
        heartbeat.cancel()
        await runner.stop(0.5)
        await store.close()
    assert stored is not None and stored.state is JobState.DONE


async def test_a_job_letting_go_of_its_lease_as_it_ends_is_not_interrupted(
    make_rig: MakeRig, media: MediaServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.jobs.runner")
    rig = await make_rig(gist_lease_s=0.3)
    store = HeldBack(tmp_path / "other.sqlite3", "release")
    runner = await runner_on(store, rig)
    heartbeat = asyncio.create_task(runner.keep_leases())
    job = link_job(media.url())
    try:
        assert await runner.accept(job)
        runner.start(job)
        await store.entered.wait()  # ended and let go; the release's answer is on its way
        renewed = rig.settings.gist_lease_s  # a beat or two pass meanwhile
        await asyncio.sleep(renewed)
        store.let_go.set()
        assert await runner.wait_idle(20)
    finally:
        heartbeat.cancel()
        await runner.stop(0.5)
        await store.close()
    assert f"job {job.id} done in" in caplog.text
    assert "lease lost" not in caplog.text and "interrupted" not in caplog.text


async def test_a_dead_replicas_jobs_are_taken_as_far_as_there_is_room(
    make_rig: MakeRig, media: MediaServer
) -> None:
    # Pools of 2 analyses and 1 upload: room for 3 jobs at a time.
    rig = await make_rig(gist_max_concurrent_analyses=2, gist_max_concurrent_uploads=1)
    rig.tl.asset_processing_s = 5.0  # what it takes stays in flight while we look
    jobs = [link_job(media.url(f"clip{i}.mp4")) for i in range(10)]
    await rig.store.accept(jobs, owner="dead-replica", lease_s=0)  # its leases ran out

    await rig.runner.beat()
    assert rig.runner.in_flight == 3
    await rig.runner.beat()  # full: one more a beat, so nothing abandoned waits for ever
    assert rig.runner.in_flight == 4
    rest = await rig.store.claim_expired("replica-B", 3600.0, 100)
    assert len(rest) == 6  # left for the other live replicas
