"""A small async client for the TwelveLabs API v1.3 — only what gistbot uses.

    async with TwelveLabsClient(api_key) as tl:
        asset = await tl.assets.upload(path, request_key=job_id)
        asset = await tl.assets.wait(asset.id, timeout_s=600)
        ref = await tl.analysis.create(asset_id=asset.id, prompt=..., json_schema=...)
        task = await tl.analysis.wait(ref.task_id, timeout_s=900)

The client owns the one HTTP session (pool, retries, counters: `session.py`, `retry.py`); the
API's nouns are resources over it (`resources/`). Creates that must not be repeated blindly go
through `creates.py`, every listing through `pagination.py`, every wait through `polling.py`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from types import TracebackType
from typing import Self

import httpx

from bot.callbacks import Sleep

from .multipart import MultipartSettings
from .polling import PollSettings
from .resources import Analysis, Assets, Indexes, Search
from .retry import RetryPolicy
from .session import ApiSession, ClientStats

__all__ = ["DEFAULT_BASE_URL", "TwelveLabsClient"]

DEFAULT_BASE_URL = "https://api.twelvelabs.io/v1.3"


class TwelveLabsClient:
    """`assets`, `indexes` (with `indexes.indexed_assets`), `analysis` and `search` share one
    session."""

    assets: Assets
    indexes: Indexes
    analysis: Analysis
    search: Search

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        max_retries: int = 5,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        retry_after_max_s: float = 60.0,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 120.0,
        analyze_timeout_s: float | None = None,
        direct_upload_limit: int = 200 * 1024 * 1024,
        poll_initial_s: float = 1.0,
        poll_max_interval_s: float = 15.0,
        poll_factor: float = 1.5,
        multipart: MultipartSettings | None = None,
        max_connections: int = 20,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] | None = None,
        rng: Callable[[float, float], float] | None = None,
    ) -> None:
        """`max_retries` counts retries after the first attempt (0 disables retrying).

        `analyze_timeout_s` is the read timeout of the sync `POST /analyze` (default: 10 ×
        `read_timeout_s`, since the answer comes only once the whole video is analysed).
        Every wait (retry backoff, create look-ups, polling) goes through `sleep` (default
        `asyncio.sleep`); polling deadlines read `clock` (default: the event loop's);
        `rng(lo, hi)` draws the backoff jitter (default `random.uniform`).
        """
        self._session = ApiSession(
            api_key=api_key,
            base_url=base_url,
            policy=RetryPolicy(
                max_retries=max(0, max_retries),
                backoff_initial_s=backoff_initial_s,
                backoff_max_s=backoff_max_s,
                retry_after_max_s=retry_after_max_s,
                rng=rng or random.uniform,
            ),
            timeout=httpx.Timeout(
                connect=connect_timeout_s,
                read=read_timeout_s,
                write=read_timeout_s,
                pool=read_timeout_s,
            ),
            transport=transport,
            max_connections=max_connections,
            sleep=sleep or asyncio.sleep,
        )
        poll = PollSettings(poll_initial_s, poll_max_interval_s, poll_factor)
        self.assets = Assets(
            self._session,
            poll,
            clock,
            direct_upload_limit=direct_upload_limit,
            multipart=multipart,
        )
        self.indexes = Indexes(self._session, poll, clock)
        self.analysis = Analysis(
            self._session, poll, clock, analyze_timeout_s=analyze_timeout_s or read_timeout_s * 10
        )
        self.search = Search(self._session, poll, clock)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._session.aclose()

    def __repr__(self) -> str:  # never shows the key
        return f"TwelveLabsClient(base_url={self._session.base_url!r})"

    @property
    def stats(self) -> ClientStats:
        """HTTP attempts and retries per (method, path template)."""
        return self._session.stats

    def observe(self, observer: Callable[[int | None], None]) -> None:
        """Tell `observer` every attempt's HTTP status (None when no answer came)."""
        self._session.observers.append(observer)
