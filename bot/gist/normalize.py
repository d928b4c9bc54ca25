"""Parse and normalise the model's JSON into a `Gist` — untrusted text in, Slack-safe fields out."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from bot.gist.models import Gist, GistType, Usage, VideoInfo
from bot.gist.schema import MAX_HASHTAGS, MAX_TITLE_CHARS, MAX_TOPICS, ordered

MAX_TOPIC_CHARS = 80
MAX_HASHTAG_CHARS = 60

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_SPACES = re.compile(r"\s+")


class InvalidGistData(ValueError):
    """The analysis output is not the JSON document we asked for."""


def parse_data(data: str) -> dict[str, Any]:
    """`result.data` is a JSON document encoded as a string; tolerate fences and stray text."""
    text = data.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    for candidate in (text, _outer_object(text)):
        if candidate is None:
            continue
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, str):  # double-encoded
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                continue
        if isinstance(value, dict):
            return value
    raise InvalidGistData("the analysis did not return a JSON object")


def _outer_object(text: str) -> str | None:
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else None


def clean_text(value: Any) -> str:
    """One line of printable text: no control characters, single spaces."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
        for ch in unicodedata.normalize("NFC", text)
        if unicodedata.category(ch) not in ("Cf", "Cs", "Co") or ch == "\u200d"
    )
    return _SPACES.sub(" ", text).strip()


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + "…"


def normalize_title(value: Any) -> str | None:
    title = clean_text(value).strip("\"'“”‘’ ")
    title = title.lstrip("#").strip()
    return truncate(title, MAX_TITLE_CHARS) if title else None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in re.split(r"[,\n;]", value)]
    if isinstance(value, list):
        return value
    return [value]


def normalize_topics(value: Any) -> list[str]:
    seen: set[str] = set()
    topics: list[str] = []
    for item in _as_list(value):
        topic = truncate(clean_text(item).strip("-•*·#\"' "), MAX_TOPIC_CHARS)
        key = topic.casefold()
        if topic and key not in seen:
            seen.add(key)
            topics.append(topic)
        if len(topics) == MAX_TOPICS:
            break
    return topics


def _hashtag(word: str) -> str:
    parts = [p for p in re.split(r"[^\w]+", word) if p]
    if not parts:
        return ""
    body = parts[0] if len(parts) == 1 else "".join(p[:1].upper() + p[1:] for p in parts)
    return "#" + body[: MAX_HASHTAG_CHARS - 1]


def normalize_hashtags(value: Any) -> list[str]:
    raw: list[str] = []
    for item in _as_list(value):
        text = clean_text(item)
        if text.count("#") > 1:  # "#a #b" in one element
            raw.extend(p for p in text.split("#") if p.strip())
        else:
            raw.append(text)
    seen: set[str] = set()
    tags: list[str] = []
    for item in raw:
        tag = _hashtag(item.strip().lstrip("#"))
        key = tag.casefold()
        if len(tag) > 1 and key not in seen:
            seen.add(key)
            tags.append(tag)
        if len(tags) == MAX_HASHTAGS:
            break
    return tags


def build_gist(
    data: dict[str, Any],
    types: frozenset[GistType],
    *,
    usage: Usage,
    video: VideoInfo,
    model: str,
    task_id: str | None,
) -> Gist:
    """Validate: every requested field present and non-empty after normalisation."""
    gist = Gist(
        types=ordered(types),
        usage=usage,
        video=video,
        model=model,
        analysis_task_id=task_id,
    )
    missing: list[str] = []
    if GistType.TITLE in types:
        gist.title = normalize_title(data.get("title"))
        if not gist.title:
            missing.append("title")
    if GistType.TOPIC in types:
        gist.topics = normalize_topics(data.get("topics", data.get("topic")))
        if not gist.topics:
            missing.append("topics")
    if GistType.HASHTAG in types:
        gist.hashtags = normalize_hashtags(data.get("hashtags", data.get("hashtag")))
        if not gist.hashtags:
            missing.append("hashtags")
    if missing and len(missing) == len(types):
        raise InvalidGistData(f"the analysis returned no {', '.join(missing)}")
    return gist
