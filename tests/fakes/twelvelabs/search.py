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
429 is the fault kind "429-empty" (`Fault("POST", "/search", "429-empty")`).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from tests.fakes.twelvelabs.generate import Seed
from tests.fakes.twelvelabs.state import IndexedAssetState, rfc3339

if TYPE_CHECKING:
    from tests.fakes.twelvelabs.server import FakeTwelveLabs

SEARCH_OPTIONS = ("visual", "audio", "transcription")
TRANSCRIPTION_OPTIONS = ("lexical", "semantic")
MAX_QUERY_TOKENS = 500
MAX_PAGE_LIMIT = 50
MAX_CLIPS_PER_VIDEO = 3
SYSTEM_NUMBERS = ("duration", "width", "height", "size")
STOP_WORDS = frozenset(
    "a an and are about at be by did do does for from has have how i in is it me my of on or "
    "our show showed shows that the their there this to video videos was we were what when "
    "where which who with you".split()
)
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"[a-z0-9]+")


class SearchError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


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


def query_tokens(text: str) -> int:
    """How many tokens the fake counts in a query (words and punctuation marks)."""
    return len(_TOKEN.findall(text))


def query_words(text: str) -> list[str]:
    words = [w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in STOP_WORDS]
    return list(dict.fromkeys(words))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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
            return set(_WORD.findall(self.spoken(item).lower()))
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
        if not isinstance(metadata, dict) or not all(_metadata_value(v) for v in metadata.values()):
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
            raise _missing("index_id")
        index = self.fake.indexes.get(index_id)
        if index is None:
            raise SearchError(
                404,
                "resource_not_exist",
                f"Resource with id {index_id} does not exist in indexes.",
            )
        options = self._options(form, {o for m in index.models for o in m["model_options"]})
        if form.get("query_media_type") or form.get("query_media_url"):
            raise SearchError(
                400, "parameter_invalid", "Media queries are not supported by this fake."
            )
        text = form.get("query_text")
        if not text or not text.strip():
            raise _missing("query_text")
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
            raise _invalid("operator")
        if group_by not in ("clip", "video"):
            raise _invalid("group_by")
        limit = _page_limit(form.get("page_limit", "10"))
        condition = _filter(form.get("filter"))
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

    @staticmethod
    def _options(form: dict[str, Any], model_options: set[str]) -> list[str]:
        options: list[str] = form.get("search_options") or []
        if not options:
            raise _missing("search_options")
        for option in options:
            if option not in SEARCH_OPTIONS:
                raise SearchError(
                    400,
                    "search_option_not_supported",
                    f"The search option {option} is not supported. Use visual, audio or "
                    "transcription.",
                )
            needs = "visual" if option == "visual" else "audio"
            if needs not in model_options:
                raise SearchError(
                    400,
                    "search_option_not_supported",
                    f"The search option {option} is not supported by this index: it was "
                    f"created without the {needs} model option.",
                )
        transcription = form.get("transcription_options") or []
        if transcription and "transcription" not in options:
            raise SearchError(
                400,
                "search_option_combination_not_supported",
                "transcription_options applies only with the transcription search option.",
            )
        if any(t not in TRANSCRIPTION_OPTIONS for t in transcription):
            raise _invalid("transcription_options")
        return list(dict.fromkeys(options))

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
            if not _satisfies(value, wanted):
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


def _satisfies(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        if not _number(value):
            return False
        low, high = wanted.get("gte"), wanted.get("lte")
        return (low is None or value >= low) and (high is None or value <= high)
    if isinstance(value, list):  # an array-of-strings metadata value matches any of its items
        return wanted in value
    return bool(value == wanted and type(value) is type(wanted)) or (
        _number(value) and _number(wanted) and value == wanted
    )


def _filter(raw: str | None) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    try:
        condition = json.loads(raw)
    except ValueError:
        raise SearchError(400, "search_filter_invalid", "The filter is not valid JSON.") from None
    if not isinstance(condition, dict):
        raise SearchError(400, "search_filter_invalid", "The filter must be a JSON object.")
    for key, wanted in condition.items():
        if key == "id":
            ok = isinstance(wanted, str) or (
                isinstance(wanted, list) and all(isinstance(v, str) for v in wanted)
            )
        elif isinstance(wanted, dict):
            ok = (
                bool(wanted)
                and set(wanted) <= {"gte", "lte"}
                and all(_number(v) for v in wanted.values())
            )
        elif key == "filename":
            ok = isinstance(wanted, str)
        elif key in SYSTEM_NUMBERS:
            ok = _number(wanted)
        else:
            ok = isinstance(wanted, str | bool) or _number(wanted)
        if not ok:
            raise SearchError(
                400, "search_filter_invalid", f"The filter condition on {key!r} is invalid."
            )
    return condition


def _page_limit(raw: str) -> int:
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_PAGE_LIMIT:
        raise _invalid("page_limit")
    return int(raw)


def _metadata_value(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(v, str) for v in value)
    return value is None or isinstance(value, str | bool) or _number(value)


def _missing(name: str) -> SearchError:
    return SearchError(
        400, "parameter_not_provided", f"The {name} parameter is required but was not provided."
    )


def _invalid(name: str) -> SearchError:
    return SearchError(400, "parameter_invalid", f"The {name} parameter is invalid.")


def _json(status: int, body: Any) -> web.Response:
    return web.json_response(body, status=status, dumps=json.dumps)


def _call_of(request: web.Request) -> Any:
    from tests.fakes.twelvelabs.server import CALL  # the server imports this module

    return request[CALL]
