"""Async TwelveLabs API v1.3 client (no Slack code, no job code).

from bot.twelvelabs import TwelveLabsClient, errors, models

async with TwelveLabsClient(api_key) as tl:
    asset = await tl.assets.upload(path)
    async for index in tl.indexes.list():
        ...
"""

from . import errors, models, search_models
from .client import DEFAULT_BASE_URL, TwelveLabsClient
from .multipart import MultipartSettings
from .pagination import AsyncPaginator
from .polling import StatusCb
from .resources import (
    REQUEST_KEY,
    Analysis,
    Assets,
    BytesCb,
    IndexedAssets,
    Indexes,
    MultipartStartedCb,
    Search,
)
from .session import ClientStats

__all__ = [
    "DEFAULT_BASE_URL",
    "REQUEST_KEY",
    "Analysis",
    "Assets",
    "AsyncPaginator",
    "BytesCb",
    "ClientStats",
    "IndexedAssets",
    "Indexes",
    "MultipartSettings",
    "MultipartStartedCb",
    "Search",
    "StatusCb",
    "TwelveLabsClient",
    "errors",
    "models",
    "search_models",
]
