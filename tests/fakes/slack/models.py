"""Records the fake Slack keeps: API calls, bot messages, downloads, response_url posts."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class ApiCall:
    """One Web API request as the fake received and answered it.

    ``params`` merges the query string, the form body and the JSON body; JSON-valued fields
    sent as strings (``blocks``, ``attachments``, ``view``, ``metadata``) are parsed.
    ``headers`` has lower-case names. ``status`` is what the client saw (0: the connection
    was closed unanswered); ``chaos`` names the chaos-mode fault injected, if any (an
    ``after-*`` or ``stall`` call was carried out: ``response`` is what it produced).
    """

    method: str
    params: JSONDict
    headers: dict[str, str]
    status: int
    ok: bool
    error: str | None
    time: float
    http_method: str = "POST"
    token: str | None = None
    response: JSONDict = field(default_factory=dict)
    chaos: str | None = None


@dataclass(frozen=True)
class MessageVersion:
    """An earlier state of a bot message, kept when ``chat.update`` replaces it."""

    text: str
    blocks: list[JSONDict] | None
    attachments: list[JSONDict] | None
    time: float


@dataclass
class Message:
    """Current state of a message the bot posted with ``chat.postMessage``."""

    ts: str
    channel: str
    thread_ts: str | None
    text: str
    blocks: list[JSONDict] | None
    edits: list[MessageVersion] = field(default_factory=list)
    deleted: bool = False
    attachments: list[JSONDict] | None = None
    metadata: JSONDict | None = None
    user: str = ""
    bot_id: str = ""
    reply_broadcast: bool = False
    unfurl_links: bool | None = None
    unfurl_media: bool | None = None
    posted_at: float = field(default_factory=time.time)
    updated_at: float | None = None

    def to_slack(self, team_id: str, app_id: str) -> JSONDict:
        """The message object as Slack returns it from chat.postMessage / chat.update."""
        out: JSONDict = {
            "user": self.user,
            "type": "message",
            "ts": self.ts,
            "bot_id": self.bot_id,
            "app_id": app_id,
            "text": self.text,
            "team": team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": app_id,
                "name": "gistbot",
                "deleted": False,
                "team_id": team_id,
            },
        }
        if self.blocks is not None:
            out["blocks"] = self.blocks
        if self.attachments is not None:
            out["attachments"] = self.attachments
        if self.metadata is not None:
            out["metadata"] = self.metadata
        if self.thread_ts is not None:
            out["thread_ts"] = self.thread_ts
        if self.edits:
            out["edited"] = {"user": self.user, "ts": self.ts}
        return out


@dataclass(frozen=True)
class Download:
    """One GET of a file URL (private, download, or CDN edge hop)."""

    file_id: str
    path: str
    host: str
    kind: str  # "private" | "download" | "edge" | "thumb"
    authorization: str | None
    authorized: bool  # carried the right bot token
    status: int
    content_type: str
    time: float
    range: str | None = None  # the request's Range header, as sent
    bytes_sent: int = 0  # body bytes the fake wrote (fewer than announced on a dropped one)
    chaos: str | None = None  # chaos mode: "5xx" (answered 503) or "mid-body" (cut short)

    @property
    def had_token(self) -> bool:
        """True when the request carried any ``Authorization`` header."""
        return self.authorization is not None


@dataclass
class ResponseUrl:
    """State of one ``response_url`` served by the fake."""

    url: str
    created: float
    channel: str | None = None
    uses: int = 0
    expired: bool = False
    posts: list[JSONDict] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    chaos: list[str] = field(default_factory=list)  # chaos-mode faults on posts, oldest first
