"""Typed views of TwelveLabs v1.3 responses (pydantic v2).

Unknown fields are ignored; `_id` is exposed as `id`; every `status` is a plain `str` so a status
the client does not know yet never breaks parsing. The known statuses live in the `*Status`
enums (a `StrEnum` compares equal to its string) and the `*_TERMINAL` sets.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from .pagination import Listing, Page

__all__ = [
    "ANALYSIS_TASK_FAILED",
    "ANALYSIS_TASK_STATUSES",
    "ANALYSIS_TASK_TERMINAL",
    "ASSET_STATUSES",
    "ASSET_TERMINAL",
    "INDEXED_ASSET_STATUSES",
    "INDEXED_ASSET_TERMINAL",
    "AnalysisResult",
    "AnalysisTask",
    "AnalysisTaskList",
    "AnalysisTaskRef",
    "AnalysisTaskStatus",
    "AnalyzeResult",
    "Asset",
    "AssetDetail",
    "AssetIndexEntry",
    "AssetIndexList",
    "AssetList",
    "AssetStatus",
    "ChunkReport",
    "ErrorInfo",
    "Index",
    "IndexList",
    "IndexModel",
    "IndexedAsset",
    "IndexedAssetList",
    "IndexedAssetRef",
    "IndexedAssetStatus",
    "MultipartUpload",
    "PresignedUrl",
    "PresignedUrls",
    "UploadList",
    "UploadSessionStatus",
    "UploadStatus",
    "UploadSummary",
    "UploadedChunk",
    "Usage",
]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="ignore", validate_by_name=True, validate_by_alias=True, frozen=False
    )


def _id_field() -> Any:
    return Field(validation_alias=AliasChoices("_id", "id"), serialization_alias="_id")


# ---------------------------------------------------------------------------- statuses


class AssetStatus(StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class IndexedAssetStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    VALIDATING = "validating"
    INDEXING = "indexing"
    READY = "ready"
    FAILED = "failed"


class AnalysisTaskStatus(StrEnum):
    QUEUED = "queued"
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    CANCELED = "canceled"


class UploadSessionStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"


ASSET_STATUSES: frozenset[str] = frozenset(AssetStatus)
INDEXED_ASSET_STATUSES: frozenset[str] = frozenset(IndexedAssetStatus)
ANALYSIS_TASK_STATUSES: frozenset[str] = frozenset(AnalysisTaskStatus)
ASSET_TERMINAL: frozenset[str] = frozenset({AssetStatus.READY, AssetStatus.FAILED})
INDEXED_ASSET_TERMINAL: frozenset[str] = frozenset(
    {IndexedAssetStatus.READY, IndexedAssetStatus.FAILED}
)
ANALYSIS_TASK_FAILED: frozenset[str] = frozenset(
    {AnalysisTaskStatus.FAILED, AnalysisTaskStatus.CANCELED}
)
ANALYSIS_TASK_TERMINAL: frozenset[str] = (
    frozenset({AnalysisTaskStatus.READY}) | ANALYSIS_TASK_FAILED
)


# ---------------------------------------------------------------------------- shared bits


class ErrorInfo(_Model):
    message: str | None = None
    code: str | None = None


class Usage(_Model):
    output_tokens: int = 0
    input_tokens: int | None = None


# ---------------------------------------------------------------------------- assets


class Asset(_Model):
    """`POST /assets` (201) and the common part of `GET /assets/{asset_id}`."""

    id: str = _id_field()
    method: str | None = None  # direct | url | multipart
    status: str = AssetStatus.PROCESSING
    filename: str | None = None
    file_type: str | None = None
    created_at: str | None = None
    user_metadata: dict[str, Any] | None = None


class AssetThumbnail(_Model):
    representative_url: str | None = None
    status: str | None = None


class AssetHls(_Model):
    manifest_url: str | None = None
    status: str | None = None


class AssetDetail(Asset):
    """`GET /assets/{asset_id}`."""

    size: int | None = None  # bytes
    duration: float | None = None  # seconds
    thumbnail: AssetThumbnail | None = None
    hls: AssetHls | None = None
    technical_metadata: dict[str, Any] | None = None
    error: ErrorInfo | None = None

    @property
    def thumbnail_url(self) -> str | None:
        return self.thumbnail.representative_url if self.thumbnail else None

    @property
    def error_message(self) -> str | None:
        return self.error.message if self.error else None

    @property
    def duration_s(self) -> float | None:
        if self.duration is not None:
            return self.duration
        tm = self.technical_metadata or {}
        value = tm.get("video_duration_seconds") or tm.get("audio_duration_seconds")
        return float(value) if isinstance(value, int | float) else None


# ---------------------------------------------------------------------------- multipart


class PresignedUrl(_Model):
    chunk_index: int
    url: str
    expires_at: str | None = None

    def expires_at_utc(self) -> datetime | None:
        return parse_time(self.expires_at)


class MultipartUpload(_Model):
    """`POST /assets/multipart-uploads` (201)."""

    upload_id: str
    asset_id: str
    upload_urls: list[PresignedUrl] = Field(default_factory=list)
    upload_headers: dict[str, str] | None = None
    chunk_size: int
    total_chunks: int
    expires_at: str | None = None


class PresignedUrls(_Model):
    """`POST /assets/multipart-uploads/{upload_id}/presigned-urls`."""

    upload_id: str | None = None
    start_index: int | None = None
    count: int | None = None
    upload_urls: list[PresignedUrl] = Field(default_factory=list)
    generated_at: str | None = None
    expires_at: str | None = None


class ChunkReport(_Model):
    """`POST /assets/multipart-uploads/{upload_id}`."""

    url: str | None = None
    asset_id: str | None = None
    processed_chunks: int | None = None
    duplicate_chunks: int | None = None
    total_completed: int | None = None


class UploadedChunk(_Model):
    index: int = Field(validation_alias=AliasChoices("index", "chunk_index"))
    status: str = "pending"  # completed | pending | failed
    uploaded_at: str | None = None
    error: str | None = None


class UploadStatus(Page):
    """`GET /assets/multipart-uploads/{upload_id}` (one page of `uploaded_chunks`)."""

    upload_id: str | None = None
    status: str = UploadSessionStatus.ACTIVE
    uploaded_chunks: list[UploadedChunk] = Field(default_factory=list)
    chunks_completed: int | None = None
    chunks_failed: int | None = None
    chunks_pending: int | None = None
    total_size: int | None = None
    uploaded_size: int | None = None
    # Not in the July 2026 definition; used when a server sends them.
    asset_id: str | None = None
    chunk_size: int | None = None
    total_chunks: int | None = None
    upload_headers: dict[str, str] | None = None


class UploadSummary(_Model):
    """One item of `GET /assets/multipart-uploads` (unfinished sessions)."""

    upload_id: str
    status: str = UploadSessionStatus.ACTIVE
    total_size: int | None = None
    chunk_size: int | None = None
    total_chunks: int | None = None
    created_at: str | None = None
    expires_at: str | None = None


class UploadList(Listing[UploadSummary]):
    """`GET /assets/multipart-uploads` (one page)."""


# ---------------------------------------------------------------------------- indexes


class IndexModel(_Model):
    model_name: str
    model_options: list[str] = Field(default_factory=list)


class Index(_Model):
    id: str = _id_field()
    index_name: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    expires_at: str | None = None
    total_duration: float | None = None
    video_count: int | None = None
    models: list[IndexModel] = Field(default_factory=list)
    addons: list[str] = Field(default_factory=list)


class AssetList(Listing[Asset]):
    """`GET /assets` (one page)."""


class IndexList(Listing[Index]):
    """`GET /indexes` (one page)."""


class IndexedAssetRef(_Model):
    """`POST /indexes/{index_id}/indexed-assets` (202)."""

    id: str = _id_field()
    asset_id: str | None = None


class IndexRef(_Model):
    id: str | None = Field(default=None, validation_alias=AliasChoices("_id", "id"))
    name: str | None = None


class AssetIndexEntry(_Model):
    """One item of `GET /assets/{asset_id}/indexed-assets`: an indexed asset and its index."""

    id: str = _id_field()
    index: IndexRef | None = None


class AssetIndexList(Listing[AssetIndexEntry]):
    """`GET /assets/{asset_id}/indexed-assets` (one page)."""


class IndexedAssetSystemMetadata(_Model):
    filename: str | None = None
    duration: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    size: float | None = None


class IndexedAsset(_Model):
    """`GET /indexes/{index_id}/indexed-assets/{indexed_asset_id}`."""

    id: str = _id_field()
    asset_id: str | None = None
    status: str = IndexedAssetStatus.PENDING
    created_at: str | None = None
    updated_at: str | None = None
    indexed_at: str | None = None
    system_metadata: IndexedAssetSystemMetadata | None = None
    user_metadata: dict[str, Any] | None = None
    error: ErrorInfo | None = None

    @property
    def error_message(self) -> str | None:
        return self.error.message if self.error else None


class IndexedAssetList(Listing[IndexedAsset]):
    """`GET /indexes/{index_id}/indexed-assets` (one page, newest first)."""


# ---------------------------------------------------------------------------- analysis


def _data_as_text(value: Any) -> Any:
    # `data` is a JSON document encoded as a string; tolerate a server that sends the object.
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


class AnalysisTaskRef(_Model):
    """`POST /analyze/tasks` (202)."""

    task_id: str = Field(validation_alias=AliasChoices("task_id", "_id", "id"))
    status: str = AnalysisTaskStatus.QUEUED


class AnalysisResult(_Model):
    generation_id: str | None = None
    data: str = ""
    finish_reason: str | None = None  # stop | length
    usage: Usage = Field(default_factory=Usage)

    @field_validator("data", mode="before")
    @classmethod
    def _data_text(cls, value: Any) -> Any:
        return _data_as_text(value)


class AnalysisTask(_Model):
    """`GET /analyze/tasks/{task_id}`."""

    task_id: str = Field(validation_alias=AliasChoices("task_id", "_id", "id"))
    custom_id: str | None = None
    status: str = AnalysisTaskStatus.QUEUED
    created_at: str | None = None
    completed_at: str | None = None
    video_source: dict[str, Any] | None = None
    result: AnalysisResult | None = None
    error: ErrorInfo | None = None

    @property
    def error_message(self) -> str | None:
        return self.error.message if self.error else None


class AnalysisTaskList(Listing[AnalysisTask]):
    """`GET /analyze/tasks` (one page, newest first)."""


class AnalyzeResult(_Model):
    """`POST /analyze` with `"stream": false` (200)."""

    id: str | None = Field(default=None, validation_alias=AliasChoices("id", "_id"))
    data: str = ""
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    error: ErrorInfo | None = None

    @field_validator("data", mode="before")
    @classmethod
    def _data_text(cls, value: Any) -> Any:
        return _data_as_text(value)

    @property
    def generation_id(self) -> str | None:
        return self.id


# ---------------------------------------------------------------------------- helpers


def parse_time(value: str | None) -> datetime | None:
    """Parse an RFC 3339 timestamp (`Z` or offset; naive means UTC). None when unparseable."""
    if not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
