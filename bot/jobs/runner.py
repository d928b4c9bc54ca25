"""Runs jobs: intake, a task per job, resume after restart, deadlines, graceful stop.

A job has two halves with deadlines of their own:
1. **compute** (until the job's deadline): resolve the source, post the placeholder (optional:
   the work goes on without it), and make the gist (`Pipeline`). A step that fails
   transiently is tried again (`StepRetry`) until the deadline; a permanent failure, or the
   deadline, decides the job's failure.
2. **deliver** (until the delivery deadline, hours): put the gist, or the failure notice, in
   the thread. Work that was paid for is never thrown away: a Slack outage only delays it, and
   a restart picks it up where it was. A delivered gist is never overwritten by an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot import metrics
from bot.gist.errors import GistFailure, explain
from bot.jobs import tmpfiles
from bot.jobs.leases import Lease
from bot.jobs.models import Job, JobState, Trigger
from bot.jobs.pipeline import Pipeline
from bot.jobs.ports import FileFetcher, Notifier
from bot.jobs.progress import EditBudget, ProgressReporter
from bot.jobs.retry import StepRetry
from bot.jobs.store_base import LeaseLost, Store
from bot.messages import Audience
from bot.settings import Settings
from bot.transient import is_channel_gone, is_transient

log = logging.getLogger(__name__)

T = TypeVar("T")


class JobRunner:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        lease: Lease,
        pipeline: Pipeline,
        notifier: Notifier,
        fetcher: FileFetcher,
        retry: StepRetry,
    ) -> None:
        self._s = settings
        self._store = store
        self._lease = lease
        self.pipeline = pipeline
        self._notifier = notifier
        self._fetcher = fetcher
        self._retry = retry
        self._tasks: dict[str, asyncio.Task[None]] = {}  # strong references
        self._finishing: set[str] = set()  # ended jobs letting go of their lease
        self._budget = EditBudget()
        self._stopping = False

    # -- intake ------------------------------------------------------------------------
    @property
    def accepting(self) -> bool:
        return not self._stopping

    async def accept(self, job: Job) -> bool:
        """Persist a new job (before Slack gets its ack). False: the same work exists."""
        return (await self.accept_many([job]))[0]

    async def accept_many(self, jobs: list[Job], event_id: str | None = None) -> list[bool]:
        """Persist jobs and mark their event seen, in one transaction."""
        if self._stopping:
            raise RuntimeError("shutting down")
        # New jobs start out claimed by this replica: nobody else takes them while it lives.
        return await self._store.accept(
            jobs, event_id, owner=self._lease.owner, lease_s=self._lease.lease_s
        )

    def start(self, job: Job) -> None:
        if job.id in self._tasks or self._stopping:
            return
        task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
        self._tasks[job.id] = task
        job_id = job.id

        def forget(_: asyncio.Task[None]) -> None:
            self._tasks.pop(job_id, None)
            self._finishing.discard(job_id)

        task.add_done_callback(forget)

    async def resume_all(self) -> int:
        """At start-up: sweep stale downloads, then claim and resume what nobody holds."""
        await tmpfiles.sweep(self.pipeline.tmp_dir, await self._store.unfinished())
        return await self.take_over()

    async def take_over(self, limit: int = 1000) -> int:
        """Claim unfinished jobs whose lease ran out (or that nobody holds) and resume them."""
        if self._stopping:
            return 0
        jobs = await self._store.claim_expired(self._lease.owner, self._lease.lease_s, limit)
        for job in jobs:
            log.info(
                "resuming job %s (asset=%s task=%s posted=%s error=%s)",
                job.id,
                job.asset_id,
                job.task_id,
                job.result_posted,
                job.error_code,
            )
            self.start(job)
        return len(jobs)

    async def keep_leases(self) -> None:
        """The heartbeat, every lease_s/3, until cancelled."""
        while True:
            await asyncio.sleep(self._lease.lease_s / 3)
            try:
                await self.beat()
            except Exception as exc:  # the database is away: try again next beat
                log.warning("lease heartbeat failed: %s", exc)

    async def beat(self) -> None:
        """Renew every lease held, stop jobs whose lease was lost, and take over jobs other
        replicas abandoned — as many as this replica has room for."""
        # Looked at before renewing: a job accepted while the renewal runs is ours but not
        # among what it returns, and one that just ended let go of its lease itself.
        running = set(self._tasks) - self._finishing
        held = await self._store.renew_all(self._lease.owner, self._lease.lease_s)
        for job_id in running - held - self._finishing:
            task = self._tasks.get(job_id)
            if task is not None:
                log.warning("job %s: lease lost; another replica has it", job_id)
                task.cancel()
        await self.take_over(self._room())

    def _room(self) -> int:
        """Free slots in this replica's pools, at least one: a dead replica's jobs spread over
        the live ones instead of all landing on whichever looks first (and, should that one
        die too, moving on again as one block)."""
        slots = self._s.gist_max_concurrent_analyses + self._s.gist_max_concurrent_uploads
        return max(1, slots - len(self._tasks))

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def wait_idle(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(list(self._tasks.values()), timeout=deadline - time.monotonic())
        return not self._tasks

    async def stop(self, grace_s: float) -> None:
        """Stop intake, let short steps finish for grace_s, then cancel: the rest resumes on
        the next start from its last durable step."""
        self._stopping = True
        if self._tasks:
            log.info("stopping: %d job(s) in flight, %.0fs grace", len(self._tasks), grace_s)
            await self.wait_idle(grace_s)
        for task in list(self._tasks.values()):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        # Hand the rest back at once: another replica (or the next start) resumes it.
        await self._store.release_all(self._lease.owner)

    # -- one job -----------------------------------------------------------------------
    async def _run(self, job: Job) -> None:
        started = time.monotonic()
        metrics.job_started(job)
        try:
            if job.gist is None and job.error_code is None and not job.result_posted:
                await self._compute(job)
            if job.state is JobState.RUNNING:
                await self._deliver(job)
        except asyncio.CancelledError:
            # Shutdown or a lost lease: the job stays 'running' in the store and resumes on
            # the next start, or on the replica that holds it now.
            log.info("job %s interrupted; it will resume", job.id)
            raise
        except LeaseLost:
            log.warning("job %s: lease lost; another replica carries on with it", job.id)
            return
        failed = job.state is JobState.FAILED and job.error_code is not None
        ended = GistFailure.restore(job.error_code or "", job.error_fields) if failed else None
        metrics.job_ended(job, ended, time.monotonic() - started)
        log.info(
            "job %s %s in %.1fs: video_seconds=%s tokens=%s cached=%s",
            job.id,
            job.state.value,
            time.monotonic() - started,
            job.video_seconds,
            job.gist.usage.output_tokens if job.gist else None,
            job.cached,
        )

    async def _compute(self, job: Job) -> None:
        """Make the gist, or decide the failure; either way it is saved for delivery."""
        reporter = ProgressReporter(
            self._notifier, job, interval_s=self._s.gist_progress_interval_s, budget=self._budget
        )
        job.state = JobState.RUNNING  # saved with the first durable step
        try:
            remaining = job.deadline_at - time.time()
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining):
                if not await self._prepare(job):
                    return
                if job.gist is None:
                    job.gist = await self.pipeline.gist(job, reporter)
        except TimeoutError:
            await self._decide_failure(job, self._deadline_failure(job))
        except LeaseLost:
            raise
        except Exception as exc:
            await self._decide_failure(job, explain(exc), exc)
        else:
            job.delivery_deadline_at = time.time() + self._s.gist_delivery_timeout_s
            await self._lease.save(job)
        finally:
            self._retry.forget(job.id)
            # Before anything else is shown: a late progress edit must not overwrite it.
            await reporter.close()

    def _deadline_failure(self, job: Job) -> GistFailure:
        recent = self._retry.last_transient(
            job.id, within_s=max(120.0, 2 * self._s.gist_retry_max_interval_s)
        )
        if recent is not None:  # an outage outlasted the job: say which
            failure = explain(recent)
            if failure.code != "internal":
                return failure
        return GistFailure("deadline", minutes=f"{self._s.gist_job_timeout_s / 60:.0f}")

    async def _prepare(self, job: Job) -> bool:
        """Learn what a stub file is, and post the placeholder. False: nothing to do."""
        if job.source.kind == "slack_file" and not job.source.url:
            # A stub (Slack Connect, plan limits): learn what it is before saying anything.
            try:
                await self._step(job, "reading the Slack file", lambda: self._fetcher.resolve(job))
            except GistFailure as failure:
                if job.trigger is Trigger.PASSIVE and failure.code == "not_video":
                    log.info("job %s: passive upload is not a video; ignored", job.id)
                    await self._finish(job, JobState.DONE, failure.code)
                    return False
                raise
        if not job.force_fresh and job.asset_id is None:
            job.gist = await self.pipeline.cached(job)
            if job.gist is not None:
                return True  # known already: the answer is the only post, no placeholder
        if job.slack.placeholder_ts is None:
            try:
                await self._post_placeholder(job)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                # The placeholder is optional: the work goes on, delivery posts it later.
                log.warning("job %s: no placeholder yet (%s); working on", job.id, exc)
        return True

    async def _post_placeholder(self, job: Job, *, placeholder: bool = True) -> None:
        # Saved before posting: a try after an unknown outcome (or a restart) looks first.
        recover = job.placeholder_requested
        job.placeholder_requested = True
        await self._lease.save(job)
        await self._notifier.started(job, recover=recover, placeholder=placeholder)
        await self._lease.save(job)

    async def _step(self, job: Job, what: str, step: Callable[[], Awaitable[T]]) -> T:
        return await self._retry.run(what, job.id, step, until=job.deadline_at)

    async def _decide_failure(
        self, job: Job, failure: GistFailure, exc: BaseException | None = None
    ) -> None:
        if exc is not None and is_channel_gone(exc):
            failure = GistFailure("channel_gone")
        if failure.code == "internal":
            log.exception("job %s failed unexpectedly", job.id, exc_info=exc)
        else:
            log.warning("job %s failed: %s (%s)", job.id, failure.code, failure.headline)
        job.error_code = failure.code
        job.error_fields = {k: str(v) for k, v in failure.fields.items()}
        job.delivery_deadline_at = time.time() + self._s.gist_delivery_timeout_s
        # The download isn't needed any more; the notice may wait hours for Slack.
        await tmpfiles.discard(job)
        await self._lease.save(job)

    # -- delivery ----------------------------------------------------------------------
    async def _deliver(self, job: Job) -> None:
        failure = GistFailure.restore(job.error_code, job.error_fields) if job.error_code else None
        if failure is not None and failure.audience is Audience.NOBODY:
            await self._finish(job, JobState.FAILED, failure.code)
            return
        if job.result_posted:  # a restart between posting and finishing
            await self._record_usage(job)
            await self._finish(job, JobState.DONE, None)
            return
        until = job.delivery_deadline_at or time.time() + self._s.gist_delivery_timeout_s
        what = "posting the gist" if failure is None else "posting the failure notice"
        try:
            await self._retry.run(what, job.id, lambda: self._show(job, failure), until=until)
        except LeaseLost:
            raise
        except Exception as exc:
            # Nobody can be told (the channel is gone) or Slack stayed away past the delivery
            # deadline: one line, and the job ends. The gist stays in the cache.
            if is_channel_gone(exc) or is_transient(exc):
                log.warning(
                    "job %s: could not post to %s (%s); giving up", job.id, job.slack.channel, exc
                )
            else:
                log.exception("job %s: delivery failed unexpectedly", job.id)
            await self._finish(job, JobState.FAILED, job.error_code or "undelivered")
            return
        if failure is not None:
            await self._finish(job, JobState.FAILED, failure.code)
            return
        await self._record_usage(job)
        await self._finish(job, JobState.DONE, None)

    async def _show(self, job: Job, failure: GistFailure | None) -> None:
        ctx = job.slack
        if ctx.placeholder_ts is None and not ctx.via_response_url:
            # Never posted, or its outcome unknown: find it (or open a /gist's thread); if
            # there is none, the answer itself is posted, tagged so a retry finds it too.
            await self._post_placeholder(job, placeholder=False)
        await self._lease.check(job)  # a reply is posted only while the job is ours
        if failure is None:
            await self._notifier.result(job)
            job.result_posted = True
            await self._lease.save(job)
        else:
            await self._notifier.failed(job, failure)

    async def _record_usage(self, job: Job) -> None:
        if job.cached or job.video_seconds is None or job.gist is None:
            return
        usage = job.gist.usage
        await self._store.record_usage(
            job.id,
            job.slack.team_id,
            job.slack.user,
            job.video_seconds,
            usage.output_tokens + (usage.input_tokens or 0),
        )

    async def _finish(self, job: Job, state: JobState, code: str | None) -> None:
        job.state, job.error_code = state, code
        job.finished_at = time.time()
        await tmpfiles.discard(job)
        await self._lease.save(job)
        self._finishing.add(job.id)  # the heartbeat must not take what follows for a loss
        await self._lease.release(job)
