"""Assets: ``POST /assets`` (a direct upload or a URL the platform fetches), listing, getting
and deleting them, the indexes an asset is in, and their HLS playlists and thumbnails."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from tests.fakes.base import Route
from tests.fakes.twelvelabs.core import TwelveLabsCore, sleep_until
from tests.fakes.twelvelabs.fetch import READ_BLOCK, url_filename
from tests.fakes.twelvelabs.media import THUMBNAIL_PNG, guess_mime, probe
from tests.fakes.twelvelabs.state import AssetState, rfc3339, utcnow
from tests.fakes.twelvelabs.wire import (
    CALL,
    ApiError,
    as_bool,
    invalid,
    json_response,
    missing,
    new_id,
    not_found,
    origin_of,
    page_args,
    paged,
)

Upload = tuple[Path, int, str, bool, str | None, str | None]
"""A direct upload's file part: (path, size, sha256, too big, part filename, part type)."""


async def settle_asset(asset: AssetState, ready_at: float) -> None:
    """At `ready_at`: the asset is ready, or failed when its media could not be read."""
    await sleep_until(ready_at)
    if asset.media is None or asset.media.error is not None:
        asset.error = asset.error or (asset.media.error if asset.media else "Processing failed.")
        asset.status = "failed"
    else:
        asset.status = "ready"
    asset.ready_at = time.monotonic()


