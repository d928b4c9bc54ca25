"""``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``, ``chat.delete`` and
``chat.getPermalink``, and what the bot posted."""

from __future__ import annotations

import time

from .core import ApiMethod, SlackCore, SlackError, flag, text_of
from .models import JSONDict, Message, MessageVersion


class ChatApi(SlackCore):
    def _chat_methods(self) -> dict[str, ApiMethod]:
        return {
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
        }

    # ------------------------------------------------------------------ inspection

    def messages(self, channel: str) -> list[Message]:
        """Current state of every message the bot posted in ``channel`` (deleted ones too)."""
        with self._lock:
            found = [m for (ch, _), m in self._messages.items() if ch == channel]
            return [self._copy_message(m) for m in sorted(found, key=lambda m: float(m.ts))]

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """Bot messages posted as replies in the thread ``thread_ts`` (the parent excluded)."""
        return [m for m in self.messages(channel) if m.thread_ts == thread_ts]

    def message(self, channel: str, ts: str) -> Message | None:
        """One bot message by its ts, or None."""
        with self._lock:
            m = self._messages.get((channel, ts))
            return None if m is None else self._copy_message(m)

    def ephemerals(self, channel: str) -> list[JSONDict]:
        """Parameters of each ``chat.postEphemeral`` in ``channel`` (plus ``message_ts``)."""
        with self._lock:
            return [dict(e) for e in self._ephemerals if e.get("channel") == channel]

    # ------------------------------------------------------------------ methods

    def _chat_post_message(self, params: JSONDict) -> JSONDict:
        channel = self._channel(params)
        text, blocks, attachments = self._content(params)
        thread_ts = text_of(params.get("thread_ts")) or None
        metadata = params.get("metadata")
        ts = self.next_ts()
        message = Message(
            ts=ts,
            channel=channel,
            thread_ts=thread_ts,
            text=text or "",
            blocks=blocks,
            attachments=attachments,
            metadata=metadata if isinstance(metadata, dict) else None,
            user=self.bot_user_id,
            bot_id=self.bot_id,
            reply_broadcast=flag(params.get("reply_broadcast")),
            unfurl_links=None if "unfurl_links" not in params else flag(params["unfurl_links"]),
            unfurl_media=None if "unfurl_media" not in params else flag(params["unfurl_media"]),
        )
        self._messages[(channel, ts)] = message
        return {
            "channel": channel,
            "ts": ts,
            "message": message.to_slack(self.team_id, self.app_id),
        }

    def _chat_update(self, params: JSONDict) -> JSONDict:
        message = self._bot_message(params)
        text, blocks, attachments = self._content(params)
        message.edits.append(
            MessageVersion(
                text=message.text,
                blocks=message.blocks,
                attachments=message.attachments,
                time=message.updated_at or message.posted_at,
            )
        )
        if text is not None:
            message.text = text
        if "blocks" in params:
            message.blocks = blocks or None
        if "attachments" in params:
            message.attachments = attachments or None
        if isinstance(params.get("metadata"), dict):
            message.metadata = params["metadata"]
        message.updated_at = time.time()
        return {
            "channel": message.channel,
            "ts": message.ts,
            "text": message.text,
            "message": message.to_slack(self.team_id, self.app_id),
        }

    def _chat_post_ephemeral(self, params: JSONDict) -> JSONDict:
        self._channel(params)
        user = params.get("user")
        if not isinstance(user, str) or not user:
            raise SlackError("user_not_found")
        self._content(params)
        ts = self.next_ts()
        self._ephemerals.append({**params, "message_ts": ts})
        return {"message_ts": ts}

    def _chat_delete(self, params: JSONDict) -> JSONDict:
        message = self._bot_message(params)
        message.deleted = True
        message.updated_at = time.time()
        return {"channel": message.channel, "ts": message.ts}

    def _chat_get_permalink(self, params: JSONDict) -> JSONDict:
        channel = self._channel(params, membership=False)
        ts = params.get("message_ts")
        if not isinstance(ts, str) or not ts:
            raise SlackError("message_not_found")
        permalink = f"{self.base_url}archives/{channel}/p{ts.replace('.', '')}"
        return {"channel": channel, "permalink": permalink}
