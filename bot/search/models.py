"""What a search gives back (`Outcome`: its `Hit`s, best first) and where the next page starts
(`Cursor`, small enough to ride in a Slack button's value: a search needs no server state)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

__all__ = ["CURSOR_MAX", "Cursor", "Hit", "Moment", "Outcome", "Status"]

CURSOR_MAX = 2000  # Slack's limit on a button value


@dataclass(frozen=True)
class Moment:
    """A matching stretch of a video (seconds), with the words spoken there when known."""

    start: float
    end: float
    text: str | None = None


@dataclass(frozen=True)
class Hit:
    """One video that matched, mapped back to the Slack message that shared it."""

    video_id: str  # the indexed asset
    rank: float  # 1 = best
    title: str  # the gist's title, else the file name
    team_id: str
    channel: str
    message_ts: str | None  # None: the answer went through response_url (no message)
    job_id: str | None
    moments: tuple[Moment, ...] = ()
    thumbnail_url: str | None = None


@dataclass(frozen=True)
class Cursor:
    """Where a page of results starts: the search itself, and the resume point.

    `token` names the TwelveLabs page holding the resume point (None: the first page, which
    only a new `POST /search` gives); `at` is how many of that page's videos come before it;
    `pos` is the same point counted from the very first video (to walk there again should the
    token have expired). `shown` is how many results earlier pages showed (for numbering).
    """

    query: str
    channel: str | None = None  # in:#channel
    token: str | None = None
    at: int = 0
    pos: int = 0
    shown: int = 0

    @property
    def first_page(self) -> bool:
        return self.pos == 0

    def to_value(self) -> str:
        """Compact JSON for a button value; without the token when that makes it too long (a
        later page then starts from a new search, walked to `pos`)."""
        short: dict[str, str | int | None] = {"q": self.query, "c": self.channel}
        short |= {"t": self.token, "a": self.at, "p": self.pos, "s": self.shown}
        value = json.dumps({k: v for k, v in short.items() if v}, separators=(",", ":"))
        if len(value) > CURSOR_MAX and self.token:
            return replace(self, token=None, at=self.pos).to_value()
        return value

    @classmethod
    def from_value(cls, value: str) -> Cursor | None:
        try:
            doc = json.loads(value)
            cursor = cls(
                query=str(doc["q"]),
                channel=_str_or_none(doc.get("c")),
                token=_str_or_none(doc.get("t")),
                at=int(doc.get("a", 0)),
                pos=int(doc.get("p", 0)),
                shown=int(doc.get("s", 0)),
            )
        except (ValueError, TypeError, KeyError):
            return None
        return cursor if min(cursor.at, cursor.pos, cursor.shown) >= 0 else None


def _str_or_none(value: Any) -> str | None:
    return str(value) if value else None


class Status(StrEnum):
    OK = "ok"  # hits (maybe fewer than a page)
    NOTHING = "nothing"  # searched; nothing this person may see matched
    DISABLED = "disabled"  # GIST_INDEX_ENABLED=false
    NO_INDEX = "no_index"  # the index doesn't exist (nothing indexed yet, or it was deleted)
    EMPTY = "empty"  # the index holds no searchable video yet
    TOO_LONG = "too_long"  # the query is over TwelveLabs' limit
    BUSY = "busy"  # rate limited, after retries
    UNAVAILABLE = "unavailable"  # TwelveLabs failed otherwise


@dataclass(frozen=True)
class Outcome:
    status: Status
    hits: tuple[Hit, ...] = ()
    next: Cursor | None = None  # the next page, when there is one this person may see
    pending: int = 0  # this person's videos still being indexed
    cursor: Cursor | None = None  # where this page started
