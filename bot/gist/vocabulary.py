"""The words people use for the kinds of gist text: one table for `/gist`, @-mentions, the CLI's
`--types` and the GIST_DEFAULT_TYPES setting, so each accepts exactly what the others do."""

from __future__ import annotations

from collections.abc import Iterable

from bot.gist.models import GistType
from bot.settings import TwelveLabsSettings

__all__ = [
    "TYPE_WORDS",
    "VALID_WORDS_TEXT",
    "UnknownTypeWord",
    "default_types",
    "parse_type_words",
    "type_for_word",
]

# Singular and plural of each kind; "tag(s)" because people say it for hashtags.
TYPE_WORDS: dict[str, GistType] = {
    "title": GistType.TITLE,
    "titles": GistType.TITLE,
    "topic": GistType.TOPIC,
    "topics": GistType.TOPIC,
    "hashtag": GistType.HASHTAG,
    "hashtags": GistType.HASHTAG,
    "tag": GistType.HASHTAG,
    "tags": GistType.HASHTAG,
}

VALID_WORDS_TEXT = "title, topics, hashtags"


class UnknownTypeWord(ValueError):
    def __init__(self, word: str) -> None:
        super().__init__(f"unknown type {word!r}: use any of {VALID_WORDS_TEXT}")
        self.word = word


def type_for_word(word: str) -> GistType | None:
    """The kind a word names (case-insensitive), or None."""
    return TYPE_WORDS.get(word.strip().lower())


def parse_type_words(words: Iterable[str]) -> frozenset[GistType]:
    """Kinds named by `words` (blank words skipped); empty when none is given.

    Raises UnknownTypeWord for the first word that names no kind."""
    kinds: set[GistType] = set()
    for word in words:
        if not word.strip():
            continue
        kind = type_for_word(word)
        if kind is None:
            raise UnknownTypeWord(word.strip())
        kinds.add(kind)
    return frozenset(kinds)


def default_types(settings: TwelveLabsSettings) -> frozenset[GistType]:
    """GIST_DEFAULT_TYPES as kinds (settings hold canonical names: they import no bot code)."""
    return parse_type_words(settings.gist_default_types) or GistType.all()
