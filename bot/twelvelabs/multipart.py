"""Multipart upload of a large local file (the `/assets/multipart-uploads` API).

- Each chunk's exact byte range is streamed from the file to its presigned URL: at most
  `concurrency` chunks in flight, each read in small pieces — memory stays bounded whatever the
  file size. Nothing is copied to disk.
- `upload_headers` from the session are sent on every PUT, with
  `Content-Type: application/octet-stream`; presigned URLs never get the API key.
- Presigned URLs are single-use and expire: more are requested (≤ 50 at a time) when the set in
  hand does not cover a chunk, when a URL is expired or about to expire, or when a PUT comes
  back 403.
- Completed chunks (ETag without quotes as the proof) are reported in batches.
- A session can be resumed from its upload id: chunks the server already has are skipped.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from . import errors, models
from .formdata import FileBody, FileRange, guess_content_type
from .retry import RetryMode
from .session import ApiSession, parse_model

__all__ = ["MultipartSettings", "MultipartUploader", "deduce_chunk_size", "strip_etag"]

log = logging.getLogger("bot.twelvelabs")

ProgressCb = Callable[[int, int], Awaitable[None]]
StartedCb = Callable[[str, str], Awaitable[None]]

T_CREATE = "/assets/multipart-uploads"
T_SESSION = "/assets/multipart-uploads/{upload_id}"
T_URLS = "/assets/multipart-uploads/{upload_id}/presigned-urls"
T_PUT = "{upload_url}"  # what logs and counters show for a presigned PUT

MAX_URLS_PER_REQUEST = 50
_DEFAULT_URL_TTL_S = 3000.0  # when a URL comes without a usable expiry


@dataclass(frozen=True)
class MultipartSettings:
    concurrency: int = 3  # chunks in flight
    report_batch_size: int = 10
    url_refresh_margin_s: float = 120.0  # refresh a URL this long before it expires (≤ ttl/4)
    max_url_refreshes_per_chunk: int = 3
    max_repair_rounds: int = 2  # re-upload chunks the server still misses at the end
    chunk_write_timeout_s: float = 600.0


def strip_etag(value: str) -> str:
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def deduce_chunk_size(total_size: int, uploaded_size: int, completed: set[int]) -> int | None:
    """Work out a session's chunk size from what `GET …/{upload_id}` reports.

    With k chunks completed, the highest being m: either the last chunk is not among them (all
    are full: size = uploaded/k) or chunk m is the last one (size = (total-uploaded)/(m-k)).
    Returns None unless exactly one reading is consistent.
    """
    k = len(completed)
    if k == 0 or uploaded_size <= 0 or total_size <= 0:
        return None
    m = max(completed)
    candidates: set[int] = set()
    if uploaded_size % k == 0:
        size = uploaded_size // k
        if size > 0 and math.ceil(total_size / size) > m:
            candidates.add(size)
    if m > k and (total_size - uploaded_size) % (m - k) == 0:
        size = (total_size - uploaded_size) // (m - k)
        if size > 0 and math.ceil(total_size / size) == m:
            candidates.add(size)
    if k == m and uploaded_size == total_size and k == 1:
        candidates.add(total_size)
    return candidates.pop() if len(candidates) == 1 else None


def asset_type_for(filename: str) -> str:
    major = guess_content_type(filename).split("/", 1)[0]
    return major if major in ("video", "audio", "image") else "video"


@dataclass
class _Url:
    url: str
    fresh_until: float  # event-loop time


class _Run:
    """State of one upload (fresh or resumed)."""

    def __init__(
        self,
        uploader: MultipartUploader,
        path: Path,
        *,
        upload_id: str,
        asset_id: str | None,
        chunk_size: int,
        total_chunks: int,
        total_size: int,
        upload_headers: dict[str, str] | None,
        progress: ProgressCb | None,
    ) -> None:
        self.u = uploader
        self.session = uploader.session
        self.settings = uploader.settings
        self.path = path
        self.upload_id = upload_id
        self.asset_id = asset_id
        self.chunk_size = chunk_size
        self.total_chunks = total_chunks
        self.total_size = total_size
        self.put_headers = {"Content-Type": "application/octet-stream"}
        for name, value in (upload_headers or {}).items():
            if name.lower() not in ("content-length", "host", "transfer-encoding"):
                self.put_headers[name] = value
        self.progress = progress
        self.urls: dict[int, _Url] = {}
        self.url_lock = asyncio.Lock()
        self.report_lock = asyncio.Lock()
        self.pending_reports: list[dict[str, Any]] = []
        self.last_report: models.ChunkReport | None = None
        self.done_bytes = 0
        self.inflight: dict[int, int] = {}
        self.reported_bytes = -1

    # ------------------------------------------------------------------ geometry

    def chunk_length(self, index: int) -> int:
        offset = (index - 1) * self.chunk_size
        return max(0, min(self.chunk_size, self.total_size - offset))

    # ------------------------------------------------------------------ progress

    async def emit(self) -> None:
        if self.progress is None:
            return
        value = min(self.total_size, self.done_bytes + sum(self.inflight.values()))
        if value > self.reported_bytes:
            self.reported_bytes = value
            await self.progress(value, self.total_size)

    # ------------------------------------------------------------------ URLs

    def store_urls(self, urls: list[models.PresignedUrl]) -> None:
        now = asyncio.get_running_loop().time()
        wall = time.time()
        for item in urls:
            expires = item.expires_at_utc()
            if expires is None:
                fresh_until = now + _DEFAULT_URL_TTL_S
            else:
                ttl = expires.timestamp() - wall
                margin = min(self.settings.url_refresh_margin_s, max(ttl, 0.0) / 4)
                fresh_until = now + ttl - margin
            self.urls[item.chunk_index] = _Url(item.url, fresh_until)

    def _take_fresh(self, index: int, *, any_age: bool = False) -> str | None:
        entry = self.urls.get(index)
        if entry is None:
            return None
        if not any_age and asyncio.get_running_loop().time() >= entry.fresh_until:
            return None
        del self.urls[index]  # single use
        return entry.url

    async def url_for(self, index: int) -> str:
        url = self._take_fresh(index)
        if url is not None:
            return url
        async with self.url_lock:
            url = self._take_fresh(index)
            if url is not None:
                return url
            await self.fetch_urls(index)
            # Use what was just issued even if our clock says it is stale (clock skew); a 403
            # brings us back here.
            url = self._take_fresh(index, any_age=True)
        if url is None:
            raise errors.UploadFailed(
                f"no upload URL issued for chunk {index}", method="POST", path=T_URLS
            )
        return url

    async def fetch_urls(self, start: int) -> None:
        count = min(MAX_URLS_PER_REQUEST, self.total_chunks - start + 1)
        response = await self.session.request(
            "POST",
            T_URLS,
            path_params={"upload_id": self.upload_id},
            json={"start": start, "count": count},
            mode=RetryMode.IDEMPOTENT,
        )
        issued = parse_model(models.PresignedUrls, response, method="POST", path=T_URLS)
        self.store_urls(issued.upload_urls)

    # ------------------------------------------------------------------ chunks

    async def upload_chunk(self, index: int) -> None:
        length = self.chunk_length(index)
        body = FileBody(FileRange(self.path, (index - 1) * self.chunk_size, length))
        timeout = httpx.Timeout(
            self.session.timeout.connect,
            read=self.session.timeout.read,
            write=self.settings.chunk_write_timeout_s,
            pool=self.session.timeout.pool,
        )

        async def on_bytes(sent: int) -> None:
            self.inflight[index] = sent
            await self.emit()

        refreshes = 0
        while True:
            url = await self.url_for(index)
            self.inflight[index] = 0
            try:
                response = await self.session.request(
                    "PUT",
                    T_PUT,
                    url=url,
                    auth=False,
                    body=body,
                    headers=self.put_headers,
                    mode=RetryMode.IDEMPOTENT,
                    http_timeout=timeout,
                    on_attempt_bytes=on_bytes,
                )
            except errors.PermissionDeniedError:
                # Expired (or already used) presigned URL: get a new one.
                self.inflight.pop(index, None)
                if refreshes >= self.settings.max_url_refreshes_per_chunk:
                    raise
                refreshes += 1
                log.info("TwelveLabs upload URL for chunk %d refused (403); refreshing", index)
                continue
            except BaseException:
                self.inflight.pop(index, None)
                raise
            break
        etag = response.headers.get("ETag")
        self.inflight.pop(index, None)
        if not etag:
            raise errors.UploadFailed(
                f"upload of chunk {index} returned no ETag", method="PUT", path=T_PUT
            )
        self.done_bytes += length
        await self.emit()
        await self.queue_report(
            {
                "chunk_index": index,
                "proof": strip_etag(etag),
                "proof_type": "etag",
                "chunk_size": length,
            }
        )

    # ------------------------------------------------------------------ reports

    async def queue_report(self, entry: dict[str, Any]) -> None:
        self.pending_reports.append(entry)
        if len(self.pending_reports) >= self.settings.report_batch_size:
            await self.flush_reports()

    async def flush_reports(self) -> None:
        async with self.report_lock:
            batch, self.pending_reports = self.pending_reports, []
            if not batch:
                return
            batch.sort(key=lambda e: int(e["chunk_index"]))
            response = await self.session.request(
                "POST",
                T_SESSION,
                path_params={"upload_id": self.upload_id},
                json={"completed_chunks": batch},
                mode=RetryMode.IDEMPOTENT,  # duplicate reports are ignored by the server
            )
            report = parse_model(models.ChunkReport, response, method="POST", path=T_SESSION)
            self.last_report = report
            if report.asset_id:
                self.asset_id = report.asset_id

    # ------------------------------------------------------------------ driving

    async def upload_chunks(self, indices: list[int]) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in indices:
            queue.put_nowait(index)

        async def worker() -> None:
            while True:
                try:
                    index = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await self.upload_chunk(index)

        workers = [
            asyncio.create_task(worker())
            for _ in range(max(1, min(self.settings.concurrency, len(indices))))
        ]
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                exc = task.exception()
                if exc is not None:
                    raise exc
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        await self.flush_reports()


class MultipartUploader:
    def __init__(self, session: ApiSession, settings: MultipartSettings | None = None) -> None:
        self.session = session
        self.settings = settings or MultipartSettings()

    async def get_status(self, upload_id: str) -> models.UploadStatus:
        """All pages of `GET /assets/multipart-uploads/{upload_id}`, chunks merged."""
        merged: models.UploadStatus | None = None
        page = 1
        while True:
            response = await self.session.request(
                "GET",
                T_SESSION,
                path_params={"upload_id": upload_id},
                params={"page": page, "page_limit": 50},
                mode=RetryMode.IDEMPOTENT,
            )
            status = parse_model(models.UploadStatus, response, method="GET", path=T_SESSION)
            if merged is None:
                merged = status
            else:
                merged.uploaded_chunks.extend(status.uploaded_chunks)
            info = status.page_info
            if (
                info is None
                or info.total_page is None
                or page >= info.total_page
                or not status.uploaded_chunks
                or page >= 1000
            ):
                return merged
            page += 1

    async def _chunk_size_from_listing(self, upload_id: str) -> int | None:
        """Find the session in `GET /assets/multipart-uploads` (unfinished sessions)."""
        for page in range(1, 21):
            response = await self.session.request(
                "GET",
                T_CREATE,
                params={"page": page, "page_limit": 50},
                mode=RetryMode.IDEMPOTENT,
            )
            listing = parse_model(models.UploadList, response, method="GET", path=T_CREATE)
            for item in listing.data:
                if item.upload_id == upload_id and item.chunk_size:
                    return item.chunk_size
            info = listing.page_info
            if not listing.data or info is None or info.total_page is None:
                return None
            if page >= info.total_page:
                return None
        return None

    async def upload(
        self,
        path: Path,
        *,
        filename: str,
        enable_thumbnail: bool,
        user_metadata: dict[str, Any] | None = None,
        progress: ProgressCb | None = None,
        on_started: StartedCb | None = None,
        resume_upload_id: str | None = None,
        resume_asset_id: str | None = None,
        resume_chunk_size: int | None = None,
    ) -> models.Asset:
        total_size = (await asyncio.to_thread(path.stat)).st_size
        if total_size <= 0:
            raise ValueError(f"{path.name} is empty")
        run: _Run | None = None
        completed: set[int] = set()
        if resume_upload_id:
            resumed = await self._resume(
                path,
                total_size,
                resume_upload_id,
                resume_asset_id,
                resume_chunk_size,
                progress,
            )
            if isinstance(resumed, models.Asset):
                if progress is not None:
                    await progress(total_size, total_size)
                return resumed.model_copy(update={"filename": filename})
            if resumed is not None:
                run, completed = resumed
        if run is None:
            run = await self._start(
                path,
                total_size,
                filename=filename,
                enable_thumbnail=enable_thumbnail,
                user_metadata=user_metadata,
                progress=progress,
                on_started=on_started,
            )
        run.done_bytes = sum(run.chunk_length(i) for i in completed)
        await run.emit()
        todo = [i for i in range(1, run.total_chunks + 1) if i not in completed]
        for round_number in range(self.settings.max_repair_rounds + 1):
            if todo:
                await run.upload_chunks(todo)
            report = run.last_report
            if report is None or report.total_completed is None:
                break
            if report.total_completed >= run.total_chunks:
                break
            # The server still misses chunks (lost reports, failed chunks): ask which.
            status = await self.get_status(run.upload_id)
            have = {c.index for c in status.uploaded_chunks if c.status == "completed"}
            todo = [i for i in range(1, run.total_chunks + 1) if i not in have]
            if not todo:
                break
            if round_number == self.settings.max_repair_rounds:
                raise errors.UploadFailed(
                    f"server still misses {len(todo)} of {run.total_chunks} chunks",
                    method="GET",
                    path=T_SESSION,
                )
            log.warning(
                "TwelveLabs upload %s: re-sending %d missing chunks", run.upload_id, len(todo)
            )
            run.done_bytes = sum(run.chunk_length(i) for i in have)
        if run.asset_id is None:
            raise errors.UploadFailed(
                "upload finished but the server never named its asset",
                method="POST",
                path=T_SESSION,
            )
        run.done_bytes = total_size
        run.inflight.clear()
        await run.emit()
        return models.Asset.model_validate(
            {
                "_id": run.asset_id,
                "method": "multipart",
                "status": "processing",
                "filename": filename,
            }
        )

    async def _start(
        self,
        path: Path,
        total_size: int,
        *,
        filename: str,
        enable_thumbnail: bool,
        user_metadata: dict[str, Any] | None,
        progress: ProgressCb | None,
        on_started: StartedCb | None,
    ) -> _Run:
        payload: dict[str, Any] = {
            "filename": filename,
            "type": asset_type_for(filename),
            "total_size": total_size,
            "enable_thumbnail": enable_thumbnail,
        }
        if user_metadata:
            payload["user_metadata"] = user_metadata
        response = await self.session.request("POST", T_CREATE, json=payload, mode=RetryMode.CREATE)
        created = parse_model(models.MultipartUpload, response, method="POST", path=T_CREATE)
        if created.chunk_size <= 0 or created.total_chunks != math.ceil(
            total_size / created.chunk_size
        ):
            raise errors.UploadFailed(
                f"inconsistent session: chunk_size={created.chunk_size} "
                f"total_chunks={created.total_chunks} for {total_size} bytes",
                method="POST",
                path=T_CREATE,
            )
        log.info(
            "TwelveLabs multipart upload %s started: %d chunks of %d bytes",
            created.upload_id,
            created.total_chunks,
            created.chunk_size,
        )
        if on_started is not None:
            await on_started(created.upload_id, created.asset_id)
        run = _Run(
            self,
            path,
            upload_id=created.upload_id,
            asset_id=created.asset_id,
            chunk_size=created.chunk_size,
            total_chunks=created.total_chunks,
            total_size=total_size,
            upload_headers=created.upload_headers,
            progress=progress,
        )
        run.store_urls(created.upload_urls)
        return run

    async def _resume(
        self,
        path: Path,
        total_size: int,
        upload_id: str,
        asset_id: str | None,
        chunk_size: int | None,
        progress: ProgressCb | None,
    ) -> tuple[_Run, set[int]] | models.Asset | None:
        """A run continuing `upload_id`; its asset when the session is already complete; or
        None when it cannot be resumed (the caller starts afresh)."""
        try:
            status = await self.get_status(upload_id)
        except errors.NotFoundError:
            log.warning("TwelveLabs upload %s not found; starting a new one", upload_id)
            return None
        if status.status in (
            models.UploadSessionStatus.FAILED,
            models.UploadSessionStatus.EXPIRED,
        ):
            log.warning("TwelveLabs upload %s is %s; starting a new one", upload_id, status.status)
            return None
        if status.total_size is not None and status.total_size != total_size:
            log.warning("TwelveLabs upload %s is for a different file; starting anew", upload_id)
            return None
        completed = {c.index for c in status.uploaded_chunks if c.status == "completed"}
        asset_id = asset_id or status.asset_id
        if status.status == models.UploadSessionStatus.COMPLETED:
            if asset_id is None:
                log.warning("TwelveLabs upload %s: asset id unknown; starting anew", upload_id)
                return None
            log.info("TwelveLabs multipart upload %s was already complete", upload_id)
            return models.Asset.model_validate(
                {"_id": asset_id, "method": "multipart", "status": "processing"}
            )
        size = chunk_size or status.chunk_size
        if size is None:
            size = await self._chunk_size_from_listing(upload_id)
        if size is None and status.uploaded_size is not None:
            size = deduce_chunk_size(total_size, status.uploaded_size, completed)
        if size is None or size <= 0:
            log.warning("TwelveLabs upload %s: chunk size unknown; starting a new one", upload_id)
            return None
        total_chunks = math.ceil(total_size / size)
        completed = {i for i in completed if 1 <= i <= total_chunks}
        log.info(
            "TwelveLabs multipart upload %s resumed: %d of %d chunks already there",
            upload_id,
            len(completed),
            total_chunks,
        )
        run = _Run(
            self,
            path,
            upload_id=upload_id,
            asset_id=asset_id,
            chunk_size=size,
            total_chunks=total_chunks,
            total_size=total_size,
            upload_headers=status.upload_headers,
            progress=progress,
        )
        return run, completed
