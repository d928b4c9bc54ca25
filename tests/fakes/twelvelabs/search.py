"""The fake's search: `POST /search`, `GET /search/{page-token}` and the indexed asset's
`PATCH` (its user metadata is what searches filter on and hits carry).

Results depend on the videos. Each ready indexed asset "shows", "says" and "sounds like" words
derived the way the fake's analysis derives a gist (`generate.Seed`: the file name's words and
two vocabulary words from its SHA-256):

- `visual`: the gist's subject and scene words (the title's and topics' words);
- `transcription`: a spoken sentence about them, returned as the clip's `transcription`;
- `audio` (non-speech sound): the second scene word.

A video matches when a query word (stop words aside) is among the words of a requested search
option (`operator=or`, the default), or of every requested option (`and`). Videos rank by how
many query words they match, then by age; each matching (option, word) is a clip, at most three
per video, placed deterministically in the video. Only `ready` indexed assets are searched.

Errors as the July 2026 definition has them: 400 `{code, message}` on `POST /search`
(`parameter_not_provided`, `parameter_invalid`, `search_option_not_supported`,
`search_option_combination_not_supported`, `search_filter_invalid`), 404 for an unknown index,
and `{error_code, message}` on the page-token route (`search_page_token_expired`). The empty-body
429 is the fault kind "429-empty" (`Fault("POST", "/search", "429-empty")`). What a request may
say is checked by `search_rules.py`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from tests.fakes.twelvelabs.generate import Seed
from tests.fakes.twelvelabs.search_rules import (
    MAX_QUERY_TOKENS,
    SYSTEM_NUMBERS,
    SearchError,
    check_options,
    invalid,
    metadata_value,
    missing,
    page_limit,
    parse_filter,
    query_tokens,
    query_words,
    satisfies,
)
from tests.fakes.twelvelabs.state import IndexedAssetState, rfc3339
from tests.fakes.twelvelabs.wire import CALL

if TYPE_CHECKING:
    from tests.fakes.twelvelabs.server import FakeTwelveLabs

MAX_CLIPS_PER_VIDEO = 3


@dataclass
class SearchPages:
    """One search's results, served a page at a time until `expires_at` (wall clock)."""

    items: list[dict[str, Any]]
    limit: int
    expires_at: float
    include_metadata: bool
    pool: dict[str, Any]
    inner_matches: int | None
    tokens: list[str] = field(default_factory=list)  # tokens[i] names page i + 2


