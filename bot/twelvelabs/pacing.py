"""How fast calls go to the TwelveLabs API: as fast as asked until the account's limit shows.

TwelveLabs limits requests per account (per minute, per category) and answers 429 beyond it;
it does not say the limit in advance. Many jobs polling at once can exceed it together, and
each one's own retry backoff only spaces *its* calls. `Pacer` spaces them all:

- Only 429s that come together while calls are dense count: `cut_after` of them within
  `window_s`, with at least `engage_at` calls in it. A lone caller's 429 is left to its own
  retry backoff, and a stray 429 (an API's everyday hiccup) must not throttle the whole
  process; going past an account's limit brings many at once.
- Unpaced until then; then a rate (calls/s): the rate calls were going out at, times
  `decrease`. 429s to calls sent after the last cut cut it again (by the same rule); 429s to
  calls already on their way when it was cut say nothing new. Never below `floor_per_s`.
- While the rate is what holds calls back, it grows by `increase` of itself per second (at
  least one call/s per second), so it finds the limit again: additive increase,
  multiplicative decrease, like the analyses' `AdaptiveLimit` in `bot/jobs/limits.py`.
- `forget_s` after the last 429 it is unpaced again: limits change with the plan.

Waiting calls queue in order and one dispatcher lets them go `1/rate` apart, reading the rate
as it is *now*, so a cut slows the queue at once. The wait is real time, not the session's
injectable retry sleep: tests that record retry delays see only the delays they asked for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["Pacer"]

log = logging.getLogger("bot.twelvelabs")


class Pacer:
    def __init__(
        self,
        *,
        engage_at: int = 8,
        cut_after: int = 3,
        window_s: float = 1.0,
        decrease: float = 0.7,
        increase: float = 0.02,
        floor_per_s: float = 1.0,
        forget_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.engage_at = engage_at
        self.cut_after = cut_after
        self.window_s = window_s
        self.decrease = decrease
        self.increase = increase
        self.floor_per_s = floor_per_s
        self.forget_s = forget_s
        self._clock = clock
        self._sleep = sleep
        self._rate: float | None = None
        self._next = 0.0  # the earliest time the next call may go
        self._sent: deque[float] = deque()  # when calls went, over the last window
        self._refused: deque[float] = deque()  # 429s that count, over the last window
        self._last_cut = -1e18
        self._last_grow = 0.0
        self._held_at = -1e18  # the last time a call had to wait
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._dispatcher: asyncio.Task[None] | None = None

    @property
    def rate(self) -> float | None:
        """Calls per second allowed now; None while unpaced."""
        if self._rate is not None and self._clock() - self._last_cut >= self.forget_s:
            self._rate = None
            log.info("TwelveLabs calls unpaced again: no 429 for %.0fs", self.forget_s)
        return self._rate

    async def aclose(self) -> None:
        """Stop the dispatcher; calls still waiting are cancelled."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        while self._waiting:
            self._waiting.popleft().cancel()

    async def slot(self) -> float:
        """Wait for this call's turn; returns when it may go (pass it to `observe`)."""
        now = self._clock()
        if not self._waiting and (self.rate is None or now >= self._next):
            return self._went(now)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch())
        await turn  # a cancelled waiter's future is cancelled too: the dispatcher skips it
        return self._clock()

    def observe(self, status: int | None, sent_at: float) -> None:
        """The answer (None: none came) to a call that went at `sent_at`."""
        now = self._clock()
        if status == 429:
            if sent_at > self._last_cut:  # else it was on its way before the last cut
                self._refused.append(now)
                self._cut(now)
        elif status is not None and 200 <= status < 300 and self.rate is not None:
            self._grow(now)

    def _went(self, now: float) -> float:
        rate = self.rate
        if rate is not None:
            self._next = max(now, self._next) + 1.0 / rate
        self._trim(now)
        self._sent.append(now)
        return now

    async def _dispatch(self) -> None:
        while self._waiting:
            now = self._clock()
            if self.rate is not None and now < self._next:
                self._held_at = now
                await self._sleep(self._next - now)
                continue  # the rate may have changed while asleep
            turn = self._waiting.popleft()
            if not turn.done():
                self._went(now)
                turn.set_result(None)

    def _cut(self, now: float) -> None:
        self._trim(now)
        demand = len(self._sent) / self.window_s
        if len(self._sent) < self.engage_at or len(self._refused) < self.cut_after:
            return  # sparse calls, or a stray 429: little said about the account's rate
        self._refused.clear()
        engaged = self._rate is None
        base = demand if self._rate is None else min(self._rate, max(demand, self.floor_per_s))
        self._rate = max(self.floor_per_s, base * self.decrease)
        self._last_cut = self._last_grow = now
        self._next = now + 1.0 / self._rate
        log.log(
            logging.INFO if engaged else logging.DEBUG,
            "TwelveLabs rate limit reached (429 at %.0f calls/s): pacing API calls at %.1f/s",
            demand,
            self._rate,
        )

    def _grow(self, now: float) -> None:
        assert self._rate is not None
        elapsed, self._last_grow = now - self._last_grow, now
        if now - self._held_at > self.window_s:
            return  # the rate is not what holds calls back: growing it proves nothing
        step = max(1.0, self._rate * self.increase) * min(elapsed, self.window_s)
        self._rate += step

    def _trim(self, now: float) -> None:
        for times in (self._sent, self._refused):
            while times and times[0] <= now - self.window_s:
                times.popleft()
