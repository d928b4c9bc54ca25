"""A job: one accepted request for one video, with every durable step's result."""

from __future__ import annotations

import time
import uuid
from enum import StrEnum

from pydantic import BaseModel, Field

from bot.gist.models import Gist, GistType


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Trigger(StrEnum):
    PASSIVE = "passive"  # a video posted in a channel
    COMMAND = "command"  # /gist
    SHORTCUT = "shortcut"
    MENTION = "mention"
    RETRY = "retry"
    REGENERATE = "regenerate"


class SlackContext(BaseModel):
    team_id: str
    channel: str
    user: str  # who asked (or who posted, for passive gists)
    thread_ts: str | None = None  # where replies go; None → reply via response_url only
    source_ts: str | None = None  # the message that carried the video (gets reactions)
    response_url: str | None = None
    placeholder_ts: str | None = None  # our progress message, later replaced by the result
    via_response_url: bool = False  # the bot can't post in the channel: answer via response_url


class SourceSpec(BaseModel):
    kind: str  # "url" | "slack_file"
    url: str | None = None  # direct media URL, or the Slack file's url_private_download
    file_id: str | None = None
    filename: str | None = None
    size_bytes: int | None = None
    duration_s: float | None = None  # when Slack tells it up front
    mimetype: str | None = None
    probe: bool = False  # an extensionless link from an explicit request: check it first

    @property
    def name(self) -> str:
        if self.filename:
            return self.filename
        tail = (self.url or "").split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return tail or (self.url or "video")


class Job(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    work_key: str
    trigger: Trigger
    state: JobState = JobState.QUEUED
    slack: SlackContext
    source: SourceSpec
    types: list[GistType]
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    deadline_at: float
    force_fresh: bool = False  # Regenerate: skip the cache

    # durable steps
    sha256: str | None = None
    upload_id: str | None = None
    asset_requested: bool = False  # set before POST /assets: a restart looks the asset up
    asset_id: str | None = None
    asset_ready: bool = False
    video_seconds: float | None = None
    thumbnail_url: str | None = None
    task_id: str | None = None
    task_attempt: int = 1
    tmp_path: str | None = None  # the downloaded upload, until TwelveLabs has it
    gist: Gist | None = None
    parent_requested: bool = False  # /gist: set before posting its thread's first message
    placeholder_requested: bool = False  # set before posting our reply: a retry looks it up
    result_posted: bool = False
    delivery_deadline_at: float | None = None  # set once there is something to deliver
    cached: bool = False
    # A failure decided but not yet shown (state RUNNING) or shown (state FAILED).
    error_code: str | None = None
    error_fields: dict[str, str] = Field(default_factory=dict)
    finished_at: float | None = None

    @property
    def type_set(self) -> frozenset[GistType]:
        return frozenset(self.types)

    def video_keys(self) -> list[str]:
        """Keys a cached result may be found under: the URL, the Slack file, the bytes."""
        keys: list[str] = []
        if self.source.kind == "url" and self.source.url:
            keys.append("url:" + self.source.url.split("#", 1)[0])
        if self.source.file_id:
            keys.append(f"slack:{self.slack.team_id}:{self.source.file_id}")
        if self.sha256:
            keys.append("sha256:" + self.sha256)
        if self.asset_id:
            keys.append("asset:" + self.asset_id)
        return keys
