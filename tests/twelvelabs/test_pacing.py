"""The pacer of TwelveLabs API calls, in virtual time: exact, and no test waits for real.

`VirtualTime` is a tiny scheduler: `sleep` parks the caller on a timer heap, and `run` moves
the clock to the next timer only once every coroutine is parked. An account's limit is
`Account`: the fake TwelveLabs' own token bucket, read on the virtual clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from bot import metrics
from bot.twelvelabs.pacing import Pacer
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.fakes.twelvelabs.ratelimit import TokenBucket
from tests.twelvelabs.conftest import make_client


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        turn = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(0.0, delay), next(self._seq), turn))
        await turn

    async def run(self, main: Coroutine[Any, Any, None], *, until: float = 1e9) -> None:
        task = asyncio.create_task(main)
        while True:
            for _ in range(20):  # let everything runnable run to its next sleep
                await asyncio.sleep(0)
            if task.done() or not self._timers or self._timers[0][0] > until:
                break
            at, _, turn = heapq.heappop(self._timers)
            self.now = max(self.now, at)
            if not turn.done():
                turn.set_result(None)
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        task.result() if not task.cancelled() else None


class Account:
    """An account's limit: the fake TwelveLabs' own token bucket, on the virtual clock."""

    def __init__(self, clock: Callable[[], float], rate: float, depth: float) -> None:
        self.bucket, self.rate, self.depth = TokenBucket(clock), rate, depth
        self.ok = 0

    @property
    def refused(self) -> int:
        return self.bucket.refused

    def answer(self) -> int:
        if self.bucket.take(self.rate, self.depth) is None:
            self.ok += 1
            return 200
        return 429


def pacer_on(vt: VirtualTime, **kwargs: Any) -> Pacer:
    """A pacer on virtual time; one 429 counts (`cut_after=1`) unless a test says otherwise,
    so each rule can be tested on its own."""
    kwargs.setdefault("cut_after", 1)
    return Pacer(clock=vt.clock, sleep=vt.sleep, **kwargs)


async def call(pacer: Pacer, status: int) -> float:
    sent = await pacer.slot()
    pacer.observe(status, sent)
    return sent


# ------------------------------------------------------------------- against an account limit


async def poll_for(
    vt: VirtualTime, pacer: Pacer, account: Account, *, workers: int, every_s: float, for_s: float
) -> None:
    """`workers` jobs, each reading its resource every `every_s` (a 429: again after 1 s,
    the Retry-After the fake sends), for `for_s` virtual seconds."""

    async def worker(n: int) -> None:
        await vt.sleep(n * every_s / workers)  # spread, as polls of jobs started apart are
        while vt.now < for_s:
            sent = await pacer.slot()
            status = account.answer()
            pacer.observe(status, sent)
            await vt.sleep(1.0 if status == 429 else every_s)

    await asyncio.gather(*(worker(n) for n in range(workers)))


def simulate(pacer_kwargs: dict[str, Any], *, workers: int = 60) -> Account:
    async def main() -> Account:
        vt = VirtualTime()
        pacer = Pacer(clock=vt.clock, sleep=vt.sleep, **pacer_kwargs)  # production rules
        account = Account(vt.clock, rate=50, depth=50)
        await vt.run(poll_for(vt, pacer, account, workers=workers, every_s=0.25, for_s=120))
        await pacer.aclose()
        return account

    return asyncio.run(main())


def test_polls_asking_4x_the_limit_get_few_429s_and_most_of_the_limit() -> None:
    paced = simulate({})
    unpaced = simulate({"engage_at": 10**9})  # never engages: each job's own backoff only
    paced_share = paced.refused / (paced.ok + paced.refused)
    unpaced_share = unpaced.refused / (unpaced.ok + unpaced.refused)
    assert unpaced_share > 0.2, unpaced_share  # the problem is real in this setting
    assert paced_share < 0.02, paced_share
    # It does not get there by crawling: most of the account's 50 calls/s are used.
    assert paced.ok / 120 > 0.8 * 50, paced.ok / 120


def test_demand_below_the_limit_is_never_paced() -> None:
    async def main() -> tuple[Account, Pacer]:
        vt = VirtualTime()
        pacer = Pacer(clock=vt.clock, sleep=vt.sleep)
        account = Account(vt.clock, rate=50, depth=50)
        await vt.run(poll_for(vt, pacer, account, workers=10, every_s=0.5, for_s=30))
        return account, pacer

    account, pacer = asyncio.run(main())
    assert account.refused == 0 and pacer.rate is None


# ------------------------------------------------------------------- the rules, one at a time


def test_a_lone_callers_429_is_left_to_its_own_backoff() -> None:
    async def main() -> None:
        vt = VirtualTime()
        pacer = pacer_on(vt, engage_at=8)
        for _ in range(7):
            await call(pacer, 429)
        assert pacer.rate is None  # 7 calls in the window: not dense enough to pace

    asyncio.run(main())


def test_stray_429s_do_not_pace_several_together_do() -> None:
    async def main() -> None:
        vt = VirtualTime()
        pacer = Pacer(clock=vt.clock, sleep=vt.sleep, cut_after=3)

        async def dense_second(refused: int) -> None:
            for n in range(20):
                await call(pacer, 429 if n >= 20 - refused else 200)
            await vt.sleep(1.0)

        await vt.run(dense_second(1))
        await vt.run(dense_second(2))  # two within a second: still a hiccup
        assert pacer.rate is None
        await vt.run(dense_second(3))
        assert pacer.rate is not None

    asyncio.run(main())


def test_a_dense_429_paces_at_a_share_of_the_rate_calls_went_out() -> None:
    async def main() -> None:
        vt = VirtualTime()
        pacer = pacer_on(vt, decrease=0.5)
        for _ in range(19):
            await call(pacer, 200)
        await call(pacer, 429)  # 20 calls in the last second
        assert pacer.rate == pytest.approx(10.0)

        sent: list[float] = []

        async def burst() -> None:
            sent.extend(await asyncio.gather(*(pacer.slot() for _ in range(5))))

        await vt.run(burst())
        gaps = [b - a for a, b in itertools.pairwise(sent)]
        assert sent[0] == pytest.approx(0.1) and gaps == [pytest.approx(0.1)] * 4

    asyncio.run(main())


def test_429s_to_calls_sent_before_a_cut_do_not_cut_again() -> None:
    async def main() -> None:
        vt = VirtualTime()
        pacer = pacer_on(vt, decrease=0.5)
        early = [await pacer.slot() for _ in range(20)]
        pacer.observe(429, early[0])
        assert pacer.rate == pytest.approx(10.0)
        for sent in early[1:]:  # the rest of that burst's 429s arrive: stragglers
            pacer.observe(429, sent)
        assert pacer.rate == pytest.approx(10.0)

        async def one_more() -> None:
            pacer.observe(429, await pacer.slot())  # sent after the cut, still refused

        await vt.run(one_more())
        assert pacer.rate == pytest.approx(5.0)

    asyncio.run(main())


def test_a_stray_429_among_few_calls_does_not_cut_the_pace() -> None:
    async def main() -> None:
        vt = VirtualTime()
        pacer = pacer_on(vt, decrease=0.5)
        for _ in range(20):
            await call(pacer, 200)
        await call(pacer, 429)  # dense: 10.5/s
        paced = pacer.rate

        async def quiet_then_stray() -> None:
            await vt.sleep(5.0)
            for _ in range(3):  # 3 calls in the last second: not dense
                await call(pacer, 200)
            await call(pacer, 429)

        await vt.run(quiet_then_stray())
        assert pacer.rate is not None and paced is not None and pacer.rate >= paced  # not cut

    asyncio.run(main())


def test_a_cut_slows_calls_already_waiting() -> None:
    async def main() -> None:
        vt = VirtualTime()
        pacer = pacer_on(vt, decrease=0.5, increase=0.0)
        for _ in range(40):
            await call(pacer, 200)
        await call(pacer, 429)  # 41 in the window → 20.5/s
        sent: list[float] = []

        async def waiter() -> None:
            sent.append(await pacer.slot())

        async def queue_then_cut() -> None:
            waiters = [asyncio.create_task(waiter()) for _ in range(6)]
            await vt.sleep(0.12)  # two have gone at 20.5/s
            pacer.observe(429, vt.now)  # a call sent now was refused: 10.25/s from here
            await asyncio.gather(*waiters)

        await vt.run(queue_then_cut())
        later = [b - a for a, b in itertools.pairwise(sent)][2:]
        assert later == [pytest.approx(1 / 10.25)] * 3

    asyncio.run(main())


def test_the_rate_grows_only_while_it_holds_calls_back() -> None:
    async def main() -> None:
        vt = VirtualTime()
        pacer = pacer_on(vt, decrease=0.5, increase=0.02)
        for _ in range(20):
            await call(pacer, 200)
        await call(pacer, 429)  # → 10.5/s
        start = pacer.rate
        assert start is not None

        async def idle_then_busy() -> None:
            for _ in range(5):  # 1 call/s: far below the rate, nobody waits
                await vt.sleep(1.0)
                await call(pacer, 200)
            assert pacer.rate == start
            busy = [call(pacer, 200) for _ in range(60)]  # ask for more than the rate allows
            await asyncio.gather(*busy)

        await vt.run(idle_then_busy())
        assert pacer.rate is not None and start < pacer.rate < start + 8  # ~+1/s per second

    asyncio.run(main())


def test_it_forgets_the_limit_after_a_quiet_while() -> None:
    async def main() -> None:
        vt = VirtualTime()
        pacer = pacer_on(vt, forget_s=300)
        for _ in range(20):
            await call(pacer, 200)
        await call(pacer, 429)
        assert pacer.rate is not None
        await vt.run(vt.sleep(299))
        assert pacer.rate is not None
        await vt.run(vt.sleep(2))
        assert pacer.rate is None

    asyncio.run(main())


def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    async def main() -> None:
        vt = VirtualTime()
        pacer = pacer_on(vt, decrease=0.5, increase=0.0)
        for _ in range(19):
            await call(pacer, 200)
        await call(pacer, 429)  # 10/s
        sent: list[float] = []

        async def scenario() -> None:
            first = asyncio.create_task(pacer.slot())
            second = asyncio.create_task(pacer.slot())
            await asyncio.sleep(0)
            first.cancel()
            sent.append(await second)

        await vt.run(scenario())
        assert sent == [pytest.approx(0.1)]  # the first slot, not the second
        await pacer.aclose()

    asyncio.run(main())


# ------------------------------------------------------------------- wired into the client


async def test_the_client_paces_once_the_fake_rate_limits_dense_calls(
    fake: FakeTwelveLabs, video: Path
) -> None:
    """A burst of reads beyond the fake's limit engages the session's pacer (real time)."""
    async with make_client(fake, max_retries=10) as client:
        asset_id = (await client.assets.upload(video)).id
        assert client._session.pacer.rate is None
        fake.configure(rate_limit_per_s=40, rate_limit_burst=5)
        reads = await asyncio.gather(*(client.assets.get(asset_id) for _ in range(40)))
        assert all(r.id == asset_id for r in reads)  # nothing failed: 429s were retried
        assert fake.rate_limited > 0
        assert client._session.pacer.rate is not None
        shown = metrics.REGISTRY.get_sample_value("gistbot_twelvelabs_pace_per_second")
        assert shown == client._session.pacer.rate
