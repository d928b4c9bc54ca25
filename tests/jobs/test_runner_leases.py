"""The runner with leases: what happens to a replica's jobs when another replica takes one of
them over (its lease lapsed while this replica stalled). Replica B is a second runner on the
same store, with a lease of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.jobs.assemble import build_runner
from bot.jobs.leases import LOCAL_OWNER, Lease
from bot.jobs.models import JobState
from bot.jobs.phases import Phase
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
            return all(job.state is not JobState.RUNNING for job in jobs)

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
