"""Result cache: a repeated video (same URL, Slack file, bytes or asset) costs nothing.

`cachetools.TTLCache` in memory, backed by the job store so it survives restarts.
"""

from __future__ import annotations

from cachetools import TTLCache

from bot import metrics
from bot.gist.models import Gist, GistType
from bot.gist.schema import ordered
from bot.jobs.store_base import Store


def _types_key(types: frozenset[GistType]) -> str:
    return ",".join(t.value for t in ordered(types))


def _covers(cached_types: str, wanted: frozenset[GistType]) -> bool:
    have = {GistType(t) for t in cached_types.split(",") if t}
    return wanted <= have


def restrict(gist: Gist, types: frozenset[GistType]) -> Gist:
    """The cached gist, showing only what this request asked for."""
    out = gist.model_copy(deep=True)
    out.types = ordered(types)
    if GistType.TITLE not in types:
        out.title = None
    if GistType.TOPIC not in types:
        out.topics = []
    if GistType.HASHTAG not in types:
        out.hashtags = []
    return out


class ResultCache:
    def __init__(self, store: Store, ttl_s: float, maxsize: int = 4096) -> None:
        self._store = store
        self._ttl = ttl_s
        self._memory: TTLCache[str, list[tuple[str, str]]] = TTLCache(
            maxsize=maxsize, ttl=max(ttl_s, 1.0)
        )

    async def get(self, keys: list[str], types: frozenset[GistType]) -> Gist | None:
        if self._ttl <= 0:
            return None
        for key in keys:
            rows = self._memory.get(key)
            if rows is None:
                rows = await self._store.cache_get(key, self._ttl)
                if rows:
                    self._memory[key] = rows
            for cached_types, gist_json in rows or []:
                if _covers(cached_types, types):
                    metrics.cache_lookup(hit=True)
                    return restrict(Gist.model_validate_json(gist_json), types)
        metrics.cache_lookup(hit=False)
        return None

    async def put(self, keys: list[str], gist: Gist) -> None:
        if self._ttl <= 0 or not keys:
            return
        types = _types_key(frozenset(gist.types))
        gist_json = gist.model_dump_json()
        await self._store.cache_put(keys, types, gist_json)
        for key in keys:
            rows = [r for r in self._memory.get(key, []) if r[0] != types]
            self._memory[key] = [(types, gist_json), *rows]
