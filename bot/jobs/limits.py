"""How many videos are processed and analysed at once: adaptive, like TCP's congestion window.

Until the first 429 the limit grows by one for every call TwelveLabs answers normally (slow
start: it doubles about as fast as the videos in flight make calls); after that by one for
every `limit` such calls (additive increase). It halves when TwelveLabs answers 429
(multiplicative decrease, at most once per `cooldown_s`, so one burst of 429s counts once),
between 1 and the cap (GIST_MAX_CONCURRENT_ANALYSES). A burst of videos then runs at the speed
the account allows instead of a fixed width. Without slow start the climb from `initial` is
one step per window of answers: with polls seconds apart, minutes to reach the cap while a
burst waits for nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType


class AdaptiveLimit:
    def __init__(
        self,
        cap: int,
        *,
        initial: int = 8,
        cooldown_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cap = max(1, cap)
        self._limit = float(min(max(1, initial), self.cap))
        self._cooldown = cooldown_s
        self._clock = clock
        self._last_cut = -1e9
        self._slow_start = True  # until the first 429
        self._in_use = 0
        self._changed = asyncio.Condition()

    @property
    def limit(self) -> int:
        return int(self._limit)

    @property
    def in_use(self) -> int:
        return self._in_use

    def observe(self, status: int | None) -> None:
        """One TwelveLabs answer: 429 → halve (and end slow start); 2xx → grow; anything else
        says nothing."""
        if status == 429:
            now = self._clock()
            if now - self._last_cut >= self._cooldown:
                self._last_cut = now
                self._limit = max(1.0, self._limit / 2)
            self._slow_start = False
        elif status is not None and 200 <= status < 300 and self._limit < self.cap:
            step = 1.0 if self._slow_start else 1.0 / self._limit
            grown = int(self._limit + step) > int(self._limit)
            self._limit = min(float(self.cap), self._limit + step)
            if grown:
                self._wake()

    def _wake(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        try:
            asyncio.get_running_loop().create_task(notify())
        except RuntimeError:  # no loop (a synchronous caller): nobody can be waiting
            pass

    async def __aenter__(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._in_use < self.limit)
            self._in_use += 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        async with self._changed:
            self._in_use -= 1
            self._changed.notify_all()
