"""Single-flight: two requests for the same video in flight share one piece of work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.gist.models import Gist

log = logging.getLogger(__name__)


class Flights:
    def __init__(self) -> None:
        self._inflight: dict[str, asyncio.Future[Gist]] = {}

    def running(self, key: str) -> asyncio.Future[Gist] | None:
        return self._inflight.get(key)

    async def lead(self, key: str, work: Callable[[], Awaitable[Gist]]) -> Gist:
        """Run `work` as the one computation for `key`; followers await its outcome."""
        future: asyncio.Future[Gist] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            gist = await work()
        except BaseException as exc:
            if not future.done():
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
                    future.exception()  # mark retrieved: followers may be absent
            raise
        else:
            future.set_result(gist)
            return gist
        finally:
            self._inflight.pop(key, None)
