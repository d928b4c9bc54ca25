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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    ImageElement,
    MarkdownTextObject,
    SectionBlock,
)

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
