"""Modals: `views.open` (with a single-use `trigger_id`) and `views.update` (by `view_id` or
`external_id`, optionally guarded by `hash`), checked as Slack checks them.

    view = fake.modals.current(view_id)     # what the person sees now
    fake.modals.opened                      # every views.open, oldest first
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .blocks import VIEW_MAX_BLOCKS

if TYPE_CHECKING:
    from .server import FakeSlack

JSONDict = dict[str, Any]
Handler = Callable[[JSONDict], JSONDict]
BlocksCheck = Callable[..., list[JSONDict]]

TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000


class FakeModals:
    """Hooked into `FakeSlack` (its `modals`); answers with the server's lock held."""

    def __init__(self, fake: FakeSlack, error: Callable[[str], Exception]) -> None:
        self._fake = fake
        self._lock: threading.RLock = fake._lock
        self._error = error
        self._check_blocks: BlocksCheck = fake._blocks  # Slack's block checks, as for messages
        self._used_triggers: set[str] = set()
        self._views: dict[str, JSONDict] = {}
        self.opened: list[JSONDict] = []
        self.updates: list[JSONDict] = []

    def current(self, view_id: str) -> JSONDict | None:
        with self._lock:
            view = self._views.get(view_id)
            return None if view is None else dict(view)

    def clear(self) -> None:
        with self._lock:
            self._used_triggers.clear()
            self._views.clear()
            self.opened.clear()
            self.updates.clear()

    def methods(self) -> dict[str, Handler]:
        return {"views.open": self._views_open, "views.update": self._views_update}

    # -- Web API methods (called with the lock held) ------------------------------------
    def _views_open(self, params: JSONDict) -> JSONDict:
        trigger = params.get("trigger_id")
        if not isinstance(trigger, str) or not trigger:
            raise self._error("invalid_trigger_id")
        if trigger in self._used_triggers:
            raise self._error("exchanged_trigger_id")
        view = self._checked(params.get("view"))
        self._used_triggers.add(trigger)
        shown = self._stored(view, f"V{secrets.token_hex(5).upper()}")
        self.opened.append(shown)
        return {"view": shown}

    def _views_update(self, params: JSONDict) -> JSONDict:
        view_id, external = params.get("view_id"), params.get("external_id")
        current = self._views.get(view_id) if isinstance(view_id, str) else None
        if current is None and isinstance(external, str):
            current = next((v for v in self._views.values() if v["external_id"] == external), None)
        if current is None:
            raise self._error("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            raise self._error("hash_conflict")
        view = self._checked(params.get("view"))
        shown = self._stored(view, current["id"])
        self.updates.append(shown)
        return {"view": shown}

    def _checked(self, view: Any) -> JSONDict:
        if not isinstance(view, dict) or view.get("type") != "modal":
            raise self._error("invalid_arguments")
        title = view.get("title")
        for key in ("title", "submit", "close"):
            part = view.get(key)
            if part is None and key != "title":
                continue
            text = part.get("text") if isinstance(part, dict) else None
            if not isinstance(part, dict) or part.get("type") != "plain_text" or not text:
                raise self._error("invalid_arguments")
            if len(text) > TITLE_MAX:
                raise self._error("invalid_arguments")
        if title is None:
            raise self._error("invalid_arguments")
        if len(str(view.get("private_metadata", ""))) > PRIVATE_METADATA_MAX:
            raise self._error("invalid_arguments")
        self._check_blocks(view.get("blocks", []), max_blocks=VIEW_MAX_BLOCKS)
        return view

    def _stored(self, view: JSONDict, view_id: str) -> JSONDict:
        shown: JSONDict = {
            "id": view_id,
            "team_id": self._fake.team_id,
            "type": "modal",
            "title": view["title"],
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "hash": secrets.token_hex(8),
            "app_id": self._fake.app_id,
            "state": {"values": {}},
        }
        self._views[view_id] = shown
        return shown
