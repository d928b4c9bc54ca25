"""Search for a person in Slack: what they asked → what they may see (`membership.py`) → a page
of results with links to the messages → an ephemeral reply, the search modal, a shared list,
or the Home tab. The listeners (`listeners/search.py`, `listeners/home.py`) ack first and hand
the work here, in the background: nothing on the ack path waits on TwelveLabs.

Sharing a list in a channel shows it to everyone there, so a result goes in only if they may
all see where it came from: the same conversation, a public channel (unless the channel is
shared with another organisation), or a conversation whose members include everyone in the
channel. The rest are left out (the person who shares is told how many; they had seen them
already). Guests in the channel are not told apart: a public channel's result is shared with
them too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

from cachetools import LRUCache
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import metrics
from bot.jobs.models import Job
from bot.jobs.store_base import Store
from bot.messages import notice
from bot.search.models import Cursor, Hit, Outcome, Status
from bot.search.service import MAX_QUERY_TOKENS, Scope, SearchService, query_too_long
from bot.settings import Settings
from bot.slack import blocks
from bot.slack.blocks.home import RecentGist, home_view, search_modal
from bot.slack.blocks.search import ShownHit, search_results_message
from bot.slack.commands import SearchQuery, parse_search_query
from bot.slack.membership import Conversations, Membership, MembershipUnavailable
from bot.slack.transport import SlackRetry
from bot.transient import slack_error_code

log = logging.getLogger(__name__)

RECENT_GISTS = 10
_NOTES = {
    Status.DISABLED: "search_disabled",
    Status.NO_INDEX: "search_no_index",
    Status.EMPTY: "search_empty",
    Status.TOO_LONG: "search_too_long",
    Status.BUSY: "search_busy",
    Status.UNAVAILABLE: "search_unavailable",
}


@dataclass
class Results:
    """A page of results as shown to one person, or the sentence that stands in for it."""

    cursor: Cursor
    shown: list[ShownHit] = field(default_factory=list)
    next: Cursor | None = None
    note: str | None = None

    def message(self, *, shareable: bool, thumbnails: bool = True) -> blocks.Message:
        if not self.shown:
            return blocks.notice_message(self.note or notice("search_expired"))
        return search_results_message(
            self.cursor.query,
            self.shown,
            start=self.cursor.shown + 1,
            more_value=self.next.to_value() if self.next else None,
            share_value=self.cursor.to_value() if shareable else None,
            pending_note=self.note,
            include_thumbnails=thumbnails,
        )


def _note(outcome: Outcome) -> str | None:
    cursor = outcome.cursor or Cursor("")
    if outcome.status in _NOTES:
        return notice(_NOTES[outcome.status], limit=MAX_QUERY_TOKENS)
    pending = ""
    if outcome.pending:
        verb = "is" if outcome.pending == 1 else "are"
        pending = notice("search_pending", count=outcome.pending, verb=verb)
    if outcome.status is Status.OK:
        return pending or None
    if not cursor.first_page:
        return notice("search_no_more", query=cursor.query)
    key = "search_nothing_in" if cursor.channel else "search_nothing"
    return " ".join(t for t in (notice(key, query=cursor.query), pending) if t)


class SlackSearch:
    def __init__(
        self, client: AsyncWebClient, service: SearchService, store: Store, settings: Settings
    ) -> None:
        self.client = client
        self.service = service
        self.store = store
        self.membership = Membership(client, ttl_s=settings.gist_search_membership_ttl_s)
        self._retry = SlackRetry.from_settings(settings)
        self._permalinks: LRUCache[tuple[str, str], str] = LRUCache(maxsize=10_000)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- background work ----------------------------------------------------------------
    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run after the ack; a failure is logged, never lost silently."""

        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed", name)

        task = asyncio.create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait for the background work started so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.service.aclose()

    # -- a search for one person ------------------------------------------------------
    async def cursor_for(self, user: str, text: str) -> Cursor | str:
        """The search `text` asks for (the words, `in:#channel` resolved among the person's
        conversations), or the sentence to answer instead."""
        query = parse_search_query(text)
        if not query.words:
            return notice("search_usage")
        if query_too_long(query.words):
            return notice("search_too_long", limit=MAX_QUERY_TOKENS)
        if query.channel_id is None and query.channel_name is None:
            return Cursor(query.words)
        try:
            mine = await self.membership.conversations(user)
            found = mine.by_id.get(query.channel_id or "") or mine.named(query.channel_name or "")
            if found is None and query.channel_id and not mine.complete:
                visible = await self.membership.visible(user, {query.channel_id})
                return Cursor(query.words, query.channel_id) if visible else _not_yours(query)
        except MembershipUnavailable:
            return notice("search_slack_unavailable")
        return Cursor(query.words, found.id) if found else _not_yours(query)

    async def results(self, team: str, user: str, cursor: Cursor) -> Results:
        started = time.monotonic()
        try:
            mine = await self.membership.conversations(user)

            async def visible(channels: frozenset[str]) -> frozenset[str]:
                return await self.membership.visible(user, channels, mine)

            outcome = await self.service.search(Scope(team, visible), cursor)
        except MembershipUnavailable as exc:
            log.info("search for %s: %s", user, exc)
            metrics.searched("slack_unavailable", time.monotonic() - started)
            return Results(cursor, note=notice("search_slack_unavailable"))
        metrics.searched(outcome.status.value, time.monotonic() - started)
        shown = [await self._shown(hit, mine) for hit in outcome.hits]
        return Results(cursor, shown, outcome.next, _note(outcome))

    async def _shown(self, hit: Hit, mine: Conversations) -> ShownHit:
        conversation = mine.by_id.get(hit.channel)
        kind = conversation.kind if conversation else None
        return ShownHit(hit, await self.permalink(hit.channel, hit.message_ts), kind)

    async def permalink(self, channel: str, ts: str | None) -> str | None:
        if not ts:
            return None
        cached = self._permalinks.get((channel, ts))
        if cached is None:
            try:
                resp = await self.client.chat_getPermalink(channel=channel, message_ts=ts)
            except SlackApiError as exc:
                log.info("no permalink for %s/%s: %s", channel, ts, slack_error_code(exc))
                return None
            cached = str(resp.get("permalink") or "") or None
            if cached:
                self._permalinks[(channel, ts)] = cached
        return cached

    # -- replies through response_url -------------------------------------------------
    async def respond(
        self,
        url: str,
        build: Callable[[bool], blocks.Message],
        *,
        replace: bool,
        in_channel: bool = False,
    ) -> None:
        """Post `build(thumbnails)`; once more without thumbnails if Slack refuses the blocks
        (it rejects a whole message when it can't fetch an image)."""
        hook = AsyncWebhookClient(url, timeout=15, retry_handlers=[self._retry])
        for thumbnails in (True, False):
            resp = await hook.send(
                response_type="in_channel" if in_channel else "ephemeral",
                replace_original=replace,
                **build(thumbnails).as_kwargs(),
            )
            if resp.status_code < 400:
                return
            log.warning("response_url answered %s: %s", resp.status_code, resp.body[:200])
            if resp.status_code != 400:
                return

    async def answer(self, team: str, user: str, start: Cursor | str, url: str) -> None:
        """The ephemeral answer to `/gist search` or "More results", replacing the message
        the person clicked or the "Searching…" ack."""
        if isinstance(start, str):
            message = blocks.notice_message(start)
            await self.respond(url, lambda _: message, replace=True)
            return
        results = await self.results(team, user, start)
        await self.respond(
            url, lambda t: results.message(shareable=True, thumbnails=t), replace=True
        )

    async def share(self, team: str, user: str, cursor: Cursor, channel: str, url: str) -> None:
        """Post the page the person sees in `channel`, visibly, without what not everyone
        there may see; tell the person (only) what was left out."""
        results = await self.results(team, user, cursor)
        allowed = [s for s in results.shown if await self._audience_may_see(s, channel)]
        left_out = len(results.shown) - len(allowed)
        if allowed:
            shared = Results(cursor, allowed)

            def build(thumbnails: bool) -> blocks.Message:
                return search_results_message(
                    cursor.query,
                    shared.shown,
                    start=cursor.shown + 1,
                    shared_by=user,
                    include_thumbnails=thumbnails,
                )

            await self.respond(url, build, replace=False, in_channel=True)
        texts = []
        if allowed:
            texts.append(notice("search_shared", count=len(allowed), plural=_s(len(allowed))))
        if left_out and allowed:
            verb = "was" if left_out == 1 else "were"
            texts.append(
                notice("search_share_left_out", count=left_out, plural=_s(left_out), verb=verb)
            )
        elif left_out:
            texts.append(notice("search_share_none"))
        elif not results.shown:
            texts.append(results.note or notice("search_expired"))
        message = blocks.notice_message(" ".join(texts))
        await self.respond(url, lambda _: message, replace=False)

    async def _audience_may_see(self, shown: ShownHit, channel: str) -> bool:
        """Everyone in `channel` may see where the hit came from: it is `channel` itself; or
        a public channel, and `channel` is not shared with another organisation; or every
        member of `channel` is a member of its conversation too. Unknown: no."""
        if shown.hit.channel == channel:
            return True
        if shown.kind == "public":
            target = await self.membership.info(channel)
            if target is not None and not target.shared:
                return True
        audience = await self.membership.members(channel)
        source = await self.membership.members(shown.hit.channel)
        return bool(audience) and audience <= source

    # -- App Home and the search modal ------------------------------------------------
    async def publish_home(self, team: str, user: str) -> None:
        """The Home tab: the person's recent gists from conversations they are in."""
        try:
            mine = await self.membership.conversations(user)
        except MembershipUnavailable:
            view = home_view([], note=notice("search_slack_unavailable"))
        else:
            jobs = await self.store.recent_gists(team, mine.by_id, limit=RECENT_GISTS * 3)
            view = home_view([await self._recent(job, mine) for job in _distinct(jobs)])
        await self.client.views_publish(user_id=user, view=view)

    async def _recent(self, job: Job, mine: Conversations) -> RecentGist:
        ts = job.slack.source_ts or job.slack.thread_ts
        conversation = mine.by_id.get(job.slack.channel)
        title = (job.gist.title if job.gist else None) or job.source.name
        return RecentGist(
            title=title,
            channel=job.slack.channel,
            kind=conversation.kind if conversation else None,
            permalink=await self.permalink(job.slack.channel, ts),
            at=job.finished_at or job.updated_at,
        )

    async def modal_results(self, team: str, user: str, view_id: str, start: Cursor | str) -> None:
        """Put a page of results (or the sentence that stands in for it) in the modal."""
        if isinstance(start, str):
            await self._update_view(view_id, lambda _: search_modal(note=start))
            return
        results = await self.results(team, user, start)

        def build(thumbnails: bool) -> dict[str, Any]:
            shown = results.shown if thumbnails else [_no_thumb(s) for s in results.shown]
            return search_modal(
                start.query,
                shown=shown,
                start=start.shown + 1,
                more_value=results.next.to_value() if results.next else None,
                note=results.note,
            )

        await self._update_view(view_id, build)

    async def _update_view(self, view_id: str, build: Callable[[bool], dict[str, Any]]) -> None:
        try:
            await self.client.views_update(view_id=view_id, view=build(True))
        except SlackApiError as exc:
            if slack_error_code(exc) != "invalid_blocks":
                raise
            await self.client.views_update(view_id=view_id, view=build(False))


def _not_yours(query: SearchQuery) -> str:
    return notice("search_not_yours", name=query.channel_name or query.channel_id)


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _no_thumb(shown: ShownHit) -> ShownHit:
    return replace(shown, hit=replace(shown.hit, thumbnail_url=None))


def _distinct(jobs: list[Job]) -> list[Job]:
    """One entry per shared message (a Regenerate is a new job for the same video)."""
    seen: set[tuple[str, str]] = set()
    out: list[Job] = []
    for job in jobs:
        key = (job.slack.channel, job.slack.source_ts or job.slack.thread_ts or job.id)
        if key not in seen:
            seen.add(key)
            out.append(job)
    return out[:RECENT_GISTS]
