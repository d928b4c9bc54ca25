"""Asset methods of `TwelveLabsClient`: create (by URL, direct, multipart), find, read, wait.

Every create carries a request key in `user_metadata`; `creates.create_once` uses it to look an
ambiguously failed create up before sending it again (multipart: see `multipart.py`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from . import errors, lookups, models
from .core import ClientCore
from .creates import create_once
from .formdata import FormBody, FormFile, guess_content_type
from .polling import StatusCb
from .retry import RetryMode

__all__ = ["AssetMethods", "ProgressCb", "StartedCb", "new_request_key"]

ProgressCb = Callable[[int, int], Awaitable[None]]  # (bytes_done, bytes_total)
StartedCb = Callable[[str, str], Awaitable[None]]  # (upload_id, asset_id)

T_ASSETS = "/assets"
T_ASSET = "/assets/{asset_id}"


def new_request_key() -> str:
    return uuid.uuid4().hex


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _url_filename(url: str) -> str | None:
    return PurePosixPath(unquote(urlsplit(url).path)).name or None


class AssetMethods(ClientCore):
    async def create_asset_from_url(
        self,
        url: str,
        *,
        filename: str | None = None,
        enable_thumbnail: bool = True,
        user_metadata: dict[str, Any] | None = None,
        request_key: str | None = None,
    ) -> models.Asset:
        """`POST /assets` with `method=url`: TwelveLabs fetches the file (≤ 4 GB).

        `request_key` (default: a fresh one) is stored in `user_metadata` under
        `lookups.REQUEST_KEY`, so the asset can be found again (`find_asset`): by this call
        after an ambiguous failure, or by a later process. The filename defaults to the URL's
        last path segment, sent explicitly so that look-up can filter on it.
        """
        key = request_key or new_request_key()
        name = filename or _url_filename(url)
        fields = [("method", "url"), ("url", url)]
        if name:
            fields.append(("filename", name))
        fields.append(("enable_thumbnail", _bool(enable_thumbnail)))
        metadata = lookups.with_request_key(user_metadata, key)
        fields.append(("user_metadata", json.dumps(metadata, ensure_ascii=False)))
        return await self._create_asset(FormBody(fields), "url", key, name)

    async def upload_asset_file(
        self,
        path: Path,
        *,
        filename: str | None = None,
        enable_thumbnail: bool = True,
        user_metadata: dict[str, Any] | None = None,
        request_key: str | None = None,
        progress: ProgressCb | None = None,
        on_multipart_started: StartedCb | None = None,
        resume_upload_id: str | None = None,
        resume_asset_id: str | None = None,
        resume_chunk_size: int | None = None,
    ) -> models.Asset:
        """Upload a local file: `method=direct` up to `direct_upload_limit`, else multipart.

        Both stream the file from disk. `request_key` as for `create_asset_from_url`.
        `progress(bytes_done, bytes_total)` is awaited as bytes go out (never backwards, even
        across retries). For multipart uploads, `on_multipart_started(upload_id, asset_id)`
        lets the caller persist the session, and `resume_upload_id` continues one (sending
        only the chunks the server lacks); pass `resume_asset_id` / `resume_chunk_size` too
        when known.
        """
        path = Path(path)
        name = filename or path.name
        key = request_key or new_request_key()
        metadata = lookups.with_request_key(user_metadata, key)
        size = (await asyncio.to_thread(path.stat)).st_size
        if resume_upload_id or size > self.direct_upload_limit:
            return await self._uploader.upload(
                path,
                filename=name,
                enable_thumbnail=enable_thumbnail,
                user_metadata=metadata,
                request_key=key,
                progress=progress,
                on_started=on_multipart_started,
                resume_upload_id=resume_upload_id,
                resume_asset_id=resume_asset_id,
                resume_chunk_size=resume_chunk_size,
            )
        fields = [("method", "direct"), ("filename", name)]
        fields.append(("enable_thumbnail", _bool(enable_thumbnail)))
        fields.append(("user_metadata", json.dumps(metadata, ensure_ascii=False)))
        body = FormBody(fields, FormFile("file", path, name, guess_content_type(name)))
        reported = -1

        async def on_bytes(sent: int) -> None:
            nonlocal reported
            if progress is not None and sent > reported:
                reported = sent
                await progress(sent, body.file_size)

        asset = await self._create_asset(body, "direct", key, name, on_bytes)
        if progress is not None and reported < body.file_size:
            await progress(body.file_size, body.file_size)
        return asset

    async def _create_asset(
        self,
        body: FormBody,
        method: str,
        request_key: str,
        filename: str | None,
        on_bytes: Callable[[int], Awaitable[None]] | None = None,
    ) -> models.Asset:
        async def create() -> models.Asset:
            return await self._call(
                models.Asset,
                "POST",
                T_ASSETS,
                mode=RetryMode.CREATE,
                body=body,  # re-opened (file re-read from the start) on every attempt
                on_attempt_bytes=on_bytes,
            )

        async def lookup() -> models.Asset | None:
            return await lookups.find_asset(self._session, request_key, filename, methods=(method,))

        return await create_once(
            self._session, "POST", T_ASSETS, create, lookup, what=f"{method} asset"
        )

    async def find_asset(
        self, request_key: str, filename: str | None = None, *, include_multipart: bool = False
    ) -> models.Asset | None:
        """The asset created for `request_key`, or None; `filename` narrows the listing.

        Multipart assets are left out unless asked for: their upload session can't be found
        from the asset, so one whose upload never finished is no use to the caller.
        """
        methods = ("direct", "url", "multipart") if include_multipart else ("direct", "url")
        return await lookups.find_asset(self._session, request_key, filename, methods=methods)

    async def delete_asset(self, asset_id: str) -> None:
        """`DELETE /assets/{asset_id}` (an asset already gone counts as deleted)."""
        await lookups.delete_asset(self._session, asset_id)

    async def get_asset(self, asset_id: str) -> models.AssetDetail:
        return await self._call(
            models.AssetDetail, "GET", T_ASSET, path_params={"asset_id": asset_id}
        )

    async def wait_for_asset(
        self, asset_id: str, *, timeout_s: float, on_status: StatusCb | None = None
    ) -> models.AssetDetail:
        """Poll until `ready`; `failed` raises `AssetFailed`; the deadline `PollTimeout`."""
        return await self._wait(
            lambda: self.get_asset(asset_id),
            models.ASSET_TERMINAL,
            errors.AssetFailed,
            what="asset",
            resource_id=asset_id,
            timeout_s=timeout_s,
            on_status=on_status,
        )

    async def list_assets(
        self, *, filename: str | None = None, max_pages: int = 5
    ) -> list[models.Asset]:
        """`GET /assets` (50 a page), in the API's order; `filename` filters (substring)."""
        return await lookups.list_items(
            self._session,
            T_ASSETS,
            models.AssetList,
            params={"filename": filename} if filename else None,
            max_pages=max_pages,
        )

    async def get_upload_status(self, upload_id: str) -> models.UploadStatus:
        """`GET /assets/multipart-uploads/{upload_id}` (all pages)."""
        return await self._uploader.get_status(upload_id)
