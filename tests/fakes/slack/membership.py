"""Who is in which conversation: `conversations.members`, `users.conversations` and
`conversations.info` over conversations a test registers (the four kinds Slack has).

    fake.membership.add("C0PRIV", "private", {"U1", "UBOT"}, name="secret-plans")
    fake.membership.add("D0DM", "im", {"U1", "UBOT"})
    fake.membership.add("G0MPIM", "mpim", {"U1", "U2", "UBOT"})
    fake.membership.leave("C0PRIV", "U1")

As with a bot token on real Slack: a private channel, DM or group DM the bot is not in answers
`channel_not_found`, and `users.conversations` lists another user's non-public conversations
only where the bot is a member too. Conversations nobody registered fall back to the server's
own `conversations.info` (a public channel, by its id's first letter) and are in nobody's list.
Lists page with `limit` and an opaque `cursor`, as Slack's do.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import FakeSlack

JSONDict = dict[str, Any]
Handler = Callable[[JSONDict], JSONDict]

KINDS = {"public": "public_channel", "private": "private_channel", "im": "im", "mpim": "mpim"}
DEFAULT_LIMIT = 100


@dataclass
class Conversation:
    id: str
    kind: str  # public | private | im | mpim
    members: set[str]
    name: str | None = None
    archived: bool = False
    shared: bool = False  # Slack Connect: shared with another organisation
    created: int = 1_600_000_000
    history: list[str] = field(default_factory=list)  # membership changes, oldest first

    def as_object(self, bot_user_id: str, team_id: str) -> JSONDict:
        out: JSONDict = {
            "id": self.id,
            "created": self.created,
            "is_archived": self.archived,
            "is_channel": self.kind in ("public", "private"),
            "is_group": False,
            "is_im": self.kind == "im",
            "is_mpim": self.kind == "mpim",
            "is_private": self.kind != "public",
            "is_shared": self.shared,
            "is_ext_shared": self.shared,
            "context_team_id": team_id,
        }
        if self.kind == "im":
            others = sorted(self.members - {bot_user_id})
            out["user"] = others[0] if others else bot_user_id
            out["is_user_deleted"] = False
        else:
            name = self.name or f"{self.kind}-{self.id.lower()}"
            if self.kind == "mpim":
                name = "mpdm-" + "--".join(sorted(self.members - {bot_user_id})) + "-1"
            out |= {"name": name, "name_normalized": name, "is_member": bot_user_id in self.members}
            out["num_members"] = len(self.members)
        return out


class FakeMembership:
    """Hooked into `FakeSlack` (its `membership`); answers with the server's lock held."""

    def __init__(self, fake: FakeSlack, error: Callable[[str], Exception]) -> None:
        self._fake = fake
        self._lock: threading.RLock = fake._lock
        self._error = error
        self._fallback_info: Handler = fake._conversations_info  # unregistered conversations
        self.conversations: dict[str, Conversation] = {}

    def _bot(self) -> str:
        return self._fake.bot_user_id

    def _team(self) -> str:
        return self._fake.team_id

    # -- test set-up --------------------------------------------------------------------
    def add(
        self,
        conversation_id: str,
        kind: str,
        members: set[str] | frozenset[str] | list[str],
        *,
        name: str | None = None,
        archived: bool = False,
        shared: bool = False,
    ) -> None:
        """Register a conversation of `kind` (public, private, im, mpim) and its members
        (include the bot's user id where the bot is a member); `shared`: with another
        organisation (Slack Connect)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}")
        with self._lock:
            self.conversations[conversation_id] = Conversation(
                conversation_id, kind, set(members), name=name, archived=archived, shared=shared
            )

    def join(self, conversation_id: str, user: str) -> None:
        with self._lock:
            conversation = self.conversations[conversation_id]
            conversation.members.add(user)
            conversation.history.append(f"+{user}")

    def leave(self, conversation_id: str, user: str) -> None:
        with self._lock:
            conversation = self.conversations[conversation_id]
            conversation.members.discard(user)
            conversation.history.append(f"-{user}")

    def members_of(self, conversation_id: str) -> set[str]:
        with self._lock:
            return set(self.conversations[conversation_id].members)

    def clear(self) -> None:
        with self._lock:
            self.conversations.clear()

    # -- Web API methods (called with the lock held) ------------------------------------
    def methods(self) -> dict[str, Handler]:
        return {
            "conversations.members": self._conversations_members,
            "users.conversations": self._users_conversations,
            "conversations.info": self._conversations_info,
        }

    def _visible_to_bot(self, params: JSONDict) -> Conversation:
        channel = params.get("channel")
        conversation = self.conversations.get(channel) if isinstance(channel, str) else None
        if conversation is None:
            raise self._error("channel_not_found")
        if conversation.kind != "public" and self._bot() not in conversation.members:
            raise self._error("channel_not_found")
        return conversation

    def _conversations_members(self, params: JSONDict) -> JSONDict:
        conversation = self._visible_to_bot(params)
        members, next_cursor = _page(sorted(conversation.members), params, self._error)
        return {"members": members, "response_metadata": {"next_cursor": next_cursor}}

    def _users_conversations(self, params: JSONDict) -> JSONDict:
        user = params.get("user") or self._bot()
        types = str(params.get("types") or "public_channel").split(",")
        unknown = [t for t in types if t.strip() not in KINDS.values()]
        if unknown:
            raise self._error("invalid_types")
        wanted = {kind for kind, name in KINDS.items() if name in {t.strip() for t in types}}
        skip_archived = str(params.get("exclude_archived", "false")).lower() in ("true", "1")
        bot = self._bot()
        found = [
            c
            for c in sorted(self.conversations.values(), key=lambda c: c.id)
            if c.kind in wanted
            and user in c.members
            and (c.kind == "public" or bot in c.members)
            and not (skip_archived and c.archived)
        ]
        page, next_cursor = _page(found, params, self._error)
        return {
            "channels": [c.as_object(bot, self._team()) for c in page],
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_info(self, params: JSONDict) -> JSONDict:
        channel = params.get("channel")
        if not isinstance(channel, str) or channel not in self.conversations:
            return self._fallback_info(params)
        conversation = self._visible_to_bot(params)
        return {"channel": conversation.as_object(self._bot(), self._team())}


def _page(
    items: list[Any], params: JSONDict, error: Callable[[str], Exception]
) -> tuple[list[Any], str]:
    """One page of `items` per Slack's cursor paging: `limit` (default 100, at most 1000)."""
    try:
        limit = int(params.get("limit") or DEFAULT_LIMIT)
        raw = str(params.get("cursor") or "")
        start = int(base64.b64decode(raw).decode().removeprefix("offset:")) if raw else 0
    except ValueError:
        raise error("invalid_cursor") from None
    limit = max(1, min(limit, 1000))
    end = start + limit
    next_cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], next_cursor
