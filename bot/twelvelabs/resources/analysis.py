"""`client.analysis`: analysis tasks (created once, awaited, listed) and the sync `analyze`.

A task create that fails ambiguously is looked up in `GET /analyze/tasks?asset_id=` by the
`custom_id` it carried; the sync `POST /analyze` is not created but answered, so it has none.
Every `custom_id` made here starts with `CUSTOM_ID_PREFIX`, so webhook events for this app's
tasks can be told from other apps' on the same account.

A task created by this client is awaited on a schedule learned from the tasks that finished
before it (their `completed_at - created_at` against the video's duration: `schedule.py`);
`wake(task_id)` (a webhook) makes its wait read it at once.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime
from typing import Any

import httpx

from .. import errors, models
from ..creates import create_once
from ..pagination import AsyncPaginator, paginate
from ..polling import PollSettings, StatusCb
from ..retry import RetryMode
from ..session import ApiSession, parse_model
from ._base import Clock, Resource

__all__ = ["CUSTOM_ID_PREFIX", "Analysis", "custom_id_for", "is_ours"]

T_TASKS = "/analyze/tasks"
T_TASK = "/analyze/tasks/{task_id}"
T_ANALYZE = "/analyze"

_CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what `custom_id` allows
CUSTOM_ID_PREFIX = "gistbot-"
_KIND = "task"  # the one kind of analysis task learned from


def custom_id_for(idempotency_key: str) -> str:
    """A `custom_id` as unique as the key: the prefix and the key when allowed, else the
    prefix and the key's digest."""
    mine = CUSTOM_ID_PREFIX + idempotency_key
    if _CUSTOM_ID.fullmatch(mine):
        return mine
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
    return (CUSTOM_ID_PREFIX + digest)[:64]


def is_ours(custom_id: str | None) -> bool:
    """Whether a task's `custom_id` is one this app makes (`custom_id_for`)."""
    return custom_id is not None and custom_id.startswith(CUSTOM_ID_PREFIX)


def _seconds_between(start: str | None, end: str | None) -> float | None:
    """`end - start` for two RFC 3339 times (the server's own clock), if both parse."""
    if not start or not end:
        return None
    try:
        began = datetime.fromisoformat(start.replace("Z", "+00:00"))
        ended = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    if (began.tzinfo is None) != (ended.tzinfo is None):
        return None
    took = (ended - began).total_seconds()
    return took if took > 0 else None


def _payload(
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


class Analysis(Resource):
    def __init__(
        self,
        session: ApiSession,
        poll: PollSettings,
        clock: Clock | None,
        *,
        analyze_timeout_s: float,
    ) -> None:
        super().__init__(session, poll, clock)
        self._analyze_timeout_s = analyze_timeout_s

    async def create(
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

        Sent with an `Idempotency-Key` (one per call unless given; the same on every retry).
        `custom_id` defaults to one made from that key, so an ambiguous failure is looked up
        in `GET /analyze/tasks?asset_id=…`; a caller's `custom_id` need not be unique, so then
        the re-sent request relies on the key's replay alone.
        """
        payload = _payload(
            asset_id=asset_id,
            prompt=prompt,
            json_schema=json_schema,
            model_name=model_name,
            max_tokens=max_tokens,
            temperature=temperature,
        )
        key = idempotency_key or str(uuid.uuid4())
        ours = custom_id is None
        marker = custom_id_for(key) if custom_id is None else custom_id
        payload["custom_id"] = marker

        async def create() -> models.AnalysisTaskRef:
            return await self._call(
                models.AnalysisTaskRef,
                "POST",
                T_TASKS,
                mode=RetryMode.CREATE,
                json=payload,
                headers={"Idempotency-Key": key},
            )

        async def lookup() -> models.AnalysisTaskRef | None:
            return await self._find(asset_id, marker) if ours else None

        ref = await create_once(
            self._session, "POST", T_TASKS, create, lookup, what=f"analysis task {key}"
        )
        self._born(ref.task_id, _KIND)
        return ref

    async def _find(self, asset_id: str, custom_id: str) -> models.AnalysisTaskRef | None:
        """The task on `asset_id` carrying `custom_id` (newest first), or None."""
        task = await self.list(asset_id=asset_id).find(lambda t: t.custom_id == custom_id)
        if task is None:
            return None
        return models.AnalysisTaskRef(task_id=task.task_id, status=task.status)

    async def get(self, task_id: str) -> models.AnalysisTask:
        """`GET /analyze/tasks/{task_id}`."""
        return await self._call(
            models.AnalysisTask, "GET", T_TASK, path_params={"task_id": task_id}
        )

    async def wait(
        self,
        task_id: str,
        *,
        timeout_s: float,
        on_status: StatusCb | None = None,
        video_duration_s: float | None = None,
    ) -> models.AnalysisTask:
        """Poll until `ready`; `failed`/`canceled` raise `AnalysisFailed`.

        A task this client created is polled where tasks on videos of about
        `video_duration_s` finished before; any other one on the plain backoff.
        """
        watch = await self._watch(task_id, _KIND, video_duration_s)
        task = await self._wait(
            lambda: self.get(task_id),
            models.ANALYSIS_TASK_TERMINAL,
            errors.AnalysisFailed,
            what="analysis task",
            resource_id=task_id,
            timeout_s=timeout_s,
            on_status=on_status,
            watch=watch,
        )
        took = _seconds_between(task.created_at, task.completed_at)
        self._learn(task_id, _KIND, took or watch.finish_estimate(), video_duration_s)
        return task

    def wake(self, task_id: str) -> bool:
        """Read `task_id` now if a wait here is polling it (a webhook said it changed)."""
        return self.wakeups.wake(task_id)

    def list(self, *, asset_id: str | None = None) -> AsyncPaginator[models.AnalysisTask]:
        """`GET /analyze/tasks`, newest first; `asset_id` filters."""
        return paginate(
            self._session, T_TASKS, models.AnalysisTaskList, params={"asset_id": asset_id}
        )

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
        under way and is billed). Its read timeout is the client's `analyze_timeout_s`.
        """
        payload = _payload(
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
            read=self._analyze_timeout_s,
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
