"""From a job to its gist: cache, single-flight, source, asset, analysis.

Each durable step's result is saved on the job before the next step starts, so a step tried
again (after a transient failure, or after a restart) resumes instead of paying twice: a known
asset is not uploaded again, a known analysis task is polled, not created again, and a
download that TwelveLabs hasn't received yet is kept for the next try.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.gist.models import Gist, VideoInfo
from bot.gist.schema import ordered
from bot.gist.service import GistService, Source
from bot.jobs import tmpfiles
from bot.jobs.cache import ResultCache
from bot.jobs.flights import Flights
from bot.jobs.guard import Guard
from bot.jobs.leases import Lease
from bot.jobs.limits import AdaptiveLimit
from bot.jobs.links import check_link
from bot.jobs.models import Job
from bot.jobs.phases import Phase
from bot.jobs.ports import FetchedFile, FileFetcher
from bot.jobs.retry import StepRetry
from bot.jobs.store_base import IndexedVideo, LeaseLost
from bot.search.origin import Origin
from bot.settings import Settings
from bot.transient import is_transient

log = logging.getLogger(__name__)

Report = Callable[[Phase, float | None], Awaitable[None]]


@dataclass
class Pipeline:
    settings: Settings
    lease: Lease  # saves, fenced by this replica's lease
    service: GistService
    fetcher: FileFetcher
    cache: ResultCache
    guard: Guard
    http: httpx.AsyncClient
    tmp_dir: Path
    retry: StepRetry

    def __post_init__(self) -> None:
        self._uploads = asyncio.Semaphore(self.settings.gist_max_concurrent_uploads)
        # Adapts to what TwelveLabs allows: grows on answers, halves on 429s.
        self.analyses = AdaptiveLimit(self.settings.gist_max_concurrent_analyses)
        self._flights = Flights()

    async def cached(self, job: Job) -> Gist | None:
        """The gist of this video for these types, if it is in the cache."""
        gist = await self.cache.get(job.video_keys(), job.type_set)
        if gist is not None:
            job.cached = True
            log.info("job %s answered from the cache", job.id)
        return gist

    async def gist(self, job: Job, report: Report) -> Gist:
        """The gist for this job: from work already in flight, or computed. The runner has
        looked in the cache (`cached`) just before, so this doesn't look again."""
        types = job.type_set
        if job.force_fresh or job.asset_id is not None:
            return await self._retried(job, report)
        key = (job.video_keys() or [job.id])[0] + "|" + ",".join(ordered(types))
        existing = self._flights.running(key)
        if existing is not None:
            log.info("job %s shares in-flight work for %s", job.id, key)
            await report(Phase.PROCESSING, None)
            try:
                gist = await asyncio.shield(existing)
            except (LeaseLost, asyncio.CancelledError):
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this job itself is being stopped
                # The leader's job was taken over by another replica (or stopped), not this
                # one: this job carries on by itself instead of ending with it, unfinished.
                log.info("job %s: the work it shared stopped; going on alone", job.id)
                return await self.gist(job, report)
            job.cached = True
            return gist
        return await self._flights.lead(key, lambda: self._across(job, key, report))

    async def _across(self, job: Job, key: str, report: Report) -> Gist:
        """Single flight across replicas: while another replica's job makes the gist for this
        video (the store's flight), wait for it in the shared cache instead of paying twice.
        Stopped or taken over, the leader keeps the flight: its job resumes and leads again."""
        if self.settings.gist_cache_ttl_s <= 0:  # no shared cache to hand the gist over in
            return await self._retried(job, report)
        store, waited = self.lease.store, False
        delay = self.settings.gist_poll_initial_s
        while (leader := await store.join_flight(key, job.id)) is not None or waited:
            if waited and (cached := await self.cache.get(job.video_keys(), job.type_set)):
                log.info("job %s has the gist job %s made", job.id, leader or "another")
                job.cached = True
                return cached
            if leader is None:
                break  # the leader failed, or finished uncached: this job does the work
            if not waited:
                log.info("job %s waits for job %s, which makes the same gist", job.id, leader)
                await report(Phase.PROCESSING, None)
            waited = True
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.settings.gist_poll_max_interval_s)
        try:
            gist = await self._retried(job, report)
        except LeaseLost:
            raise  # taken over (or stopped: CancelledError): its job resumes, still leading
        except Exception:
            await store.end_flight(key, job.id)  # failed: the next job in line tries itself
            raise
        await store.end_flight(key, job.id)
        return gist

    async def _retried(self, job: Job, report: Report) -> Gist:
        """Transient failures are tried again inside the flight: followers see only the
        outcome, never a leader's passing 503 (which would send each of them off to make
        its own asset)."""
        return await self.retry.run(
            "making the gist", job.id, lambda: self._compute(job, report), until=job.deadline_at
        )

    async def _compute(self, job: Job, report: Report) -> Gist:
        self.guard.check_size(job.source.size_bytes)
        self.guard.check_duration(job.source.duration_s)
        await self.guard.check_quota(job, job.source.duration_s)
        if job.asset_id is None or (job.upload_id is not None and not job.asset_ready):
            cached = await self._create_asset(job, report)
            if cached is not None:
                return cached
        assert job.asset_id is not None
        async with self.analyses:
            if not job.asset_ready:
                await self._wait_for_asset(job, report)
            return await self._analyse(job, report)

    async def _wait_for_asset(self, job: Job, report: Report) -> None:
        assert job.asset_id is not None
        await report(Phase.PROCESSING, None)
        info = await self.service.wait_for_asset(job.asset_id)
        self.guard.check_duration(info.duration_s)
        if job.source.duration_s is None:
            await self.guard.check_quota(job, info.duration_s)
        job.asset_ready = True
        job.video_seconds = info.duration_s
        job.thumbnail_url = info.thumbnail_url
        if info.size_bytes:
            job.source.size_bytes = job.source.size_bytes or info.size_bytes
        await self.lease.save(job)
        self._index(job, job.asset_id)

    def _index(self, job: Job, asset_id: str) -> None:
        """Make the video searchable, tagged with where it was shared (a search hit maps back
        to the message without another call), and remember it in the store."""
        origin = Origin(
            team_id=job.slack.team_id,
            channel=job.slack.channel,
            message_ts=job.slack.source_ts or job.slack.thread_ts,
            job_id=job.id,
        )

        async def on_indexed(index_id: str, indexed_asset_id: str) -> None:
            video = IndexedVideo(
                indexed_asset_id=indexed_asset_id,
                index_id=index_id,
                asset_id=asset_id,
                job_id=job.id,
                team_id=origin.team_id,
                channel=origin.channel,
                message_ts=origin.message_ts,
                created_at=time.time(),
            )
            await self.lease.store.record_indexed(video)

        self.service.index_in_background(
            asset_id, user_metadata=origin.metadata(), on_indexed=on_indexed
        )

    async def _analyse(self, job: Job, report: Report) -> Gist:
        assert job.asset_id is not None
        video = VideoInfo(
            filename=job.source.name,
            duration_s=job.video_seconds,
            size_bytes=job.source.size_bytes,
            thumbnail_url=job.thumbnail_url,
            asset_id=job.asset_id,
        )

        async def on_task(task_id: str, attempt: int) -> None:
            job.task_id, job.task_attempt = task_id, attempt
            await self.lease.save(job)

        await report(Phase.ANALYSING, None)
        if job.task_id is None:
            await self.lease.check(job)  # an analysis is paid for: only while the job is ours
        gist = await self.service.analyze(
            job.asset_id,
            job.type_set,
            video,
            idempotency_prefix=job.id,
            resume_task_id=job.task_id,
            resume_attempt=job.task_attempt,
            on_task=on_task,
        )
        await self.cache.put(job.video_keys(), gist)
        return gist

    async def _create_asset(self, job: Job, report: Report) -> Gist | None:
        """Upload (or hand TwelveLabs the URL). Returns a cached gist if the bytes are known."""
        if job.asset_requested and job.asset_id is None:
            # An earlier try (or process) may have created it without hearing the answer.
            job.asset_id = await self.service.find_asset(job.id, job.source.name)
            if job.asset_id is not None:
                log.info("job %s found its asset %s from an earlier try", job.id, job.asset_id)
                await self.lease.save(job)
                return None
        if job.source.kind == "url":
            await self._asset_from_link(job, report)
            return None
        async with self._uploads:
            fetched = await self._download(job, report)
            try:
                return await self._upload(job, fetched, report)
            except Exception as exc:
                if not is_transient(exc):  # a try later reuses the download; a failure doesn't
                    await tmpfiles.release(job, self.lease)
                raise

    async def _asset_from_link(self, job: Job, report: Report) -> None:
        assert job.source.url is not None
        if job.source.probe:
            await check_link(
                job, http=self.http, allow_private=self.settings.gist_allow_private_urls
            )
        job.asset_requested = True
        await self.lease.save(job)
        await report(Phase.UPLOADING, None)
        job.asset_id = await self.service.create_asset(
            Source(url=job.source.url, filename=job.source.name), request_key=job.id
        )
        await self.lease.save(job)

    async def _download(self, job: Job, report: Report) -> FetchedFile:
        kept = tmpfiles.kept_download(job)
        if kept is not None:
            log.info("job %s reuses its download %s", job.id, kept.path.name)
            return kept

        async def on_bytes(done: int, total: int | None) -> None:
            size = total or job.source.size_bytes
            await report(Phase.DOWNLOADING, 100.0 * done / size if size else None)

        await report(Phase.DOWNLOADING, 0.0)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        fetched = await self.fetcher.fetch(job, self.tmp_dir, on_bytes)
        try:
            self.guard.check_size(fetched.size)
        except Exception:
            await asyncio.to_thread(fetched.path.unlink, missing_ok=True)
            raise
        job.sha256, job.source.size_bytes = fetched.sha256, fetched.size
        job.tmp_path = str(fetched.path)
        await self.lease.save(job)
        return fetched

    async def _upload(self, job: Job, fetched: FetchedFile, report: Report) -> Gist | None:
        if not job.force_fresh:
            cached = await self.cache.get(["sha256:" + fetched.sha256], job.type_set)
            if cached is not None:
                job.cached = True
                await tmpfiles.release(job, self.lease)
                return cached

        async def on_multipart(upload_id: str, asset_id: str) -> None:
            job.upload_id, job.asset_id = upload_id, asset_id
            await self.lease.save(job)

        async def on_bytes(done: int, total: int | None) -> None:
            await report(Phase.UPLOADING, 100.0 * done / total if total else None)

        job.asset_requested = True
        await self.lease.save(job)
        await report(Phase.UPLOADING, 0.0)
        job.asset_id = await self.service.create_asset(
            Source(path=fetched.path, filename=job.source.name),
            on_bytes=on_bytes,
            on_multipart_started=on_multipart,
            resume_upload_id=job.upload_id,
            resume_asset_id=job.asset_id if job.upload_id else None,
            request_key=job.id,
        )
        job.upload_id = None
        await tmpfiles.release(job, self.lease)  # saves the job, asset id included
        return None
