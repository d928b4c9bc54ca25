"""Listings, and finding what a create may already have made.

Each lookup narrows with a filter the July 2026 definition documents, then matches exactly on
this side (the filters are partial matches, and none takes our keys directly):

- assets: `GET /assets?filename=` (a case-insensitive substring), then the request key in
  `user_metadata` (the listing returns it) and the upload method;
- indexes: `GET /indexes?index_name=`, then the exact name;
- indexed assets: `GET /assets/{asset_id}/indexed-assets` (every index using the asset), then
  the index id (`GET /indexes/{id}/indexed-assets` has no asset filter);
- analysis tasks: `GET /analyze/tasks?asset_id=`, then `custom_id`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Collection, Mapping
from contextlib import aclosing
from typing import Any, TypeVar

from . import errors, models
from .retry import RetryMode
from .session import ApiSession, parse_model

__all__ = [
    "REQUEST_KEY",
    "delete_asset",
    "find_asset",
    "find_index",
    "find_indexed_asset",
    "find_item",
    "find_task",
    "list_items",
    "with_request_key",
]

T = TypeVar("T")

# The `user_metadata` key naming the request an asset was made for (the job id in gistbot).
REQUEST_KEY = "gistbot_request"

T_ASSETS = "/assets"
T_ASSET = "/assets/{asset_id}"
T_ASSET_INDEXES = "/assets/{asset_id}/indexed-assets"
T_INDEXES = "/indexes"
T_TASKS = "/analyze/tasks"

PAGE_LIMIT = 50  # the API's maximum


async def _items(
    session: ApiSession,
    template: str,
    model: type[models.Listing[T]],
    *,
    params: Mapping[str, Any] | None,
    path_params: Mapping[str, str] | None,
    max_pages: int,
) -> AsyncGenerator[T, None]:
    for page in range(1, max_pages + 1):
        response = await session.request(
            "GET",
            template,
            path_params=path_params,
            params={**(params or {}), "page": page, "page_limit": PAGE_LIMIT},
            mode=RetryMode.IDEMPOTENT,
        )
        listing = parse_model(model, response, method="GET", path=template)
        for item in listing.data:
            yield item
        if listing.is_last_page(page):
            return


async def list_items(
    session: ApiSession,
    template: str,
    model: type[models.Listing[T]],
    *,
    params: Mapping[str, Any] | None = None,
    path_params: Mapping[str, str] | None = None,
    max_pages: int = 20,
) -> list[T]:
    """Every item of up to `max_pages` pages, in the API's order."""
    pages = _items(
        session, template, model, params=params, path_params=path_params, max_pages=max_pages
    )
    return [item async for item in pages]


async def find_item(
    session: ApiSession,
    template: str,
    model: type[models.Listing[T]],
    match: Callable[[T], bool],
    *,
    params: Mapping[str, Any] | None = None,
    path_params: Mapping[str, str] | None = None,
    max_pages: int = 20,
) -> T | None:
    """The first item `match` accepts, reading no further pages than needed."""
    pages = _items(
        session, template, model, params=params, path_params=path_params, max_pages=max_pages
    )
    async with aclosing(pages):
        async for item in pages:
            if match(item):
                return item
    return None


# ---------------------------------------------------------------------------- assets


def with_request_key(metadata: Mapping[str, Any] | None, request_key: str) -> dict[str, Any]:
    return {**(metadata or {}), REQUEST_KEY: request_key}


def _is_ours(asset: models.Asset, request_key: str, methods: Collection[str]) -> bool:
    key = (asset.user_metadata or {}).get(REQUEST_KEY)
    return key == request_key and (asset.method is None or asset.method in methods)


async def find_asset(
    session: ApiSession,
    request_key: str,
    filename: str | None,
    *,
    methods: Collection[str] = ("direct", "url"),
) -> models.Asset | None:
    """The asset created for `request_key` by one of `methods`, or None."""
    return await find_item(
        session,
        T_ASSETS,
        models.AssetList,
        lambda a: _is_ours(a, request_key, methods),
        params={"filename": filename} if filename else None,
        max_pages=20 if filename else 5,  # unfiltered: the newest 250 assets
    )


async def assets_for_key(
    session: ApiSession, request_key: str, filename: str | None, *, methods: Collection[str]
) -> list[models.Asset]:
    listed = await list_items(
        session,
        T_ASSETS,
        models.AssetList,
        params={"filename": filename} if filename else None,
        max_pages=20 if filename else 5,
    )
    return [a for a in listed if _is_ours(a, request_key, methods)]


async def delete_asset(session: ApiSession, asset_id: str) -> None:
    """`DELETE /assets/{asset_id}`; an asset already gone counts as deleted."""
    try:
        await session.request(
            "DELETE", T_ASSET, path_params={"asset_id": asset_id}, mode=RetryMode.IDEMPOTENT
        )
    except errors.NotFoundError:
        pass


# ---------------------------------------------------------------------------- indexes, tasks


async def find_index(session: ApiSession, name: str) -> models.Index | None:
    """The index named exactly `name` (the API's `index_name` filter is a partial match)."""
    return await find_item(
        session,
        T_INDEXES,
        models.IndexList,
        lambda i: i.index_name == name,
        params={"index_name": name},
    )


async def find_indexed_asset(
    session: ApiSession, index_id: str, asset_id: str
) -> models.IndexedAssetRef | None:
    """The indexed asset that puts `asset_id` into `index_id`, or None."""
    entry = await find_item(
        session,
        T_ASSET_INDEXES,
        models.AssetIndexList,
        lambda e: e.index is not None and e.index.id == index_id,
        path_params={"asset_id": asset_id},
    )
    return None if entry is None else models.IndexedAssetRef(id=entry.id, asset_id=asset_id)


async def find_task(
    session: ApiSession, asset_id: str, custom_id: str
) -> models.AnalysisTaskRef | None:
    """The analysis task on `asset_id` carrying `custom_id` (newest first), or None."""
    task = await find_item(
        session,
        T_TASKS,
        models.AnalysisTaskList,
        lambda t: t.custom_id == custom_id,
        params={"asset_id": asset_id},
        max_pages=5,
    )
    return (
        None if task is None else models.AnalysisTaskRef(task_id=task.task_id, status=task.status)
    )
