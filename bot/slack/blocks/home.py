"""The App Home tab (recent gists from the person's conversations, a Search button) and the
search modal, whose results appear inside it. Views are built with `slack_sdk.models.views`,
so Slack's limits are checked before sending."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    PlainTextInputElement,
    PlainTextObject,
)
from slack_sdk.models.views import View

from bot.slack.blocks._base import HEADER_MAX, _context, _link, _md, _plain, _section
from bot.slack.blocks.search import ACTION_SEARCH_MORE, ShownHit, result_blocks, where_label

__all__ = [
    "ACTION_OPEN_SEARCH",
    "QUERY_ACTION",
    "QUERY_BLOCK",
    "SEARCH_MODAL",
    "RecentGist",
    "home_view",
    "search_modal",
]

ACTION_OPEN_SEARCH = "gist_search_open"
SEARCH_MODAL = "gist_search_modal"
QUERY_BLOCK, QUERY_ACTION = "query", "words"
QUERY_INPUT_MAX = 1500  # as the search service accepts


@dataclass(frozen=True)
class RecentGist:
    title: str
    channel: str
    kind: str | None  # public, private, im, mpim
    permalink: str | None
    at: float  # when it was done (Unix seconds)


def _date(at: float) -> str:
    """Slack's date token (shown in the reader's time zone), with a plain fallback."""
    if not math.isfinite(at) or at <= 0:
        return ""
    seconds = int(at)
    return f"<!date^{seconds}^{{date_short_pretty}} {{time}}|recently>"


def home_view(recent: Sequence[RecentGist], *, note: str | None = None) -> dict[str, Any]:
    """The Home tab: what gistbot is, the Search button, the person's recent gists."""
    search = ButtonElement(
        text=PlainTextObject(text="Search videos"),
        action_id=ACTION_OPEN_SEARCH,
        value="open",
        style="primary",
    )
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text="gistbot")),
        _section(
            "Titles, topics and hashtags for the videos your team shares, and a search over "
            "them: what is shown or said in them, with the moment and a link to the message."
        ),
        ActionsBlock(elements=[search]),
        DividerBlock(),
        _section("*Your recent gists*"),
    ]
    if note:
        blocks.append(_context(_md(note, 500)))
    for gist in recent:
        title = _md(gist.title, HEADER_MAX) or "Untitled video"
        where = where_label(gist.channel, gist.kind)
        text = f"*{_link(gist.permalink, title)}*" + (f"  ·  in {where}" if where else "")
        blocks.append(_section(text))
        when = _date(gist.at)
        if when:
            blocks.append(_context(when))
    if not recent:
        blocks.append(
            _context(
                "No gists yet in your conversations. Post a video (or a link to one) where "
                "gistbot is a member, or DM it one."
            )
        )
    return View(type="home", blocks=blocks[:100]).to_dict()


def search_modal(
    query: str = "",
    *,
    shown: Sequence[ShownHit] = (),
    start: int = 1,
    more_value: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """The search modal: the words to search for, then the results (or a note)."""
    words = PlainTextInputElement(
        action_id=QUERY_ACTION,
        initial_value=_plain(query, QUERY_INPUT_MAX) or None,
        placeholder="new onboarding flow",
        max_length=QUERY_INPUT_MAX,
    )
    blocks: list[Block] = [
        InputBlock(
            block_id=QUERY_BLOCK,
            label="What is shown or said in the video",
            element=words,
            hint="Add in:#channel to look in one conversation.",
        )
    ]
    if note:
        blocks.append(_section(_md(note, 2000, multiline=True)))
    if shown:
        blocks.append(DividerBlock())
        blocks += result_blocks(shown, start=start)
        blocks.append(_context(f"Showing {start}–{start + len(shown) - 1}"))
    if more_value:
        label = PlainTextObject(text="More results")
        more = ButtonElement(text=label, action_id=ACTION_SEARCH_MORE, value=more_value)
        blocks.append(ActionsBlock(elements=[more]))
    view = View(
        type="modal",
        callback_id=SEARCH_MODAL,
        title=PlainTextObject(text="Search videos"),
        submit=PlainTextObject(text="Search"),
        close=PlainTextObject(text="Close"),
        blocks=blocks,
    )
    return view.to_dict()
