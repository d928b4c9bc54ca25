"""Single flight across replicas: the store's flights (both stores), and two runners on one
store — two replicas — asked for the same video at once paying for one analysis."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.jobs.models import JobState
from tests.jobs.conftest import Replica, make_job
from tests.jobs.rig import MediaServer, Rig, link_job

MakeRig = Callable[..., Awaitable[Rig]]


async def test_one_job_leads_a_flight_the_others_wait(replica: Replica) -> None:
    a, b = await replica(), await replica()
    first, second, other = make_job("k1"), make_job("k2"), make_job("k3")
    await a.accept([first, second, other])
    assert await a.join_flight("video|title", first.id) is None  # leads
    assert await a.join_flight("video|title", first.id) is None  # still: a resumed leader
    assert await b.join_flight("video|title", second.id) == first.id  # waits for it
    assert await b.join_flight("video|topic", second.id) is None  # other types: other work
    assert await b.join_flight("other|title", other.id) is None

    await b.end_flight("video|title", second.id)  # not its flight: nothing happens
    assert await b.join_flight("video|title", second.id) == first.id
    await a.end_flight("video|title", first.id)  # its gist is cached, or it failed
    assert await b.join_flight("video|title", second.id) is None  # free: second leads


async def test_a_finished_leader_no_longer_holds_its_flight(replica: Replica) -> None:
    a, b = await replica(), await replica()
    first, second = make_job("k1"), make_job("k2")
    await a.accept([first, second])
    assert await a.join_flight("v", first.id) is None
    first.state = JobState.FAILED  # ended (say its replica was killed before it let go)
    await a.save(first)
    assert await b.join_flight("v", second.id) is None
    assert await a.join_flight("v", first.id) == second.id  # taken over for good


async def test_racing_joins_have_one_leader(replica: Replica) -> None:
    stores = [await replica() for _ in range(4)]
    jobs = [make_job(f"k{i}") for i in range(8)]
    await stores[0].accept(jobs)
    leaders = await asyncio.gather(
        *(stores[i % 4].join_flight("v|t", job.id) for i, job in enumerate(jobs))
    )
    assert leaders.count(None) == 1
    [leader] = [job.id for job, led in zip(jobs, leaders, strict=True) if led is None]
    assert {led for led in leaders if led is not None} == {leader}


async def test_two_replicas_asked_for_one_video_pay_for_one_analysis(
    make_rig: MakeRig, media: MediaServer
) -> None:
    one = await make_rig()
    two = await make_rig()  # the same store file: another replica, its own in-process flights
    one.tl.asset_processing_s = 0.5  # the second job arrives while the first works
    first, second = link_job(media.url()), link_job(media.url())  # two messages, one video
    assert await one.runner.accept(first) and await two.runner.accept(second)
    one.runner.start(first)
    two.runner.start(second)
    [done1] = await one.settle(first)
    [done2] = await two.settle(second)
    assert done1.state is JobState.DONE and done2.state is JobState.DONE
    assert one.count("POST", "/assets") == 1 and one.count("POST", "/analyze/tasks") == 1
    assert sorted([done1.cached, done2.cached]) == [False, True]
    assert done1.gist is not None and done2.gist is not None
    assert done1.gist.title == done2.gist.title
    assert len(one.notifier.calls("result")) == 1 and len(two.notifier.calls("result")) == 1
