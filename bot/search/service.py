"""Search the team's indexed videos: a query → TwelveLabs pages → each video mapped back to the
Slack message that shared it → only what the person asking may see → a page of results.

- **Mapping.** A hit's `user_metadata` names its origin (`origin.py`); the job in the store
  gives the gist's title. A video indexed before gistbot tagged them is mapped through the store
  (`indexed_videos`, else the asset's job), and tagged on the way (`PATCH`), so the next search
  filters on it at TwelveLabs; `tag_untagged()` does the same for a whole index at start-up.
- **Privacy.** A search is filtered to the workspace at TwelveLabs, then every hit's
  conversation is checked with `Scope.visible` (the Slack side asks Slack). A hit that can't be
  mapped, or whose conversation the person isn't in, is dropped before anything is built from
  it: no text, no link, no count. A page shows `PAGE_SIZE` results and offers a next page only
  once one more visible result was actually found (a look-ahead), so even "there is more" never
  comes from someone else's video.
- **Paging.** Results come `TL_PAGE_LIMIT` videos per TwelveLabs page; a `Cursor` names the
  resume point by page token (next pages are free) and by absolute position (when the token
  has expired, the search runs again and walks there). A resume point on the first page (no
  token names it) is served from the first pages this process keeps for a few minutes, else
  by searching again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from bot.jobs.models import Job
from bot.jobs.store_base import IndexedVideo, Store
from bot.search.models import Cursor, Hit, Moment, Outcome, Status
from bot.search.origin import KEY_CHANNEL, KEY_TEAM, Origin
from bot.settings import TwelveLabsSettings
from bot.twelvelabs import TwelveLabsClient
from bot.twelvelabs import errors as tl
from bot.twelvelabs.search_models import SearchPage, VideoMatch

__all__ = [
    "MAX_QUERY_TOKENS",
    "PAGE_SIZE",
    "Scope",
    "SearchService",
    "Visible",
    "query_too_long",
    "search_client",
]

log = logging.getLogger(__name__)

PAGE_SIZE = 5  # results a page shows
TL_PAGE_LIMIT = 10  # videos per TwelveLabs page
MAX_TL_PAGES = 5  # TwelveLabs pages read for one page of results (50 videos looked at)
MAX_QUERY_TOKENS = 500  # Marengo's limit per query
MAX_QUERY_CHARS = 1500  # keeps a cursor (the query rides along) within a button value
MAX_MOMENTS = 3
PENDING_WINDOW_S = 6 * 3600.0  # videos indexed longer ago than this are not looked for
PENDING_STATUSES = ("pending", "queued", "validating", "indexing")
UNTITLED = "Untitled video"
FIRST_PAGE_TTL_S = 600.0
_TOKEN = re.compile(r"\w+|[^\w\s]")

# The conversations (of those given) the person asking may see.
Visible = Callable[[frozenset[str]], Awaitable[frozenset[str]]]


@dataclass(frozen=True)
class Scope:
    """Who is asking: their workspace, and what they may see (None: everything, for a person
    holding the API key at a terminal)."""

    team_id: str | None
    visible: Visible | None


def query_too_long(text: str) -> bool:
    """Over Marengo's 500 tokens (counted as words and punctuation marks: a tokenizer splits
    at least that finely), or too long to carry in a button."""
    return len(text) > MAX_QUERY_CHARS or len(_TOKEN.findall(text)) > MAX_QUERY_TOKENS


def search_client(settings: TwelveLabsSettings) -> TwelveLabsClient:
    """A client for people waiting on an answer: a 429 is retried a few times, briefly, then
    they are told TwelveLabs is busy (the job client waits minutes; a person won't)."""
    return TwelveLabsClient(
        settings.twelvelabs_api_key.get_secret_value(),
        settings.twelvelabs_base_url,
        max_retries=settings.gist_search_max_retries,
        backoff_initial_s=settings.twelvelabs_backoff_initial_s,
        backoff_max_s=4.0,
        retry_after_max_s=10.0,
        read_timeout_s=30.0,
    )


class SearchService:
    def __init__(
        self,
        client: TwelveLabsClient,
        store: Store | None,
        settings: TwelveLabsSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._store = store
        self._settings = settings
        self._clock = clock
        self._index_id: str | None = None
        self._unmappable: set[str] = set()  # videos no job or metadata maps (this process)
        self._settled: set[str] = set()  # videos no longer being indexed (this process)
        self._background: set[asyncio.Task[None]] = set()
        # First pages by (index, query, filter), kept a little less long than their tokens
        # are good for in practice; other replicas simply search again.
        self._first_pages: TTLCache[tuple[str, str, str], SearchPage] = TTLCache(
            maxsize=256, ttl=FIRST_PAGE_TTL_S
        )

    # -- the search -------------------------------------------------------------------
    async def search(self, scope: Scope, cursor: Cursor) -> Outcome:
        """One page of results for `cursor`, for the person `scope` describes."""
        if not self._settings.gist_index_enabled:
            return Outcome(Status.DISABLED, cursor=cursor)
        if query_too_long(cursor.query):
            return Outcome(Status.TOO_LONG, cursor=cursor)
        try:
            index_id = await self.index_id()
            if index_id is None:
                return Outcome(Status.NO_INDEX, cursor=cursor)
            return await self._search(scope, cursor, index_id)
        except tl.RateLimitedError:
            log.info("search: TwelveLabs is rate limiting, after retries")
            return Outcome(Status.BUSY, cursor=cursor)
        except tl.NotFoundError:
            self._index_id = None  # deleted since we found it
            return Outcome(Status.NO_INDEX, cursor=cursor)
        except tl.BadRequestError as exc:
            if "query_text" in (exc.message or ""):  # over the model's token limit
                return Outcome(Status.TOO_LONG, cursor=cursor)
            log.warning("search refused by TwelveLabs: %s", exc)
            return Outcome(Status.UNAVAILABLE, cursor=cursor)
        except tl.TwelveLabsError as exc:
            log.warning("search failed: %s", exc)
            return Outcome(Status.UNAVAILABLE, cursor=cursor)

    async def index_id(self) -> str | None:
        """The index named GIST_INDEX_NAME (found once, then remembered), or None."""
        if self._index_id is None:
            found = await self._client.indexes.find(self._settings.gist_index_name)
            self._index_id = found.id if found is not None else None
        return self._index_id

    async def _search(self, scope: Scope, cursor: Cursor, index_id: str) -> Outcome:
        page, token, start, offset = await self._open(index_id, cursor, _filter(scope, cursor))
        empty = page.search_pool is not None and page.search_pool.total_count == 0
        hits: list[Hit] = []
        after: Cursor | None = None
        for read in range(1, MAX_TL_PAGES + 1):
            videos = page.videos()
            mapped = await self._map(index_id, videos[start:], scope)
            for i, hit in enumerate(await self._visible(scope, mapped, cursor.channel)):
                if hit is None:
                    continue
                if len(hits) < PAGE_SIZE:
                    hits.append(hit)
                    continue
                at = start + i  # one more visible result: there is a next page
                shown = cursor.shown + len(hits)
                after = Cursor(cursor.query, cursor.channel, token, at, offset + at, shown)
                break
            if after is not None or not page.next_page_token or read == MAX_TL_PAGES:
                break
            offset, token, start = offset + len(videos), page.next_page_token, 0
            page = await self._client.search.retrieve(token)
        pending = 0
        if cursor.first_page and len(hits) < PAGE_SIZE:
            pending = await self._pending(scope, index_id, cursor.channel)
        status = Status.OK if hits else Status.EMPTY if empty else Status.NOTHING
        return Outcome(status, tuple(hits), after, pending, cursor)

    async def _open(
        self, index_id: str, cursor: Cursor, condition: dict[str, Any]
    ) -> tuple[SearchPage, str | None, int, int]:
        """(page, the token that named it, index of the resume point in it, absolute position
        of its first video)."""
        fresh = cursor.first_page  # a new search is never answered from what we kept
        if cursor.token:
            try:
                page = await self._client.search.retrieve(cursor.token)
                return page, cursor.token, cursor.at, cursor.pos - cursor.at
            except tl.BadRequestError as exc:  # expired (or unknown): search again
                log.info("search page token refused (%s); searching again", exc.code)
                fresh = True  # the first page we kept has tokens of the same age
        page = await self._first_page(index_id, cursor, condition, fresh=fresh)
        token: str | None = None
        offset = 0
        while offset + len(page.videos()) <= cursor.pos and page.next_page_token:
            offset += len(page.videos())
            token = page.next_page_token
            page = await self._client.search.retrieve(token)
        return page, token, cursor.pos - offset, offset

    async def _first_page(
        self, index_id: str, cursor: Cursor, condition: dict[str, Any], *, fresh: bool
    ) -> SearchPage:
        """`POST /search` (charged), or the first page this process got for the same search a
        moment ago: "More results" usually resumes inside the first page, which no token
        names."""
        key = (index_id, cursor.query, json.dumps(condition, sort_keys=True))
        page = None if fresh else self._first_pages.get(key)
        if page is None:
            page = await self._client.search.query(
                index_id,
                cursor.query,
                search_options=self._settings.gist_search_options,
                group_by="video",
                page_limit=TL_PAGE_LIMIT,
                filter=condition or None,
            )
            self._first_pages[key] = page
        return page

    # -- from a TwelveLabs video to a hit ---------------------------------------------
    async def _map(
        self, index_id: str, videos: Sequence[VideoMatch], scope: Scope
    ) -> list[Hit | None]:
        """Each video as a hit, or None: not mappable to a message, or another workspace's."""
        origins = {v.video_id: Origin.from_metadata(v.user_metadata) for v in videos}
        untagged = [v.video_id for v in videos if origins[v.video_id] is None]
        rows: dict[str, IndexedVideo] = {}
        if untagged and self._store is not None:
            rows = await self._store.indexed_videos(untagged)
            for video_id in untagged:
                if video_id not in rows:
                    row = await self._resolve(index_id, video_id, tag_later=True)
                    if row is not None:
                        rows[video_id] = row
        job_ids = {o.job_id for o in origins.values() if o and o.job_id}
        job_ids |= {r.job_id for r in rows.values() if r.job_id}
        jobs = await self._store.get_many(job_ids) if self._store and job_ids else {}
        hits = [_hit(v, origins[v.video_id], rows.get(v.video_id), jobs) for v in videos]
        return [h if h and scope.team_id in (None, h.team_id) else None for h in hits]

    async def _visible(
        self, scope: Scope, mapped: list[Hit | None], channel: str | None
    ) -> list[Hit | None]:
        """The same list with None in place of each hit the person may not see."""
        channels = frozenset(h.channel for h in mapped if h is not None)
        if scope.visible is not None and channels:
            allowed = await scope.visible(channels)
        else:
            allowed = channels
        return [
            h if h is not None and h.channel in allowed and channel in (None, h.channel) else None
            for h in mapped
        ]

    async def _resolve(
        self, index_id: str, video_id: str, *, tag_later: bool
    ) -> IndexedVideo | None:
        """Map a video that carries no origin (indexed before gistbot tagged them) through its
        asset's job, remember it, and tag it at TwelveLabs (now, or in the background)."""
        if self._store is None or video_id in self._unmappable:
            return None
        try:
            item = await self._client.indexes.indexed_assets.get(index_id, video_id)
        except tl.TwelveLabsError as exc:
            log.info("indexed asset %s can't be read: %s", video_id, exc)
            return None
        origin = Origin.from_metadata(item.user_metadata)
        job = await self._store.job_by_asset(item.asset_id) if item.asset_id else None
        if job is not None:
            origin = _origin_of(job)
        if origin is None or not item.asset_id:
            self._unmappable.add(video_id)
            return None
        row = IndexedVideo(
            indexed_asset_id=video_id,
            index_id=index_id,
            asset_id=item.asset_id,
            job_id=origin.job_id,
            team_id=origin.team_id,
            channel=origin.channel,
            message_ts=origin.message_ts,
            created_at=self._clock(),
        )
        await self._store.record_indexed(row)
        if Origin.from_metadata(item.user_metadata) is None:
            tag = self._tag(index_id, video_id, origin)
            if tag_later:
                task = asyncio.create_task(tag, name=f"tag-{video_id}")
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            else:
                await tag
        return row

    async def _tag(self, index_id: str, video_id: str, origin: Origin) -> None:
        try:
            await self._client.indexes.indexed_assets.update_metadata(
                index_id, video_id, origin.metadata()
            )
            log.info("tagged indexed asset %s with its Slack origin", video_id)
        except tl.TwelveLabsError as exc:
            log.info("could not tag indexed asset %s: %s", video_id, exc)

    async def tag_untagged(self) -> int:
        """Tag every video of the index that we can map but that carries no origin (indexed
        before this release); returns how many were mapped. Safe to run on every replica."""
        if self._store is None or not self._settings.gist_index_enabled:
            return 0
        if not await self._store.unindexed_assets():  # nothing can be untagged: no API call
            return 0
        index_id = await self.index_id()
        if index_id is None:
            return 0
        items = await self._client.indexes.indexed_assets.list(index_id).to_list()
        known = await self._store.indexed_videos([i.id for i in items])
        mapped = 0
        for item in items:
            if item.id in known or Origin.from_metadata(item.user_metadata) is not None:
                continue
            if await self._resolve(index_id, item.id, tag_later=False) is not None:
                mapped += 1
        return mapped

    # -- videos still being indexed ---------------------------------------------------
    async def _pending(self, scope: Scope, index_id: str, channel: str | None) -> int:
        """How many of this person's recent videos (in conversations they may see) are still
        being indexed. One listing call, and only when one of those videos was still being
        indexed when last seen (a video that got through is remembered)."""
        if self._store is None or scope.team_id is None:
            return 0
        rows = await self._store.indexed_since(scope.team_id, self._clock() - PENDING_WINDOW_S)
        rows = [r for r in rows if channel in (None, r.channel)]
        if rows and scope.visible is not None:
            allowed = await scope.visible(frozenset(r.channel for r in rows))
            rows = [r for r in rows if r.channel in allowed]
        ours = {r.indexed_asset_id for r in rows} - self._settled
        if not ours:
            return 0
        try:
            waiting = self._client.indexes.indexed_assets.list(
                index_id, statuses=PENDING_STATUSES, max_pages=2
            )
            pending = {item.id async for item in waiting} & ours
        except tl.TwelveLabsError as exc:
            log.info("could not count videos still being indexed: %s", exc)
            return 0
        self._settled |= ours - pending  # indexed (or failed) for good: never asked again
        return len(pending)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)


def _filter(scope: Scope, cursor: Cursor) -> dict[str, Any]:
    """Narrowed at TwelveLabs: to the workspace, and to one conversation for `in:#channel`."""
    condition: dict[str, Any] = {}
    if scope.team_id:
        condition[KEY_TEAM] = scope.team_id
    if cursor.channel:
        condition[KEY_CHANNEL] = cursor.channel
    return condition


def _origin_of(job: Job) -> Origin:
    ts = job.slack.source_ts or job.slack.thread_ts
    return Origin(job.slack.team_id, job.slack.channel, ts, job.id)


def _hit(
    video: VideoMatch, origin: Origin | None, row: IndexedVideo | None, jobs: dict[str, Job]
) -> Hit | None:
    """The hit, placed by its job when we have it (the store is ours), else by its metadata
    or row; None when nothing places it."""
    job_id = origin.job_id if origin else row.job_id if row else None
    job = jobs.get(job_id) if job_id else None
    if job is not None:
        origin = _origin_of(job)
    elif origin is None and row is not None:
        origin = Origin(row.team_id, row.channel, row.message_ts, row.job_id)
    if origin is None:
        return None
    title = UNTITLED
    if job is not None:
        title = (job.gist.title if job.gist and job.gist.title else None) or job.source.name
    moments = tuple(
        Moment(c.start, c.end, (c.transcription or "").strip() or None)
        for c in video.clips
        if c.start is not None and c.end is not None
    )[:MAX_MOMENTS]
    thumbnail = next((c.thumbnail_url for c in video.clips if c.thumbnail_url), None)
    return Hit(
        video_id=video.video_id,
        rank=video.rank,
        title=title,
        team_id=origin.team_id,
        channel=origin.channel,
        message_ts=origin.message_ts,
        job_id=origin.job_id,
        moments=moments,
        thumbnail_url=thumbnail or (job.thumbnail_url if job else None),
    )
