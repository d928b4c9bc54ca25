"""``views.publish`` (the App Home tab) and the views published."""

from __future__ import annotations

import secrets

from .blocks import VIEW_MAX_BLOCKS
from .core import ApiMethod, SlackCore, SlackError
from .models import JSONDict


class ViewsApi(SlackCore):
    def _views_methods(self) -> dict[str, ApiMethod]:
        return {"views.publish": self._views_publish}

    def views(self, user_id: str) -> list[JSONDict]:
        """Home tab views published for ``user_id``, oldest first."""
        with self._lock:
            return list(self._views.get(user_id, []))

    def _views_publish(self, params: JSONDict) -> JSONDict:
        user_id = params.get("user_id")
        view = params.get("view")
        if not isinstance(user_id, str) or not user_id:
            raise SlackError("invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise SlackError("invalid_arguments")
        blocks = self._blocks(view.get("blocks", []), max_blocks=VIEW_MAX_BLOCKS)
        published: JSONDict = {
            "id": f"V{next(self._view_seq):010d}",
            "team_id": self.team_id,
            "type": "home",
            "blocks": blocks,
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "hash": secrets.token_hex(8),
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }
        self._views.setdefault(user_id, []).append(published)
        return {"view": published}
