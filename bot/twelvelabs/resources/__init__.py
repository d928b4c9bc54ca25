"""The API by noun: each resource is a small class over the client's shared session.

`client.assets` (assets.py), `client.indexes` and `client.indexes.indexed_assets`
(indexes.py), `client.analysis` (analysis.py), `client.search` (search.py). A new noun is one
more module here and one more attribute on `TwelveLabsClient`.
"""

from .analysis import Analysis
from .assets import REQUEST_KEY, Assets, BytesCb, MultipartStartedCb
from .indexes import IndexedAssets, Indexes
from .search import Search

__all__ = [
    "REQUEST_KEY",
    "Analysis",
    "Assets",
    "BytesCb",
    "IndexedAssets",
    "Indexes",
    "MultipartStartedCb",
    "Search",
]
