"""The gist: what one video request produces, independent of Slack and of the API transport."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class GistType(StrEnum):
    """The three kinds of text the removed `/gist` endpoint offered; any non-empty subset."""

    TITLE = "title"
    TOPIC = "topic"
    HASHTAG = "hashtag"

    @classmethod
    def all(cls) -> frozenset[GistType]:
        return frozenset(cls)


# Order in which the kinds are asked for and shown.
GIST_TYPE_ORDER: tuple[GistType, ...] = (GistType.TITLE, GistType.TOPIC, GistType.HASHTAG)


class Usage(BaseModel):
    output_tokens: int = 0
    input_tokens: int | None = None


class VideoInfo(BaseModel):
    """What is known of the video itself (all optional: a URL source may tell us little)."""

    filename: str | None = None
    duration_s: float | None = None
    size_bytes: int | None = None
    thumbnail_url: str | None = None
    asset_id: str | None = None


class Gist(BaseModel):
    """A validated, normalised gist. Fields not requested are left empty / None."""

    types: list[GistType] = Field(default_factory=lambda: list(GIST_TYPE_ORDER))
    title: str | None = None
    topics: list[str] = Field(default_factory=list)
    hashtags: list[str] = Field(default_factory=list)  # each starts with '#', no spaces
    usage: Usage = Field(default_factory=Usage)
    video: VideoInfo = Field(default_factory=VideoInfo)
    model: str | None = None
    analysis_task_id: str | None = None
