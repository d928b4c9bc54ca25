"""Pure functions from a gist, a progress state or an error to Block Kit messages.

Everything is built with `slack_sdk.models.blocks`, so `to_dict()` checks Slack's limits before a
request is sent. Every function accepts text of any length and any characters and still returns
a message Slack accepts:

- untrusted text put into `mrkdwn` is escaped (`&`, `<`, `>` only — Slack's rule), so a title
  holding `<!channel>` can't ping anyone;
- control characters, lone surrogates and bidi overrides are stripped;
- every text is clipped (with "…") below its limit, measured in UTF-16 code units, which is never
  less than the code-point count slack_sdk checks, so the margin also covers a server that
  counts the way JavaScript does;
- a message always carries a non-empty fallback `text` (notifications, screen readers).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    ImageElement,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.gist.models import GIST_TYPE_ORDER, Gist, GistType
from bot.jobs.phases import Phase

__all__ = [
    "ACTION_REGENERATE",
    "ACTION_RETRY",
    "Message",
    "Phase",
    "error_message",
    "escape_mrkdwn",
    "help_message",
    "notice_message",
    "progress_message",
    "result_message",
    "usage_message",
]

ACTION_REGENERATE = "gist_regenerate"
ACTION_RETRY = "gist_retry"

# Slack's limits, with a margin where the limit is for free text.
MAX_BLOCKS = 50
HEADER_MAX = 150
SECTION_MAX = 2900  # Slack: 3000
CONTEXT_TEXT_MAX = 2000  # per context element
FALLBACK_MAX = 2000  # Slack truncates `text` far later; a notification shows a line anyway
BUTTON_VALUE_MAX = 2000
IMAGE_URL_MAX = 3000
LINK_URL_MAX = 1500  # a longer source URL is shown as a name without a link
ITEM_MAX = 300  # one topic or hashtag
NAME_MAX = 80  # a file name in running text
NOTE_MAX = 500

ELLIPSIS = "…"

# C0/C1 controls (newline and tab handled separately), lone surrogates, bidi embeddings,
# overrides and isolates (they can reorder what a reader sees).
_STRIP_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_LINE_BREAK_RE = re.compile("[\r\n\t\v\f\x85\u2028\u2029]")
_SPACES_RE = re.compile(r"[ \t]+")
_BLANK_LINES_RE = re.compile(r"\n{3,}")
_USER_ID_RE = re.compile(r"[UW][A-Z0-9]{1,40}")


# --------------------------------------------------------------------------------------------
# The message type
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A message ready for `chat.postMessage`, `chat.update` or a `response_url`."""

    text: str
    blocks: list[Block]

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ValueError("a message needs a non-empty fallback text")
        if len(self.blocks) > MAX_BLOCKS:
            raise ValueError(f"a message holds at most {MAX_BLOCKS} blocks")

    def as_kwargs(self) -> dict[str, Any]:
        """`{"text": …, "blocks": [...]}`; `to_dict()` validates every block (raises
        `slack_sdk.errors.SlackObjectFormationError` on a broken limit)."""
        return {"text": self.text, "blocks": [b.to_dict() for b in self.blocks]}


# --------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------


def escape_mrkdwn(s: str) -> str:
    """Escape `&`, `<` and `>` for mrkdwn (Slack's rule; nothing else is escaped)."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_len(s: str) -> int:
    """Length in UTF-16 code units (≥ the code-point count slack_sdk validates)."""
    return len(s) + sum(1 for ch in s if ord(ch) > 0xFFFF)


def _clean(s: object, *, multiline: bool = False) -> str:
    """Strip control characters; single-line text also has line breaks turned into spaces."""
    text = str(s) if s is not None else ""
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = "\n".join(
            _SPACES_RE.sub(" ", _LINE_BREAK_RE.sub(" ", line)).strip() for line in text.split("\n")
        )
        text = _BLANK_LINES_RE.sub("\n\n", text)
    else:
        text = _LINE_BREAK_RE.sub(" ", text)
    text = _STRIP_RE.sub("", text)
    if not multiline:
        text = " ".join(text.split())
    return text.strip()


def _clip(s: str, limit: int) -> str:
    """Clip to at most `limit` UTF-16 units, ending in "…" when anything was cut."""
    if _slack_len(s) <= limit:
        return s
    budget = limit - 1  # room for the ellipsis
    out: list[str] = []
    used = 0
    for ch in s[:limit]:
        w = 2 if ord(ch) > 0xFFFF else 1
        if used + w > budget:
            break
        out.append(ch)
        used += w
    return "".join(out).rstrip() + ELLIPSIS


def _md(s: object, limit: int, *, multiline: bool = False) -> str:
    """Untrusted text → escaped mrkdwn of at most `limit` units, never cutting an entity."""
    raw = _clean(s, multiline=multiline)
    # Escaping at most quintuples the length: pre-clip the raw text to keep this linear.
    raw = raw[: limit + 1]
    escaped = escape_mrkdwn(raw)
    if _slack_len(escaped) <= limit:
        return escaped
    body = _clip(escaped, limit)[: -len(ELLIPSIS)]
    amp = body.rfind("&")
    if amp != -1 and ";" not in body[amp:]:
        body = body[:amp]
    return body.rstrip() + ELLIPSIS


def _plain(s: object, limit: int) -> str:
    return _clip(_clean(s), limit)


def _duration(seconds: float | None) -> str | None:
    """`m:ss`, or `h:mm:ss` from an hour; None for missing, negative or non-finite input."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    total = int(seconds)
    if total >= 10**9:  # nonsense; keep the text short
        return None
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _mention(user_id: str | None) -> str | None:
    if user_id and _USER_ID_RE.fullmatch(user_id):
        return f"<@{user_id}>"
    return None


