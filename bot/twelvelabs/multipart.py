"""Multipart upload of a large local file (the `/assets/multipart-uploads` API).

The chunk work is in `chunks.py`; this module starts, resumes and finishes a session.

- A session can be resumed from its upload id: chunks the server already has are skipped.
- The session create carries the request key in `user_metadata` and is sent through
  `creates.create_once`. When its outcome is unknown, the asset it may have made is looked up
  by that key — but it cannot be resumed: the API gives no way from an asset to its upload
  session (the session listing names no asset, the asset names no session), and the upload
  URLs came only in the lost answer. So such an asset is deleted (by `forget_lost_session`,
  which `client.assets` supplies) and a fresh session created: one asset remains, and it is
  the one returned.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

from bot.callbacks import MultipartStartedCb

from . import errors, models
from .chunks import T_SESSION, BytesCb, MultipartSettings, UploadRun, strip_etag
from .creates import create_once
from .formdata import guess_content_type
from .pagination import iter_pages, paginate
from .retry import RetryMode
from .session import ApiSession, parse_model

__all__ = [
    "MultipartSettings",
    "MultipartStartedCb",
    "MultipartUploader",
    "deduce_chunk_size",
    "strip_etag",
]

log = logging.getLogger("bot.twelvelabs")

LostSessionCb = Callable[[str, str], Awaitable[None]]  # (request_key, filename)

T_CREATE = "/assets/multipart-uploads"
# A session's status lists every chunk; all are needed (a 10 GB upload in small chunks has
# thousands), so this listing reads past the usual `MAX_PAGES`.
SESSION_PAGES = 1000


def _chunks(status: models.UploadStatus) -> list[models.UploadedChunk]:
    return status.uploaded_chunks


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


class MultipartUploader:
    def __init__(
        self,
        session: ApiSession,
        settings: MultipartSettings | None,
        forget_lost_session: LostSessionCb,
    ) -> None:
        """`forget_lost_session(request_key, filename)` deals with the asset a session create
        whose answer was lost may have made (`client.assets` deletes it)."""
        self.session = session
        self.settings = settings or MultipartSettings()
        self.forget_lost_session = forget_lost_session

    async def get_status(self, upload_id: str) -> models.UploadStatus:
        """All pages of `GET /assets/multipart-uploads/{upload_id}`, chunks merged."""
        merged: models.UploadStatus | None = None
        pages = iter_pages(
            self.session,
            T_SESSION,
            models.UploadStatus,
            _chunks,
            path_params={"upload_id": upload_id},
            max_pages=SESSION_PAGES,
        )
        async with aclosing(pages):
            async for status in pages:
                if merged is None:
                    merged = status
                else:
                    merged.uploaded_chunks.extend(status.uploaded_chunks)
        assert merged is not None  # the first page is always read
        return merged

    async def _chunk_size_from_listing(self, upload_id: str) -> int | None:
        """Find the session in `GET /assets/multipart-uploads` (unfinished sessions)."""
        item = await paginate(self.session, T_CREATE, models.UploadList).find(
            lambda u: u.upload_id == upload_id and bool(u.chunk_size)
        )
        return item.chunk_size if item is not None else None

    async def upload(
        self,
        path: Path,
        *,
        filename: str,
        enable_thumbnail: bool,
        request_key: str,
        user_metadata: dict[str, Any] | None = None,
        progress: BytesCb | None = None,
        on_started: MultipartStartedCb | None = None,
        resume_upload_id: str | None = None,
        resume_asset_id: str | None = None,
        resume_chunk_size: int | None = None,
    ) -> models.Asset:
        """Upload `path` (or continue `resume_upload_id`); `user_metadata` must already carry
        `request_key`, which finds the asset of a session create whose answer was lost."""
        total_size = (await asyncio.to_thread(path.stat)).st_size
        if total_size <= 0:
            raise ValueError(f"{path.name} is empty")
        run: UploadRun | None = None
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
                request_key=request_key,
                user_metadata=user_metadata,
                progress=progress,
                on_started=on_started,
            )
        await self._send_all(run, completed)
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

    async def _send_all(self, run: UploadRun, completed: set[int]) -> None:
        """Send every chunk not in `completed`, then repair what the server still lacks."""
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
                    transient=True,  # the session lives 24 h: a later try may finish it
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

    async def _start(
        self,
        path: Path,
        total_size: int,
        *,
        filename: str,
        enable_thumbnail: bool,
        request_key: str,
        user_metadata: dict[str, Any] | None,
        progress: BytesCb | None,
        on_started: MultipartStartedCb | None,
    ) -> UploadRun:
        payload: dict[str, Any] = {
            "filename": filename,
            "type": asset_type_for(filename),
            "total_size": total_size,
            "enable_thumbnail": enable_thumbnail,
        }
        if user_metadata:
            payload["user_metadata"] = user_metadata

        async def create() -> models.MultipartUpload:
            response = await self.session.request(
                "POST", T_CREATE, json=payload, mode=RetryMode.CREATE
            )
            return parse_model(models.MultipartUpload, response, method="POST", path=T_CREATE)

        async def lookup() -> models.MultipartUpload | None:
            await self.forget_lost_session(request_key, filename)
            return None  # nothing to resume: create a fresh session

        created = await create_once(
            self.session, "POST", T_CREATE, create, lookup, what="multipart upload session"
        )
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
        run = UploadRun(
            self.session,
            self.settings,
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
        progress: BytesCb | None,
    ) -> tuple[UploadRun, set[int]] | models.Asset | None:
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
        run = UploadRun(
            self.session,
            self.settings,
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
