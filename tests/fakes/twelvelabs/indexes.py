"""Indexes (``/indexes``) and indexed assets (``/indexes/{id}/indexed-assets``): an asset put
into an index goes queued → indexing → ready (or failed when under 4 s)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from tests.fakes.base import Route
from tests.fakes.twelvelabs.core import TwelveLabsCore, sleep_until
from tests.fakes.twelvelabs.state import (
    AssetState,
    IndexedAssetState,
    IndexState,
    rfc3339,
    utcnow,
)
from tests.fakes.twelvelabs.wire import (
    ApiError,
    invalid,
    json_response,
    missing,
    new_id,
    not_found,
    page_args,
    paged,
    read_json,
)

INDEX_MODELS = ("marengo3.0",)
MODEL_OPTIONS = ("visual", "audio")
MIN_INDEX_S = 4.0


def _clean_model(model: Any) -> dict[str, Any]:
    model_name = model.get("model_name") if isinstance(model, dict) else None
    if model_name not in INDEX_MODELS:
        raise ApiError(
            400,
            "parameter_invalid",
            f"The model_name parameter is invalid: {model_name!r} is not supported for "
            f"indexes. Supported models: {', '.join(INDEX_MODELS)}.",
        )
    assert isinstance(model, dict)
    options = model.get("model_options")
    if not isinstance(options, list) or not options or any(o not in MODEL_OPTIONS for o in options):
        raise invalid("model_options")
    return {"model_name": model_name, "model_options": list(options)}


class IndexesApi(TwelveLabsCore):
    def _index_routes(self) -> list[Route]:
        return [
            ("GET", "/indexes", self._list_indexes),
            ("POST", "/indexes", self._create_index),
            ("GET", "/indexes/{id}", self._get_index),
            ("POST", "/indexes/{id}/indexed-assets", self._create_indexed_asset),
            ("GET", "/indexes/{id}/indexed-assets", self._list_indexed_assets),
            ("GET", "/indexes/{id}/indexed-assets/{iid}", self._get_indexed_asset),
        ]

    # ------------------------------------------------------------------ indexes

    def _index_json(self, index: IndexState) -> dict[str, Any]:
        ready = [
            self.assets.get(ia.asset_id)
            for ia in self.indexed_assets.values()
            if ia.index_id == index.id and ia.status == "ready"
        ]
        return {
            "_id": index.id,
            "index_name": index.index_name,
            "models": index.models,
            "addons": index.addons,
            "created_at": rfc3339(index.created_at),
            "updated_at": rfc3339(index.updated_at),
            "expires_at": None,
            "video_count": len(ready),
            "total_duration": round(sum((a.duration or 0.0) for a in ready if a), 3),
        }

    async def _create_index(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        name = body.get("index_name")
        if not name:
            raise missing("index_name")
        if not isinstance(name, str):
            raise invalid("index_name")
        models = body.get("models")
        if not models:
            raise missing("models")
        if not isinstance(models, list):
            raise invalid("models")
        clean = [_clean_model(model) for model in models]
        addons = body.get("addons") or []
        if not isinstance(addons, list) or any(a != "thumbnail" for a in addons):
            raise invalid("addons")
        if any(i.index_name == name for i in self.indexes.values()):
            raise ApiError(
                self.index_name_conflict_status,
                "index_name_already_exists",
                f"Index name {name} already exists. Please use another unique name and try again.",
            )
        now = utcnow()
        index = IndexState(new_id(), name, clean, list(addons), now, now)
        self.indexes[index.id] = index
        return json_response(201, {"_id": index.id})

    async def _list_indexes(self, request: web.Request) -> web.StreamResponse:
        page, limit = page_args(request)
        query = request.query
        sort_by = query.get("sort_by", "created_at")
        if sort_by not in ("created_at", "updated_at"):
            raise invalid("sort_by")
        sort_option = query.get("sort_option", "desc")
        if sort_option not in ("asc", "desc"):
            raise invalid("sort_option")
        found = list(self.indexes.values())
        if query.get("index_name"):
            # Treated as a partial match: clients must compare names themselves.
            found = [i for i in found if query["index_name"] in i.index_name]
        if query.get("model_family"):
            found = [
                i
                for i in found
                if any(m["model_name"].startswith(query["model_family"]) for m in i.models)
            ]
        found.sort(key=lambda i: getattr(i, sort_by), reverse=sort_option == "desc")
        data = [self._index_json(i) for i in found[(page - 1) * limit : page * limit]]
        return paged(page, limit, found, data)

    def _get_index_state(self, index_id: str) -> IndexState:
        index = self.indexes.get(index_id)
        if index is None:
            raise not_found("indexes", index_id)
        return index

    async def _get_index(self, request: web.Request) -> web.StreamResponse:
        index = self._get_index_state(request.match_info["id"])
        return json_response(200, self._index_json(index))

    # ------------------------------------------------------------------ indexed assets

    def _indexed_asset_json(self, item: IndexedAssetState, *, detail: bool) -> dict[str, Any]:
        asset = self.assets.get(item.asset_id)
        media = asset.media if asset else None
        video = media.video if media else None
        system = {
            "filename": asset.filename if asset else None,
            "duration": media.duration if media else None,
            "fps": video.fps if video else None,
            "width": video.width if video else None,
            "height": video.height if video else None,
            "size": asset.size if asset else None,
        }
        out: dict[str, Any] = {
            "_id": item.id,
            "asset_id": item.asset_id,
            "status": item.status,
            "created_at": rfc3339(item.created_at),
            "updated_at": rfc3339(item.updated_at),
            "system_metadata": {k: v for k, v in system.items() if v is not None},
        }
        if item.indexed_at is not None:
            out["indexed_at"] = rfc3339(item.indexed_at)
        if detail and item.user_metadata is not None:
            out["user_metadata"] = item.user_metadata
        if item.error is not None:
            out["error"] = {"message": item.error}
        return out

    async def _create_indexed_asset(self, request: web.Request) -> web.StreamResponse:
        index = self._get_index_state(request.match_info["id"])
        body = await read_json(request)
        asset_id = body.get("asset_id")
        if not asset_id:
            raise missing("asset_id")
        asset = self.assets.get(str(asset_id))
        if asset is None:
            raise ApiError(400, "parameter_invalid", f"The asset {asset_id} does not exist.")
        if asset.status != "ready":
            raise ApiError(
                400,
                "parameter_invalid",
                f"The asset {asset_id} is not ready (status: {asset.status}). "
                "Wait until its status is ready.",
            )
        metadata = body.get("user_metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise invalid("user_metadata")
        now = utcnow()
        item = IndexedAssetState(
            id=new_id(),
            index_id=index.id,
            asset_id=asset.id,
            created_at=now,
            updated_at=now,
            user_metadata=metadata,
        )
        self.indexed_assets[item.id] = item
        self._spawn(self._run_indexing(item, index, asset))
        return json_response(202, {"_id": item.id, "asset_id": asset.id})

    async def _run_indexing(
        self, item: IndexedAssetState, index: IndexState, asset: AssetState
    ) -> None:
        start, span = time.monotonic(), self.index_processing_s
        for fraction, status in ((0.25, "queued"), (0.5, "indexing")):
            await sleep_until(start + span * fraction)
            item.status, item.updated_at = status, utcnow()
        await sleep_until(start + span)
        now = utcnow()
        duration = asset.duration or 0.0
        if duration < MIN_INDEX_S:
            item.status = "failed"
            item.error = f"The video is too short ({duration:g} s); the minimum is 4 seconds."
        else:
            item.status, item.indexed_at = "ready", now
        item.updated_at = index.updated_at = now

    def _get_indexed(self, request: web.Request) -> IndexedAssetState:
        index = self._get_index_state(request.match_info["id"])
        item = self.indexed_assets.get(request.match_info["iid"])
        if item is None or item.index_id != index.id:
            raise not_found("indexed assets", request.match_info["iid"])
        return item

    async def _get_indexed_asset(self, request: web.Request) -> web.StreamResponse:
        item = self._get_indexed(request)
        return json_response(200, self._indexed_asset_json(item, detail=True))

    async def _list_indexed_assets(self, request: web.Request) -> web.StreamResponse:
        index = self._get_index_state(request.match_info["id"])
        page, limit = page_args(request)
        found = [i for i in self.indexed_assets.values() if i.index_id == index.id]
        statuses = request.query.getall("status", [])
        if statuses:
            found = [i for i in found if i.status in statuses]
        found.sort(key=lambda i: i.created_at, reverse=True)
        data = [
            self._indexed_asset_json(i, detail=False)
            for i in found[(page - 1) * limit : page * limit]
        ]
        return paged(page, limit, found, data)
