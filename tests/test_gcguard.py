"""The collector guard: long-lived objects leave the full passes; frozen cycles wait for a thaw."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator, Callable

import pytest

from bot.gcguard import GcGuard


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def guards() -> AsyncIterator[Callable[..., GcGuard]]:
    made: list[GcGuard] = []

    def make(in_flight: Callable[[], int] = lambda: 0, **kwargs: object) -> GcGuard:
        guard = GcGuard(in_flight, **kwargs)  # type: ignore[arg-type]
        made.append(guard)
        return guard

    try:
        yield make
    finally:
        for guard in made:
            await guard.stop()
        gc.unfreeze()  # leave the test process's collector as it was


def _cycle_surviving_a_young_collection() -> weakref.ref[Node]:
    node = Node()
    ref = weakref.ref(node)
    gc.collect(1)  # `node` survives a generation-1 collection: a long-lived object now
    return ref  # and the last strong reference goes with this frame


async def test_without_the_guard_a_full_collection_frees_the_cycle() -> None:
    ref = _cycle_surviving_a_young_collection()
    gc.collect()
    assert ref() is None


async def test_survivors_are_frozen_out_of_full_passes_until_a_thaw(
    guards: Callable[..., GcGuard],
) -> None:
    guard = guards()
    guard.start()
    before = gc.get_freeze_count()
    keep = [[i] for i in range(2000)]  # lists are tracked by the collector
    gc.collect(1)
    assert gc.get_freeze_count() >= before + len(keep)

    ref = _cycle_surviving_a_young_collection()
    gc.collect()  # a full pass: it doesn't walk (or free) frozen objects
    assert ref() is not None
    assert guard.thaw() >= 1
    assert ref() is None
    assert gc.get_freeze_count() >= len(keep)  # the living are frozen again
    del keep


async def test_thaw_only_when_quiet_or_after_hours(guards: Callable[..., GcGuard]) -> None:
    clock, jobs = Clock(), [5]
    guard = guards(
        lambda: jobs[0], thaw_quiet_every_s=600.0, thaw_anyway_every_s=6 * 3600.0, clock=clock
    )
    clock.now = 700.0
    assert not guard.due()  # busy
    jobs[0] = 0
    assert guard.due()  # quiet, and long enough since the last thaw
    guard.thaw()
    clock.now += 100.0
    assert not guard.due()  # quiet, but thawed a moment ago
    jobs[0] = 1000
    clock.now += 6 * 3600.0
    assert guard.due()  # never quiet: thawed anyway every few hours


async def test_the_guard_thaws_by_itself_when_due(guards: Callable[..., GcGuard]) -> None:
    clock = Clock()
    checks: list[float] = []
    thawed = asyncio.Event()

    async def sleep(seconds: float) -> None:
        checks.append(seconds)
        clock.now += seconds
        if clock.now > 600.0:
            thawed.set()
        await asyncio.sleep(0)

    guard = guards(lambda: 0, check_every_s=30.0, sleep=sleep, clock=clock)
    guard.start()
    ref = _cycle_surviving_a_young_collection()
    gc.collect()
    assert ref() is not None  # frozen
    await asyncio.wait_for(thawed.wait(), 5)  # past the 600 s a quiet thaw waits for
    assert ref() is None and set(checks) == {30.0}
