"""The fake's "model": checks a `json_schema` against the API's dialect and fills it in.

Output is deterministic and depends on the video (its filename and SHA-256), so tests can tell two
videos apart: a title like "Clip Demo — a3f9c1", topics and hashtags built from the same words.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

# Keywords the dialect rejects outright (the reference: "Rejected with 422").
FORBIDDEN_KEYWORDS = frozenset(
    {"minLength", "maxLength", "additionalProperties", "uniqueItems", "maxItems"}
)
# Composition other than anyOf is not supported either.
UNSUPPORTED_KEYWORDS = frozenset({"allOf", "oneOf", "not", "if", "then", "else"})
ALLOWED_TYPES = frozenset(
    {"array", "boolean", "integer", "null", "number", "object", "string", "timestamp"}
)

_VOCABULARY = (
    "sunset",
    "interview",
    "tutorial",
    "product",
    "city",
    "ocean",
    "workshop",
    "launch",
    "travel",
    "music",
    "kitchen",
    "studio",
    "garden",
    "sports",
    "science",
    "review",
)


def schema_problems(schema: Any, where: str = "$") -> list[str]:
    """Every dialect violation in `schema` as "keyword at path" strings (empty when accepted)."""
    problems: list[str] = []
    if isinstance(schema, list):
        for i, item in enumerate(schema):
            problems += schema_problems(item, f"{where}[{i}]")
        return problems
    if not isinstance(schema, dict):
        return problems
    for key, value in schema.items():
        at = f"{where}.{key}"
        if key in FORBIDDEN_KEYWORDS or key in UNSUPPORTED_KEYWORDS:
            problems.append(f"`{key}` at {where}")
        elif key == "minItems" and value not in (0, 1):
            problems.append(f"`minItems` other than 0 or 1 at {where}")
        elif key == "type":
            kinds = value if isinstance(value, list) else [value]
            bad = [k for k in kinds if k not in ALLOWED_TYPES]
            if bad:
                problems.append(f"unsupported type {bad!r} at {where}")
        elif key in ("properties", "$defs"):
            if isinstance(value, dict):
                for name, sub in value.items():
                    problems += schema_problems(sub, f"{at}.{name}")
        elif key in ("items", "anyOf"):
            problems += schema_problems(value, at)
    return problems


@dataclass(frozen=True)
class Seed:
    """What the generated text is derived from."""

    filename: str
    sha256: str
    duration: float | None = None

    @property
    def short_hash(self) -> str:
        return self.sha256[:6]

    @property
    def words(self) -> list[str]:
        stem = PurePosixPath(self.filename or "video").stem
        found = [w.lower() for w in re.split(r"[^A-Za-z0-9]+", stem) if w and not w.isdigit()]
        return found or ["video"]

    @property
    def extra_words(self) -> list[str]:
        raw = bytes.fromhex(self.sha256[:8].ljust(8, "0"))
        first = _VOCABULARY[raw[0] % len(_VOCABULARY)]
        second = _VOCABULARY[(raw[1] % (len(_VOCABULARY) - 1) + 1 + raw[0]) % len(_VOCABULARY)]
        return [first, second]

    @property
    def title(self) -> str:
        return f"{' '.join(w.capitalize() for w in self.words)} — {self.short_hash}"

    @property
    def topics(self) -> list[str]:
        base = " ".join(self.words)
        a, b = self.extra_words
        return [f"{base} overview", f"{a} scenes", f"{b} highlights"]

    @property
    def hashtags(self) -> list[str]:
        tags = ["#" + "".join(self.words)] + ["#" + w for w in self.extra_words]
        tags.append(f"#v{self.short_hash}")
        return tags

    def number(self, salt: str) -> int:
        return int(self.sha256[:8] or "0", 16) % 97 + len(salt)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"))
        if isinstance(target, dict):
            return target
    return schema


def _strings_for(name: str, seed: Seed) -> list[str]:
    lowered = name.lower()
    if "hashtag" in lowered or lowered in ("tags", "tag"):
        return seed.hashtags
    if "topic" in lowered or "keyword" in lowered or "theme" in lowered:
        return seed.topics
    return [f"{name} {i + 1} of {seed.title}" for i in range(3)]


def _value(name: str, schema: Any, seed: Seed, root: dict[str, Any]) -> Any:
    if not isinstance(schema, dict):
        return f"{name} of {seed.title}"
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[seed.number(name) % len(enum)]
    options = schema.get("anyOf")
    if isinstance(options, list) and options:
        return _value(name, options[0], seed, root)
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: _value(k, v, seed, root) for k, v in props.items()}
    if kind == "array":
        items = schema.get("items") or {"type": "string"}
        items = _resolve(items, root) if isinstance(items, dict) else items
        item_kind = items.get("type", "string") if isinstance(items, dict) else "string"
        if item_kind == "string" and not (isinstance(items, dict) and "enum" in items):
            return _strings_for(name, seed)
        return [_value(name, items, seed, root) for _ in range(2)]
    if kind == "integer":
        return seed.number(name)
    if kind in ("number", "timestamp"):
        return float(seed.number(name)) + 0.5
    if kind == "boolean":
        return seed.number(name) % 2 == 0
    if kind == "null":
        return None
    lowered = name.lower()
    if "title" in lowered or "headline" in lowered or "name" in lowered:
        return seed.title
    if "summary" in lowered or "description" in lowered:
        return f"A {seed.duration or 0:g}-second video about {', '.join(seed.topics)}."
    return f"{name} of {seed.title}"


def generate(json_schema: dict[str, Any] | None, seed: Seed) -> str:
    """The `data` string the model would return: JSON for a schema, prose otherwise."""
    if json_schema is None:
        return (
            f"Title: {seed.title}\nTopics: {', '.join(seed.topics)}\n"
            f"Hashtags: {' '.join(seed.hashtags)}"
        )
    document = _value("result", json_schema, seed, json_schema)
    return json.dumps(document, ensure_ascii=False)


def truncate(data: str) -> str:
    """Cut generated text roughly in half, as a `finish_reason: length` answer would be."""
    if len(data) < 2:
        return data[:1]
    return data[: max(1, len(data) // 2)]


def count_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)
