"""Throttled progress edits: at most one per job every few seconds, and a shared budget so
hundreds of jobs in flight don't trip Slack's chat.update rate limit (Tier 3)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from bot import metrics
from bot.jobs.models import Job
from bot.jobs.phases import Phase
from bot.jobs.ports import Notifier

log = logging.getLogger(__name__)

REFRESH_ELAPSED_S = 30.0  # re-send an unchanged phase now and then so "elapsed" stays honest
EDIT_DRAIN_S = 15.0  # the longest a result waits for a progress edit still in flight


class EditBudget:
    """A token bucket shared by all jobs' progress edits."""

    def __init__(self, per_minute: float = 40.0) -> None:
        self._rate = per_minute / 60.0
        self._capacity = max(1.0, per_minute / 4)
        self._tokens = self._capacity
        self._at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class ProgressReporter:
    """Callable as the gist service's progress callback; sends edits from its own task so a
    slow Slack never slows an upload."""

    def __init__(
        self, notifier: Notifier, job: Job, *, interval_s: float, budget: EditBudget
    ) -> None:
        self._notifier = notifier
        self._job = job
        self._interval = interval_s
        self._budget = budget
        self._state: tuple[Phase, float | None] | None = None
        self._sent: tuple[Phase, float | None] | None = None
        self._sent_at = 0.0
        self._started = time.monotonic()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._edit: asyncio.Task[None] | None = None  # the edit on its way to Slack, if any

    async def __call__(self, phase: Phase, percent: float | None) -> None:
        metrics.job_phase(self._job.id, phase)
        self._state = (phase, None if percent is None else round(percent))
        if self._task is None and self._job.slack.placeholder_ts:
            self._task = asyncio.create_task(self._pump(), name=f"progress-{self._job.id}")
        self._wake.set()

    async def _pump(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval or REFRESH_ELAPSED_S):
                    await self._wake.wait()
            self._wake.clear()
            now = time.monotonic()
            if self._state is None or now - self._sent_at < self._interval:
                continue
            changed = self._state != self._sent
            stale = now - self._sent_at >= REFRESH_ELAPSED_S
            # No token: the wait above times out every interval, so the edit is retried.
            if not (changed or stale) or not self._budget.take():
                continue
            phase, percent = self._state
            self._edit = asyncio.create_task(self._send(phase, percent, now - self._started))
            await asyncio.shield(self._edit)
            self._sent, self._sent_at = self._state, time.monotonic()

    async def _send(self, phase: Phase, percent: float | None, elapsed_s: float) -> None:
        try:
            await self._notifier.progress(self._job, phase, percent, elapsed_s)
        except Exception as exc:  # progress is cosmetic: never fail the job for it
            log.info("progress edit for job %s failed: %s", self._job.id, exc)

    async def close(self) -> None:
        """Stop editing. An edit already on its way is let finish (within a bound): cut off,
        it could still reach Slack after the result and turn it back into a progress bar."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._edit is not None and not self._edit.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(EDIT_DRAIN_S):
                    await asyncio.shield(self._edit)
            self._edit.cancel()
        self._edit = None
