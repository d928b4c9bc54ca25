"""Poll a resource until it reaches a terminal status, on a schedule, with an overall deadline.

Permanent errors raised by `fetch` (401, 404, other 4xx) propagate at once: they must not loop
forever. Transient ones (5xx, 429, transport) were already retried by the request layer; if they
persist, polling carries on until the deadline and then re-raises the last of them. A status
nobody knows yet just keeps polling.

When to fetch is the `schedule`'s call (`schedule.py`: the plain backoff by default). A `wake`
event cuts a wait short: whoever learns that the resource may have changed (a webhook) sets it,
and the next fetch happens at once. Polling stays the source of truth; a wake only moves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass
from typing import TypeVar

from bot.callbacks import StatusCb

from . import errors
from .schedule import Backoff, Schedule

__all__ = ["PollSettings", "StatusCb", "Wakeups", "poll_until"]

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

log = logging.getLogger("bot.twelvelabs")


@dataclass(frozen=True)
class PollSettings:
    initial_s: float = 1.0
    max_interval_s: float = 15.0
    factor: float = 1.5


class Wakeups:
    """Which resources are being waited on in this process, by id; `wake(id)` cuts their
    current wait short. Only the event loop's thread may call these."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}
        self._clock = clock
        self._last_woke: float | None = None

    def woke_within(self, seconds: float) -> bool:
        """Whether a `wake` reached a wait in the last `seconds` (webhooks are arriving)."""
        return self._last_woke is not None and self._clock() - self._last_woke <= seconds

    @contextlib.contextmanager
    def watch(self, resource_id: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiting.setdefault(resource_id, set()).add(event)
        try:
            yield event
        finally:
            events = self._waiting.get(resource_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiting[resource_id]

    def waiting(self, resource_id: str) -> bool:
        return resource_id in self._waiting

    def wake(self, resource_id: str) -> bool:
        """Wake every wait on `resource_id`; False when nobody here waits on it."""
        events = self._waiting.get(resource_id)
        for event in events or ():
            event.set()
        if events:
            self._last_woke = self._clock()
        return bool(events)


async def _pause(sleep: Sleep, delay: float, wake: asyncio.Event | None) -> None:
    """`await sleep(delay)`, or less if `wake` is set meanwhile (it is then cleared)."""
    if wake is None:
        await sleep(delay)
        return
    if wake.is_set():
        wake.clear()
        return
    napping = asyncio.ensure_future(sleep(delay))
    woken = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait((napping, woken), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (napping, woken):
            task.cancel()
        await asyncio.gather(napping, woken, return_exceptions=True)
    wake.clear()
    if napping.done() and not napping.cancelled():
        napping.result()  # a sleep that failed fails the wait


async def poll_until(
    fetch: Callable[[], Awaitable[T]],
    status_of: Callable[[T], str],
    terminal: Collection[str],
    *,
    timeout_s: float,
    initial_s: float = 1.0,
    max_interval_s: float = 15.0,
    factor: float = 1.5,
    schedule: Schedule | None = None,
    origin: float | None = None,
    wake: asyncio.Event | None = None,
    on_status: StatusCb | None = None,
    what: str = "resource",
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] | None = None,
) -> T:
    """Call `fetch` until `status_of(result)` is in `terminal`; return that result.

    By default the first fetch happens at once; then the interval grows from `initial_s` by
    `factor` up to `max_interval_s`. A `schedule` replaces that; it is told the time since
    `origin` (the resource's creation on `clock`; default: now). `on_status` is awaited each
    time the status changes (including the first one seen). Past `timeout_s` (measured on
    `clock`, by default the event loop's) raises `PollTimeout`; the last fetch happens at the
    deadline. Every wait is `await sleep(s)`, cut short when `wake` is set.
    """
    now = clock or asyncio.get_running_loop().time
    started = now()
    deadline = started + max(0.0, timeout_s)
    since = started if origin is None else min(origin, started)
    plan = schedule if schedule is not None else Backoff(initial_s, factor, max_interval_s)
    last_status: str | None = None
    first = plan.next_delay(started - since)
    if first > 0:
        await _pause(sleep, min(first, deadline - started), wake)
    while True:
        try:
            result = await fetch()
        except errors.TwelveLabsError as exc:
            # The request layer already retried this one; a longer outage should not end a
            # long wait early, so keep polling while the deadline allows. 4xx propagate now.
            remaining = deadline - now()
            if not exc.transient or remaining <= 0:
                raise
            log.warning("TwelveLabs polling %s: %s; still polling", what, type(exc).__name__)
            await _pause(sleep, min(plan.next_delay(now() - since), remaining), wake)
            continue
        status = status_of(result)
        if status != last_status:
            last_status = status
            if on_status is not None:
                await on_status(status)
        if status in terminal:
            return result
        remaining = deadline - now()
        if remaining <= 0:
            raise errors.PollTimeout(
                f"{what} still {status!r} after {timeout_s:g}s", last_status=status
            )
        await _pause(sleep, min(plan.next_delay(now() - since), remaining), wake)
