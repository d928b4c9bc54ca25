"""``reactions.add`` and ``reactions.remove``, and the bot's reactions."""

from __future__ import annotations

import re

from .core import ApiMethod, SlackCore, SlackError
from .models import JSONDict

_EMOJI_NAME = re.compile(r"^[a-z0-9_+'\-]+(::skin-tone-[2-6])?$")


class ReactionsApi(SlackCore):
    def _reactions_methods(self) -> dict[str, ApiMethod]:
        return {"reactions.add": self._reactions_add, "reactions.remove": self._reactions_remove}

    def reactions(self, channel: str, ts: str) -> set[str]:
        """Reactions the bot currently has on the message ``ts``."""
        with self._lock:
            return set(self._reactions.get((channel, ts), set()))

    def _reaction_target(self, params: JSONDict) -> tuple[str, str, str]:
        if "channel" not in params or not params.get("timestamp"):
            raise SlackError("no_item_specified")
        name = params.get("name")
        if not isinstance(name, str) or not _EMOJI_NAME.match(name):
            raise SlackError("invalid_name")
        channel = self._channel(params)
        ts = str(params["timestamp"])
        known = self._messages.get((channel, ts))
        if known is not None and known.deleted:
            raise SlackError("message_not_found")
        return channel, ts, name

    def _reactions_add(self, params: JSONDict) -> JSONDict:
        channel, ts, name = self._reaction_target(params)
        current = self._reactions.setdefault((channel, ts), set())
        if name in current:
            raise SlackError("already_reacted")
        current.add(name)
        return {}

    def _reactions_remove(self, params: JSONDict) -> JSONDict:
        channel, ts, name = self._reaction_target(params)
        current = self._reactions.get((channel, ts), set())
        if name not in current:
            raise SlackError("no_reaction")
        current.discard(name)
        return {}
