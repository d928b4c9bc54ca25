"""The job-level retry point: a step that fails transiently is tried again, with backoff and
jitter, until a deadline. Per-call retries live in each transport; this one outlasts them, so
a Slack or TwelveLabs outage of minutes costs time, not the job."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.callbacks import Sleep
from bot.transient import is_transient

log = logging.getLogger(__name__)

T = TypeVar("T")


class StepRetry:
    def __init__(
        self,
        *,
        initial_s: float = 1.0,
        max_s: float = 60.0,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[float, float], float] = random.uniform,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._initial = initial_s
        self._max = max_s
        self._sleep = sleep
        self._rng = rng
        self._clock = clock
        self._last: dict[str, tuple[float, BaseException]] = {}

    def delay(self, attempt: int) -> float:
        """Equal jitter: never a burst of near-zero waits, never in lockstep with others."""
        ceiling = min(self._max, self._initial * 2.0**attempt)
        return ceiling / 2 + self._rng(0.0, ceiling / 2)

    async def run(
        self, what: str, job_id: str, step: Callable[[], Awaitable[T]], *, until: float
    ) -> T:
        """`step()` until it succeeds, fails permanently, or `until` (epoch s) has passed."""
        attempt = 0
        while True:
            try:
                return await step()
            except Exception as exc:
                left = until - self._clock()
                if not is_transient(exc) or left <= 0:
                    raise
                self._last[job_id] = (self._clock(), exc)
                delay = min(self.delay(attempt), left)
                log.warning(
                    "job %s: %s failed (%s); trying again in %.1fs",
                    job_id,
                    what,
                    _describe(exc),
                    delay,
                )
                await self._sleep(delay)
                attempt += 1

    def last_transient(self, job_id: str, within_s: float) -> BaseException | None:
        """The transient error this job was last retrying, if that was recent: when the
        deadline strikes during an outage, that error says more than "it took too long"."""
        at, exc = self._last.pop(job_id, (0.0, None))
        return exc if exc is not None and self._clock() - at <= within_s else None

    def forget(self, job_id: str) -> None:
        self._last.pop(job_id, None)


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__
