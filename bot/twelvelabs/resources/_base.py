"""What every resource shares: the session, one typed call, polling a resource to `ready`.

A resource polls what it created itself (`_born`) on a schedule learned from the ones of the
same kind that finished before (`ready_times`, `schedule.py`), and learns from each one that
finishes; anything else on the plain backoff. A wait can be cut short through `wakeups` (a
webhook). Everything learned stays in this process's memory.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pydantic

from .. import errors
from ..polling import PollSettings, StatusCb, Wakeups, poll_until
from ..retry import RetryMode
from ..schedule import BUDGET, BUDGET_WITH_WEBHOOKS, ReadyTimes, Schedule, plan
from ..session import ApiSession, parse_model

__all__ = ["Birth", "Clock", "Resource", "Watch"]

M = TypeVar("M", bound=pydantic.BaseModel)
Clock = Callable[[], float]

_MAX_BIRTHS = 2000  # created here and not yet awaited to the end; oldest forgotten first
WEBHOOKS_LIVE_S = 3600.0  # a webhook woke a wait this recently: they are arriving


class _Polled(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def error_message(self) -> str | None: ...


R = TypeVar("R", bound=_Polled)


@dataclass(frozen=True)
class Birth:
    """When (on the resource's clock) something was created here, its kind and size."""

    at: float
    kind: str
    size: float | None = None


@dataclass
class Watch:
    """How one wait went: the schedule it used and when each fetch was sent."""

    origin: float | None
    schedule: Schedule | None
    fetched_at: list[float] = field(default_factory=list)

    def finish_estimate(self) -> float | None:
        """Seconds from creation to `ready`: the middle of the last two fetches' times."""
        if self.origin is None or not self.fetched_at:
            return None
        seen = self.fetched_at[-1]
        before = self.fetched_at[-2] if len(self.fetched_at) > 1 else self.origin
        return (before + seen) / 2 - self.origin


class Resource:
    """One API noun over the client's shared session.

    Every wait goes through the session's `sleep`; polling deadlines read `clock` (None: the
    event loop's).
    """

    def __init__(self, session: ApiSession, poll: PollSettings, clock: Clock | None) -> None:
        self._session = session
        self._poll = poll
        self._clock = clock
        self.wakeups = Wakeups()
        self.ready_times: dict[str, ReadyTimes] = {}
        self._births: dict[str, Birth] = {}

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def _born(self, resource_id: str, kind: str, size: float | None = None) -> None:
        """Remember that `resource_id` was created just now (for its wait's schedule)."""
        self._births.pop(resource_id, None)
        self._births[resource_id] = Birth(self._now(), kind, size)
        while len(self._births) > _MAX_BIRTHS:
            del self._births[next(iter(self._births))]

    def _times(self, kind: str) -> ReadyTimes:
        return self.ready_times.setdefault(kind, ReadyTimes())

    async def _watch(self, resource_id: str, kind: str | None, size: float | None) -> Watch:
        """The schedule for a wait: learned when this process created the resource and has
        seen enough of its kind finish, else the plain backoff (None). Planning is pure
        Python that grows with the spread (tens of ms for hour-long ones): a worker thread
        runs it, so the event loop keeps answering Slack meanwhile."""
        birth = self._births.get(resource_id)
        if birth is None:
            return Watch(None, None)
        kind = kind or birth.kind
        size = size if size is not None else birth.size
        samples = self._times(kind).predict(size)
        live = self.wakeups.woke_within(WEBHOOKS_LIVE_S)
        planned = functools.partial(
            plan,
            samples,
            initial_s=self._poll.initial_s,
            factor=self._poll.factor,
            max_interval_s=self._poll.max_interval_s,
            budget=BUDGET_WITH_WEBHOOKS if live else BUDGET,
        )
        schedule = await asyncio.to_thread(planned) if samples else planned()
        return Watch(birth.at, schedule)

    def _learn(self, resource_id: str, kind: str, took_s: float | None, size: float | None) -> None:
        birth = self._births.pop(resource_id, None)
        if took_s is None:
            return
        if size is None and birth is not None:
            size = birth.size
        self._times(kind).observe(took_s, size)

    async def _call(
        self,
        model: type[M],
        method: str,
        template: str,
        *,
        mode: RetryMode = RetryMode.IDEMPOTENT,
        path_params: dict[str, str] | None = None,
        **kw: Any,
    ) -> M:
        response = await self._session.request(
            method, template, mode=mode, path_params=path_params, **kw
        )
        return parse_model(model, response, method=method, path=template)

    async def _wait(
        self,
        fetch: Callable[[], Awaitable[R]],
        terminal: frozenset[str],
        failed: type[errors.ResourceFailed],
        *,
        what: str,
        resource_id: str,
        timeout_s: float,
        on_status: StatusCb | None,
        watch: Watch | None = None,
    ) -> R:
        """Poll a resource to a terminal status; anything but `ready` raises `failed`.

        With a `watch`, its schedule is used and each fetch's send time recorded in it; a
        `wakeups.wake(resource_id)` meanwhile makes the next fetch happen at once.
        """
        watch = watch or Watch(None, None)

        async def timed_fetch() -> R:
            watch.fetched_at.append(self._now())
            return await fetch()

        with self.wakeups.watch(resource_id) as wake:
            item = await poll_until(
                timed_fetch,
                lambda r: r.status,
                terminal,
                timeout_s=timeout_s,
                on_status=on_status,
                what=f"{what} {resource_id}",
                initial_s=self._poll.initial_s,
                max_interval_s=self._poll.max_interval_s,
                factor=self._poll.factor,
                schedule=watch.schedule,
                origin=watch.origin,
                wake=wake,
                sleep=self._session.sleep,
                clock=self._clock,
            )
        if item.status != "ready":
            raise failed(
                item.error_message or f"{what} {item.status}",
                resource_id=resource_id,
                status=item.status,
            )
        return item
