"""The gist step library: source → TwelveLabs asset → (background) index → analysis with a
JSON schema → `Gist`.

`GistService` holds no job state and decides no order: each durable step is a method of its
own (`create_asset`, `find_asset`, `wait_for_asset`, `index_in_background`, `analyze`), so the
job pipeline (`bot/jobs/pipeline.py`) can save each step's result (asset id, task id) and
resume from it after a failure or a restart. `gist()` chains them for the CLI. No Slack code.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.callbacks import BytesCb, MultipartStartedCb, TaskCb
from bot.gist.errors import GistFailure
from bot.gist.models import Gist, GistType, Usage, VideoInfo
from bot.gist.normalize import InvalidGistData, build_gist, parse_data
from bot.gist.schema import build_prompt, build_schema
from bot.settings import TwelveLabsSettings
from bot.twelvelabs import TwelveLabsClient
from bot.twelvelabs import errors as tl

log = logging.getLogger(__name__)

IndexedCb = Callable[[str, str], Awaitable[None]]  # (index_id, indexed_asset_id)

# The CLI's view of the whole chain: (phase, percent or None); phases: "uploading",
# "processing", "analysing". The job runner reports its own typed phases around the steps.
ProgressCb = Callable[[str, float | None], Awaitable[None]]

MAX_ANALYSIS_ATTEMPTS = 2
MAX_TOKENS_CEILING = 98304


@dataclass(frozen=True)
class Source:
    """A direct media URL (TwelveLabs fetches it) or a local file (we upload it)."""

    url: str | None = None
    path: Path | None = None
    filename: str | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.path is None):
            raise ValueError("a source is exactly one of url or path")

    @property
    def name(self) -> str:
        if self.filename:
            return self.filename
        if self.path is not None:
            return self.path.name
        assert self.url is not None
        tail = self.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return tail or self.url


def twelvelabs_client(settings: TwelveLabsSettings) -> TwelveLabsClient:
    return TwelveLabsClient(
        settings.twelvelabs_api_key.get_secret_value(),
        settings.twelvelabs_base_url,
        max_retries=settings.twelvelabs_max_retries,
        backoff_initial_s=settings.twelvelabs_backoff_initial_s,
        poll_initial_s=settings.gist_poll_initial_s,
        poll_max_interval_s=settings.gist_poll_max_interval_s,
    )


async def _no_progress(phase: str, percent: float | None) -> None:
    return None


class GistService:
    def __init__(self, client: TwelveLabsClient, settings: TwelveLabsSettings) -> None:
        self._client = client
        self._settings = settings
        self._index_id: str | None = None
        self._index_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    def observe(self, observer: Callable[[int | None], None]) -> None:
        """Tell `observer` the HTTP status of every TwelveLabs call (adaptive concurrency)."""
        self._client.observe(observer)

    # -- step 1: asset -------------------------------------------------------------------
    async def create_asset(
        self,
        source: Source,
        *,
        on_bytes: BytesCb | None = None,
        on_multipart_started: MultipartStartedCb | None = None,
        resume_upload_id: str | None = None,
        resume_asset_id: str | None = None,
        request_key: str | None = None,
    ) -> str:
        """Create the asset. The client stores `request_key` in the asset's user_metadata, so
        that a process killed between the POST and saving its answer can find the asset again
        (`find_asset`) instead of paying for a second one."""
        if source.url is not None:
            asset = await self._client.assets.create_from_url(
                source.url,
                filename=source.filename,
                enable_thumbnail=True,
                request_key=request_key,
            )
            return asset.id
        assert source.path is not None
        asset = await self._client.assets.upload(
            source.path,
            filename=source.filename or source.path.name,
            enable_thumbnail=True,
            request_key=request_key,
            progress=on_bytes,
            on_multipart_started=on_multipart_started,
            resume_upload_id=resume_upload_id,
            resume_asset_id=resume_asset_id,
        )
        return asset.id

    async def find_asset(self, request_key: str, filename: str | None) -> str | None:
        """The asset an earlier, interrupted create_asset() made for this request, if any."""
        # Multipart assets are left out: a session can't be resumed from its asset alone.
        asset = await self._client.assets.find(request_key, filename)
        return asset.id if asset is not None else None

    # -- step 2: wait until the asset is ready -----------------------------------------
    async def wait_for_asset(self, asset_id: str) -> VideoInfo:
        async def on_status(status: str) -> None:
            log.info("asset %s is %s", asset_id, status)

        detail = await self._client.assets.wait(
            asset_id, timeout_s=self._settings.gist_asset_timeout_s, on_status=on_status
        )
        return VideoInfo(
            filename=detail.filename,
            duration_s=detail.duration_s,
            size_bytes=detail.size,
            thumbnail_url=detail.thumbnail_url,
            asset_id=detail.id,
        )

    # -- step 3 (optional, never awaited by the gist): make the video searchable -------
    def index_in_background(
        self,
        asset_id: str,
        *,
        user_metadata: dict[str, str] | None = None,
        on_indexed: IndexedCb | None = None,
    ) -> None:
        """Add the asset to the index, tagged with `user_metadata` (where the video came
        from: searches filter on it and hits carry it); then `on_indexed(index_id,
        indexed_asset_id)`."""
        if not self._settings.gist_index_enabled:
            return
        task = asyncio.create_task(
            self._index(asset_id, user_metadata, on_indexed), name=f"index-{asset_id}"
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _index(
        self,
        asset_id: str,
        user_metadata: dict[str, str] | None,
        on_indexed: IndexedCb | None,
    ) -> None:
        try:
            async with self._index_lock:
                if self._index_id is None:
                    index = await self._client.indexes.find_or_create(
                        self._settings.gist_index_name
                    )
                    self._index_id = index.id
            ref = await self._client.indexes.indexed_assets.create(
                self._index_id, asset_id, user_metadata=user_metadata
            )
            log.info("asset %s added to index %s as %s", asset_id, self._index_id, ref.id)
            if on_indexed is not None:
                await on_indexed(self._index_id, ref.id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # indexing is a bonus: never fail the gist for it
            log.warning("indexing asset %s failed: %s", asset_id, exc)

    # -- step 4: analysis ------------------------------------------------------------
    async def analyze(
        self,
        asset_id: str,
        types: frozenset[GistType],
        video: VideoInfo,
        *,
        idempotency_prefix: str | None = None,
        resume_task_id: str | None = None,
        resume_attempt: int = 1,
        on_task: TaskCb | None = None,
    ) -> Gist:
        """Run (or resume) the analysis; one retry with a larger budget on cut-off/bad JSON."""
        schema = build_schema(types)
        prompt = build_prompt(self._settings.gist_prompt, types)
        prefix = idempotency_prefix or uuid.uuid4().hex
        task_id = resume_task_id
        attempt = resume_attempt
        while True:
            budget = min(self._settings.gist_max_tokens * (4 ** (attempt - 1)), MAX_TOKENS_CEILING)
            if task_id is None:
                ref = await self._client.analysis.create(
                    asset_id=asset_id,
                    prompt=prompt,
                    json_schema=schema,
                    model_name=self._settings.gist_model,
                    max_tokens=budget,
                    temperature=self._settings.gist_temperature,
                    idempotency_key=f"{prefix}-{attempt}",
                )
                task_id = ref.task_id
                log.info("analysis task %s created (attempt %d)", task_id, attempt)
                if on_task is not None:
                    await on_task(task_id, attempt)
            task = await self._client.analysis.wait(
                task_id,
                timeout_s=self._settings.gist_analysis_timeout_s,
                video_duration_s=video.duration_s,
            )
            result = task.result
            problem: str
            if result is None:
                problem = "no result"
            elif result.finish_reason == "length":
                problem = "output cut off (finish_reason=length)"
            else:
                usage = Usage(
                    output_tokens=result.usage.output_tokens if result.usage else 0,
                    input_tokens=result.usage.input_tokens if result.usage else None,
                )
                try:
                    return build_gist(
                        parse_data(result.data or ""),
                        types,
                        usage=usage,
                        video=video,
                        model=self._settings.gist_model,
                        task_id=task_id,
                    )
                except InvalidGistData as exc:
                    problem = str(exc)
            log.warning("analysis task %s unusable: %s (attempt %d)", task_id, problem, attempt)
            if attempt >= MAX_ANALYSIS_ATTEMPTS:
                raise GistFailure("bad_output")
            attempt += 1
            task_id = None

    # -- the whole chain (CLI) -----------------------------------------------------------
    async def gist(
        self,
        source: Source,
        types: frozenset[GistType],
        *,
        progress: ProgressCb = _no_progress,
    ) -> Gist:
        async def on_bytes(done: int, total: int | None) -> None:
            await progress("uploading", 100.0 * done / total if total else None)

        await progress("uploading", 0.0 if source.path else None)
        asset_id = await self.create_asset(source, on_bytes=on_bytes)
        await progress("processing", None)
        video = await self.wait_for_asset(asset_id)
        if video.filename is None:
            video.filename = source.name
        self.index_in_background(asset_id)
        await progress("analysing", None)
        return await self.analyze(asset_id, types, video)

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Give background indexing a moment to be submitted, then cancel what's left."""
        if not self._background:
            return
        pending = set(self._background)
        _, still = await asyncio.wait(pending, timeout=timeout_s)
        for task in still:
            task.cancel()
        await asyncio.gather(*still, return_exceptions=True)


__all__ = ["GistService", "Source", "tl"]
