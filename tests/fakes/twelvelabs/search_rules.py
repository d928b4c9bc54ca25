"""What the fake's search accepts, per the API's definition: the form's fields and their
values, the `filter` syntax (system fields and user metadata), the query's token limit; and how
a query splits into the words the fake matches. `SearchError` is answered as `{code, message}`.
"""

from __future__ import annotations

import json
import re
from typing import Any

SEARCH_OPTIONS = ("visual", "audio", "transcription")
TRANSCRIPTION_OPTIONS = ("lexical", "semantic")
MAX_QUERY_TOKENS = 500
MAX_PAGE_LIMIT = 50
SYSTEM_NUMBERS = ("duration", "width", "height", "size")
STOP_WORDS = frozenset(
    "a an and are about at be by did do does for from has have how i in is it me my of on or "
    "our show showed shows that the their there this to video videos was we were what when "
    "where which who with you".split()
)
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"[a-z0-9]+")


class SearchError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def query_tokens(text: str) -> int:
    """How many tokens the fake counts in a query (words and punctuation marks)."""
    return len(_TOKEN.findall(text))


def query_words(text: str) -> list[str]:
    words = [w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in STOP_WORDS]
    return list(dict.fromkeys(words))


def number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_options(form: dict[str, Any], model_options: set[str]) -> list[str]:
    """The search options asked for, each one the index's model options support."""
    options: list[str] = form.get("search_options") or []
    if not options:
        raise missing("search_options")
    for option in options:
        if option not in SEARCH_OPTIONS:
            raise SearchError(
                400,
                "search_option_not_supported",
                f"The search option {option} is not supported. Use visual, audio or transcription.",
            )
        needs = "visual" if option == "visual" else "audio"
        if needs not in model_options:
            raise SearchError(
                400,
                "search_option_not_supported",
                f"The search option {option} is not supported by this index: it was "
                f"created without the {needs} model option.",
            )
    transcription = form.get("transcription_options") or []
    if transcription and "transcription" not in options:
        raise SearchError(
            400,
            "search_option_combination_not_supported",
            "transcription_options applies only with the transcription search option.",
        )
    if any(t not in TRANSCRIPTION_OPTIONS for t in transcription):
        raise invalid("transcription_options")
    return list(dict.fromkeys(options))


def satisfies(value: Any, wanted: Any) -> bool:
    """Whether a field's value meets one filter condition."""
    if isinstance(wanted, dict):
        if not number(value):
            return False
        low, high = wanted.get("gte"), wanted.get("lte")
        return (low is None or value >= low) and (high is None or value <= high)
    if isinstance(value, list):  # an array-of-strings metadata value matches any of its items
        return wanted in value
    return bool(value == wanted and type(value) is type(wanted)) or (
        number(value) and number(wanted) and value == wanted
    )


def parse_filter(raw: str | None) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    try:
        condition = json.loads(raw)
    except ValueError:
        raise SearchError(400, "search_filter_invalid", "The filter is not valid JSON.") from None
    if not isinstance(condition, dict):
        raise SearchError(400, "search_filter_invalid", "The filter must be a JSON object.")
    for key, wanted in condition.items():
        if key == "id":
            ok = isinstance(wanted, str) or (
                isinstance(wanted, list) and all(isinstance(v, str) for v in wanted)
            )
        elif isinstance(wanted, dict):
            ok = (
                bool(wanted)
                and set(wanted) <= {"gte", "lte"}
                and all(number(v) for v in wanted.values())
            )
        elif key == "filename":
            ok = isinstance(wanted, str)
        elif key in SYSTEM_NUMBERS:
            ok = number(wanted)
        else:
            ok = isinstance(wanted, str | bool) or number(wanted)
        if not ok:
            raise SearchError(
                400, "search_filter_invalid", f"The filter condition on {key!r} is invalid."
            )
    return condition


def page_limit(raw: str) -> int:
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_PAGE_LIMIT:
        raise invalid("page_limit")
    return int(raw)


def metadata_value(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(v, str) for v in value)
    return value is None or isinstance(value, str | bool) or number(value)


def missing(name: str) -> SearchError:
    return SearchError(
        400, "parameter_not_provided", f"The {name} parameter is required but was not provided."
    )


def invalid(name: str) -> SearchError:
    return SearchError(400, "parameter_invalid", f"The {name} parameter is invalid.")
