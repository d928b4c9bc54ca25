import json

import pytest

from bot.gist.models import GistType, Usage, VideoInfo
from bot.gist.normalize import (
    InvalidGistData,
    build_gist,
    normalize_hashtags,
    normalize_title,
    normalize_topics,
    parse_data,
)
from bot.gist.schema import MAX_HASHTAGS, MAX_TITLE_CHARS, MAX_TOPICS, build_prompt, build_schema

FORBIDDEN = {"minLength", "maxLength", "additionalProperties", "uniqueItems", "maxItems"}


def _keys(node: object) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


@pytest.mark.parametrize(
    ("types", "fields"),
    [
        (GistType.all(), ["title", "topics", "hashtags"]),
        (frozenset({GistType.HASHTAG}), ["hashtags"]),
        (frozenset({GistType.HASHTAG, GistType.TITLE}), ["title", "hashtags"]),
    ],
)
def test_schema_holds_only_requested_fields_in_the_accepted_dialect(
    types: frozenset[GistType], fields: list[str]
) -> None:
    schema = build_schema(types)
    assert list(schema["properties"]) == fields
    assert schema["required"] == fields  # the first property must be required
    assert not (_keys(schema) & FORBIDDEN)
    for prop in schema["properties"].values():
        assert prop.get("minItems", 0) in (0, 1)


def test_schema_refuses_empty_types() -> None:
    with pytest.raises(ValueError):
        build_schema(frozenset())


def test_prompt_names_limits_for_requested_types_only() -> None:
    prompt = build_prompt("Do it. {instructions}", frozenset({GistType.TOPIC}))
    assert "topics" in prompt and "hashtag" not in prompt and "title" not in prompt
    assert str(MAX_TOPICS) in prompt


@pytest.mark.parametrize(
    "data",
    [
        '{"title": "A"}',
        '```json\n{"title": "A"}\n```',
        'Here you go: {"title": "A"} hope it helps',
        json.dumps(json.dumps({"title": "A"})),  # double-encoded
    ],
)
def test_parse_data_tolerates_wrappers(data: str) -> None:
    assert parse_data(data) == {"title": "A"}


@pytest.mark.parametrize("data", ["", "not json", '{"title": "A"', "[1, 2]", "null"])
def test_parse_data_rejects_non_objects(data: str) -> None:
    with pytest.raises(InvalidGistData):
        parse_data(data)


def test_title_fits_a_slack_header_and_is_cleaned() -> None:
    assert normalize_title('  "Quarterly\nreview\x00"  ') == "Quarterly review"
    long = normalize_title("word " * 100)
    assert long is not None and len(long) <= MAX_TITLE_CHARS and long.endswith("…")
    assert normalize_title("   ") is None
    assert normalize_title(None) is None


def test_topics_deduplicated_capped_and_split_from_a_string() -> None:
    assert normalize_topics(["AI", "ai ", "- Robots", "", None]) == ["AI", "Robots"]
    assert normalize_topics("a, b; c\nd") == ["a", "b", "c", "d"]
    assert len(normalize_topics([f"t{i}" for i in range(50)])) == MAX_TOPICS


def test_hashtags_normalised() -> None:
    tags = normalize_hashtags(["#AI", "ai", "machine learning", "##video", "#a #b", "🎬", "!!"])
    assert tags == ["#AI", "#MachineLearning", "#video", "#a", "#b"]
    assert all(" " not in t and t.startswith("#") for t in tags)
    assert len(normalize_hashtags([f"tag{i}" for i in range(40)])) == MAX_HASHTAGS
    assert normalize_hashtags("#one #two") == ["#one", "#two"]


def test_build_gist_only_requested_types() -> None:
    gist = build_gist(
        {"title": "T", "topics": ["x"], "hashtags": ["#y"]},
        frozenset({GistType.TITLE}),
        usage=Usage(output_tokens=3),
        video=VideoInfo(filename="a.mp4"),
        model="pegasus1.5",
        task_id="t1",
    )
    assert gist.title == "T" and gist.topics == [] and gist.hashtags == []
    assert gist.types == [GistType.TITLE]


def test_build_gist_rejects_output_without_any_requested_field() -> None:
    with pytest.raises(InvalidGistData):
        build_gist(
            {"something": "else"},
            GistType.all(),
            usage=Usage(),
            video=VideoInfo(),
            model="pegasus1.5",
            task_id=None,
        )