def _link(url: str | None, label_md: str) -> str:
    """`<url|label>` for an http(s) URL short enough to link; otherwise just the label."""
    if not url:
        return label_md
    url = url.strip()
    if len(url) > LINK_URL_MAX or _STRIP_RE.search(url):
        return label_md
    try:
        parts = urlsplit(url)
    except ValueError:
        return label_md
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return label_md
    # Percent-encode whatever would end the link markup (`|`, `>`, spaces …), then escape `&`.
    safe_url = quote(url, safe="!#$%&'()*+,-./:;=?@[]~")
    if len(safe_url) > LINK_URL_MAX:
        return label_md
    return f"<{escape_mrkdwn(safe_url)}|{label_md}>"


def _image_url(url: str | None) -> str | None:
    if not url:
        return None
    url = url.strip()
    if len(url) > IMAGE_URL_MAX or _STRIP_RE.search(url) or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _section(text: str, accessory: ImageElement | None = None) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text), accessory=accessory)


def _context(*texts: str) -> ContextBlock:
    return ContextBlock(
        elements=[MarkdownTextObject(text=_clip(t, CONTEXT_TEXT_MAX)) for t in texts if t][:10]
    )


def _fallback(s: str) -> str:
    """Fallback text: one escaped line, non-empty, clipped."""
    text = _md(s, FALLBACK_MAX)
    return text or "gistbot"


def _bounded_list(
    items: Iterable[str], budget: int, *, sep: str, fmt: str = "{}", more: str
) -> str:
    """Join escaped items until `budget` is used; then "`more`" with the count left out."""
    cleaned = [c for c in (_md(i, ITEM_MAX) for i in items) if c]
    out: list[str] = []
    used = 0
    reserve = _slack_len(more.format(n=len(cleaned))) + _slack_len(sep)
    for idx, item in enumerate(cleaned):
        piece = fmt.format(item)
        cost = _slack_len(piece) + (_slack_len(sep) if out else 0)
        last = idx == len(cleaned) - 1
        if used + cost > budget - (0 if last else reserve):
            return sep.join([*out, more.format(n=len(cleaned) - len(out))])
        out.append(piece)
        used += cost
    return sep.join(out)


# --------------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------------


_PHASE_EMOJI = {
    Phase.QUEUED: ":hourglass:",
    Phase.DOWNLOADING: ":hourglass_flowing_sand:",
    Phase.UPLOADING: ":hourglass_flowing_sand:",
    Phase.PROCESSING: ":hourglass_flowing_sand:",
    Phase.ANALYSING: ":hourglass_flowing_sand:",
}


def progress_message(
    *,
    phase: Phase,
    source_name: str,
    elapsed_s: float,
    percent: float | None = None,
    requester_id: str | None = None,
    note: str | None = None,
    steps: Sequence[Phase] | None = None,
) -> Message:
    """A one-line status, e.g. ":hourglass_flowing_sand: Uploading *clip.mp4* — 42% · 0:17
    elapsed", and a context line with the steps (✓ done · ▶ current · pending). `steps`
    defaults to every phase; pass the ones this source goes through (a link skips
    `DOWNLOADING`)."""
    phase = Phase(phase)
    shown = list(dict.fromkeys(steps)) if steps else list(Phase)
    if phase not in shown:
        shown = list(Phase)
    name_md = _md(source_name, NAME_MAX) or "video"
    name_plain = _plain(source_name, NAME_MAX) or "video"
    pct = None
    if percent is not None and math.isfinite(percent):
        pct = f"{int(min(max(percent, 0.0), 100.0))}%"
    elapsed = _duration(elapsed_s) or "0:00"

    line = f"{_PHASE_EMOJI[phase]} {phase.label} *{name_md}*"
    plain = f"{phase.label} {name_plain}"
    if pct:
        line += f" — {pct}"
        plain += f" — {pct}"
    line += f" · {elapsed} elapsed"
    plain += f" · {elapsed} elapsed"
    note_md = _md(note, NOTE_MAX, multiline=True) if note else ""
    if note_md:
        line += f"\n{note_md}"

    current = shown.index(phase)
    marks = []
    for i, step in enumerate(shown):
        if i < current:
            marks.append(f"✓ {step.label}")
        elif i == current:
            marks.append(f"▶ *{step.label}*")
        else:
            marks.append(step.label)
    context = [" · ".join(marks)]
    who = _mention(requester_id)
    if who:
        context.append(f"requested by {who}")
    return Message(text=_fallback(plain), blocks=[_section(line), _context(*context)])


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


