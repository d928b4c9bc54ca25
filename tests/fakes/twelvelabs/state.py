"""Plain records the fake keeps: faults, recorded calls and the server-side resources."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fakes.twelvelabs.media import MediaInfo

FAULT_KINDS = frozenset(
    {
        "429",
        "429-empty",
        "500",
        "502",
        "503",
        "504",
        "401",
        "drop",
        "drop-after",
        "error-after",
        "502-after",
        "delay",
        "stall-after",
    }
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Fault:
    """One injected failure. `path` is a route template ("/assets/{id}", "/_upload") or "*".

    Kinds: "429", "429-empty", "401", "500"…"504" answer at once (nothing is done);
    "drop" closes the connection unanswered; "delay" waits `delay_s` then serves;
    "drop-after" carries the call out, then closes the connection unanswered;
    "error-after" carries the call out, then answers `status` (a 5xx) instead;
    "502-after" carries the call out, then answers a gateway's 502;
    "stall-after" carries the call out, then holds its answer for `delay_s`.
    """

    method: str
    path: str
    kind: str
    times: int = 1
    retry_after: str | None = None
    ratelimit_reset: float | None = None
    delay_s: float = 0.0
    status: int = 502  # error-after only

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(FAULT_KINDS)}")
        if self.kind == "error-after" and not 500 <= self.status <= 599:
            raise ValueError(f"error-after needs a 5xx status, not {self.status}")

    def matches(self, method: str, template: str) -> bool:
        return (self.method == "*" or self.method.upper() == method.upper()) and (
            self.path == "*" or self.path == template
        )


@dataclass
class Call:
    """A request the fake received. `status` is 0 while in flight or when the connection dropped."""

    method: str
    path: str
    template: str
    status: int = 0
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    at: float = 0.0  # time.monotonic() when it arrived
    chaos: str | None = None  # the chaos-mode fault injected into this call, if any


@dataclass
class AssetState:
    id: str
    method: str
    filename: str
    file_type: str
    created_at: datetime
    status: str = "processing"
    user_metadata: dict[str, Any] | None = None
    enable_hls: bool = False
    enable_thumbnail: bool = False
    url: str | None = None  # method=url: the source
    size: int | None = None
    sha256: str | None = None
    media: MediaInfo | None = None
    error: str | None = None
    ready_at: float | None = None  # monotonic

    @property
    def duration(self) -> float | None:
        return self.media.duration if self.media is not None else None


@dataclass
class ChunkState:
    index: int
    size: int
    md5: str
    uploaded_at: datetime
    reported_at: datetime | None = None


@dataclass
class UploadState:
    id: str
    asset_id: str
    filename: str
    type: str
    total_size: int
    chunk_size: int
    total_chunks: int
    created_at: datetime
    expires_at: datetime
    path: Path
    status: str = "active"  # active | completed | failed | expired
    chunks: dict[int, ChunkState] = field(default_factory=dict)  # uploaded (PUT) chunks
    updated_at: datetime | None = None

    def expected_size(self, index: int) -> int:
        if index < self.total_chunks:
            return self.chunk_size
        return self.total_size - self.chunk_size * (self.total_chunks - 1)

    @property
    def reported(self) -> list[ChunkState]:
        return [c for c in self.chunks.values() if c.reported_at is not None]


@dataclass
class PresignedUrl:
    upload_id: str
    chunk_index: int
    expires_at: float  # wall clock (time.time())
    used: bool = False


@dataclass
class IndexState:
    id: str
    index_name: str
    models: list[dict[str, Any]]
    addons: list[str]
    created_at: datetime
    updated_at: datetime


@dataclass
class IndexedAssetState:
    id: str
    index_id: str
    asset_id: str
    created_at: datetime
    updated_at: datetime
    status: str = "pending"
    indexed_at: datetime | None = None
    user_metadata: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class TaskState:
    id: str
    created_at: datetime
    request: dict[str, Any]
    video: dict[str, Any]
    model_name: str
    custom_id: str | None = None
    status: str = "queued"
    completed_at: datetime | None = None
    filename: str = "video"
    sha256: str = ""
    duration: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    force_length: bool = False
