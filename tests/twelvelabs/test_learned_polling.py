"""Waits that learn when things finish, and waits a webhook cuts short (against the fake).

Assertions are on what was fetched and which delays were asked for, never on elapsed time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.twelvelabs import TwelveLabsClient
from bot.twelvelabs.polling import Wakeups, poll_until
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.twelvelabs.conftest import Sleeps, make_client
from tests.twelvelabs.test_endpoints import SCHEMA, ready_asset

TASK = "/analyze/tasks/{id}"
ASSET = "/assets/{id}"


async def eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Let the loop run until `condition()` holds (the harness's own polling)."""
    for _ in range(int(timeout_s / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not met")


def gets(fake: FakeTwelveLabs, template: str, resource_id: str) -> int:
    return sum(
        1
        for c in list(fake.calls)
        if c.method == "GET" and c.template == template and c.path.endswith("/" + resource_id)
    )


async def one_task(client: TwelveLabsClient, asset_id: str, sleeps: Sleeps) -> tuple[str, int]:
    """Create and await one task; its id and the number of delays its wait asked for."""
    ref = await client.analysis.create(asset_id=asset_id, prompt="p", json_schema=SCHEMA)
    before = len(sleeps.delays)
    task = await client.analysis.wait(ref.task_id, timeout_s=30, video_duration_s=5.0)
    assert task.status == "ready"
    return ref.task_id, len(sleeps.delays) - before


async def test_analysis_learns_finishing_times_and_then_skips_the_useless_first_poll(
    fake: FakeTwelveLabs, client: TwelveLabsClient, sleeps: Sleeps, video: Path
) -> None:
    asset = await ready_asset(client, video)
    # A new client knows nothing: the plain backoff, whose first fetch is at once.
    task_id, waited = await one_task(client, asset.id, sleeps)
    assert gets(fake, TASK, task_id) == waited + 1
    for _ in range(4):
        await one_task(client, asset.id, sleeps)
    learned = client.analysis.ready_times["task"].predict(5.0)
    # From the server's created_at/completed_at: the fake takes 0.1 s per task.
    assert learned is not None and len(learned) == 5
    assert all(0.05 <= t <= 1.0 for t in learned)
    # Now a fresh task is not read before it can be done: every fetch follows a wait.
    task_id, waited = await one_task(client, asset.id, sleeps)
    assert gets(fake, TASK, task_id) == waited
    assert len(client.analysis.ready_times["task"]) == 6


async def test_a_task_this_client_did_not_create_is_polled_on_the_plain_backoff(
    fake: FakeTwelveLabs, client: TwelveLabsClient, sleeps: Sleeps, video: Path
) -> None:
    asset = await ready_asset(client, video)
    for _ in range(5):
        await one_task(client, asset.id, sleeps)
    async with make_client(fake, sleep=sleeps) as other:  # a restarted process, say
        ref = await other.analysis.create(asset_id=asset.id, prompt="p", json_schema=SCHEMA)
        before = len(sleeps.delays)
        await client.analysis.wait(ref.task_id, timeout_s=30, video_duration_s=5.0)
    waited = len(sleeps.delays) - before
    assert gets(fake, TASK, ref.task_id) == waited + 1  # read at once: it may be done already
    assert sleeps.delays[before : before + 1] in ([], [0.02])


async def test_assets_learn_processing_times_by_kind(
    fake: FakeTwelveLabs, client: TwelveLabsClient, sleeps: Sleeps, video: Path
) -> None:
    for _ in range(5):
        await ready_asset(client, video)
    assert len(client.assets.ready_times["upload"]) == 5
    assert "url" not in client.assets.ready_times
    asset = await client.assets.upload(video)
    before = len(sleeps.delays)
    await client.assets.wait(asset.id, timeout_s=30)
    assert gets(fake, ASSET, asset.id) == len(sleeps.delays) - before


class Stuck:
    """A sleep that records the delay and then waits far longer than any test: only a wake
    can end it in time."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(60)


async def test_a_wake_reads_the_task_at_once(fake: FakeTwelveLabs, video: Path) -> None:
    fake.configure(task_processing_s=0.3)
    async with make_client(fake) as setup:
        asset = await ready_asset(setup, video)
    stuck = Stuck()
    async with make_client(fake, sleep=stuck) as client:
        ref = await client.analysis.create(asset_id=asset.id, prompt="p", json_schema=SCHEMA)
        waiting = asyncio.create_task(client.analysis.wait(ref.task_id, timeout_s=300))
        await eventually(lambda: ref.task_id in fake.mark_task_ready_at)
        assert not client.analysis.wake("some-other-task")
        assert client.analysis.wake(ref.task_id)
        task = await asyncio.wait_for(waiting, 10)
    assert task.status == "ready"
    assert stuck.delays == [0.02]  # one wait begun, cut short by the wake
    assert gets(fake, TASK, ref.task_id) == 2
    assert not client.analysis.wakeups.waiting(ref.task_id)


async def test_a_wake_during_a_fetch_makes_the_next_fetch_immediate() -> None:
    wakeups = Wakeups()
    statuses = iter(["processing", "processing", "ready"])
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    async def fetch() -> str:
        wakeups.wake("t1")  # the event arrives while this read is in flight
        return next(statuses)

    with wakeups.watch("t1") as wake:
        got = await poll_until(fetch, lambda s: s, {"ready"}, timeout_s=60, wake=wake, sleep=sleep)
    assert got == "ready" and slept == []  # every wait was skipped


async def test_cancelling_a_wait_leaves_nothing_behind() -> None:
    wakeups = Wakeups()

    async def fetch() -> str:
        return "processing"

    async def run() -> str:
        with wakeups.watch("t1") as wake:
            return await poll_until(
                fetch, lambda s: s, {"ready"}, timeout_s=600, initial_s=30, wake=wake
            )

    waiting = asyncio.create_task(run())
    await eventually(lambda: wakeups.waiting("t1"))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not wakeups.waiting("t1")
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert all(t.done() for t in others)


def test_wakeups_remember_when_a_wake_last_reached_a_wait() -> None:
    now = [100.0]
    wakeups = Wakeups(clock=lambda: now[0])
    assert not wakeups.woke_within(3600)
    assert not wakeups.wake("nobody-waits")  # an event for a task not polled here
    assert not wakeups.woke_within(3600)
    with wakeups.watch("t1"):
        assert wakeups.wake("t1")
    now[0] += 3000
    assert wakeups.woke_within(3600)
    now[0] += 601
    assert not wakeups.woke_within(3600)
