"""Poll a resource until it reaches a terminal status, with backoff and an overall deadline.

Permanent errors raised by `fetch` (401, 404, other 4xx) propagate at once: they must not loop
forever. Transient ones (5xx, 429, transport) were already retried by the request layer; if they
persist, polling carries on until the deadline and then re-raises the last of them. A status
nobody knows yet just keeps polling.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

from bot.callbacks import StatusCb

from . import errors

__all__ = ["PollSettings", "StatusCb", "poll_until"]

T = TypeVar("T")

log = logging.getLogger("bot.twelvelabs")


@dataclass(frozen=True)
class PollSettings:
    initial_s: float = 1.0
    max_interval_s: float = 15.0
    factor: float = 1.5


async def poll_until(
    fetch: Callable[[], Awaitable[T]],
    status_of: Callable[[T], str],
    terminal: Collection[str],
    *,
    timeout_s: float,
    initial_s: float = 1.0,
    max_interval_s: float = 15.0,
    factor: float = 1.5,
    on_status: StatusCb | None = None,
    what: str = "resource",
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] | None = None,
) -> T:
    """Call `fetch` until `status_of(result)` is in `terminal`; return that result.

    The first fetch happens at once; then the interval grows from `initial_s` by `factor` up to
    `max_interval_s`. `on_status` is awaited each time the status changes (including the first
    one seen). Past `timeout_s` (measured on `clock`, by default the event loop's) raises
    `PollTimeout`; the last fetch happens at the deadline. Every wait is `await sleep(s)`.
    """
    now = clock or asyncio.get_running_loop().time
    deadline = now() + max(0.0, timeout_s)
    interval = max(0.0, initial_s)
    last_status: str | None = None
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
            await sleep(min(interval, remaining))
            interval = min(max_interval_s, interval * factor if interval > 0 else initial_s)
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
        await sleep(min(interval, remaining))
        interval = min(max_interval_s, interval * factor if interval > 0 else initial_s)