def result_message(
    gist: Gist,
    *,
    source_name: str,
    source_url: str | None,
    requester_id: str | None,
    elapsed_s: float | None,
    job_id: str,
    cached: bool = False,
    include_thumbnail: bool = True,
) -> Message:
    """The gist: a header (the title, or the source name), *Topics*, *Hashtags* (only the
    requested types), the thumbnail, a context line and a "Regenerate" button.

    Slack rejects a whole message (`invalid_blocks`) when it can't fetch an image URL; pass
    `include_thumbnail=False` to post again without it."""
    requested = [t for t in GIST_TYPE_ORDER if t in set(gist.types)]
    name_plain = _plain(source_name, HEADER_MAX) or "Video"

    title = _plain(gist.title, HEADER_MAX) if GistType.TITLE in requested and gist.title else ""
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=title or name_plain))]

    thumb = _image_url(gist.video.thumbnail_url) if include_thumbnail else None
    thumb_el = (
        ImageElement(image_url=thumb, alt_text=_plain(f"Thumbnail of {name_plain}", 200))
        if thumb
        else None
    )

    sections: list[str] = []
    fallback = [f"Gist: {title or name_plain}"]
    if GistType.TOPIC in requested:
        topics = [t for t in (_clean(t) for t in gist.topics) if t]
        if topics:
            body = _bounded_list(
                topics, SECTION_MAX - 20, sep="\n", fmt="• {}", more="_…and {n} more_"
            )
            fallback.append("topics: " + ", ".join(_clip(t, 100) for t in topics[:20]))
        else:
            body = "_No topics found._"
        sections.append(f"*Topics*\n{body}")
    if GistType.HASHTAG in requested:
        tags = [t if t.startswith("#") else f"#{t}" for t in (_clean(h) for h in gist.hashtags)]
        tags = [t.replace(" ", "") for t in tags if t.strip("#")]
        if tags:
            body = _bounded_list(tags, SECTION_MAX - 20, sep=" ", more="_…and {n} more_")
            fallback.append(" ".join(_clip(t, 60) for t in tags[:20]))
        else:
            body = "_No hashtags found._"
        sections.append(f"*Hashtags*\n{body}")

    for i, text in enumerate(sections):
        blocks.append(_section(text, accessory=thumb_el if i == 0 else None))

    # Context: source (linked), duration, model, time taken, requester, cache.
    source_md = _link(source_url, _md(source_name, NAME_MAX) or "video")
    parts = [f":film_frames: {source_md}"]
    dur = _duration(gist.video.duration_s)
    if dur:
        parts.append(dur)
    if gist.model:
        model = _md(gist.model, 60)
        if model:
            parts.append(model)
    took = _duration(elapsed_s)
    if took:
        parts.append(f"took {took}")
    who = _mention(requester_id)
    if who:
        parts.append(f"requested by {who}")
    if cached:
        parts.append("from cache")
    context_elements: list[ImageElement | MarkdownTextObject] = []
    if thumb_el is not None and not sections:
        # No section to carry the thumbnail: show it small in the context line.
        context_elements.append(
            ImageElement(image_url=thumb, alt_text=_plain(f"Thumbnail of {name_plain}", 200))
        )
    context_elements.append(MarkdownTextObject(text=_clip(" · ".join(parts), CONTEXT_TEXT_MAX)))
    blocks.append(ContextBlock(elements=context_elements))

    if job_id and len(job_id) <= BUTTON_VALUE_MAX:
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text=PlainTextObject(text="Regenerate", emoji=True),
                        action_id=ACTION_REGENERATE,
                        value=job_id,
                    )
                ]
            )
        )
    return Message(text=_fallback(" — ".join(fallback)), blocks=blocks)


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
        text="gistbot: /gist &lt;video-url&gt; [title|topics|hashtags], /gist usage, /gist help",
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
