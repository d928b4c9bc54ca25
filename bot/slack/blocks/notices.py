"""Errors, notices, help and usage, as Block Kit."""

from __future__ import annotations

import math

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.slack.blocks._base import (
    ACTION_RETRY,
    BUTTON_VALUE_MAX,
    NAME_MAX,
    SECTION_MAX,
    Message,
    _context,
    _fallback,
    _md,
    _mention,
    _plain,
    _section,
    _slack_len,
)

# --------------------------------------------------------------------------------------------
# Errors, notices, help, usage
# --------------------------------------------------------------------------------------------


def error_message(
    *,
    headline: str,
    detail: str,
    source_name: str | None = None,
    job_id: str | None = None,
    retryable: bool = False,
) -> Message:
    """An error: ":x: *headline*" and what to do; a "Retry" button only when retryable and a
    job id is given. `headline` and `detail` are plain text (escaped here; `*bold*` and `` `code` ``
    still render)."""
    head_md = _md(headline, 200) or "Something went wrong"
    head_plain = _plain(headline, 200) or "Something went wrong"
    detail_md = _md(detail, SECTION_MAX - _slack_len(head_md) - 20, multiline=True)
    text = f":x: *{head_md}*" + (f"\n{detail_md}" if detail_md else "")
    blocks: list[Block] = [_section(text)]
    if source_name:
        name = _md(source_name, NAME_MAX)
        if name:
            blocks.append(_context(f":film_frames: {name}"))
    if retryable and job_id and len(job_id) <= BUTTON_VALUE_MAX:
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text=PlainTextObject(text="Retry", emoji=True),
                        action_id=ACTION_RETRY,
                        value=job_id,
                    )
                ]
            )
        )
    fallback = head_plain
    detail_plain = _plain(detail, 300)
    if detail_plain:
        fallback += f": {detail_plain}"
    return Message(text=_fallback(fallback), blocks=blocks)


def notice_message(text: str) -> Message:
    """A one-section informational reply (plain text, escaped here)."""
    body = _md(text, SECTION_MAX, multiline=True) or "(no details)"
    return Message(text=_fallback(_plain(text, 500) or "(no details)"), blocks=[_section(body)])


_HELP_COMMANDS = "\n".join(
    [
        "*How to ask*",
        "• Post a video link or upload a video in a channel I'm in: I reply in its thread.",
        "• `/gist &lt;video-url&gt; [title|topics|hashtags …]`: gist one video; "
        "name what you want (default: all three).",
        "• `/gist search &lt;words&gt; [in:#channel]`: find the moment in the team's videos "
        "(what is shown or said), with a link to the message that shared it. Only you see the "
        "answer, and only videos from conversations you're in; the Home tab has a search too.",
        "• `/gist usage`: video minutes and tokens used today, yours and the team's.",
        "• `/gist help`: this message.",
        "• Message shortcut *Gist this video* (the ⋮ menu on a message): gist its video.",
        "• @-mention me in a message with a video, e.g. `@gistbot topics hashtags`.",
    ]
)
_HELP_LINKS = "\n".join(
    [
        "*Links that work*",
        "• Direct links to a media file: .mp4, .mov, .m4v, .webm, .mkv, .avi, .mpeg … "
        "(e.g. `https://cdn.example.com/clip.mp4`)",
        "• Videos uploaded to Slack",
        "*Links that don't*",
        "• Pages on YouTube, Vimeo, Loom, Google Drive, Dropbox, TikTok, Instagram, Facebook "
        "or X: download the video and upload it here, or share a direct link to the file.",
    ]
)


def help_message() -> Message:
    return Message(
        text="gistbot: /gist &lt;video-url&gt; [title|topics|hashtags], "
        "/gist search &lt;words&gt;, /gist usage, /gist help",
        blocks=[
            HeaderBlock(text=PlainTextObject(text="gistbot: a title, topics and hashtags")),
            _section(_HELP_COMMANDS),
            _section(_HELP_LINKS),
        ],
    )


def _minutes(value: float) -> str:
    if not math.isfinite(value) or value < 0:
        value = 0.0
    value = min(value, 1e12)
    return f"{value:,.1f} min"


def _count(value: int) -> str:
    return f"{min(max(int(value), 0), 10**15):,}"


def _quota(used: float, limit: float | None) -> str:
    text = _minutes(used)
    if limit is None or not math.isfinite(limit) or limit < 0:
        return f"{text} (no limit)"
    text += f" of {_minutes(limit)}"
    if limit > 0 and math.isfinite(used) and used >= 0:
        text += f" ({min(used / limit, 1e6) * 100:,.0f}%)"
    return text


def usage_message(
    *,
    user_id: str,
    user_minutes: float,
    team_minutes: float,
    user_limit_min: float | None,
    team_limit_min: float | None,
    jobs_today: int,
    tokens_today: int,
    period: str = "today",
) -> Message:
    """Video minutes against the limits (per `period`), jobs and tokens today."""
    period_md = _md(period, 40) or "today"
    who = _mention(user_id) or "you"
    you = _quota(user_minutes, user_limit_min)
    team = _quota(team_minutes, team_limit_min)
    fields = [
        MarkdownTextObject(text=f"*You* ({who})\n{you}"),
        MarkdownTextObject(text=f"*Team*\n{team}"),
        MarkdownTextObject(text=f"*Jobs today*\n{_count(jobs_today)}"),
        MarkdownTextObject(text=f"*Tokens today*\n{_count(tokens_today)}"),
    ]
    return Message(
        text=_fallback(f"Video minutes {_plain(period, 40) or 'today'}: you {you}, team {team}"),
        blocks=[
            _section(f":bar_chart: *Usage {period_md}*"),
            SectionBlock(fields=fields),
        ],
    )
