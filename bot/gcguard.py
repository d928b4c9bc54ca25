"""Keep the garbage collector's pauses short while many jobs are in flight.

CPython 3.11's collector is not incremental: a full (generation 2) collection walks every
tracked object while the event loop waits, ~1 µs each. With 1,000 jobs in flight that is
~100k objects and a 90 ms pause, and an ack that falls in it is that late. So objects that
survive a generation-1 collection, which is what a job's records and tasks do (they live for
minutes), are moved to the permanent generation (`gc.freeze`) as soon as they get there: a
full collection then walks only what is new. Refcounting still frees them when a job ends;
only garbage *cycles* among them wait, until a thaw (`gc.unfreeze` and one full collection)
at a quiet moment, when no job is in flight and the heap is small (a few tens of ms), or,
on a server that is never quiet, every few hours whatever it costs, so they can't pile up.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

THAW_QUIET_EVERY_S = 600.0  # at most this often, with no job in flight
THAW_ANYWAY_EVERY_S = 6 * 3600.0  # never quiet: one long pause every few hours
CHECK_EVERY_S = 30.0


class GcGuard:
    def __init__(
        self,
        in_flight: Callable[[], int],
        *,
        thaw_quiet_every_s: float = THAW_QUIET_EVERY_S,
        thaw_anyway_every_s: float = THAW_ANYWAY_EVERY_S,
        check_every_s: float = CHECK_EVERY_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._in_flight = in_flight
        self._thaw_quiet_every_s = thaw_quiet_every_s
        self._thaw_anyway_every_s = thaw_anyway_every_s
        self._check_every_s = check_every_s
        self._sleep = sleep
        self._clock = clock
        self._last_thaw = clock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Freeze what start-up made (it lives as long as the process), then every survivor
        of a generation-1 collection from now on; thaw now and then when quiet."""
        gc.collect()
        gc.freeze()
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)
        self._task = asyncio.get_running_loop().create_task(self._thaw_when_quiet())

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        # At the end of a generation-1 (or full) collection the young generations are empty:
        # what `freeze` moves is what has now survived two collections.
        if phase == "stop" and info["generation"] >= 1:
            gc.freeze()

    def thaw(self) -> int:
        """Collect every frozen garbage cycle (one full pass over the whole heap); the
        survivors are frozen again by the callback. Returns the objects collected."""
        frozen = gc.get_freeze_count()
        started = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        gc.freeze()  # also without the callback (stopped guard): start-up objects stay out
        self._last_thaw = self._clock()
        log.info(
            "garbage collector thawed: %d frozen objects, %d collected in %.0f ms",
            frozen,
            collected,
            (time.perf_counter() - started) * 1000.0,
        )
        return collected

    def due(self) -> bool:
        since = self._clock() - self._last_thaw
        quiet = self._in_flight() == 0
        return since >= self._thaw_anyway_every_s or (quiet and since >= self._thaw_quiet_every_s)

    async def _thaw_when_quiet(self) -> None:
        while True:
            await self._sleep(self._check_every_s)
            if self.due():
                self.thaw()
