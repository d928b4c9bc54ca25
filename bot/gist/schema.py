"""The JSON schema and prompt that turn an analysis request into a gist.

The API's schema dialect rejects `maxItems`/`maxLength`/`uniqueItems`/`additionalProperties`
with 422, so limits are stated in the prompt and enforced in `normalize`.
"""

from __future__ import annotations

from typing import Any

from bot.gist.models import GIST_TYPE_ORDER, GistType

MAX_TITLE_CHARS = 150  # a Slack header block's limit
MAX_TOPICS = 5
MAX_HASHTAGS = 10

_FIELD = {GistType.TITLE: "title", GistType.TOPIC: "topics", GistType.HASHTAG: "hashtags"}

_PROPERTIES: dict[GistType, dict[str, Any]] = {
    GistType.TITLE: {
        "type": "string",
        "description": "A short, specific title for the video.",
    },
    GistType.TOPIC: {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "description": "The main topics discussed or shown, as short noun phrases.",
    },
    GistType.HASHTAG: {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "description": "Hashtags a social media team would use for the video.",
    },
}

_INSTRUCTIONS = {
    GistType.TITLE: "a title of at most 100 characters",
    GistType.TOPIC: f"at most {MAX_TOPICS} topics, each a short noun phrase",
    GistType.HASHTAG: f"at most {MAX_HASHTAGS} hashtags, each one word with no spaces",
}


def ordered(types: frozenset[GistType] | set[GistType]) -> list[GistType]:
    return [t for t in GIST_TYPE_ORDER if t in types]


def build_schema(types: frozenset[GistType]) -> dict[str, Any]:
    """A schema with only the requested fields, all required (so the first one is required)."""
    if not types:
        raise ValueError("at least one gist type is required")
    kinds = ordered(types)
    return {
        "type": "object",
        "properties": {_FIELD[k]: dict(_PROPERTIES[k]) for k in kinds},
        "required": [_FIELD[k] for k in kinds],
    }


def build_prompt(template: str, types: frozenset[GistType]) -> str:
    wanted = "; ".join(_INSTRUCTIONS[k] for k in ordered(types))
    instructions = f"Return JSON with {wanted}. Do not repeat yourself."
    return template.replace("{instructions}", instructions)
