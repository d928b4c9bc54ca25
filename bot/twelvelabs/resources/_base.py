"""What every resource shares: the session, one typed call, polling a resource to `ready`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import pydantic

from .. import errors
from ..polling import PollSettings, StatusCb, poll_until
from ..retry import RetryMode
from ..session import ApiSession, parse_model

__all__ = ["Clock", "Resource"]

M = TypeVar("M", bound=pydantic.BaseModel)
Clock = Callable[[], float]


class _Polled(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def error_message(self) -> str | None: ...


R = TypeVar("R", bound=_Polled)


class Resource:
    """One API noun over the client's shared session.

    Every wait goes through the session's `sleep`; polling deadlines read `clock` (None: the
    event loop's).
    """

    def __init__(self, session: ApiSession, poll: PollSettings, clock: Clock | None) -> None:
        self._session = session
        self._poll = poll
        self._clock = clock

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
    ) -> R:
        """Poll a resource to a terminal status; anything but `ready` raises `failed`."""
        item = await poll_until(
            fetch,
            lambda r: r.status,
            terminal,
            timeout_s=timeout_s,
            on_status=on_status,
            what=f"{what} {resource_id}",
            initial_s=self._poll.initial_s,
            max_interval_s=self._poll.max_interval_s,
            factor=self._poll.factor,
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
