"""`client.assets`: create (by URL, direct upload, multipart upload), get, wait, list, find, delete.

Every create carries a request key in `user_metadata` (`REQUEST_KEY`); `creates.create_once` uses
it to look an ambiguously failed create up before sending it again (multipart: `multipart.py`).
The look-up narrows `GET /assets` with `filename=` (a case-insensitive substring), then matches
the request key (the listing returns `user_metadata`) and the upload method on this side.

An asset created by this client is awaited on a schedule learned from earlier ones of the same
kind (uploads against their size in bytes; links, whose size is unknown, by their plain times:
`schedule.py`). Assets have no webhooks; processing times are measured here, between the
create's answer and the middle of the last two polls.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from .. import errors, models
from ..chunks import BytesCb
from ..creates import create_once
from ..formdata import FormBody, FormFile, guess_content_type
from ..multipart import MultipartSettings, MultipartStartedCb, MultipartUploader
from ..pagination import AsyncPaginator, paginate
from ..polling import PollSettings, StatusCb
from ..retry import RetryMode
from ..session import ApiSession
from ._base import Clock, Resource

__all__ = ["REQUEST_KEY", "Assets", "BytesCb", "MultipartStartedCb"]

log = logging.getLogger("bot.twelvelabs")

# The `user_metadata` key naming the request an asset was made for (the job id in gistbot).
REQUEST_KEY = "gistbot_request"
# A look-up without a filename reads only the newest 250 assets (the listing is newest first):
# an asset made for this request any earlier is not a create this process just lost.
UNFILTERED_PAGES = 5

# What asset processing times are learned by: uploads (by size in bytes) and links.
KIND_UPLOAD, KIND_URL = "upload", "url"

T_ASSETS = "/assets"
T_ASSET = "/assets/{asset_id}"


def _with_request_key(metadata: Mapping[str, Any] | None, request_key: str) -> dict[str, Any]:
    return {**(metadata or {}), REQUEST_KEY: request_key}


def _is_ours(asset: models.Asset, request_key: str, methods: Collection[str]) -> bool:
    key = (asset.user_metadata or {}).get(REQUEST_KEY)
    return key == request_key and (asset.method is None or asset.method in methods)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _url_filename(url: str) -> str | None:
    return PurePosixPath(unquote(urlsplit(url).path)).name or None


class Assets(Resource):
    def __init__(
        self,
        session: ApiSession,
        poll: PollSettings,
        clock: Clock | None,
        *,
        direct_upload_limit: int,
        multipart: MultipartSettings | None,
    ) -> None:
        super().__init__(session, poll, clock)
        self._direct_upload_limit = direct_upload_limit
        self._multipart = MultipartUploader(session, multipart, self._delete_orphans)

    async def create_from_url(
        self,
        url: str,
        *,
        filename: str | None = None,
        enable_thumbnail: bool = True,
        user_metadata: dict[str, Any] | None = None,
        request_key: str | None = None,
    ) -> models.Asset:
        """`POST /assets` with `method=url`: TwelveLabs fetches the file (≤ 4 GB).

        `request_key` (default: a fresh one) is stored in `user_metadata` under `REQUEST_KEY`,
        so the asset can be found again (`find`): by this call after an ambiguous failure, or
        by a later process. The filename defaults to the URL's last path segment, sent
        explicitly so that look-up can filter on it.
        """
        key = request_key or uuid.uuid4().hex
        name = filename or _url_filename(url)
        fields = [("method", "url"), ("url", url)]
        if name:
            fields.append(("filename", name))
        fields.append(("enable_thumbnail", _bool(enable_thumbnail)))
        metadata = _with_request_key(user_metadata, key)
        fields.append(("user_metadata", json.dumps(metadata, ensure_ascii=False)))
        asset = await self._create(FormBody(fields), "url", key, name)
        self._born(asset.id, KIND_URL)
        return asset

    async def upload(
        self,
        path: Path,
        *,
        filename: str | None = None,
        enable_thumbnail: bool = True,
        user_metadata: dict[str, Any] | None = None,
        request_key: str | None = None,
        progress: BytesCb | None = None,
        on_multipart_started: MultipartStartedCb | None = None,
        resume_upload_id: str | None = None,
        resume_asset_id: str | None = None,
        resume_chunk_size: int | None = None,
    ) -> models.Asset:
        """Upload a local file: `method=direct` up to `direct_upload_limit`, else multipart.

        Both stream the file from disk. `request_key` as for `create_from_url`.
        `progress(bytes_done, bytes_total)` is awaited as bytes go out (never backwards, even
        across retries). For multipart uploads, `on_multipart_started(upload_id, asset_id)`
        lets the caller persist the session, and `resume_upload_id` continues one (sending
        only the chunks the server lacks); pass `resume_asset_id` / `resume_chunk_size` too
        when known.
        """
        path = Path(path)
        name = filename or path.name
        key = request_key or uuid.uuid4().hex
        metadata = _with_request_key(user_metadata, key)
        size = (await asyncio.to_thread(path.stat)).st_size
        if resume_upload_id or size > self._direct_upload_limit:
            asset = await self._multipart.upload(
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
            self._born(asset.id, KIND_UPLOAD, size)
            return asset
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

        asset = await self._create(body, "direct", key, name, on_bytes)
        self._born(asset.id, KIND_UPLOAD, size)
        if progress is not None and reported < body.file_size:
            await progress(body.file_size, body.file_size)
        return asset

    async def _create(
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
            return await self._find(request_key, filename, (method,))

        return await create_once(
            self._session, "POST", T_ASSETS, create, lookup, what=f"{method} asset"
        )

    def _ours(self, filename: str | None) -> AsyncPaginator[models.Asset]:
        if filename:
            return self.list(filename=filename)
        return paginate(self._session, T_ASSETS, models.AssetList, max_pages=UNFILTERED_PAGES)

    async def _find(
        self, request_key: str, filename: str | None, methods: Collection[str]
    ) -> models.Asset | None:
        return await self._ours(filename).find(lambda a: _is_ours(a, request_key, methods))

    async def find(
        self, request_key: str, filename: str | None = None, *, include_multipart: bool = False
    ) -> models.Asset | None:
        """The asset created for `request_key`, or None; `filename` narrows the listing.

        Multipart assets are left out unless asked for: their upload session can't be found
        from the asset, so one whose upload never finished is no use to the caller.
        """
        methods = ("direct", "url", "multipart") if include_multipart else ("direct", "url")
        return await self._find(request_key, filename, methods)

    async def delete(self, asset_id: str) -> None:
        """`DELETE /assets/{asset_id}`; an asset already gone counts as deleted."""
        try:
            await self._session.request(
                "DELETE", T_ASSET, path_params={"asset_id": asset_id}, mode=RetryMode.IDEMPOTENT
            )
        except errors.NotFoundError:
            pass

    async def get(self, asset_id: str) -> models.AssetDetail:
        """`GET /assets/{asset_id}`."""
        return await self._call(
            models.AssetDetail, "GET", T_ASSET, path_params={"asset_id": asset_id}
        )

    async def wait(
        self, asset_id: str, *, timeout_s: float, on_status: StatusCb | None = None
    ) -> models.AssetDetail:
        """Poll until `ready`; `failed` raises `AssetFailed`; the deadline `PollTimeout`.

        An asset this client created is polled where earlier ones of its kind and size
        finished; any other one on the plain backoff.
        """
        birth = self._births.get(asset_id)
        watch = await self._watch(asset_id, None, None)
        detail = await self._wait(
            lambda: self.get(asset_id),
            models.ASSET_TERMINAL,
            errors.AssetFailed,
            what="asset",
            resource_id=asset_id,
            timeout_s=timeout_s,
            on_status=on_status,
            watch=watch,
        )
        if birth is not None:
            self._learn(asset_id, birth.kind, watch.finish_estimate(), birth.size)
        return detail

    def list(self, *, filename: str | None = None) -> AsyncPaginator[models.Asset]:
        """`GET /assets`, newest first; `filename` filters (a case-insensitive substring)."""
        return paginate(
            self._session,
            T_ASSETS,
            models.AssetList,
            params={"filename": filename} if filename else None,
        )

    async def _delete_orphans(self, request_key: str, filename: str) -> None:
        """Delete the unfinished multipart assets made for `request_key` (a session create
        whose answer was lost: see `multipart.py`).

        Best effort: an orphan left behind costs nothing but clutter. A `ready` one (an upload
        that did finish) is left alone.
        """
        listed = await self._ours(filename).to_list()
        for asset in listed:
            if not _is_ours(asset, request_key, ("multipart",)):
                continue
            if asset.status == models.AssetStatus.READY:
                continue
            try:
                await self.delete(asset.id)
            except errors.TwelveLabsError as exc:
                log.warning("TwelveLabs: could not delete orphan asset %s: %s", asset.id, exc)
            else:
                log.info("TwelveLabs: deleted asset %s of a lost upload session", asset.id)
