"""Search results as Block Kit: each video with its title (linked to the message that shared
it), where it was shared, its best moments as `m:ss–m:ss` with the words spoken there, and a
thumbnail; "More results" and "Share in channel" buttons carry the search in their values.

Only hits the person may see ever reach these builders; they never show a total count."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ImageElement,
    PlainTextObject,
)

from bot.search.models import Hit, Moment
from bot.slack.blocks._base import (
    BUTTON_VALUE_MAX,
    HEADER_MAX,
    SECTION_MAX,
    Message,
    _context,
    _duration,
    _fallback,
    _image_url,
    _link,
    _md,
    _mention,
    _plain,
    _section,
    _slack_len,
)

__all__ = [
    "ACTION_SEARCH_MORE",
    "ACTION_SEARCH_SHARE",
    "ShownHit",
    "result_blocks",
    "search_results_message",
    "where_label",
]

ACTION_SEARCH_MORE = "gist_search_more"
ACTION_SEARCH_SHARE = "gist_search_share"
SPOKEN_MAX = 160  # the words of one moment
QUERY_MAX = 100  # the query as echoed
_CONVERSATION_ID = re.compile(r"[CGD][A-Z0-9]{1,40}")


@dataclass(frozen=True)
class ShownHit:
    """A hit as shown: the permalink of its message and the kind of conversation it is in
    (public, private, im, mpim; None when unknown)."""

    hit: Hit
    permalink: str | None = None
    kind: str | None = None


def where_label(channel: str, kind: str | None) -> str:
    """Where a video was shared, as mrkdwn: a channel mention (Slack shows its name to those
    who may see it), or "a direct message" / "a group DM"."""
    if kind == "im":
        return "a direct message"
    if kind == "mpim":
        return "a group DM"
    if _CONVERSATION_ID.fullmatch(channel):
        return f"<#{channel}>"
    return ""


def _moment(moment: Moment) -> str:
    start, end = _duration(moment.start), _duration(moment.end)
    if start is None or end is None:
        return ""
    line = f"`{start}–{end}`"
    if moment.text:
        line += f" “{_md(moment.text, SPOKEN_MAX)}”"
    return line


def _hit_text(number: int, shown: ShownHit) -> str:
    title = _md(shown.hit.title, HEADER_MAX) or "Untitled video"
    head = f"*{number}. {_link(shown.permalink, title)}*"
    where = where_label(shown.hit.channel, shown.kind)
    if where:
        head += f"  ·  in {where}"
    lines = [head] + [m for m in (_moment(m) for m in shown.hit.moments) if m]
    text = "\n".join(lines)
    return text if _slack_len(text) <= SECTION_MAX else head


def result_blocks(
    shown: Sequence[ShownHit], *, start: int, include_thumbnails: bool = True
) -> list[Block]:
    """One section per video, numbered from `start`, best first."""
    out: list[Block] = []
    for i, item in enumerate(shown):
        thumb = _image_url(item.hit.thumbnail_url) if include_thumbnails else None
        alt = _plain(f"Thumbnail of {item.hit.title}", 200) or "Thumbnail"
        accessory = ImageElement(image_url=thumb, alt_text=alt) if thumb else None
        out.append(_section(_hit_text(start + i, item), accessory=accessory))
    return out


def _button(text: str, action_id: str, value: str | None) -> ButtonElement | None:
    if not value or len(value) > BUTTON_VALUE_MAX:
        return None
    return ButtonElement(text=PlainTextObject(text=text), action_id=action_id, value=value)


def search_results_message(
    query: str,
    shown: Sequence[ShownHit],
    *,
    start: int = 1,
    more_value: str | None = None,
    share_value: str | None = None,
    pending_note: str | None = None,
    shared_by: str | None = None,
    include_thumbnails: bool = True,
) -> Message:
    """A page of results (numbered from `start`), a "Showing a–b" line (never a total), an
    optional note (videos still being indexed) and the buttons whose values are given."""
    query_md = _md(query, QUERY_MAX) or "…"
    intro = f":mag: Videos for “{query_md}”"
    who = _mention(shared_by)
    if who:
        intro += f", shared by {who}"
    blocks: list[Block] = [_context(intro)]
    blocks += result_blocks(shown, start=start, include_thumbnails=include_thumbnails)
    footer = [f"Showing {start}–{start + len(shown) - 1}"] if shown else []
    if pending_note:
        footer.append(_md(pending_note, 300))
    if footer:
        blocks.append(_context(" · ".join(footer)))
    buttons = [
        b
        for b in (
            _button("More results", ACTION_SEARCH_MORE, more_value),
            _button("Share in channel", ACTION_SEARCH_SHARE, share_value),
        )
        if b is not None
    ]
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    titles = "; ".join(f"{start + i}. {_plain(s.hit.title, 80)}" for i, s in enumerate(shown))
    fallback = f"Videos for “{_plain(query, QUERY_MAX)}”: {titles}"
    return Message(text=_fallback(fallback), blocks=blocks)
