"""The adaptive concurrency of analyses: slow start, then additive increase; multiplicative
decrease."""

from __future__ import annotations

import asyncio

from bot.jobs.limits import AdaptiveLimit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_slow_start_grows_by_one_per_answer_up_to_the_cap() -> None:
    limit = AdaptiveLimit(10, initial=2, clock=Clock())
    for _ in range(3):
        limit.observe(200)
    assert limit.limit == 5
    for _ in range(100):
        limit.observe(202)
    assert limit.limit == 10  # never past the cap


def test_after_a_429_grows_by_one_per_window_of_answers() -> None:
    limit = AdaptiveLimit(10, initial=4, clock=Clock())
    limit.observe(429)  # 4 → 2, and slow start is over
    answers = 0
    while limit.limit == 2:
        limit.observe(200)
        answers += 1
    assert limit.limit == 3 and answers == 3  # +1/limit per answer: about one window
    for _ in range(1000):
        limit.observe(202)
    assert limit.limit == 10


def test_429_halves_once_per_burst_and_never_below_one() -> None:
    clock = Clock()
    limit = AdaptiveLimit(64, initial=16, cooldown_s=2.0, clock=clock)
    for _ in range(5):  # one burst of 429s
        limit.observe(429)
    assert limit.limit == 8
    clock.now = 2.5
    limit.observe(429)
    assert limit.limit == 4
    for step in range(10):
        clock.now = 10.0 + 3 * step
        limit.observe(429)
    assert limit.limit == 1


def test_other_answers_change_nothing() -> None:
    limit = AdaptiveLimit(64, initial=8, clock=Clock())
    for status in (None, 404, 500, 503, 301):
        limit.observe(status)
    assert limit.limit == 8


async def test_never_more_in_flight_than_the_limit_and_growth_lets_waiters_in() -> None:
    limit = AdaptiveLimit(8, initial=4, clock=Clock())
    limit.observe(429)  # 4 → 2, additive from here
    peak = 0
    gate = asyncio.Event()

    async def work() -> None:
        nonlocal peak
        async with limit:
            peak = max(peak, limit.in_use)
            await gate.wait()

    tasks = [asyncio.create_task(work()) for _ in range(6)]
    await asyncio.sleep(0.01)
    assert limit.in_use == 2 and peak == 2
    for _ in range(6):  # 2 → 4 at +1/limit per answer: two more may start
        limit.observe(200)
    await asyncio.sleep(0.01)
    assert limit.limit == 4 and limit.in_use == 4
    gate.set()
    await asyncio.gather(*tasks)
    assert peak == 4 and limit.in_use == 0
