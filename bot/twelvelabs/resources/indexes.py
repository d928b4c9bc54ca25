"""`client.indexes` (find, find or create, list) and `client.indexes.indexed_assets`.

An index makes videos searchable; gistbot adds each asset to one in the background. Look-ups
narrow with the filters the July 2026 definition documents, then match exactly on this side:

- an index: `GET /indexes?index_name=` (a partial match), then the exact name;
- an indexed asset: `GET /assets/{asset_id}/indexed-assets` (every index using the asset), then
  the index id (`GET /indexes/{index_id}/indexed-assets` has no asset filter).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from .. import errors, models
from ..creates import create_once
from ..pagination import MAX_PAGES, AsyncPaginator, paginate
from ..polling import PollSettings, StatusCb
from ..retry import RetryMode
from ..session import ApiSession
from ._base import Clock, Resource

__all__ = ["INDEX_ADDONS", "INDEX_MODEL", "INDEX_MODEL_OPTIONS", "IndexedAssets", "Indexes"]

INDEX_MODEL = "marengo3.0"
INDEX_MODEL_OPTIONS = ("visual", "audio")
# Search hits carry a thumbnail only from an index made with this addon (it can't be added
# to an index later).
INDEX_ADDONS = ("thumbnail",)

# Path templates: what logs, errors and `stats` show.
T_INDEXES = "/indexes"
T_INDEXED_ASSETS = "/indexes/{index_id}/indexed-assets"
T_INDEXED_ASSET = "/indexes/{index_id}/indexed-assets/{indexed_asset_id}"
T_ASSET_INDEXES = "/assets/{asset_id}/indexed-assets"


def _name_taken(exc: errors.TwelveLabsError) -> bool:
    return isinstance(exc, errors.BadRequestError) and (
        exc.status_code == 409 or exc.code == "index_name_already_exists"
    )


class IndexedAssets(Resource):
    """The assets in an index (`/indexes/{index_id}/indexed-assets`)."""

    async def create(
        self,
        index_id: str,
        asset_id: str,
        *,
        enable_video_stream: bool = False,
        user_metadata: dict[str, Any] | None = None,
    ) -> models.IndexedAssetRef:
        """`POST /indexes/{index_id}/indexed-assets` (202). The asset must be `ready`.

        After an ambiguous failure the asset's own index listing says whether it got in.
        """
        payload: dict[str, Any] = {"asset_id": asset_id}
        if enable_video_stream:
            payload["enable_video_stream"] = True
        if user_metadata:
            payload["user_metadata"] = user_metadata

        async def create() -> models.IndexedAssetRef:
            return await self._call(
                models.IndexedAssetRef,
                "POST",
                T_INDEXED_ASSETS,
                mode=RetryMode.CREATE,
                path_params={"index_id": index_id},
                json=payload,
            )

        return await create_once(
            self._session,
            "POST",
            T_INDEXED_ASSETS,
            create,
            lambda: self._find(index_id, asset_id),
            what=f"asset {asset_id} in index {index_id}",
        )

    async def _find(self, index_id: str, asset_id: str) -> models.IndexedAssetRef | None:
        """The indexed asset that puts `asset_id` into `index_id`, or None."""
        entries = paginate(
            self._session,
            T_ASSET_INDEXES,
            models.AssetIndexList,
            path_params={"asset_id": asset_id},
        )
        entry = await entries.find(lambda e: e.index is not None and e.index.id == index_id)
        return None if entry is None else models.IndexedAssetRef(id=entry.id, asset_id=asset_id)

    async def get(self, index_id: str, indexed_asset_id: str) -> models.IndexedAsset:
        """`GET /indexes/{index_id}/indexed-assets/{indexed_asset_id}`."""
        return await self._call(
            models.IndexedAsset,
            "GET",
            T_INDEXED_ASSET,
            path_params={"index_id": index_id, "indexed_asset_id": indexed_asset_id},
        )

    async def update_metadata(
        self, index_id: str, indexed_asset_id: str, user_metadata: dict[str, Any]
    ) -> None:
        """`PATCH /indexes/{index_id}/indexed-assets/{indexed_asset_id}`: merge `user_metadata`
        into the indexed asset's (a `None` value deletes a key). Repeating it changes nothing,
        so it is retried like a read."""
        await self._session.request(
            "PATCH",
            T_INDEXED_ASSET,
            mode=RetryMode.IDEMPOTENT,
            path_params={"index_id": index_id, "indexed_asset_id": indexed_asset_id},
            json={"user_metadata": user_metadata},
        )

    async def wait(
        self,
        index_id: str,
        indexed_asset_id: str,
        *,
        timeout_s: float,
        on_status: StatusCb | None = None,
    ) -> models.IndexedAsset:
        """Poll until `ready`; `failed` raises `IndexingFailed`."""
        return await self._wait(
            lambda: self.get(index_id, indexed_asset_id),
            models.INDEXED_ASSET_TERMINAL,
            errors.IndexingFailed,
            what="indexed asset",
            resource_id=indexed_asset_id,
            timeout_s=timeout_s,
            on_status=on_status,
        )

    def list(
        self, index_id: str, *, statuses: Sequence[str] = (), max_pages: int = MAX_PAGES
    ) -> AsyncPaginator[models.IndexedAsset]:
        """`GET /indexes/{index_id}/indexed-assets`, newest first; `statuses` keeps only those
        (the `status` parameter, repeated)."""
        return paginate(
            self._session,
            T_INDEXED_ASSETS,
            models.IndexedAssetList,
            params={"status": list(statuses) or None},
            path_params={"index_id": index_id},
            max_pages=max_pages,
        )


class Indexes(Resource):
    def __init__(self, session: ApiSession, poll: PollSettings, clock: Clock | None) -> None:
        super().__init__(session, poll, clock)
        self.indexed_assets = IndexedAssets(session, poll, clock)
        self._create_lock = asyncio.Lock()

    def list(self, *, index_name: str | None = None) -> AsyncPaginator[models.Index]:
        """`GET /indexes`; `index_name` filters (a partial match)."""
        return paginate(
            self._session,
            T_INDEXES,
            models.IndexList,
            params={"index_name": index_name},  # None is left out
        )

    async def find(self, name: str) -> models.Index | None:
        """The index named exactly `name`, or None."""
        return await self.list(index_name=name).find(lambda i: i.index_name == name)

    async def find_or_create(self, name: str) -> models.Index:
        """Find the index by name, else create it (`marengo3.0`, visual + audio, thumbnails).

        Two creators racing: the loser's `index_name_already_exists` (or 409) leads to finding
        the winner's index. A create whose outcome is unknown (5xx, connection dropped) is
        resolved the same way: look again before trying again.
        """
        async with self._create_lock:
            found = await self.find(name)
            if found is not None:
                return found
            spec = [{"model_name": INDEX_MODEL, "model_options": list(INDEX_MODEL_OPTIONS)}]

            async def create() -> models.Index:
                created = await self._call(
                    models.Index,
                    "POST",
                    T_INDEXES,
                    mode=RetryMode.CREATE,
                    json={"index_name": name, "models": spec, "addons": list(INDEX_ADDONS)},
                )
                # The 201 carries only `_id`: fill in what we asked for.
                return created.model_copy(
                    update={
                        "index_name": created.index_name or name,
                        "models": created.models
                        or [models.IndexModel.model_validate(m) for m in spec],
                        "addons": created.addons or list(INDEX_ADDONS),
                    }
                )

            return await create_once(
                self._session,
                "POST",
                T_INDEXES,
                create,
                lambda: self.find(name),
                what=f"index {name!r}",
                exists=_name_taken,
            )
