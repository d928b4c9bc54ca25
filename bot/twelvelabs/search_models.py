"""Typed views of `POST /search` and `GET /search/{page-token}` (SDK 1.3.6, July 2026 API).

A hit is a *clip* of an indexed video: `{video_id, rank, start, end, thumbnail_url?,
transcription?, user_metadata?}`. With `group_by=video` each item is a video,
`{id, clips: [clip, …]}`; with `group_by=clip` (the API's default) each item is a clip.
`SearchPage.videos()` gives both shapes as videos, best first. `video_id` is the indexed
asset's id. `score` and `confidence` are gone (April 2026): order by `rank` (1 = best).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SearchClip", "SearchItem", "SearchPage", "SearchPageInfo", "SearchPool", "VideoMatch"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SearchClip(_Model):
    """One matching clip; times are seconds from the start of the video."""

    video_id: str | None = None
    rank: int | None = None
    start: float | None = None
    end: float | None = None
    thumbnail_url: str | None = None
    transcription: str | None = None
    user_metadata: dict[str, Any] | None = None


class SearchItem(SearchClip):
    """One item of `data`: a clip, or (`group_by=video`) a video with its clips."""

    id: str | None = None
    clips: list[SearchClip] | None = None


class SearchPageInfo(_Model):
    limit_per_page: int | None = None
    total_results: int | None = None
    total_inner_matches: int | None = None
    next_page_token: str | None = None
    prev_page_token: str | None = None
    page_expires_at: str | None = None


class SearchPool(_Model):
    """The index searched: how many videos it holds (all of them, whoever may see them)."""

    total_count: int | None = None
    total_duration: float | None = None
    index_id: str | None = None


@dataclass(frozen=True)
class VideoMatch:
    """A video that matched, with its clips best first; `rank` is its best clip's rank."""

    video_id: str
    rank: float
    clips: tuple[SearchClip, ...]
    user_metadata: dict[str, Any] | None


def _rank(clip: SearchClip) -> float:
    return float(clip.rank) if clip.rank is not None else math.inf


class SearchPage(_Model):
    """One page of results (the first from `POST /search`, the next ones by page token)."""

    data: list[SearchItem] = Field(default_factory=list)
    page_info: SearchPageInfo | None = None
    search_pool: SearchPool | None = None

    @property
    def next_page_token(self) -> str | None:
        return self.page_info.next_page_token if self.page_info else None

    def videos(self) -> list[VideoMatch]:
        """Each video once, in the page's order (best first): the items themselves with
        `group_by=video`; clips gathered under their video, where it first appears, for
        `group_by=clip`. Clips within a video are sorted by rank."""
        order: list[str] = []
        clips: dict[str, list[SearchClip]] = {}
        metadata: dict[str, dict[str, Any] | None] = {}
        for item in self.data:
            video_id = item.id if item.clips is not None else item.video_id
            if not video_id:
                continue
            if video_id not in clips:
                order.append(video_id)
                clips[video_id] = []
                metadata[video_id] = item.user_metadata
            found = item.clips if item.clips is not None else [item]
            clips[video_id] += [c.model_copy(update={"video_id": video_id}) for c in found]
            for clip in found:
                metadata[video_id] = metadata[video_id] or clip.user_metadata
        out: list[VideoMatch] = []
        for position, video_id in enumerate(order):
            ranked = sorted(clips[video_id], key=_rank)
            best = min((_rank(c) for c in ranked), default=math.inf)
            out.append(
                VideoMatch(
                    video_id=video_id,
                    rank=best if math.isfinite(best) else float(position + 1),
                    clips=tuple(ranked),
                    user_metadata=metadata[video_id],
                )
            )
        return out
