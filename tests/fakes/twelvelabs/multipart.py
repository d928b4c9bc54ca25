"""Multipart uploads: sessions (``/assets/multipart-uploads``), presigned chunk URLs, the
storage host's chunk PUTs (S3-style: exact sizes, MD5 ETags, XML errors), chunk reports and
the asset that the last report completes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import secrets
import time
from datetime import timedelta
from typing import Any

from aiohttp import web

from tests.fakes.base import Route
from tests.fakes.twelvelabs.assets import settle_asset
from tests.fakes.twelvelabs.core import TwelveLabsCore
from tests.fakes.twelvelabs.fetch import READ_BLOCK
from tests.fakes.twelvelabs.media import MediaInfo, guess_mime, probe
from tests.fakes.twelvelabs.state import (
    AssetState,
    ChunkState,
    PresignedUrl,
    UploadState,
    rfc3339,
    utcnow,
)
from tests.fakes.twelvelabs.wire import (
    CALL,
    ApiError,
    int_param,
    invalid,
    json_response,
    missing,
    new_id,
    not_found,
    origin_of,
    page_args,
    page_info,
    paged,
    read_json,
)

MULTIPART_MAX = {"video": 10 * 1024**3, "audio": 10 * 1024**3, "image": 32 * 1024**2}


def s3_error(status: int, code: str, message: str) -> web.Response:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(status=status, text=xml, content_type="application/xml")


def _session_problem(upload: UploadState) -> ApiError:
    return ApiError(400, "parameter_invalid", f"The upload session is {upload.status}.")


class MultipartApi(TwelveLabsCore):
    def _multipart_routes(self) -> list[Route]:
        return [
            ("POST", "/assets/multipart-uploads", self._create_upload),
            ("GET", "/assets/multipart-uploads", self._list_uploads),
            ("GET", "/assets/multipart-uploads/{id}", self._upload_status),
            ("POST", "/assets/multipart-uploads/{id}", self._report_chunks),
            ("POST", "/assets/multipart-uploads/{id}/presigned-urls", self._more_urls),
        ]

    def _chunk_route(self) -> Route:
        """The storage host's presigned PUT (outside the API prefix, no API key)."""
        return ("PUT", "/_upload/{upload_id}/{chunk_index}", self._put_chunk)

    def _presign(self, origin: str, upload: UploadState, index: int) -> dict[str, Any]:
        token = secrets.token_urlsafe(16)
        expires = time.time() + self.presigned_url_ttl_s
        self._presigned[token] = PresignedUrl(upload.id, index, expires)
        return {
            "chunk_index": index,
            "url": f"{origin}/_upload/{upload.id}/{index}?sig={token}",
            "expires_at": rfc3339(utcnow() + timedelta(seconds=self.presigned_url_ttl_s)),
        }

    def _get_upload(self, upload_id: str) -> UploadState:
        upload = self.uploads.get(upload_id)
        if upload is None:
            raise not_found("multipart uploads", upload_id)
        if upload.status == "active" and utcnow() > upload.expires_at:
            upload.status = "expired"
        return upload

    # ------------------------------------------------------------------ sessions

    async def _create_upload(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        for name in ("filename", "type", "total_size"):
            if body.get(name) in (None, ""):
                raise missing(name)
        filename, kind = body["filename"], body["type"]
        if not isinstance(filename, str):
            raise invalid("filename")
        if kind not in MULTIPART_MAX:
            raise invalid("type")
        total = int_param(body["total_size"], "total_size", minimum=1)
        if total > MULTIPART_MAX[kind]:
            raise ApiError(
                400,
                "parameter_invalid",
                f"The total_size parameter is invalid: the maximum for {kind} is "
                f"{MULTIPART_MAX[kind]} bytes.",
            )
        metadata = body.get("user_metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise invalid("user_metadata")
        upload = self._new_upload(body, filename, kind, total, metadata)
        origin = origin_of(request)
        first = min(upload.total_chunks, max(0, int(self.initial_upload_urls)))
        return json_response(
            201,
            {
                "upload_id": upload.id,
                "asset_id": upload.asset_id,
                "upload_urls": [self._presign(origin, upload, i) for i in range(1, first + 1)],
                "upload_headers": {"Content-Type": "application/octet-stream"},
                "chunk_size": upload.chunk_size,
                "total_chunks": upload.total_chunks,
                "expires_at": rfc3339(upload.expires_at),
            },
        )

    def _new_upload(
        self,
        body: dict[str, Any],
        filename: str,
        kind: str,
        total: int,
        metadata: dict[str, Any] | None,
    ) -> UploadState:
        """The session, its asset (processing until the upload completes) and its sparse file."""
        chunk_size = int(self.multipart_chunk_size)
        now = utcnow()
        asset = AssetState(
            id=new_id(),
            method="multipart",
            filename=filename,
            file_type=guess_mime(filename),
            created_at=now,
            user_metadata=metadata,
            enable_hls=bool(body.get("enable_hls", False)),
            enable_thumbnail=bool(body.get("enable_thumbnail", False)),
        )
        path = self._tmp("multipart")
        with path.open("wb") as f:
            f.truncate(total)
        upload = UploadState(
            id=new_id(),
            asset_id=asset.id,
            filename=filename,
            type=kind,
            total_size=total,
            chunk_size=chunk_size,
            total_chunks=max(1, math.ceil(total / chunk_size)),
            created_at=now,
            expires_at=now + timedelta(hours=24),
            path=path,
            updated_at=now,
        )
        self.assets[asset.id] = asset
        self.uploads[upload.id] = upload
        return upload

    async def _list_uploads(self, request: web.Request) -> web.StreamResponse:
        page, limit = page_args(request)
        active = [u for u in self.uploads.values() if self._get_upload(u.id).status == "active"]
        data = [
            {
                "upload_id": u.id,
                "status": u.status,
                "total_size": u.total_size,
                "chunk_size": u.chunk_size,
                "total_chunks": u.total_chunks,
                "created_at": rfc3339(u.created_at),
                "expires_at": rfc3339(u.expires_at),
            }
            for u in active[(page - 1) * limit : page * limit]
        ]
        return paged(page, limit, active, data)

    async def _upload_status(self, request: web.Request) -> web.StreamResponse:
        upload = self._get_upload(request.match_info["id"])
        page, limit = page_args(request)
        infos: list[dict[str, Any]] = []
        for index in range(1, upload.total_chunks + 1):
            chunk = upload.chunks.get(index)
            done = chunk is not None and chunk.reported_at is not None
            infos.append(
                {
                    "index": index,
                    "status": "completed" if done else "pending",
                    "uploaded_at": rfc3339(chunk.reported_at) if done and chunk else None,
                    "updated_at": rfc3339(chunk.uploaded_at if chunk else upload.created_at),
                }
            )
        reported = upload.reported
        return json_response(
            200,
            {
                "upload_id": upload.id,
                "status": upload.status,
                "uploaded_chunks": infos[(page - 1) * limit : page * limit],
                "chunks_completed": len(reported),
                "chunks_failed": 0,
                "chunks_pending": upload.total_chunks - len(reported),
                "page_info": page_info(page, limit, upload.total_chunks),
                "total_size": upload.total_size,
                "uploaded_size": sum(c.size for c in reported),
                "created_at": rfc3339(upload.created_at),
                "updated_at": rfc3339(upload.updated_at),
            },
        )

    async def _more_urls(self, request: web.Request) -> web.StreamResponse:
        upload = self._get_upload(request.match_info["id"])
        body = await read_json(request)
        for name in ("start", "count"):
            if name not in body:
                raise missing(name)
        start = int_param(body["start"], "start", minimum=1)
        count = int_param(body["count"], "count", minimum=1)
        if count > 50:
            raise ApiError(
                400, "parameter_invalid", "The count parameter is invalid: the maximum is 50."
            )
        if start > upload.total_chunks:
            raise ApiError(
                400,
                "parameter_invalid",
                f"The start parameter is invalid: the upload has {upload.total_chunks} chunks.",
            )
        if upload.status != "active":
            raise _session_problem(upload)
        end = min(upload.total_chunks, start + count - 1)
        origin = origin_of(request)
        urls = [self._presign(origin, upload, i) for i in range(start, end + 1)]
        now = utcnow()
        return json_response(
            200,
            {
                "upload_id": upload.id,
                "start_index": start,
                "count": len(urls),
                "upload_urls": urls,
                "generated_at": rfc3339(now),
                "expires_at": rfc3339(now + timedelta(seconds=self.presigned_url_ttl_s)),
            },
        )

    # ------------------------------------------------------------------ the storage host

    async def _put_chunk(self, request: web.Request) -> web.StreamResponse:
        upload_id = request.match_info["upload_id"]
        try:
            index = int(request.match_info["chunk_index"])
        except ValueError:
            return s3_error(400, "InvalidArgument", "Invalid part number.")
        grant = self._presigned.get(request.query.get("sig", ""))
        if grant is None or grant.upload_id != upload_id or grant.chunk_index != index:
            return s3_error(403, "SignatureDoesNotMatch", "The request signature is invalid.")
        if time.time() > grant.expires_at:
            return s3_error(403, "AccessDenied", "Request has expired.")
        if grant.used:
            return s3_error(403, "AccessDenied", "This presigned URL has already been used.")
        upload = self.uploads.get(upload_id)
        if upload is None or self._get_upload(upload_id).status != "active":
            return s3_error(404, "NoSuchUpload", "The upload does not exist or is not active.")
        expected = upload.expected_size(index)
        received, etag = await self._write_chunk(request, upload, index, expected)
        request[CALL].body = received
        if received != expected:
            upload.chunks.pop(index, None)
            return s3_error(
                400,
                "InvalidChunkSize",
                f"Chunk {index} must be exactly {expected} bytes; received {received}.",
            )
        grant.used = True
        previous = upload.chunks.get(index)
        upload.chunks[index] = ChunkState(
            index=index,
            size=received,
            md5=etag,
            uploaded_at=utcnow(),
            reported_at=previous.reported_at if previous and previous.md5 == etag else None,
        )
        return web.Response(status=200, headers={"ETag": f'"{etag}"'})

    @staticmethod
    async def _write_chunk(
        request: web.Request, upload: UploadState, index: int, expected: int
    ) -> tuple[int, str]:
        """Write the body into the chunk's place (no more than `expected` bytes); return the
        bytes received and the MD5 of those written."""
        offset = (index - 1) * upload.chunk_size
        digest = hashlib.md5()
        received = 0
        fd = os.open(upload.path, os.O_WRONLY)
        try:
            async for data in request.content.iter_chunked(READ_BLOCK):
                if received + len(data) <= expected:
                    os.pwrite(fd, data, offset + received)
                    digest.update(data)
                received += len(data)
        finally:
            os.close(fd)
        return received, digest.hexdigest()

    # ------------------------------------------------------------------ reports

    def _checked_chunk(self, upload: UploadState, item: Any) -> ChunkState:
        """One `completed_chunks` entry, checked against what the storage host received."""
        if not isinstance(item, dict):
            raise invalid("completed_chunks")
        index = int_param(item.get("chunk_index"), "chunk_index", minimum=1)
        if index > upload.total_chunks:
            raise ApiError(400, "parameter_invalid", f"Chunk index {index} is out of range.")
        if item.get("proof_type", "etag") != "etag":
            raise invalid("proof_type")
        chunk = upload.chunks.get(index)
        if chunk is None:
            raise ApiError(400, "parameter_invalid", f"Chunk {index} has not been uploaded.")
        proof = str(item.get("proof", "")).strip().strip('"').lower()
        if proof != chunk.md5:
            raise ApiError(
                400, "parameter_invalid", f"The proof for chunk {index} does not match its ETag."
            )
        if "chunk_size" in item and item["chunk_size"] != chunk.size:
            raise ApiError(
                400,
                "parameter_invalid",
                f"The chunk_size for chunk {index} is {item['chunk_size']}; "
                f"the platform received {chunk.size} bytes.",
            )
        return chunk

    async def _report_chunks(self, request: web.Request) -> web.StreamResponse:
        upload = self._get_upload(request.match_info["id"])
        body = await read_json(request)
        items = body.get("completed_chunks")
        if not isinstance(items, list):
            raise missing("completed_chunks")
        if upload.status in ("failed", "expired"):
            raise _session_problem(upload)
        checked = [self._checked_chunk(upload, item) for item in items]
        processed = duplicates = 0
        now = utcnow()
        for chunk in checked:
            if chunk.reported_at is not None:
                duplicates += 1
            else:
                chunk.reported_at = now
                processed += 1
        if processed:
            upload.updated_at = now
        total_completed = len(upload.reported)
        out: dict[str, Any] = {
            "asset_id": upload.asset_id,
            "processed_chunks": processed,
            "duplicate_chunks": duplicates,
            "total_completed": total_completed,
        }
        if total_completed == upload.total_chunks and upload.status == "active":
            upload.status = "completed"
            self._spawn(self._finish_upload(upload, self.assets[upload.asset_id]))
        if upload.status == "completed":
            out["url"] = f"{origin_of(request)}/_fake/assets/{upload.asset_id}"
        return json_response(200, out)

    async def _finish_upload(self, upload: UploadState, asset: AssetState) -> None:
        ready_at = time.monotonic() + self.asset_processing_s
        loop = asyncio.get_running_loop()

        def digest_and_probe() -> tuple[str, MediaInfo]:
            digest = hashlib.sha256()
            with upload.path.open("rb") as f:
                while block := f.read(4 * READ_BLOCK):
                    digest.update(block)
            return digest.hexdigest(), probe(upload.path)

        try:
            asset.sha256, asset.media = await loop.run_in_executor(None, digest_and_probe)
            asset.size = upload.total_size
        finally:
            with contextlib.suppress(OSError):
                upload.path.unlink()
        await settle_asset(asset, ready_at)
