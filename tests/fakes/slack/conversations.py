"""``conversations.join``, ``.info``, ``.replies`` and ``.history``, and the users' messages a
test registers so a thread has its parent."""

from __future__ import annotations

from .core import ApiMethod, SlackCore, SlackError, flag, text_of
from .models import JSONDict, Message


def _limited(out: list[JSONDict], params: JSONDict) -> list[JSONDict]:
    limit = params.get("limit")
    if limit is not None and str(limit).isdigit() and int(limit) > 0:
        return out[: int(limit)]
    return out


class ConversationsApi(SlackCore):
    def _conversations_methods(self) -> dict[str, ApiMethod]:
        return {
            "conversations.join": self._conversations_join,
            "conversations.info": self._conversations_info,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
        }

    def add_user_message(self, channel: str, message: JSONDict) -> None:
        """Register a user's message (e.g. a driver-built event) so conversations.replies
        can return it as a thread parent."""
        with self._lock:
            self._user_messages[(channel, str(message["ts"]))] = dict(message)

    def _channel_object(self, channel: str) -> JSONDict:
        kind = channel[:1]
        return {
            "id": channel,
            "name": f"channel-{channel.lower()}",
            "name_normalized": f"channel-{channel.lower()}",
            "is_channel": kind == "C",
            "is_group": kind == "G",
            "is_im": kind == "D",
            "is_mpim": False,
            "is_private": kind in ("G", "D"),
            "is_archived": False,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": channel not in self.not_in_channel,
            "created": 1_600_000_000,
            "creator": "U123",
            "context_team_id": self.team_id,
        }

    def _listed(self, message: Message, with_meta: bool) -> JSONDict:
        """A bot message as conversations.* list it (`metadata` only when asked for)."""
        item = message.to_slack(self.team_id, self.app_id)
        if with_meta and message.metadata:
            item["metadata"] = message.metadata
        return item

    def _conversations_join(self, params: JSONDict) -> JSONDict:
        channel = self._channel(params, membership=False)
        if channel[:1] != "C":
            raise SlackError("method_not_supported_for_channel_type")
        was_member = channel not in self.not_in_channel
        self.not_in_channel.discard(channel)
        out: JSONDict = {"channel": self._channel_object(channel)}
        if was_member:
            out["warning"] = "already_in_channel"
            out["response_metadata"] = {"warnings": ["already_in_channel"]}
        return out

    def _conversations_info(self, params: JSONDict) -> JSONDict:
        channel = self._channel(params, membership=False)
        if channel[:1] in ("G", "D") and channel in self.not_in_channel:
            raise SlackError("channel_not_found")
        return {"channel": self._channel_object(channel)}

    def _thread_parent(self, channel: str, ts: str) -> JSONDict:
        parent = self._user_messages.get((channel, ts))
        if parent is not None:
            return dict(parent)
        if (channel, ts) in self._messages:
            return self._messages[(channel, ts)].to_slack(self.team_id, self.app_id)
        if any(m.channel == channel and m.thread_ts == ts for m in self._messages.values()):
            # A user's message the test didn't register: Slack knows it, so stand it in.
            return {"type": "message", "ts": ts, "user": "U_UNKNOWN", "text": ""}
        raise SlackError("thread_not_found")

    def _conversations_replies(self, params: JSONDict) -> JSONDict:
        """The thread: its parent (a user message the test registered, or a bot message)
        then the bot's replies, oldest first; `metadata` only with include_all_metadata."""
        channel = self._channel(params)
        ts = text_of(params.get("ts")) or ""
        with_meta = flag(params.get("include_all_metadata", False))
        out = [self._thread_parent(channel, ts)]
        for message in sorted(self._messages.values(), key=lambda m: float(m.ts)):
            if message.channel == channel and message.thread_ts == ts and not message.deleted:
                out.append(self._listed(message, with_meta))
        return {"messages": _limited(out, params), "has_more": False}

    def _conversations_history(self, params: JSONDict) -> JSONDict:
        """Top-level messages in a channel, newest first (the bot's own and registered user
        messages); `metadata` only with include_all_metadata."""
        channel = self._channel(params)
        with_meta = flag(params.get("include_all_metadata", False))
        out = [
            self._listed(message, with_meta)
            for message in self._messages.values()
            if message.channel == channel and message.thread_ts is None and not message.deleted
        ]
        for (ch, _), user_message in self._user_messages.items():
            if ch == channel and not user_message.get("thread_ts"):
                out.append(dict(user_message))
        out.sort(key=lambda m: float(m["ts"]), reverse=True)
        return {"messages": _limited(out, params), "has_more": False}
