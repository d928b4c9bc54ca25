"""The fake TwelveLabs API's knobs, resources, faults and background work.

Every API noun (assets, multipart uploads, indexes, analysis) is a mixin over
`TwelveLabsCore`; `server.FakeTwelveLabs` puts them together, `middleware` records each call
and applies faults and chaos. Resources live in plain dicts (`assets`, `tasks`, ...) that the
server's loop thread changes and tests read directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.base import LoopbackServer
from tests.fakes.twelvelabs.fetch import Fetched, fetch_url
from tests.fakes.twelvelabs.ratelimit import TokenBucket
from tests.fakes.twelvelabs.state import (
    AssetState,
    Call,
    Fault,
    IndexedAssetState,
    IndexState,
    PresignedUrl,
    TaskState,
    UploadState,
)
from tests.fakes.twelvelabs.webhooks import Delivery
from tests.fakes.twelvelabs.wire import API_PREFIX

KNOBS = (
    "api_key",
    "asset_processing_s",
    "task_processing_s",
    "index_processing_s",
    "latency_s",
    "multipart_chunk_size",
    "initial_upload_urls",
    "presigned_url_ttl_s",
    "direct_upload_limit",
    "url_upload_limit",
    "analysis_override",
    "analysis_finish_reason",
    "analysis_length_times",
    "index_name_conflict_status",
    "rate_limit_per_s",
    "rate_limit_burst",
    "rate_limit_retry_after",
    "webhook_url",
    "webhook_secret",
    "webhook_delay_s",
)


async def sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


class TwelveLabsCore(LoopbackServer[Call]):
    """Knobs are plain attributes and constructor kwargs (names in `KNOBS`)."""

    thread_name = "fake-twelvelabs"
    client_max_size = 64 * 1024 * 1024
    url_suffix = API_PREFIX

    def __init__(
        self,
        api_key: str = "tl-test-key",
        *,
        asset_processing_s: float = 0.3,
        task_processing_s: float = 0.3,
        index_processing_s: float = 0.3,
        latency_s: float = 0.0,
        multipart_chunk_size: int = 5 * 1024 * 1024,
        initial_upload_urls: int = 10,
        presigned_url_ttl_s: float = 3600.0,
        direct_upload_limit: int = 200 * 1024 * 1024,
        url_upload_limit: int = 4 * 1024**3,
        analysis_override: str | dict[str, Any] | None = None,
        analysis_finish_reason: str | None = None,
        analysis_length_times: int = 0,
        index_name_conflict_status: int = 400,
        rate_limit_per_s: float | None = None,
        rate_limit_burst: float | None = None,
        rate_limit_retry_after: bool = True,
        task_processing_for: Callable[[TaskState], float] | None = None,
        webhook_url: str | None = None,
        webhook_secret: str = "",
        webhook_delay_s: float = 0.0,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.asset_processing_s = asset_processing_s
        self.task_processing_s = task_processing_s
        self.index_processing_s = index_processing_s
        self.latency_s = latency_s
        self.multipart_chunk_size = multipart_chunk_size
        self.initial_upload_urls = initial_upload_urls
        self.presigned_url_ttl_s = presigned_url_ttl_s
        self.direct_upload_limit = direct_upload_limit
        self.url_upload_limit = url_upload_limit
        self.analysis_override: str | dict[str, Any] | None = analysis_override
        self.analysis_finish_reason: str | None = analysis_finish_reason
        self.analysis_length_times = analysis_length_times
        self.index_name_conflict_status = index_name_conflict_status
        # The account's rate limit over all API calls (`ratelimit.py`); None: unlimited.
        self.rate_limit_per_s = rate_limit_per_s
        self.rate_limit_burst = rate_limit_burst
        self.rate_limit_retry_after = rate_limit_retry_after
        self._bucket = TokenBucket()
        # Per-task analysis time (given the task, its `duration` known): overrides
        # task_processing_s. An attribute, not a knob (not JSON).
        self.task_processing_for = task_processing_for
        # Set: every task that ends is announced there as a signed webhook event.
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.webhook_delay_s = webhook_delay_s
        self.webhook_deliveries: list[Delivery] = []
        self._hook_session: aiohttp.ClientSession | None = None  # webhook deliveries

        self.assets: dict[str, AssetState] = {}
        self.tasks: dict[str, TaskState] = {}
        self.indexes: dict[str, IndexState] = {}
        self.indexed_assets: dict[str, IndexedAssetState] = {}
        self.uploads: dict[str, UploadState] = {}
        self.mark_task_ready_at: dict[str, float] = {}

        self._faults: list[Fault] = []
        self._presigned: dict[str, PresignedUrl] = {}
        self._idempotency: dict[str, str] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._workdir: Path | None = None

    # ------------------------------------------------------------------ URLs and the call log

    @property
    def base_url(self) -> str | None:
        """The API base URL (".../v1.3"); None before the first start()."""
        return self.origin + API_PREFIX if self._port else None

    @property
    def calls(self) -> list[Call]:
        """Every request received, oldest first (the live list: tests may clear it)."""
        return self._calls

    @property
    def rate_limited(self) -> int:
        """API calls the rate limit (`rate_limit_per_s`) answered with 429."""
        return self._bucket.refused

    def count(self, method: str, template: str) -> int:
        return sum(
            1 for c in list(self.calls) if c.method == method.upper() and c.template == template
        )

    # ------------------------------------------------------------------ knobs

    def config(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in KNOBS}

    def configure(self, **knobs: Any) -> None:
        for name, value in knobs.items():
            if name not in KNOBS:
                raise ValueError(f"unknown knob {name!r}; known: {', '.join(KNOBS)}")
            setattr(self, name, value)

    # ------------------------------------------------------------------ targeted faults

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def _take_fault(self, method: str, template: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.matches(method, template):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # ------------------------------------------------------------------ reset

    def reset(self) -> None:
        """Forget every resource, call, fault and pending timer; keep the knobs."""
        loop = self._loop
        if loop is not None and loop.is_running():
            self._run_in_loop(self._reset_async())
        else:
            self._clear_state()

    async def _reset_async(self) -> None:
        await self._cancel_background()
        self._clear_state()

    def _clear_state(self) -> None:
        self.clear_faults()
        self._chaos.configure(None)
        self._bucket.reset()
        self._calls.clear()
        self.assets.clear()
        self.tasks.clear()
        self.indexes.clear()
        self.indexed_assets.clear()
        self.uploads.clear()
        self.mark_task_ready_at.clear()
        self.webhook_deliveries.clear()
        self._presigned.clear()
        self._idempotency.clear()
        if self._workdir is not None:
            for entry in self._workdir.iterdir():
                with contextlib.suppress(OSError):
                    entry.unlink()

    # ------------------------------------------------------------------ lifecycle hooks

    def _on_start(self) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix="fake-twelvelabs-"))

    def _on_stopped(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    async def _before_cleanup(self) -> None:
        await self._cancel_background()
        for session in (self._session, self._hook_session):
            if session is not None:
                await session.close()
        self._session = self._hook_session = None

    # ------------------------------------------------------------------ background work

    async def _cancel_background(self) -> None:
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._background.clear()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _tmp(self, prefix: str) -> Path:
        assert self._workdir is not None
        return self._workdir / f"{prefix}-{uuid.uuid4().hex}"

    async def _fetch(self, url: str) -> Fetched:
        """GET `url` like the platform would (see `fetch.fetch_url`)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30),
                trust_env=False,
            )
        return await fetch_url(self._session, url, self._tmp("fetch"), self.url_upload_limit)
