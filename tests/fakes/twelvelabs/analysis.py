"""Analysis: tasks (``/analyze/tasks``: created, queued → pending → processing → ready, with
idempotency keys) and the synchronous ``POST /analyze`` (streamed NDJSON or one JSON body).
The "model" is `generate`; the checks are in `analysis_checks`."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import time
import uuid
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from tests.fakes.base import Route
from tests.fakes.twelvelabs.analysis_checks import Source, duration_problem, validate_analysis
from tests.fakes.twelvelabs.core import TwelveLabsCore, sleep_until
from tests.fakes.twelvelabs.fetch import url_filename
from tests.fakes.twelvelabs.generate import Seed, count_tokens, generate, truncate
from tests.fakes.twelvelabs.media import probe
from tests.fakes.twelvelabs.state import TaskState, rfc3339, utcnow
from tests.fakes.twelvelabs.webhooks import deliver
from tests.fakes.twelvelabs.wire import (
    ApiError,
    invalid,
    json_response,
    new_id,
    not_found,
    page_args,
    paged,
    read_json,
)

MAX_TASK_S = 7200.0
MAX_SYNC_S = 3600.0
MAX_BASE64_BYTES = 30 * 1024 * 1024
_TASK_PARAMS = (
    "analysis_mode",
    "prompt",
    "prompt_v2",
    "response_format",
    "temperature",
    "max_tokens",
    "min_segment_duration",
    "max_segment_duration",
    "start_time",
    "end_time",
)


def _valid_custom_id(custom_id: Any) -> bool:
    return (
        isinstance(custom_id, str)
        and 1 <= len(custom_id) <= 64
        and all(c.isascii() and (c.isalnum() or c in "_-") for c in custom_id)
    )


def _task_json(task: TaskState) -> dict[str, Any]:
    params = {k: task.request[k] for k in _TASK_PARAMS if k in task.request}
    params.setdefault("analysis_mode", "general")
    source: dict[str, Any] = {"type": task.video["type"]}
    if task.video["type"] in ("asset_id", "url"):
        source[task.video["type"]] = task.video[task.video["type"]]
    if task.duration is not None:
        source["system_metadata"] = {"duration": task.duration}
    out: dict[str, Any] = {
        "task_id": task.id,
        "custom_id": task.custom_id,
        "video_source": source,
        "request_params": params,
        "status": task.status,
        "created_at": rfc3339(task.created_at),
    }
    if task.completed_at is not None and task.status in ("ready", "failed"):
        out["completed_at"] = rfc3339(task.completed_at)
    if task.result is not None:
        out["result"] = task.result
    if task.error is not None:
        out["error"] = task.error
    return out


async def _stream_result(
    request: web.Request,
    generation_id: str,
    result: tuple[str, str, dict[str, int]],
    warning: dict[str, str] | None,
) -> web.StreamResponse:
    """`POST /analyze`'s NDJSON: stream_start, the text in 16-character pieces, stream_end."""
    data, finish, usage = result
    response = web.StreamResponse(
        status=200, headers={"Content-Type": "application/x-ndjson", "X-Api-Version": "1.3"}
    )
    await response.prepare(request)
    events: list[dict[str, Any]] = [
        {"event_type": "stream_start", "metadata": {"generation_id": generation_id}}
    ]
    events += [
        {"event_type": "text_generation", "text": data[i : i + 16]} for i in range(0, len(data), 16)
    ]
    end: dict[str, Any] = {
        "event_type": "stream_end",
        "finish_reason": finish,
        "metadata": {"generation_id": generation_id, "usage": usage},
    }
    if warning:
        end["error"] = warning
    events.append(end)
    for event in events:
        await response.write(json.dumps(event).encode() + b"\n")
    await response.write_eof()
    return response


