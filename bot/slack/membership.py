"""Who may see which conversation, asked of Slack with its documented methods and kept briefly.

- `users.conversations(user=…, types=all four)`: a person's conversations that the app can see
  too, with their kind and name. One listing per person per `ttl_s`; it answers most questions.
- `conversations.members(channel)`: only when that listing was cut short (someone in more
  conversations than `MAX_PAGES` pages hold), for the conversations it didn't reach.
- `conversations.info(channel)`: a conversation's kind, for one the person's listing lacks.

Anything Slack won't tell (a private conversation the bot is not in: `channel_not_found`)
counts as not visible: when in doubt, nobody sees it. A failed listing raises
`MembershipUnavailable` instead of being taken for "member of nothing".
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from cachetools import TTLCache
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.transient import slack_error_code

log = logging.getLogger(__name__)

Kind = Literal["public", "private", "im", "mpim"]
ALL_TYPES = "public_channel,private_channel,mpim,im"
PAGE_LIMIT = 200
MAX_PAGES = 10  # 2000 conversations listed per person; beyond that, conversations.members
CACHE_SIZE = 10_000


class MembershipUnavailable(Exception):
    """Slack didn't say which conversations a person is in (after its retries)."""


@dataclass(frozen=True)
class Conversation:
    id: str
    kind: Kind
    name: str | None = None
    shared: bool = False  # shared with another workspace or organisation (Slack Connect)

    @classmethod
    def from_slack(cls, doc: dict[str, Any]) -> Conversation:
        kind: Kind
        if doc.get("is_im"):
            kind = "im"
        elif doc.get("is_mpim"):
            kind = "mpim"
        elif doc.get("is_private") or doc.get("is_group"):
            kind = "private"
        else:
            kind = "public"
        name = doc.get("name")
        shared = bool(doc.get("is_ext_shared") or doc.get("is_shared") or doc.get("is_org_shared"))
        return cls(str(doc["id"]), kind, str(name) if name else None, shared)


@dataclass(frozen=True)
class Conversations:
    """A person's conversations (that the app can see too), by id."""

    by_id: dict[str, Conversation]
    complete: bool  # False: more than MAX_PAGES pages; others may exist

    def named(self, name: str) -> Conversation | None:
        wanted = name.lstrip("#").lower()
        return next((c for c in self.by_id.values() if (c.name or "").lower() == wanted), None)


class Membership:
    def __init__(self, client: AsyncWebClient, *, ttl_s: float = 60.0) -> None:
        self._client = client
        ttl = max(ttl_s, 1e-6)  # 0 disables reuse
        self._mine: TTLCache[str, Conversations] = TTLCache(maxsize=CACHE_SIZE, ttl=ttl)
        self._members: TTLCache[str, frozenset[str]] = TTLCache(maxsize=CACHE_SIZE, ttl=ttl)
        self._info: TTLCache[str, Conversation | None] = TTLCache(maxsize=CACHE_SIZE, ttl=ttl)

    async def conversations(self, user: str) -> Conversations:
        """Every conversation of `user` the app can see (public and private channels, DMs,
        group DMs). Raises MembershipUnavailable when Slack won't list them."""
        cached = self._mine.get(user)
        if cached is not None:
            return cached
        found: dict[str, Conversation] = {}
        cursor = ""
        complete = False
        try:
            for _ in range(MAX_PAGES):
                resp = await self._client.users_conversations(
                    user=user, types=ALL_TYPES, limit=PAGE_LIMIT, cursor=cursor or None
                )
                for doc in resp.get("channels") or []:
                    conversation = Conversation.from_slack(doc)
                    found[conversation.id] = conversation
                cursor = str((resp.get("response_metadata") or {}).get("next_cursor") or "")
                if not cursor:
                    complete = True
                    break
        except SlackApiError as exc:
            raise MembershipUnavailable(f"users.conversations: {slack_error_code(exc)}") from exc
        except Exception as exc:  # transport trouble after the client's retries
            raise MembershipUnavailable(f"users.conversations: {type(exc).__name__}") from exc
        mine = Conversations(found, complete)
        self._mine[user] = mine
        return mine

    async def visible(
        self, user: str, channels: Collection[str], mine: Conversations | None = None
    ) -> frozenset[str]:
        """Those of `channels` that `user` is a member of (`mine`: their conversations, as
        just listed; one listing serves a whole search)."""
        mine = mine or await self.conversations(user)
        ok = {c for c in channels if c in mine.by_id}
        if not mine.complete:
            for channel in set(channels) - ok:
                if user in await self.members(channel):
                    ok.add(channel)
        return frozenset(ok)

    async def members(self, channel: str) -> frozenset[str]:
        """The conversation's members; empty when Slack won't say (fail closed)."""
        cached = self._members.get(channel)
        if cached is not None:
            return cached
        members: set[str] = set()
        cursor = ""
        try:
            for _ in range(MAX_PAGES * 5):
                resp = await self._client.conversations_members(
                    channel=channel, limit=PAGE_LIMIT, cursor=cursor or None
                )
                members.update(str(m) for m in resp.get("members") or [])
                cursor = str((resp.get("response_metadata") or {}).get("next_cursor") or "")
                if not cursor:
                    break
        except SlackApiError as exc:
            log.info("members of %s unknown: %s", channel, slack_error_code(exc))
            return frozenset()  # not remembered: a passing error shouldn't stick
        result = frozenset(members)
        self._members[channel] = result
        return result

    async def info(self, channel: str) -> Conversation | None:
        """The conversation's kind and name; None when Slack won't say."""
        if channel in self._info:
            return self._info[channel]
        try:
            resp = await self._client.conversations_info(channel=channel)
        except SlackApiError as exc:
            log.info("conversation %s unknown: %s", channel, slack_error_code(exc))
            return None
        found = Conversation.from_slack(dict(resp.get("channel") or {"id": channel}))
        self._info[channel] = found
        return found
