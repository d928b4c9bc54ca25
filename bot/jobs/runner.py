"""Runs jobs: bounded concurrency, single-flight per video, resume after restart, deadlines,
graceful stop. Every durable step is saved before the next one starts, so a killed process
resumes without re-uploading, without a second analysis and without a second reply."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from pathlib import Path

from bot import metrics
from bot.gist.errors import GistFailure, explain
from bot.gist.models import Gist, VideoInfo
from bot.gist.schema import ordered
from bot.gist.service import GistService, Source
from bot.jobs.cache import ResultCache
from bot.jobs.guard import Guard
from bot.jobs.models import Job, JobState, Trigger
from bot.jobs.ports import FileFetcher, Notifier
from bot.jobs.progress import EditBudget, ProgressReporter
from bot.jobs.store import JobStore
from bot.settings import Settings

log = logging.getLogger(__name__)


class JobRunner:
    def __init__(
        self,
        *,
        settings: Settings,
        store: JobStore,
        service: GistService,
        notifier: Notifier,
        fetcher: FileFetcher,
        cache: ResultCache,
        guard: Guard,
    ) -> None:
        self._s = settings
        self._store = store
        self._service = service
        self._notifier = notifier
        self._fetcher = fetcher
        self._cache = cache
        self._guard = guard
        self._uploads = asyncio.Semaphore(settings.gist_max_concurrent_uploads)
        self._analyses = asyncio.Semaphore(settings.gist_max_concurrent_analyses)
        self._tasks: dict[str, asyncio.Task[None]] = {}  # strong references
        self._inflight: dict[str, asyncio.Future[Gist]] = {}
        self._budget = EditBudget()
        self._stopping = False
        self._tmp = settings.gist_tmp_dir or Path(tempfile.gettempdir()) / "gistbot"

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
        return await self._store.accept(jobs, event_id)

    def start(self, job: Job) -> None:
        if job.id in self._tasks or self._stopping:
            return
        task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
        self._tasks[job.id] = task
        job_id = job.id

        def forget(_: asyncio.Task[None]) -> None:
            self._tasks.pop(job_id, None)

        task.add_done_callback(forget)

    async def resume_all(self) -> int:
        jobs = await self._store.unfinished()
        for job in jobs:
            log.info(
                "resuming job %s (asset=%s task=%s posted=%s)",
                job.id,
                job.asset_id,
                job.task_id,
                job.result_posted,
            )
            self.start(job)
        return len(jobs)

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

    # -- one job -----------------------------------------------------------------------
    async def _run(self, job: Job) -> None:
        started = time.monotonic()
        metrics.job_started(job)
        reporter = ProgressReporter(
            self._notifier, job, interval_s=self._s.gist_progress_interval_s, budget=self._budget
        )
        remaining = job.deadline_at - time.time()
        failure: GistFailure | None = None
        try:
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining):
                await self._process(job, reporter)
        except asyncio.CancelledError:
            # Shutdown: the job stays 'running' in the store and resumes on the next start.
            log.info("job %s interrupted; it will resume", job.id)
            raise
        except TimeoutError:
            failure = GistFailure(
                "deadline",
                "This took too long",
                f"No answer within {self._s.gist_job_timeout_s / 60:.0f} minutes. "
                "Try again; if it keeps happening, try a shorter video.",
                retryable=True,
            )
        except Exception as exc:
            failure = explain(exc)
            if failure.code == "internal":
                log.exception("job %s failed unexpectedly", job.id)
        finally:
            # Before the error is shown: a late progress edit must not overwrite it.
            await reporter.close()
        if failure is not None:
            await self._fail(job, failure)
        metrics.job_ended(job, failure, time.monotonic() - started)
        log.info(
            "job %s %s in %.1fs: video_seconds=%s tokens=%s cached=%s",
            job.id, job.state.value, time.monotonic() - started, job.video_seconds,
            job.gist.usage.output_tokens if job.gist else None, job.cached,
        )  # fmt: skip

    async def _fail(self, job: Job, failure: GistFailure) -> None:
        log.warning("job %s failed: %s (%s)", job.id, failure.code, failure.headline)
        job.state = JobState.FAILED
        job.error_code = failure.code
        job.finished_at = time.time()
        try:
            await self._notifier.failed(job, failure)
        finally:
            await self._store.save(job)

    async def _process(self, job: Job, reporter: ProgressReporter) -> None:
        # Saved with the first durable step below, not on its own: queued and running jobs
        # both resume, so one write fewer per job costs nothing.
        job.state = JobState.RUNNING
        if not job.result_posted:
            if job.source.kind == "slack_file" and not job.source.url and job.gist is None:
                # A stub (Slack Connect, plan limits): learn what it is before saying anything.
                try:
                    await self._fetcher.resolve(job)
                except GistFailure as failure:
                    if job.trigger is Trigger.PASSIVE and failure.code == "not_video":
                        log.info("job %s: passive upload is not a video; ignored", job.id)
                        job.state, job.error_code = JobState.DONE, failure.code
                        job.finished_at = time.time()
                        await self._store.save(job)
                        return
                    raise
            if job.slack.placeholder_ts is None:
                # A restart between posting and saving finds the earlier placeholder. This
                # save also records the state and what a stub file resolved to.
                recover = job.placeholder_requested
                job.placeholder_requested = True
                await self._store.save(job)
                await self._notifier.started(job, recover=recover)
                await self._store.save(job)
            if job.gist is None:
                job.gist = await self._gist(job, reporter)
                await self._store.save(job)
            await reporter.close()
            await self._notifier.result(job)
            job.result_posted = True
            await self._store.save(job)
            if not job.cached and job.video_seconds is not None:
                await self._store.record_usage(
                    job.id, job.slack.team_id, job.slack.user, job.video_seconds,
                    job.gist.usage.output_tokens + (job.gist.usage.input_tokens or 0),
                )  # fmt: skip
        job.state = JobState.DONE
        job.finished_at = time.time()
        await self._store.save(job)

    async def _gist(self, job: Job, reporter: ProgressReporter) -> Gist:
        types = job.type_set
        if not job.force_fresh and job.asset_id is None:
            cached = await self._cache.get(job.video_keys(), types)
            if cached is not None:
                job.cached = True
                log.info("job %s answered from the cache", job.id)
                return cached
        flight_key = (job.video_keys() or [job.id])[0] + "|" + ",".join(ordered(types))
        if job.force_fresh or job.asset_id is not None:
            return await self._compute(job, reporter)
        existing = self._inflight.get(flight_key)
        if existing is not None:
            log.info("job %s shares in-flight work for %s", job.id, flight_key)
            await reporter("processing", None)
            gist = await asyncio.shield(existing)
            job.cached = True
            return gist
        future: asyncio.Future[Gist] = asyncio.get_running_loop().create_future()
        self._inflight[flight_key] = future
        try:
            gist = await self._compute(job, reporter)
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
            self._inflight.pop(flight_key, None)

    async def _compute(self, job: Job, reporter: ProgressReporter) -> Gist:
        self._guard.check_size(job.source.size_bytes)
        self._guard.check_duration(job.source.duration_s)
        await self._guard.check_quota(job, job.source.duration_s)
        if job.asset_id is None or (job.upload_id is not None and not job.asset_ready):
            cached = await self._create_asset(job, reporter)
            if cached is not None:
                return cached
        assert job.asset_id is not None
        video = VideoInfo(
            filename=job.source.name,
            duration_s=job.video_seconds,
            size_bytes=job.source.size_bytes,
            thumbnail_url=job.thumbnail_url,
            asset_id=job.asset_id,
        )
        async with self._analyses:
            if not job.asset_ready:
                info = await self._service.wait_for_asset(job.asset_id, progress=reporter)
                self._guard.check_duration(info.duration_s)
                if job.source.duration_s is None:
                    await self._guard.check_quota(job, info.duration_s)
                job.asset_ready = True
                job.video_seconds = info.duration_s
                job.thumbnail_url = info.thumbnail_url
                video = video.model_copy(
                    update={
                        "duration_s": info.duration_s,
                        "thumbnail_url": info.thumbnail_url,
                        "size_bytes": info.size_bytes or job.source.size_bytes,
                    }
                )
                await self._store.save(job)
                self._service.index_in_background(job.asset_id)

            async def on_task(task_id: str, attempt: int) -> None:
                job.task_id, job.task_attempt = task_id, attempt
                await self._store.save(job)

            gist = await self._service.analyze(
                job.asset_id,
                job.type_set,
                video,
                progress=reporter,
                idempotency_prefix=job.id,
                resume_task_id=job.task_id,
                resume_attempt=job.task_attempt,
                on_task=on_task,
            )
        await self._cache.put(job.video_keys(), gist)
        return gist

    async def _create_asset(self, job: Job, reporter: ProgressReporter) -> Gist | None:
        """Upload (or hand TwelveLabs the URL). Returns a cached gist if the bytes are known."""
        if job.asset_requested and job.asset_id is None:
            # Killed between POST /assets and saving its answer? Find that asset.
            job.asset_id = await self._service.find_asset(job.id, job.source.name)
            if job.asset_id is not None:
                log.info("job %s found its asset %s from before a restart", job.id, job.asset_id)
                await self._store.save(job)
                return None
        if job.source.kind == "url":
            assert job.source.url is not None
            if job.source.probe:
                await self._fetcher.check_link(job)
            job.asset_requested = True
            await self._store.save(job)
            job.asset_id = await self._service.create_asset(
                Source(url=job.source.url, filename=job.source.name),
                progress=reporter,
                request_key=job.id,
            )
            await self._store.save(job)
            return None
        async with self._uploads:
            self._tmp.mkdir(parents=True, exist_ok=True)

            async def on_bytes(done: int, total: int | None) -> None:
                size = total or job.source.size_bytes
                await reporter("downloading", 100.0 * done / size if size else None)

            await reporter("downloading", 0.0)
            fetched = await self._fetcher.fetch(job, self._tmp, on_bytes)
            try:
                self._guard.check_size(fetched.size)
                job.sha256 = fetched.sha256
                job.source.size_bytes = fetched.size
                if not job.force_fresh:
                    cached = await self._cache.get(["sha256:" + fetched.sha256], job.type_set)
                    if cached is not None:
                        job.cached = True
                        await self._store.save(job)
                        return cached

                async def on_multipart(upload_id: str, asset_id: str) -> None:
                    job.upload_id, job.asset_id = upload_id, asset_id
                    await self._store.save(job)

                job.asset_requested = True
                await self._store.save(job)
                asset_id = await self._service.create_asset(
                    Source(path=fetched.path, filename=job.source.name),
                    progress=reporter,
                    on_multipart_started=on_multipart,
                    resume_upload_id=job.upload_id,
                    resume_asset_id=job.asset_id if job.upload_id else None,
                    request_key=job.id,
                )
                job.asset_id = asset_id
                job.upload_id = None
                await self._store.save(job)
            finally:
                with contextlib.suppress(OSError):
                    fetched.path.unlink()
        return None
