"""A small async client for the TwelveLabs API v1.3 — only what gistbot uses.

    async with TwelveLabsClient(api_key) as tl:
        asset = await tl.upload_asset_file(path)
        asset = await tl.wait_for_asset(asset.id, timeout_s=600)
        ref = await tl.create_analysis_task(asset_id=asset.id, prompt=..., json_schema=...)
        task = await tl.wait_for_analysis_task(ref.task_id, timeout_s=900)

Retries, backoff and error mapping live in `session.py` / `retry.py`; polling in `polling.py`;
the large-file upload in `multipart.py`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import httpx
import pydantic

from . import errors, models
from .formdata import FormBody, FormFile, guess_content_type
from .multipart import MultipartSettings, MultipartUploader
from .polling import PollSettings, StatusCb, poll_until
from .retry import RetryMode, RetryPolicy
from .session import ApiSession, ClientStats, parse_model

__all__ = ["DEFAULT_BASE_URL", "ProgressCb", "StartedCb", "StatusCb", "TwelveLabsClient"]

log = logging.getLogger("bot.twelvelabs")

M = TypeVar("M", bound=pydantic.BaseModel)


class _Polled(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def error_message(self) -> str | None: ...


P = TypeVar("P", bound=_Polled)

DEFAULT_BASE_URL = "https://api.twelvelabs.io/v1.3"
INDEX_MODEL = "marengo3.0"
INDEX_MODEL_OPTIONS = ("visual", "audio")

ProgressCb = Callable[[int, int], Awaitable[None]]  # (bytes_done, bytes_total)
StartedCb = Callable[[str, str], Awaitable[None]]  # (upload_id, asset_id)

# Path templates: what logs, errors and `stats` show.
T_ASSETS = "/assets"
T_ASSET = "/assets/{asset_id}"
T_INDEXES = "/indexes"
T_INDEXED_ASSETS = "/indexes/{index_id}/indexed-assets"
T_INDEXED_ASSET = "/indexes/{index_id}/indexed-assets/{indexed_asset_id}"
T_TASKS = "/analyze/tasks"
T_TASK = "/analyze/tasks/{task_id}"
T_ANALYZE = "/analyze"


def _bool(value: bool) -> str:
    return "true" if value else "false"


class TwelveLabsClient:
    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        max_retries: int = 5,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        retry_after_max_s: float = 60.0,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 120.0,
        analyze_timeout_s: float | None = None,
        direct_upload_limit: int = 200 * 1024 * 1024,
        poll_initial_s: float = 1.0,
        poll_max_interval_s: float = 15.0,
        poll_factor: float = 1.5,
        multipart: MultipartSettings | None = None,
        max_connections: int = 20,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`max_retries` counts retries after the first attempt (0 disables retrying).

        `analyze_timeout_s` is the read timeout of the sync `POST /analyze` (default: 10 ×
        `read_timeout_s`, since the answer comes only once the whole video is analysed).
        """
        self._session = ApiSession(
            api_key=api_key,
            base_url=base_url,
            policy=RetryPolicy(
                max_retries=max(0, max_retries),
                backoff_initial_s=backoff_initial_s,
                backoff_max_s=backoff_max_s,
                retry_after_max_s=retry_after_max_s,
            ),
            timeout=httpx.Timeout(
                connect=connect_timeout_s,
                read=read_timeout_s,
                write=read_timeout_s,
                pool=read_timeout_s,
            ),
            transport=transport,
            max_connections=max_connections,
        )
        self.base_url = self._session.base_url
        self.direct_upload_limit = direct_upload_limit
        self.poll = PollSettings(poll_initial_s, poll_max_interval_s, poll_factor)
        self.analyze_timeout_s = analyze_timeout_s or read_timeout_s * 10
        self._uploader = MultipartUploader(self._session, multipart)
        self._index_lock = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._session.aclose()

    def __repr__(self) -> str:  # never shows the key
        return f"TwelveLabsClient(base_url={self.base_url!r})"

    @property
    def stats(self) -> ClientStats:
        """HTTP attempts and retries per (method, path template)."""
        return self._session.stats

    # ------------------------------------------------------------------ plumbing

    async def _call(
        self,
        model: type[M],
        method: str,
        template: str,
        *,
        mode: RetryMode = RetryMode.IDEMPOTENT,
        path_params: dict[str, str] | None = None,
        **kw: Any,
    ) -> M:
        response = await self._session.request(
            method, template, mode=mode, path_params=path_params, **kw
        )
        return parse_model(model, response, method=method, path=template)

    # ------------------------------------------------------------------ assets

    async def create_asset_from_url(
        self,
        url: str,
        *,
        filename: str | None = None,
        enable_thumbnail: bool = True,
        user_metadata: dict[str, Any] | None = None,
    ) -> models.Asset:
        """`POST /assets` with `method=url`: TwelveLabs fetches the file (≤ 4 GB)."""
        fields = [("method", "url"), ("url", url)]
        if filename:
            fields.append(("filename", filename))
        fields.append(("enable_thumbnail", _bool(enable_thumbnail)))
        if user_metadata:
            fields.append(("user_metadata", json.dumps(user_metadata, ensure_ascii=False)))
        return await self._call(
            models.Asset, "POST", T_ASSETS, mode=RetryMode.CREATE, body=FormBody(fields)
        )

    async def upload_asset_file(
        self,
        path: Path,
        *,
        filename: str | None = None,
        enable_thumbnail: bool = True,
        user_metadata: dict[str, Any] | None = None,
        progress: ProgressCb | None = None,
        on_multipart_started: StartedCb | None = None,
        resume_upload_id: str | None = None,
        resume_asset_id: str | None = None,
        resume_chunk_size: int | None = None,
    ) -> models.Asset:
        """Upload a local file: `method=direct` up to `direct_upload_limit`, else multipart.

        Both stream the file from disk. `progress(bytes_done, bytes_total)` is awaited as bytes
        go out (never backwards, even across retries). For multipart uploads,
        `on_multipart_started(upload_id, asset_id)` lets the caller persist the session, and
        `resume_upload_id` continues one (sending only the chunks the server lacks); pass
        `resume_asset_id` / `resume_chunk_size` too when known.
        """
        path = Path(path)
        name = filename or path.name
        size = (await asyncio.to_thread(path.stat)).st_size
        if resume_upload_id or size > self.direct_upload_limit:
            return await self._uploader.upload(
                path,
                filename=name,
                enable_thumbnail=enable_thumbnail,
                user_metadata=user_metadata,
                progress=progress,
                on_started=on_multipart_started,
                resume_upload_id=resume_upload_id,
                resume_asset_id=resume_asset_id,
                resume_chunk_size=resume_chunk_size,
            )
        fields = [("method", "direct"), ("filename", name)]
        fields.append(("enable_thumbnail", _bool(enable_thumbnail)))
        if user_metadata:
            fields.append(("user_metadata", json.dumps(user_metadata, ensure_ascii=False)))
        body = FormBody(fields, FormFile("file", path, name, guess_content_type(name)))
        reported = -1

        async def on_bytes(sent: int) -> None:
            nonlocal reported
            if progress is not None and sent > reported:
                reported = sent
                await progress(sent, body.file_size)

        asset = await self._call(
            models.Asset,
            "POST",
            T_ASSETS,
            mode=RetryMode.CREATE,
            body=body,
            on_attempt_bytes=on_bytes,
        )
        if progress is not None and reported < body.file_size:
            await progress(body.file_size, body.file_size)
        return asset

    async def get_asset(self, asset_id: str) -> models.AssetDetail:
        return await self._call(
            models.AssetDetail, "GET", T_ASSET, path_params={"asset_id": asset_id}
        )

    async def wait_for_asset(
        self, asset_id: str, *, timeout_s: float, on_status: StatusCb | None = None
    ) -> models.AssetDetail:
        """Poll until `ready`; `failed` raises `AssetFailed`; the deadline `PollTimeout`."""
        return await self._wait(
            lambda: self.get_asset(asset_id),
            models.ASSET_TERMINAL,
            errors.AssetFailed,
            what="asset",
            resource_id=asset_id,
            timeout_s=timeout_s,
            on_status=on_status,
        )

    async def list_assets(
        self, *, filename: str | None = None, page_limit: int = 50, max_pages: int = 5
    ) -> list[models.Asset]:
        """`GET /assets`, newest pages first as the API returns them; `filename` filters."""
        assets: list[models.Asset] = []
        params: dict[str, Any] = {"page_limit": page_limit}
        if filename:
            params["filename"] = filename
        for page in range(1, max_pages + 1):
            listing = await self._call(
                models.AssetList, "GET", T_ASSETS, params={**params, "page": page}
            )
            assets.extend(listing.data)
            info = listing.page_info
            if not listing.data or info is None or info.total_page is None:
                break
            if page >= info.total_page:
                break
        return assets

    async def get_upload_status(self, upload_id: str) -> models.UploadStatus:
        """`GET /assets/multipart-uploads/{upload_id}` (all pages)."""
        return await self._uploader.get_status(upload_id)

    # ------------------------------------------------------------------ indexes

    async def find_index(self, name: str) -> models.Index | None:
        """The index named exactly `name`, or None."""
        page = 1
        while True:
            response = await self._session.request(
                "GET",
                T_INDEXES,
                params={"index_name": name, "page": page, "page_limit": 50},
                mode=RetryMode.IDEMPOTENT,
            )
            listing = parse_model(models.IndexList, response, method="GET", path=T_INDEXES)
            for index in listing.data:
                if index.index_name == name:
                    return index
            info = listing.page_info
            if (
                not listing.data
                or info is None
                or info.total_page is None
                or page >= info.total_page
                or page >= 20
            ):
                return None
            page += 1

    async def find_or_create_index(self, name: str) -> models.Index:
        """Find the index by name, else create it (`marengo3.0`, visual + audio).

        Two creators racing: the loser's `index_name_already_exists` (or 409) leads to finding
        the winner's index. A create whose outcome is unknown (connection dropped) is resolved
        the same way: look again before trying again.
        """
        async with self._index_lock:
            found = await self.find_index(name)
            if found is not None:
                return found
            models_spec = [{"model_name": INDEX_MODEL, "model_options": list(INDEX_MODEL_OPTIONS)}]
            for attempt in range(3):
                try:
                    created = await self._call(
                        models.Index,
                        "POST",
                        T_INDEXES,
                        mode=RetryMode.CREATE,
                        json={"index_name": name, "models": models_spec},
                    )
                except errors.BadRequestError as exc:
                    if exc.status_code != 409 and exc.code != "index_name_already_exists":
                        raise
                    log.info("TwelveLabs index %r was created concurrently; finding it", name)
                except errors.TransportError:
                    if attempt == 2:
                        raise
                    log.warning("TwelveLabs index create outcome unknown; looking it up")
                else:
                    return created.model_copy(
                        update={
                            "index_name": created.index_name or name,
                            "models": created.models
                            or [models.IndexModel.model_validate(m) for m in models_spec],
                        }
                    )
                found = await self.find_index(name)
                if found is not None:
                    return found
            raise errors.TwelveLabsError(f"could not create or find index {name!r}")

    async def create_indexed_asset(
        self,
        index_id: str,
        asset_id: str,
        *,
        enable_video_stream: bool = False,
        user_metadata: dict[str, Any] | None = None,
    ) -> models.IndexedAssetRef:
        """`POST /indexes/{index_id}/indexed-assets` (202). The asset must be `ready`."""
        payload: dict[str, Any] = {"asset_id": asset_id}
        if enable_video_stream:
            payload["enable_video_stream"] = True
        if user_metadata:
            payload["user_metadata"] = user_metadata
        return await self._call(
            models.IndexedAssetRef,
            "POST",
            T_INDEXED_ASSETS,
            mode=RetryMode.CREATE,
            path_params={"index_id": index_id},
            json=payload,
        )

    async def get_indexed_asset(self, index_id: str, indexed_asset_id: str) -> models.IndexedAsset:
        return await self._call(
            models.IndexedAsset,
            "GET",
            T_INDEXED_ASSET,
            path_params={"index_id": index_id, "indexed_asset_id": indexed_asset_id},
        )

    async def wait_for_indexed_asset(
        self,
        index_id: str,
        indexed_asset_id: str,
        *,
        timeout_s: float,
        on_status: StatusCb | None = None,
    ) -> models.IndexedAsset:
        """Poll until `ready`; `failed` raises `IndexingFailed`."""
        return await self._wait(
            lambda: self.get_indexed_asset(index_id, indexed_asset_id),
            models.INDEXED_ASSET_TERMINAL,
            errors.IndexingFailed,
            what="indexed asset",
            resource_id=indexed_asset_id,
            timeout_s=timeout_s,
            on_status=on_status,
        )

    # ------------------------------------------------------------------ analysis

    @staticmethod
    def _analysis_payload(
        *,
        asset_id: str,
        prompt: str,
        json_schema: dict[str, Any],
        model_name: str,
        max_tokens: int | None,
        temperature: float | None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model_name": model_name,
            "video": {"type": "asset_id", "asset_id": asset_id},
            "prompt": prompt,
            "response_format": {"type": "json_schema", "json_schema": json_schema},
        }
        if max_tokens is not None:
            payload["max_tokens"] = max_tokens
        if temperature is not None:
            payload["temperature"] = temperature
        return payload

    async def create_analysis_task(
        self,
        *,
        asset_id: str,
        prompt: str,
        json_schema: dict[str, Any],
        model_name: str = "pegasus1.5",
        max_tokens: int | None = None,
        temperature: float | None = None,
        idempotency_key: str | None = None,
        custom_id: str | None = None,
    ) -> models.AnalysisTaskRef:
        """`POST /analyze/tasks` (202 `{task_id, status}`).

        Sent with an `Idempotency-Key` (one per call unless given; the same on every retry), so
        it is retried like an idempotent request.
        """
        payload = self._analysis_payload(
            asset_id=asset_id,
            prompt=prompt,
            json_schema=json_schema,
            model_name=model_name,
            max_tokens=max_tokens,
            temperature=temperature,
        )
        if custom_id is not None:
            payload["custom_id"] = custom_id
        key = idempotency_key or str(uuid.uuid4())
        return await self._call(
            models.AnalysisTaskRef,
            "POST",
            T_TASKS,
            mode=RetryMode.IDEMPOTENT,
            json=payload,
            headers={"Idempotency-Key": key},
        )

    async def get_analysis_task(self, task_id: str) -> models.AnalysisTask:
        return await self._call(
            models.AnalysisTask, "GET", T_TASK, path_params={"task_id": task_id}
        )

    async def wait_for_analysis_task(
        self, task_id: str, *, timeout_s: float, on_status: StatusCb | None = None
    ) -> models.AnalysisTask:
        """Poll until `ready`; `failed`/`canceled` raise `AnalysisFailed`."""
        return await self._wait(
            lambda: self.get_analysis_task(task_id),
            models.ANALYSIS_TASK_TERMINAL,
            errors.AnalysisFailed,
            what="analysis task",
            resource_id=task_id,
            timeout_s=timeout_s,
            on_status=on_status,
        )

    async def _wait(
        self,
        fetch: Callable[[], Awaitable[P]],
        terminal: frozenset[str],
        failed: type[errors.ResourceFailed],
        *,
        what: str,
        resource_id: str,
        timeout_s: float,
        on_status: StatusCb | None,
    ) -> P:
        """Poll a resource to a terminal status; anything but `ready` raises `failed`."""
        item = await poll_until(
            fetch,
            lambda r: r.status,
            terminal,
            timeout_s=timeout_s,
            on_status=on_status,
            what=f"{what} {resource_id}",
            initial_s=self.poll.initial_s,
            max_interval_s=self.poll.max_interval_s,
            factor=self.poll.factor,
        )
        if item.status != "ready":
            raise failed(
                item.error_message or f"{what} {item.status}",
                resource_id=resource_id,
                status=item.status,
            )
        return item

    async def analyze(
        self,
        *,
        asset_id: str,
        prompt: str,
        json_schema: dict[str, Any],
        model_name: str = "pegasus1.5",
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> models.AnalyzeResult:
        """Sync `POST /analyze` with `"stream": false` (a single JSON answer).

        Retried on 429/5xx/connection failures, not after a read timeout (the work may be
        under way and is billed).
        """
        payload = self._analysis_payload(
            asset_id=asset_id,
            prompt=prompt,
            json_schema=json_schema,
            model_name=model_name,
            max_tokens=max_tokens,
            temperature=temperature,
        )
        payload["stream"] = False
        timeout = httpx.Timeout(
            connect=self._session.timeout.connect,
            read=self.analyze_timeout_s,
            write=self._session.timeout.write,
            pool=self._session.timeout.pool,
        )
        response = await self._session.request(
            "POST", T_ANALYZE, mode=RetryMode.NO_READ_RETRY, json=payload, http_timeout=timeout
        )
        if _looks_like_ndjson(response):
            return _collect_stream(response)
        return parse_model(models.AnalyzeResult, response, method="POST", path=T_ANALYZE)


def _looks_like_ndjson(response: httpx.Response) -> bool:
    ctype = response.headers.get("content-type", "")
    if "ndjson" in ctype or "jsonl" in ctype:
        return True
    text = response.content.strip()
    return text.startswith(b"{") and b"\n" in text and b'"event_type"' in text[:200]


def _collect_stream(response: httpx.Response) -> models.AnalyzeResult:
    """Fold an NDJSON analyze stream into one result (if a server streams despite `false`)."""
    parts: list[str] = []
    doc: dict[str, Any] = {}
    for line in response.content.splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        kind = event.get("event_type")
        meta = event.get("metadata") or {}
        if kind == "stream_start":
            doc["id"] = meta.get("generation_id")
        elif kind == "text_generation":
            parts.append(str(event.get("text", "")))
        elif kind == "stream_end":
            doc["id"] = meta.get("generation_id") or doc.get("id")
            doc["finish_reason"] = event.get("finish_reason")
            doc["usage"] = meta.get("usage") or {}
            if event.get("error"):
                doc["error"] = event["error"]
    doc["data"] = "".join(parts)
    return models.AnalyzeResult.model_validate(doc)
