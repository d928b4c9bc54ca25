"""What every group of client methods shares: the session, one typed call, polling to a status.

`TwelveLabsClient` (client.py) is built from method groups — assets (assets.py), analysis
(analysis.py), indexes (client.py) — over this core, so that each module stays small.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import pydantic

from . import errors
from .multipart import MultipartUploader
from .polling import PollSettings, StatusCb, poll_until
from .retry import RetryMode
from .session import ApiSession, parse_model

__all__ = ["ClientCore"]

M = TypeVar("M", bound=pydantic.BaseModel)


class _Polled(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def error_message(self) -> str | None: ...


P = TypeVar("P", bound=_Polled)


class ClientCore:
    """Set up by `TwelveLabsClient.__init__`."""

    _session: ApiSession
    _uploader: MultipartUploader
    _clock: Callable[[], float] | None
    poll: PollSettings
    direct_upload_limit: int
    analyze_timeout_s: float

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
        fetch: Callable[[], Awaitable[P]],
        terminal: frozenset[str],
        failed: type[errors.ResourceFailed],
        *,
        what: str,
        resource_id: str,
        timeout_s: float,
        on_status: StatusCb | None,
    ) -> P:
        """Poll a resource to a terminal status; anything but `ready` raises `failed`."""
        item = await poll_until(
            fetch,
            lambda r: r.status,
            terminal,
            timeout_s=timeout_s,
            on_status=on_status,
            what=f"{what} {resource_id}",
            initial_s=self.poll.initial_s,
            max_interval_s=self.poll.max_interval_s,
            factor=self.poll.factor,
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