async def _stream_part(
    part: aiohttp.BodyPartReader, path: Path, limit: int
) -> tuple[int, str, bool]:
    """Write a form part to `path` (up to `limit` bytes); return (size, sha256, too_big)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("wb") as out:
        while True:
            data = await part.read_chunk(READ_BLOCK)
            if not data:
                break
            size += len(data)
            if size <= limit:
                out.write(data)
                digest.update(data)
    return size, digest.hexdigest(), size > limit


def _user_metadata(fields: dict[str, str]) -> dict[str, Any] | None:
    if not fields.get("user_metadata"):
        return None
    try:
        metadata = json.loads(fields["user_metadata"])
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict):
        raise invalid("user_metadata")
    return metadata


class AssetsApi(TwelveLabsCore):
    def _asset_routes(self) -> list[Route]:
        return [
            ("POST", "/assets", self._create_asset),
            ("GET", "/assets", self._list_assets),
            ("GET", "/assets/{id}", self._get_asset),
            ("DELETE", "/assets/{id}", self._delete_asset),
            ("GET", "/assets/{id}/indexed-assets", self._list_asset_indexes),
        ]

    def _asset_media_routes(self) -> list[Route]:
        """Under /_fake: where `hls.manifest_url` and `thumbnail.representative_url` point."""
        return [
            ("GET", "/thumbnails/{name}", self._thumbnail),
            ("GET", "/hls/{name}", self._hls),
        ]

    # ------------------------------------------------------------------ POST /assets

    async def _create_asset(self, request: web.Request) -> web.StreamResponse:
        call = request[CALL]
        if not request.content_type.startswith("multipart/"):
            raise ApiError(
                400, "parameter_invalid", "The request must be sent as multipart/form-data."
            )
        fields: dict[str, str] = {}
        recorded: dict[str, Any] = {}
        call.body = recorded
        upload: Upload | None = None
        reader = await request.multipart()
        try:
            while (part := await reader.next()) is not None:
                if not isinstance(part, aiohttp.BodyPartReader):
                    continue
                name = part.name or ""
                if name == "file":
                    path = self._tmp("direct")
                    size, sha, too_big = await _stream_part(part, path, self.direct_upload_limit)
                    ctype = part.headers.get("Content-Type")
                    upload = (path, size, sha, too_big, part.filename, ctype)
                    recorded["file"] = size
                else:
                    fields[name] = recorded[name] = await part.text()
            return self._finish_create_asset(request, fields, upload)
        finally:
            if upload is not None:
                with contextlib.suppress(OSError):
                    upload[0].unlink()

    def _finish_create_asset(
        self, request: web.Request, fields: dict[str, str], upload: Upload | None
    ) -> web.Response:
        method = fields.get("method")
        if not method:
            raise missing("method")
        if method not in ("direct", "url"):
            raise invalid("method")
        metadata = _user_metadata(fields)
        if method == "direct":
            asset = self._direct_asset(fields, upload, metadata)
            self.assets[asset.id] = asset
            self._spawn(settle_asset(asset, time.monotonic() + self.asset_processing_s))
        else:
            asset = self._url_asset(fields, metadata)
            self.assets[asset.id] = asset
            self._spawn(self._fetch_url_asset(asset, time.monotonic() + self.asset_processing_s))
        return json_response(201, self._asset_json(asset, origin_of(request), detail=False))

    def _direct_asset(
        self, fields: dict[str, str], upload: Upload | None, metadata: dict[str, Any] | None
    ) -> AssetState:
        if upload is None:
            raise missing("file")
        path, size, sha, too_big, part_name, part_type = upload
        if too_big:
            raise ApiError(
                400,
                "video_filesize_too_large",
                "The video is too large. Please use a video with a size less than or equal to "
                f"{self.direct_upload_limit} bytes. Current file size is {size} bytes. "
                "Use the multipart upload API for larger files.",
            )
        filename = fields.get("filename") or part_name or "untitled"
        return AssetState(
            id=new_id(),
            method="direct",
            filename=filename,
            file_type=guess_mime(filename, part_type),
            created_at=utcnow(),
            user_metadata=metadata,
            enable_hls=as_bool(fields.get("enable_hls"), True),
            enable_thumbnail=as_bool(fields.get("enable_thumbnail"), True),
            size=size,
            sha256=sha,
            media=probe(path),
        )

    def _url_asset(self, fields: dict[str, str], metadata: dict[str, Any] | None) -> AssetState:
        url = fields.get("url")
        if not url:
            raise missing("url")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise invalid("url")
        filename = fields.get("filename") or url_filename(url)
        return AssetState(
            id=new_id(),
            method="url",
            filename=filename,
            file_type=guess_mime(filename),
            created_at=utcnow(),
            user_metadata=metadata,
            enable_hls=as_bool(fields.get("enable_hls"), True),
            enable_thumbnail=as_bool(fields.get("enable_thumbnail"), True),
            url=url,
        )

    async def _fetch_url_asset(self, asset: AssetState, ready_at: float) -> None:
        assert asset.url is not None
        fetched = await self._fetch(asset.url)
        try:
            if fetched.error is not None or fetched.path is None:
                asset.error = fetched.error
            else:
                asset.size = fetched.size
                asset.sha256 = fetched.sha256
                asset.media = await asyncio.get_running_loop().run_in_executor(
                    None, probe, fetched.path
                )
                if asset.file_type == "application/octet-stream":
                    asset.file_type = guess_mime(asset.filename, fetched.content_type)
        finally:
            if fetched.path is not None:
                with contextlib.suppress(OSError):
                    fetched.path.unlink()
        await settle_asset(asset, ready_at)

    # ------------------------------------------------------------------ reading and deleting

    def _asset_json(self, asset: AssetState, origin: str, *, detail: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "_id": asset.id,
            "method": asset.method,
            "status": asset.status,
            "filename": asset.filename,
            "file_type": asset.file_type,
            "created_at": rfc3339(asset.created_at),
        }
        if asset.user_metadata is not None:
            out["user_metadata"] = asset.user_metadata
        if not detail:
            return out
        sub_status = {"processing": "processing", "ready": "ready", "failed": "error"}.get(
            asset.status, "pending"
        )
        if asset.enable_hls:
            hls: dict[str, Any] = {"status": sub_status}
            if asset.status == "ready":
                hls["manifest_url"] = f"{origin}/_fake/hls/{asset.id}.m3u8"
            out["hls"] = hls
        if asset.enable_thumbnail:
            thumb: dict[str, Any] = {"status": sub_status}
            if asset.status == "ready":
                thumb["representative_url"] = f"{origin}/_fake/thumbnails/{asset.id}.png"
            out["thumbnail"] = thumb
        if asset.status == "ready" and asset.media is not None:
            out["size"] = asset.size
            out["duration"] = asset.media.duration
            out["technical_metadata"] = asset.media.technical_metadata(asset.file_type)
        elif asset.status == "failed":
            out["error"] = {"message": asset.error or "The platform could not process the file."}
            if asset.size is not None:
                out["technical_metadata"] = {"file_size_bytes": asset.size}
        return out

    async def _list_assets(self, request: web.Request) -> web.StreamResponse:
        """`GET /assets`: newest first; `filename` is a case-insensitive partial match,
        `asset_ids` / `asset_types` repeatable filters (the July 2026 definition)."""
        page, limit = page_args(request)
        found = sorted(self.assets.values(), key=lambda a: a.created_at, reverse=True)
        name = request.query.get("filename")
        if name:
            found = [a for a in found if name.lower() in (a.filename or "").lower()]
        ids = request.query.getall("asset_ids", [])
        if ids:
            found = [a for a in found if a.id in ids]
        types = request.query.getall("asset_types", [])
        if types:
            found = [a for a in found if (a.file_type or "").split("/")[0] in types]
        origin = origin_of(request)
        data = [
            self._asset_json(a, origin, detail=True)
            for a in found[(page - 1) * limit : page * limit]
        ]
        return paged(page, limit, found, data)

    async def _get_asset(self, request: web.Request) -> web.StreamResponse:
        asset = self.assets.get(request.match_info["id"])
        if asset is None:
            raise not_found("assets", request.match_info["id"])
        return json_response(200, self._asset_json(asset, origin_of(request), detail=True))

    async def _delete_asset(self, request: web.Request) -> web.StreamResponse:
        """`DELETE /assets/{id}?force=`: 409 while indexed assets use it, unless forced."""
        asset_id = request.match_info["id"]
        if asset_id not in self.assets:
            raise not_found("assets", asset_id)
        users = [i for i in self.indexed_assets.values() if i.asset_id == asset_id]
        if users and not as_bool(request.query.get("force"), False):
            raise ApiError(
                409,
                "asset_in_use",
                "The platform cannot delete this asset because one or more indexed assets are "
                "referencing it. Set the force query parameter to true to override.",
            )
        for item in users:
            del self.indexed_assets[item.id]
        del self.assets[asset_id]
        for upload in self.uploads.values():
            if upload.asset_id == asset_id and upload.status == "active":
                upload.status = "failed"  # its asset is gone: the session can't complete
        return web.Response(status=200)

    async def _list_asset_indexes(self, request: web.Request) -> web.StreamResponse:
        """`GET /assets/{id}/indexed-assets`: every indexed asset made from this asset."""
        asset_id = request.match_info["id"]
        if asset_id not in self.assets:
            raise not_found("assets", asset_id)
        page, limit = page_args(request)
        found = sorted(
            (i for i in self.indexed_assets.values() if i.asset_id == asset_id),
            key=lambda i: i.created_at,
            reverse=True,
        )
        data = [
            {"_id": i.id, "index": {"_id": i.index_id, "name": self.indexes[i.index_id].index_name}}
            for i in found[(page - 1) * limit : page * limit]
            if i.index_id in self.indexes
        ]
        return paged(page, limit, found, data)

    # ------------------------------------------------------------------ media

    async def _thumbnail(self, request: web.Request) -> web.StreamResponse:
        asset_id = request.match_info["name"].split(".")[0]
        if asset_id not in self.assets:
            raise web.HTTPNotFound()
        return web.Response(body=THUMBNAIL_PNG, content_type="image/png")

    async def _hls(self, request: web.Request) -> web.StreamResponse:
        asset = self.assets.get(request.match_info["name"].split(".")[0])
        if asset is None:
            raise web.HTTPNotFound()
        duration = asset.duration or 0.0
        playlist = (
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n"
            f"#EXT-X-TARGETDURATION:{math.ceil(duration)}\n"
            f"#EXTINF:{duration:.3f},\nsegment0.ts\n#EXT-X-ENDLIST\n"
        )
        return web.Response(text=playlist, content_type="application/vnd.apple.mpegurl")