class AnalysisApi(TwelveLabsCore):
    def _analysis_routes(self) -> list[Route]:
        return [
            ("POST", "/analyze/tasks", self._create_task),
            ("GET", "/analyze/tasks", self._list_tasks),
            ("GET", "/analyze/tasks/{id}", self._get_task),
            ("POST", "/analyze", self._analyze),
        ]

    # ------------------------------------------------------------------ the video

    def _asset_source(self, asset_id: str) -> Source:
        asset = self.assets.get(asset_id)
        if asset is None:
            raise ApiError(
                400, "resource_not_exist", f"Resource with id {asset_id} does not exist in assets."
            )
        if asset.status == "processing":
            raise ApiError(
                400,
                "video_not_ready",
                f"The asset {asset_id} is still processing. Wait until its status is ready.",
            )
        if asset.status != "ready":
            raise ApiError(
                400, "parameter_invalid", f"The asset {asset_id} failed processing: {asset.error}"
            )
        return Source(asset.filename, asset.sha256 or "", asset.media)

    def _base64_source(self, encoded: str) -> Source:
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(
                400, "parameter_invalid", "The base64_string is not valid base64."
            ) from None
        if len(raw) > MAX_BASE64_BYTES:
            raise ApiError(400, "parameter_invalid", "The base64 video exceeds 30 MB.")
        path = self._tmp("b64")
        try:
            path.write_bytes(raw)
            media = probe(path)
        finally:
            path.unlink(missing_ok=True)
        if media.error:
            raise ApiError(400, "parameter_invalid", media.error)
        return Source("video.mp4", hashlib.sha256(raw).hexdigest(), media)

    async def _url_source(self, url: str) -> Source:
        if urlsplit(url).scheme not in ("http", "https"):
            return Source(url_filename(url), "", None, "The video URL is invalid.")
        fetched = await self._fetch(url)
        try:
            if fetched.error is not None or fetched.path is None:
                return Source(fetched.filename, "", None, fetched.error)
            media = await asyncio.get_running_loop().run_in_executor(None, probe, fetched.path)
        finally:
            if fetched.path is not None:
                fetched.path.unlink(missing_ok=True)
        return Source(fetched.filename, fetched.sha256, media, media.error)

    # ------------------------------------------------------------------ the "model"

    def _result(
        self,
        source: Source,
        schema: dict[str, Any] | None,
        body: dict[str, Any],
        force_length: bool,
    ) -> tuple[str, str, dict[str, int]]:
        """(data, finish_reason, usage) for a finished analysis."""
        duration = source.media.duration if source.media else None
        seed = Seed(source.filename, source.sha256 or "0" * 64, duration)
        override = self.analysis_override
        if override is not None:
            data = override if isinstance(override, str) else json.dumps(override)
        else:
            data = generate(schema, seed)
        finish = "stop"
        if force_length or self.analysis_finish_reason == "length":
            finish = "length"
            if override is None:
                data = truncate(data)
        elif self.analysis_finish_reason:
            finish = self.analysis_finish_reason
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int) and count_tokens(data) > max_tokens:
            data, finish = data[: max_tokens * 4], "length"
        prompt = body.get("prompt") if isinstance(body.get("prompt"), str) else ""
        usage = {
            "output_tokens": count_tokens(data),
            "input_tokens": int((duration or 0) * 50) + count_tokens(str(prompt)),
        }
        return data, finish, usage

    def _take_length(self) -> bool:
        if self.analysis_length_times > 0:
            self.analysis_length_times -= 1
            return True
        return False

    # ------------------------------------------------------------------ tasks

    async def _create_task(self, request: web.Request) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        body = await read_json(request)
        if key and key in self._idempotency and self._idempotency[key] in self.tasks:
            task = self.tasks[self._idempotency[key]]
            return json_response(
                202,
                {"task_id": task.id, "status": task.status},
                {"Idempotent-Replayed": "true"},
            )
        schema = validate_analysis(body)
        custom_id = body.get("custom_id")
        if custom_id is not None and not _valid_custom_id(custom_id):
            raise invalid("custom_id")
        video: dict[str, Any] = body["video"]
        pending: Awaitable[Source] | None = None
        if video["type"] == "asset_id":
            source: Source | None = self._asset_source(video["asset_id"])
        elif video["type"] == "base64_string":
            source = self._base64_source(video["base64_string"])
        else:
            source = None
            pending = self._spawn(self._url_source(video["url"]))
        task = TaskState(
            id=new_id(),
            created_at=utcnow(),
            request=body,
            video=video,
            model_name=body.get("model_name", "pegasus1.5"),
            custom_id=custom_id,
            force_length=self._take_length(),
        )
        if source is not None:
            task.filename, task.sha256 = source.filename, source.sha256
            task.duration = source.media.duration if source.media else None
        self.tasks[task.id] = task
        if key:
            self._idempotency[key] = task.id
        self._spawn(self._run_task(task, source, pending, schema, time.monotonic()))
        return json_response(202, {"task_id": task.id, "status": task.status})

    async def _run_task(
        self,
        task: TaskState,
        source: Source | None,
        pending: Awaitable[Source] | None,
        schema: dict[str, Any] | None,
        start: float,
    ) -> None:
        span = self.task_processing_s
        if self.task_processing_for is not None:
            span = self.task_processing_for(task)
        try:
            await self._settle_task(task, source, pending, schema, start, span)
        finally:
            if self.webhook_url and task.status in ("ready", "failed"):
                self._spawn(self._announce(task))

    async def _announce(self, task: TaskState) -> None:
        if self._hook_session is None:
            self._hook_session = aiohttp.ClientSession()
        assert self.webhook_url is not None
        delivery = await deliver(
            self._hook_session, self.webhook_url, self.webhook_secret, task, self.webhook_delay_s
        )
        self.webhook_deliveries.append(delivery)

    async def _settle_task(
        self,
        task: TaskState,
        source: Source | None,
        pending: Awaitable[Source] | None,
        schema: dict[str, Any] | None,
        start: float,
        span: float,
    ) -> None:
        await sleep_until(start + span * 0.25)
        task.status = "pending"
        await sleep_until(start + span * 0.5)
        task.status = "processing"
        if source is None:
            assert pending is not None
            source = await pending
            task.filename, task.sha256 = source.filename, source.sha256
            task.duration = source.media.duration if source.media else None
        await sleep_until(start + span)
        task.completed_at = utcnow()
        problem = duration_problem(source, MAX_TASK_S)
        if problem is not None:
            task.error = {"code": problem[0], "message": problem[1]}
            task.status = "failed"
            return
        data, finish, usage = self._result(source, schema, task.request, task.force_length)
        task.result = {
            "generation_id": str(uuid.uuid4()),
            "data": data,
            "finish_reason": finish,
            "usage": usage,
        }
        task.status = "ready"
        self.mark_task_ready_at[task.id] = time.monotonic()

    async def _get_task(self, request: web.Request) -> web.StreamResponse:
        task = self.tasks.get(request.match_info["id"])
        if task is None:
            raise not_found("analyze tasks", request.match_info["id"])
        return json_response(200, _task_json(task))

    async def _list_tasks(self, request: web.Request) -> web.StreamResponse:
        """`GET /analyze/tasks`: newest first; `status`, `asset_id`, `video_url` and
        `analysis_mode` filter (exact matches, as the July 2026 definition lists them)."""
        page, limit = page_args(request)
        query = request.query
        found = sorted(self.tasks.values(), key=lambda t: t.created_at, reverse=True)
        if query.get("status"):
            found = [t for t in found if t.status == query["status"]]
        for kind in ("asset_id", "url"):
            wanted = query.get("video_url" if kind == "url" else kind)
            if wanted:
                found = [t for t in found if t.video.get(kind) == wanted]
        if query.get("analysis_mode"):
            mode = query["analysis_mode"]
            found = [t for t in found if t.request.get("analysis_mode", "general") == mode]
        data = [_task_json(t) for t in found[(page - 1) * limit : page * limit]]
        return paged(page, limit, found, data)

    # ------------------------------------------------------------------ POST /analyze

    async def _analyze(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        schema = validate_analysis(body)
        video: dict[str, Any] = body["video"]
        if video["type"] == "asset_id":
            source = self._asset_source(video["asset_id"])
        elif video["type"] == "base64_string":
            source = self._base64_source(video["base64_string"])
        else:
            source = await self._url_source(video["url"])
        problem = duration_problem(source, MAX_SYNC_S)
        if problem is not None:
            raise ApiError(400, problem[0], problem[1])
        force_length = self._take_length()
        await asyncio.sleep(self.task_processing_s)
        result = self._result(source, schema, body, force_length)
        data, finish, usage = result
        generation_id = str(uuid.uuid4())
        warning = None
        if finish == "length":
            warning = {
                "message": "The response reached the maximum length; the output is truncated."
            }
        if body.get("stream", True) is not False:
            return await _stream_result(request, generation_id, result, warning)
        out: dict[str, Any] = {
            "id": generation_id,
            "data": data,
            "finish_reason": finish,
            "usage": usage,
        }
        if warning:
            out["error"] = warning
        return json_response(200, out)