class FakeSearch:
    """Search state and handlers, hooked into `FakeTwelveLabs` (its `search` attribute)."""

    def __init__(self, fake: FakeTwelveLabs) -> None:
        self.fake = fake
        self.page_ttl_s = 3600.0
        self.searches: list[dict[str, Any]] = []  # each POST /search's fields, as parsed
        self._pages: dict[str, SearchPages] = {}

    def clear(self) -> None:
        self.searches.clear()
        self._pages.clear()

    def expire_pages(self) -> None:
        """Every page token handed out so far expires now."""
        for pages in self._pages.values():
            pages.expires_at = 0.0

    # ------------------------------------------------------------------ what a video holds

    def _seed(self, item: IndexedAssetState) -> Seed:
        asset = self.fake.assets.get(item.asset_id)
        filename = asset.filename if asset else "video"
        sha = (asset.sha256 if asset else None) or hashlib.sha256(item.id.encode()).hexdigest()
        return Seed(filename, sha, asset.duration if asset else None)

    def spoken(self, item: IndexedAssetState) -> str:
        seed = self._seed(item)
        return f"Today we look at {' '.join(seed.words)} and some {seed.extra_words[0]} ideas."

    def words(self, item: IndexedAssetState, option: str) -> set[str]:
        seed = self._seed(item)
        if option == "visual":
            return set(seed.words) | set(seed.extra_words)
        if option == "transcription":
            return set(query_words(self.spoken(item))) | set(seed.words)
        return {seed.extra_words[1]}  # audio: non-speech sound

    # ------------------------------------------------------------------ handlers

    async def create(self, request: web.Request) -> web.StreamResponse:
        try:
            form = await self._form(request)
            self.searches.append(form)
            return self._first_page(request, form)
        except SearchError as exc:
            return _json(exc.status, {"code": exc.code, "message": exc.message})

    async def retrieve(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        pages = self._pages.get(token)
        if pages is None:
            return _json(
                400, {"error_code": "parameter_invalid", "message": f"Unknown page token {token}."}
            )
        if time.time() >= pages.expires_at:
            return _json(
                400,
                {
                    "error_code": "search_page_token_expired",
                    "message": "The page token has expired. Run the search again.",
                },
            )
        number = pages.tokens.index(token) + 2
        include = request.query.get("include_user_metadata")
        with_metadata = pages.include_metadata if include is None else include == "true"
        return _json(200, self._page(pages, number, with_metadata))

    async def patch_indexed_asset(self, request: web.Request) -> web.StreamResponse:
        index_id, item_id = request.match_info["id"], request.match_info["iid"]
        item = self.fake.indexed_assets.get(item_id)
        if index_id not in self.fake.indexes or item is None or item.index_id != index_id:
            return _json(
                404,
                {
                    "code": "resource_not_exist",
                    "message": f"Resource with id {item_id} does not exist in indexed assets.",
                },
            )
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            body = None
        _call_of(request).body = body
        metadata = body.get("user_metadata") if isinstance(body, dict) else None
        if not isinstance(metadata, dict) or not all(metadata_value(v) for v in metadata.values()):
            return _json(400, {"code": "parameter_invalid", "message": "user_metadata is invalid."})
        merged = dict(item.user_metadata or {})
        for key, value in metadata.items():
            if value is None:
                merged.pop(key, None)
            elif value != "":
                merged[key] = value
        item.user_metadata = merged
        item.updated_at = datetime.now(UTC)
        return web.Response(status=204)

    # ------------------------------------------------------------------ POST /search

    async def _form(self, request: web.Request) -> dict[str, Any]:
        if not request.content_type.startswith("multipart/"):
            raise SearchError(
                400, "parameter_invalid", "The request must be sent as multipart/form-data."
            )
        form: dict[str, Any] = {}
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
                continue
            if part.filename is not None:
                raise SearchError(
                    400, "parameter_invalid", "Media queries are not supported by this fake."
                )
            value = (await part.read()).decode("utf-8")
            if part.name in ("search_options", "transcription_options", "query_media_url"):
                form.setdefault(part.name, []).append(value)
            else:
                form[part.name] = value
        _call_of(request).body = form
        return form

    def _first_page(self, request: web.Request, form: dict[str, Any]) -> web.Response:
        index_id = form.get("index_id")
        if not index_id:
            raise missing("index_id")
        index = self.fake.indexes.get(index_id)
        if index is None:
            raise SearchError(
                404,
                "resource_not_exist",
                f"Resource with id {index_id} does not exist in indexes.",
            )
        options = check_options(form, {o for m in index.models for o in m["model_options"]})
        if form.get("query_media_type") or form.get("query_media_url"):
            raise SearchError(
                400, "parameter_invalid", "Media queries are not supported by this fake."
            )
        text = form.get("query_text")
        if not text or not text.strip():
            raise missing("query_text")
        if query_tokens(text) > MAX_QUERY_TOKENS:
            raise SearchError(
                400,
                "parameter_invalid",
                f"The query_text parameter is too long ({query_tokens(text)} tokens); "
                f"Marengo supports up to {MAX_QUERY_TOKENS} tokens per query.",
            )
        operator = form.get("operator", "or")
        group_by = form.get("group_by", "clip")
        if operator not in ("or", "and"):
            raise invalid("operator")
        if group_by not in ("clip", "video"):
            raise invalid("group_by")
        limit = page_limit(form.get("page_limit", "10"))
        condition = parse_filter(form.get("filter"))
        include = form.get("include_user_metadata", "false").lower() == "true"
        ready = [
            i
            for i in self.fake.indexed_assets.values()
            if i.index_id == index_id and i.status == "ready"
        ]
        found = [i for i in ready if self._passes(i, condition)]
        items, clips = self._results(found, query_words(text), options, operator, group_by)
        pool = {
            "total_count": len(ready),
            "total_duration": round(sum(self._duration(i) or 0.0 for i in ready), 3),
            "index_id": index_id,
        }
        thumbs = "thumbnail" in index.addons
        origin = f"{request.scheme}://{request.host}"
        for item in items:
            for clip in item.get("clips", [item]):
                if thumbs:
                    clip["thumbnail_url"] = f"{origin}/_fake/thumbnails/{clip.pop('_asset')}.png"
                clip.pop("_asset", None)
        pages = SearchPages(
            items=items,
            limit=limit,
            expires_at=time.time() + self.page_ttl_s,
            include_metadata=include,
            pool=pool,
            inner_matches=clips if group_by == "video" else None,
        )
        return _json(200, self._page(pages, 1, include))

    def _duration(self, item: IndexedAssetState) -> float | None:
        asset = self.fake.assets.get(item.asset_id)
        return asset.duration if asset else None

    def _system(self, item: IndexedAssetState, name: str) -> Any:
        asset = self.fake.assets.get(item.asset_id)
        if asset is None:
            return None
        video = asset.media.video if asset.media else None
        return {
            "duration": asset.duration,
            "size": asset.size,
            "filename": asset.filename,
            "width": video.width if video else None,
            "height": video.height if video else None,
        }.get(name)

    def _passes(self, item: IndexedAssetState, condition: dict[str, Any]) -> bool:
        for key, wanted in condition.items():
            if key == "id":
                ids = wanted if isinstance(wanted, list) else [wanted]
                if item.id not in ids:
                    return False
                continue
            if key in SYSTEM_NUMBERS or key == "filename":
                value = self._system(item, key)
            else:
                value = (item.user_metadata or {}).get(key)
            if not satisfies(value, wanted):
                return False
        return True

    def _results(
        self,
        found: list[IndexedAssetState],
        words: list[str],
        options: list[str],
        operator: str,
        group_by: str,
    ) -> tuple[list[dict[str, Any]], int]:
        """(items, number of clips): videos best first, or their clips in rank order."""
        scored: list[tuple[int, IndexedAssetState, list[tuple[str, str]]]] = []
        for item in found:
            hits = {o: [w for w in words if w in self.words(item, o)] for o in options}
            if operator == "and" and not all(hits.values()):
                continue
            matched = [(o, w) for o in options for w in hits[o]]
            if matched:
                scored.append((len({w for _, w in matched}), item, matched))
        scored.sort(key=lambda s: (-s[0], s[1].created_at, s[1].id))
        rank = 0
        videos: list[dict[str, Any]] = []
        for _, item, matched in scored:
            clips = []
            for option, word in matched[:MAX_CLIPS_PER_VIDEO]:
                rank += 1
                clips.append(self._clip(item, option, word, rank))
            video: dict[str, Any] = {"id": item.id, "clips": clips}
            videos.append(video)
        if group_by == "video":
            return videos, rank
        flat = [clip for video in videos for clip in video["clips"]]
        return flat, rank

    def _clip(self, item: IndexedAssetState, option: str, word: str, rank: int) -> dict[str, Any]:
        duration = self._duration(item) or 10.0
        h = int(hashlib.sha256(f"{item.id}:{option}:{word}".encode()).hexdigest()[:8], 16)
        length = min(duration, 2.0 + h % 4)
        start = float((h >> 8) % max(1, int(duration - length))) if duration > length else 0.0
        clip: dict[str, Any] = {
            "video_id": item.id,
            "rank": rank,
            "start": round(start, 3),
            "end": round(min(duration, start + length), 3),
            "_asset": item.asset_id,
            "_metadata": item.user_metadata,
        }
        if option == "transcription":
            clip["transcription"] = self.spoken(item)
        return clip

    # ------------------------------------------------------------------ pages

    def _page(self, pages: SearchPages, number: int, with_metadata: bool) -> dict[str, Any]:
        start = (number - 1) * pages.limit
        shown = [_shown(item, with_metadata) for item in pages.items[start : start + pages.limit]]
        info: dict[str, Any] = {
            "limit_per_page": pages.limit,
            "total_results": len(pages.items),
            "page_expires_at": rfc3339(datetime.fromtimestamp(pages.expires_at, UTC)),
        }
        if pages.inner_matches is not None:
            info["total_inner_matches"] = pages.inner_matches
        if start + pages.limit < len(pages.items):
            while len(pages.tokens) < number:
                token = secrets.token_urlsafe(18)
                pages.tokens.append(token)
                self._pages[token] = pages
            info["next_page_token"] = pages.tokens[number - 1]
        if number > 1:
            info["prev_page_token"] = pages.tokens[number - 3] if number > 2 else None
        return {"data": shown, "page_info": info, "search_pool": pages.pool}


def _shown(item: dict[str, Any], with_metadata: bool) -> dict[str, Any]:
    """An item as the API returns it: the private `_metadata` becomes `user_metadata` when
    asked for (on the video and on each clip), or is dropped."""
    out = {k: v for k, v in item.items() if not k.startswith("_")}
    metadata = item.get("_metadata")
    if "clips" in item:
        out["clips"] = [_shown(c, with_metadata) for c in item["clips"]]
        metadata = item["clips"][0].get("_metadata") if item["clips"] else None
    if with_metadata and metadata:
        out["user_metadata"] = dict(metadata)
    return out


def _json(status: int, body: Any) -> web.Response:
    return web.json_response(body, status=status, dumps=json.dumps)


def _call_of(request: web.Request) -> Any:
    return request[CALL]
