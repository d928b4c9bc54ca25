"""Pure parsing of the `/gist` command text and of the type words in an @-mention."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from bot.gist.models import GistType
from bot.gist.vocabulary import TYPE_WORDS
from bot.messages import notice

__all__ = [
    "MAX_URL_LENGTH",
    "GistCommand",
    "SearchQuery",
    "parse_gist_command",
    "parse_mention_types",
    "parse_search_query",
]

MAX_INPUT_LENGTH = 8000  # longer command text is refused without being parsed
MAX_URL_LENGTH = 4096  # signed CDN links run to ~2000 characters
_ECHO_MAX = 60  # never echo more of the user's input than this

_TYPE_WORDS: dict[str, frozenset[GistType]] = {w: frozenset({t}) for w, t in TYPE_WORDS.items()}
_COMMAND_ONLY_WORDS: dict[str, frozenset[GistType]] = {"all": GistType.all()}
_HELP_WORDS = frozenset({"help", "-h", "--help", "?"})
_USAGE_WORDS = frozenset({"usage"})
_SEARCH_RE = re.compile(r"^\s*search(?:\s+|$)", re.IGNORECASE)
_IN_RE = re.compile(r"(?<!\S)in:(?:<#([CGD][A-Z0-9]+)(?:\|([^<>]*))?>|#?([\w.-]+))", re.IGNORECASE)

_VALID_WORDS_TEXT = "title, topics, hashtags (or none for all three)"
_EXAMPLE = "/gist https://example.com/clip.mp4 topics hashtags"

_WRAPPED_RE = re.compile(r"<([^<>]*)>")
_WORD_SPLIT_RE = re.compile(r"[,|+;&]+")  # between type words (a URL is split on spaces only)
_WORD_STRIP = "[](){}\"'.:!?`*_"
_DOMAIN_LIKE_RE = re.compile(r"^[\w-]+(\.[\w-]+)+\.?(:\d+)?(/.*)?$")
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_MENTION_WORD_RE = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class GistCommand:
    """What a `/gist` asked for. `error` is plain text (not mrkdwn), at most a few hundred
    characters, quoting at most ~60 characters of the input (without `<`, `>`, `&`)."""

    kind: Literal["help", "usage", "gist", "search", "error"]
    url: str | None = None
    types: frozenset[GistType] = field(default_factory=GistType.all)
    error: str | None = None
    query: str | None = None  # search: the text after "search", as Slack sent it


@dataclass(frozen=True)
class SearchQuery:
    """What `/gist search` asked: the words to search for, and `in:` (one conversation: its id
    when Slack sent a mention, `<#C123|name>`, else the name typed, `#name`)."""

    words: str
    channel_id: str | None = None
    channel_name: str | None = None


def _snippet(s: str) -> str:
    """A short, harmless quote of user input for an error message."""
    s = _CONTROL_RE.sub(" ", s)
    s = s.replace("<", "").replace(">", "").replace("&", "")
    s = " ".join(s.split())
    if len(s) > _ECHO_MAX:
        s = s[: _ECHO_MAX - 1].rstrip() + "…"
    return s


def _error(message: str) -> GistCommand:
    return GistCommand(kind="error", error=message)


def _check_url(candidate: str) -> tuple[str | None, str | None]:
    """(url, None) for a usable http(s) URL, else (None, error)."""
    url = html.unescape(candidate).strip()
    if len(url) > MAX_URL_LENGTH:
        return None, notice("link_too_long", limit=MAX_URL_LENGTH)
    shown = _snippet(url)
    if not url or any(c.isspace() for c in url) or _CONTROL_RE.search(url):
        return None, notice("not_a_link", shown=shown, example=_EXAMPLE)
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None, notice("invalid_link", shown=shown, example=_EXAMPLE)
    if parts.scheme.lower() not in ("http", "https"):
        return None, notice("not_http", shown=shown)
    if not hostname:
        return None, notice("no_host", shown=shown, example=_EXAMPLE)
    return url, None


def parse_gist_command(text: str) -> GistCommand:
    """Parse `/gist` text: "" or "help" → help; "usage" → usage; "search …" → search;
    "<url> [title|topics|hashtags …]" (any order, comma or space separated, case-insensitive,
    the URL raw or as Slack's `<url>` / `<url|label>`) → gist; anything else → error."""
    text = text or ""
    search = _SEARCH_RE.match(text)
    if search:  # the search flow judges the length of what follows (TwelveLabs' limit)
        return GistCommand(kind="search", query=text[search.end() :].strip())
    if len(text) > MAX_INPUT_LENGTH:
        return _error(notice("command_too_long", length=f"{len(text):,}", example=_EXAMPLE))
    stripped = text.strip()
    if not stripped:
        return GistCommand(kind="help")

    wrapped = _WRAPPED_RE.findall(stripped)
    rest = _WRAPPED_RE.sub(" ", stripped)
    words = rest.split()

    if not wrapped and words:
        first = words[0].lower().rstrip(",.!") or words[0]
        if first in _HELP_WORDS:
            return GistCommand(kind="help")
        if first in _USAGE_WORDS:
            return GistCommand(kind="usage")

    candidates: list[str] = []
    for inner in wrapped:
        target = inner.split("|", 1)[0].strip()
        if target[:1] in ("@", "#", "!"):
            label = inner.split("|", 1)[-1] if "|" in inner else target
            return _error(notice("mention_not_link", shown=_snippet(label), example=_EXAMPLE))
        candidates.append(target)

    types: set[GistType] = set()
    for word in words:
        plain = html.unescape(word)
        lowered = plain.lower()
        if "://" in plain or lowered.lstrip("<").startswith(("http:", "https:")):
            candidates.append(plain.strip("<>").split("|", 1)[0].rstrip(","))
            continue
        if _DOMAIN_LIKE_RE.match(plain) and lowered.strip(_WORD_STRIP) not in _TYPE_WORDS:
            return _error(notice("needs_full_link", shown=_snippet(plain), example=_EXAMPLE))
        for part in _WORD_SPLIT_RE.split(lowered):
            part = part.strip(_WORD_STRIP)
            if not part:
                continue
            kinds = _TYPE_WORDS.get(part) or _COMMAND_ONLY_WORDS.get(part)
            if kinds is None:
                return _error(notice("unknown_word", word=_snippet(part), valid=_VALID_WORDS_TEXT))
            types |= kinds

    if not candidates:
        return _error(notice("which_video", example=_EXAMPLE))
    if len(candidates) > 1:
        return _error(notice("one_video"))
    url, problem = _check_url(candidates[0])
    if url is None:
        return _error(problem or notice("unusable_link"))
    return GistCommand(kind="gist", url=url, types=frozenset(types) or GistType.all())


def parse_search_query(text: str) -> SearchQuery:
    """Split `in:#channel` (or Slack's `in:<#C123|name>`) off the search words; the first `in:`
    counts. The words are unescaped (`&amp;` → `&`) and their whitespace collapsed."""
    channel_id = channel_name = None
    match = _IN_RE.search(text)
    if match:
        channel_id = match.group(1)
        channel_name = None if channel_id else match.group(3)
        if channel_id and match.group(2):
            channel_name = match.group(2)
    words = _IN_RE.sub(" ", text)
    words = " ".join(html.unescape(_CONTROL_RE.sub(" ", words)).split())
    return SearchQuery(words=words, channel_id=channel_id, channel_name=channel_name)


def parse_mention_types(text: str) -> frozenset[GistType]:
    """The type words (title, topic(s), hashtag(s), tag(s)) in an @-mention's text; links,
    mentions and other words are ignored. None found → all three."""
    rest = _WRAPPED_RE.sub(" ", text or "")
    types: set[GistType] = set()
    for word in _MENTION_WORD_RE.findall(rest.lower()):
        kinds = _TYPE_WORDS.get(word)
        if kinds:
            types |= kinds
    return frozenset(types) or GistType.all()
