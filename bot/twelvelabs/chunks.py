"""The chunk work of one multipart upload: presigned URLs, streamed PUTs, batched reports.

- Each chunk's exact byte range is streamed from the file to its presigned URL: at most
  `concurrency` chunks in flight, each read in small pieces — memory stays bounded whatever the
  file size. Nothing is copied to disk.
- `upload_headers` from the session are sent on every PUT, with
  `Content-Type: application/octet-stream`; presigned URLs never get the API key.
- Presigned URLs are single-use and expire: more are requested (≤ 50 at a time) when the set in
  hand does not cover a chunk, when a URL is expired or about to expire, or when a PUT comes
  back 403.
- Completed chunks (ETag without quotes as the proof) are reported in batches.
- A failed PUT is retried by the session (its injectable sleep does the waiting).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.callbacks import BytesCb

from . import errors, models
from .formdata import FileBody, FileRange
from .retry import RetryMode
from .session import ApiSession, parse_model

__all__ = ["BytesCb", "MultipartSettings", "UploadRun", "strip_etag"]

log = logging.getLogger("bot.twelvelabs")


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


@dataclass
class _Url:
    url: str
    fresh_until: float  # event-loop time


class UploadRun:
    """State of one upload (fresh or resumed)."""

    def __init__(
        self,
        session: ApiSession,
        settings: MultipartSettings,
        path: Path,
        *,
        upload_id: str,
        asset_id: str | None,
        chunk_size: int,
        total_chunks: int,
        total_size: int,
        upload_headers: dict[str, str] | None,
        progress: BytesCb | None,
    ) -> None:
        self.session = session
        self.settings = settings
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
                f"no upload URL issued for chunk {index}",
                method="POST",
                path=T_URLS,
                transient=True,  # a server hiccup: a later try asks again
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
