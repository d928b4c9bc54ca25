"""The runner with leases: what happens to a replica's jobs when another replica takes one of
them over (its lease lapsed while this replica stalled). Another replica is stood in for by
claiming the job in the store under another owner."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.jobs.leases import LOCAL_OWNER
from bot.jobs.models import Job, JobState
from bot.jobs.phases import Phase
from tests.jobs.rig import MediaServer, Rig, link_job

MakeRig = Callable[..., Awaitable[Rig]]


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> bool:
    """A guard against hanging, not a timing: poll `check` until it holds."""
    async with asyncio.timeout(timeout_s):
        while True:
            if await check():
                break
            await asyncio.sleep(0.02)
    return True


async def test_a_job_sharing_work_whose_owner_lost_it_finishes_on_its_own(
    make_rig: MakeRig, media: MediaServer
) -> None:
    rig = await make_rig(gist_lease_s=0.3)  # a heartbeat every 0.1 s
    rig.tl.asset_processing_s = 1.0  # the first job waits on its asset while it is taken away
    heartbeat = asyncio.create_task(rig.runner.keep_leases())
    leader, follower = link_job(media.url()), link_job(media.url())  # one video, two messages
    try:
        assert all(await rig.runner.accept_many([leader, follower]))
        rig.runner.start(leader)

        async def asset_saved(job: Job = leader) -> bool:
            return (await rig.reload(job)).asset_id is not None

        await until(asset_saved)
        rig.runner.start(follower)

        async def sharing() -> bool:
            return Phase.PROCESSING in rig.notifier.phases(follower.id)

        await until(sharing)
        # Another replica takes the leader's job over; the follower's own lease is intact.
        await rig.store.release(leader.id, LOCAL_OWNER)
        assert await rig.store.claim(leader.id, "replica-B", 3600.0) is not None

        async def follower_done() -> bool:
            return (await rig.reload(follower)).state is not JobState.RUNNING

        await until(follower_done)
    finally:
        heartbeat.cancel()
    done = await rig.reload(follower)
    assert done.state is JobState.DONE and done.gist is not None
    assert [s.kind for s in rig.notifier.calls("result", follower.id)] == ["result"]
    assert rig.notifier.calls("result", leader.id) == []  # the leader's job is B's to finish
    held = await rig.store.claim(leader.id, LOCAL_OWNER, 3600.0)
    assert held is None  # still B's: this replica never wrote to it again
