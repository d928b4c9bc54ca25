"""A fake TwelveLabs API v1.3: a real aiohttp server on loopback speaking the real wire format.

It runs in a daemon thread with its own event loop, so any test (sync or async, any loop) and any
plain script can use it. See `tests/fakes/twelvelabs/__init__.py` for the interface in brief.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import math
import os
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import aiohttp
from aiohttp import web

from tests.fakes.chaos import Chaos, ChaosConfig, add_control_routes
from tests.fakes.twelvelabs import chaos as chaos_faults
from tests.fakes.twelvelabs.generate import (
    Seed,
    count_tokens,
    generate,
    schema_problems,
    truncate,
)
from tests.fakes.twelvelabs.media import THUMBNAIL_PNG, MediaInfo, guess_mime, probe
from tests.fakes.twelvelabs.state import (
    AssetState,
    Call,
    ChunkState,
    Fault,
    IndexedAssetState,
    IndexState,
    PresignedUrl,
    TaskState,
    UploadState,
    rfc3339,
    utcnow,
)
from tests.fakes.twelvelabs.webhooks import Delivery, deliver

API_PREFIX = "/v1.3"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

KNOBS = (
    "api_key",
    "asset_processing_s",
    "task_processing_s",
    "index_processing_s",
    "latency_s",
    "multipart_chunk_size",
    "initial_upload_urls",
    "presigned_url_ttl_s",
    "direct_upload_limit",
    "url_upload_limit",
    "analysis_override",
    "analysis_finish_reason",
    "analysis_length_times",
    "index_name_conflict_status",
    "webhook_url",
    "webhook_secret",
    "webhook_delay_s",
)

ANALYSIS_MODELS = ("pegasus1.5", "pegasus1.6")
INDEX_MODELS = ("marengo3.0",)
MODEL_OPTIONS = ("visual", "audio")
MIN_ANALYSIS_S = 4.0
MAX_TASK_S = 7200.0
MAX_SYNC_S = 3600.0
MAX_BASE64_BYTES = 30 * 1024 * 1024
MULTIPART_MAX = {"video": 10 * 1024**3, "audio": 10 * 1024**3, "image": 32 * 1024**2}
_READ_BLOCK = 1 << 20
CALL = web.RequestKey("call", Call)
_HANDLED_KINDS = (
    "delay",
    "drop-after",
    "error-after",
    "stall-after",
    "502-after",
)  # the request is carried out


class ApiError(Exception):
    """Raised inside handlers; turned into the endpoint's error body by the middleware."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


@dataclass
class _Fetched:
    path: Path | None
    size: int
    sha256: str
    error: str | None
    filename: str
    content_type: str | None


@dataclass
class _Source:
    """What an analysis request points at, once resolved."""

    filename: str
    sha256: str
    media: MediaInfo | None
    error: str | None = None


def _new_id() -> str:
    return secrets.token_hex(12)


def _nested(template: str) -> bool:
    return template.startswith("/analyze/tasks") or template.startswith("/analyze/batches")


def _error_body(template: str, code: str, message: str) -> dict[str, Any]:
    if _nested(template):
        return {"error": {"code": code, "message": message}}
    return {"code": code, "message": message}


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=json.dumps)


def _s3_error(status: int, code: str, message: str) -> web.Response:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(status=status, text=xml, content_type="application/xml")


def _as_bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("true", "1", "yes", "on")


def _missing(name: str) -> ApiError:
    return ApiError(
        400, "parameter_not_provided", f"The {name} parameter is required but was not provided."
    )


def _int_param(value: Any, name: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        else:
            raise ApiError(400, "parameter_invalid", f"The {name} parameter is invalid.")
    if minimum is not None and value < minimum:
        raise ApiError(400, "parameter_invalid", f"The {name} parameter is invalid.")
    return int(value)


class FakeTwelveLabs:
    """Fake TwelveLabs API v1.3 server. Knobs are plain attributes and constructor kwargs."""

    def __init__(
        self,
        api_key: str = "tl-test-key",
        *,
        asset_processing_s: float = 0.3,
        task_processing_s: float = 0.3,
        index_processing_s: float = 0.3,
        latency_s: float = 0.0,
        multipart_chunk_size: int = 5 * 1024 * 1024,
        initial_upload_urls: int = 10,
        presigned_url_ttl_s: float = 3600.0,
        direct_upload_limit: int = 200 * 1024 * 1024,
        url_upload_limit: int = 4 * 1024**3,
        analysis_override: str | dict[str, Any] | None = None,
        analysis_finish_reason: str | None = None,
        analysis_length_times: int = 0,
        index_name_conflict_status: int = 400,
        task_processing_for: Callable[[TaskState], float] | None = None,
        webhook_url: str | None = None,
        webhook_secret: str = "",
        webhook_delay_s: float = 0.0,
    ) -> None:
        self.api_key = api_key
        self.asset_processing_s = asset_processing_s
        self.task_processing_s = task_processing_s
        self.index_processing_s = index_processing_s
        self.latency_s = latency_s
        self.multipart_chunk_size = multipart_chunk_size
        self.initial_upload_urls = initial_upload_urls
        self.presigned_url_ttl_s = presigned_url_ttl_s
        self.direct_upload_limit = direct_upload_limit
        self.url_upload_limit = url_upload_limit
        self.analysis_override: str | dict[str, Any] | None = analysis_override
        self.analysis_finish_reason: str | None = analysis_finish_reason
        self.analysis_length_times = analysis_length_times
        self.index_name_conflict_status = index_name_conflict_status
        # Per-task analysis time (given the task, its `duration` known): overrides
        # task_processing_s. An attribute, not a knob (not JSON).
        self.task_processing_for = task_processing_for
        # Set: every task that ends is announced there as a signed webhook event.
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.webhook_delay_s = webhook_delay_s
        self.webhook_deliveries: list[Delivery] = []

        self.calls: list[Call] = []
        self.assets: dict[str, AssetState] = {}
        self.tasks: dict[str, TaskState] = {}
        self.indexes: dict[str, IndexState] = {}
        self.indexed_assets: dict[str, IndexedAssetState] = {}
        self.uploads: dict[str, UploadState] = {}
        self.mark_task_ready_at: dict[str, float] = {}
        self.base_url: str | None = None

        self._faults: list[Fault] = []
        self._faults_lock = threading.Lock()
        self._chaos = Chaos()
        self._presigned: dict[str, PresignedUrl] = {}
        self._idempotency: dict[str, str] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._templates: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._hook_session: aiohttp.ClientSession | None = None  # webhook deliveries
        self._workdir: Path | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving in a daemon thread; return the API base URL (".../v1.3")."""
        if self._thread is not None:
            raise RuntimeError("the fake is already running")
        self._workdir = Path(tempfile.mkdtemp(prefix="fake-twelvelabs-"))
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._startup(host, port))
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-twelvelabs", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            self._thread = None
            self._loop = None
            raise failure[0]
        assert self.base_url is not None
        return self.base_url

    def stop(self) -> None:
        """Stop the server and remove its temporary files. Safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
        self._loop = None
        self._thread = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> FakeTwelveLabs:
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        """Scheme, host and port, without the API prefix."""
        if self.base_url is None:
            raise RuntimeError("the fake is not running")
        return self.base_url.removesuffix(API_PREFIX)

    async def _startup(self, host: str, port: int) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        self._register(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound = runner.addresses[0]
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
        if ":" in shown:
            shown = f"[{shown}]"
        self.base_url = f"http://{shown}:{bound[1]}{API_PREFIX}"

    async def _shutdown(self) -> None:
        await self._cancel_background()
        for session in (self._session, self._hook_session):
            if session is not None:
                await session.close()
        self._session = self._hook_session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ test helpers

    def add_fault(self, fault: Fault) -> None:
        with self._faults_lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._faults_lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        with self._faults_lock:
            return list(self._faults)

    def chaos(
        self,
        p: float | None,
        *,
        seed: int | None = None,
        kinds: Mapping[str, float] | Iterable[str] | None = None,
        endpoints: Iterable[str] | None = None,
        retry_after_s: int = 1,
        stall_s: tuple[float, float] = (2.0, 4.0),
    ) -> ChaosConfig | None:
        """Chaos mode: a seeded share `p` of API calls fail with one of `kinds` (see
        `tests.fakes.chaos`; default: all that apply here). `endpoints` limits it to some, named
        "METHOD /template" ("POST /assets"). Presigned chunk PUTs (the storage host) and
        /_fake/* never fail. `chaos(None)` turns it off; turning it on resets the counts."""
        return self._chaos.configure(
            p,
            seed=seed,
            kinds=kinds,
            endpoints=endpoints,
            retry_after_s=retry_after_s,
            stall_s=stall_s,
        )

    def chaos_counts(self) -> dict[str, int]:
        """Faults chaos mode injected, by kind."""
        return self._chaos.counts()

    def chaos_report(self) -> dict[str, Any]:
        """Chaos configuration, requests considered, injected faults by kind and endpoint."""
        return self._chaos.report()

    def count(self, method: str, template: str) -> int:
        return sum(
            1 for c in list(self.calls) if c.method == method.upper() and c.template == template
        )

    def config(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in KNOBS}

    def configure(self, **knobs: Any) -> None:
        for name, value in knobs.items():
            if name not in KNOBS:
                raise ValueError(f"unknown knob {name!r}; known: {', '.join(KNOBS)}")
            setattr(self, name, value)

    def reset(self) -> None:
        """Forget every resource, call, fault and pending timer; keep the knobs."""
        loop = self._loop
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(self._reset_async(), loop).result(30)
        else:
            self._clear_state()

    async def _reset_async(self) -> None:
        await self._cancel_background()
        self._clear_state()

    def _clear_state(self) -> None:
        self.clear_faults()
        self._chaos.configure(None)
        self.calls.clear()
        self.assets.clear()
        self.tasks.clear()
        self.indexes.clear()
        self.indexed_assets.clear()
        self.uploads.clear()
        self.mark_task_ready_at.clear()
        self.webhook_deliveries.clear()
        self._presigned.clear()
        self._idempotency.clear()
        if self._workdir is not None:
            for entry in self._workdir.iterdir():
                with contextlib.suppress(OSError):
                    entry.unlink()

    async def _cancel_background(self) -> None:
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._background.clear()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _tmp(self, prefix: str) -> Path:
        assert self._workdir is not None
        return self._workdir / f"{prefix}-{uuid.uuid4().hex}"

    @staticmethod
    async def _sleep_until(deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    # ------------------------------------------------------------------ routing

    def _register(self, app: web.Application) -> None:
        api: list[tuple[str, str, Handler]] = [
            ("POST", "/assets/multipart-uploads", self._create_upload),
            ("GET", "/assets/multipart-uploads", self._list_uploads),
            ("GET", "/assets/multipart-uploads/{id}", self._upload_status),
            ("POST", "/assets/multipart-uploads/{id}", self._report_chunks),
            ("POST", "/assets/multipart-uploads/{id}/presigned-urls", self._more_urls),
            ("POST", "/assets", self._create_asset),
            ("GET", "/assets", self._list_assets),
            ("GET", "/assets/{id}", self._get_asset),
            ("DELETE", "/assets/{id}", self._delete_asset),
            ("GET", "/assets/{id}/indexed-assets", self._list_asset_indexes),
            ("GET", "/indexes", self._list_indexes),
            ("POST", "/indexes", self._create_index),
            ("GET", "/indexes/{id}", self._get_index),
            ("POST", "/indexes/{id}/indexed-assets", self._create_indexed_asset),
            ("GET", "/indexes/{id}/indexed-assets", self._list_indexed_assets),
            ("GET", "/indexes/{id}/indexed-assets/{iid}", self._get_indexed_asset),
            ("POST", "/analyze/tasks", self._create_task),
            ("GET", "/analyze/tasks", self._list_tasks),
            ("GET", "/analyze/tasks/{id}", self._get_task),
            ("POST", "/analyze", self._analyze),
        ]
        for method, template, handler in api:
            route = app.router.add_route(method, API_PREFIX + template, handler)
            self._templates[self._canonical(route)] = template
        chunk = app.router.add_route("PUT", "/_upload/{upload_id}/{chunk_index}", self._put_chunk)
        self._templates[self._canonical(chunk)] = "/_upload"
        control: list[tuple[str, str, Handler]] = [
            ("POST", "/_fake/config", self._ctl_config),
            ("GET", "/_fake/config", self._ctl_get_config),
            ("POST", "/_fake/faults", self._ctl_add_fault),
            ("DELETE", "/_fake/faults", self._ctl_clear_faults),
            ("GET", "/_fake/calls", self._ctl_calls),
            ("POST", "/_fake/reset", self._ctl_reset),
            ("GET", "/_fake/thumbnails/{name}", self._thumbnail),
            ("GET", "/_fake/hls/{name}", self._hls),
        ]
        for method, path, handler in control:
            app.router.add_route(method, path, handler)
        add_control_routes(app, self._chaos)

    @staticmethod
    def _canonical(route: web.AbstractRoute) -> str:
        resource = route.resource
        return resource.canonical if resource is not None else ""

    def _template_of(self, request: web.Request) -> str:
        route = request.match_info.route
        resource = route.resource
        if resource is not None and resource.canonical in self._templates:
            return self._templates[resource.canonical]
        return request.path.removeprefix(API_PREFIX) or "/"

    def _take_fault(self, method: str, template: str) -> Fault | None:
        with self._faults_lock:
            for fault in self._faults:
                if fault.times > 0 and fault.matches(method, template):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_fake/"):
            return await handler(request)
        template = self._template_of(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        if "x-api-key" in headers:
            headers["x-api-key"] = "[redacted]"
        call = Call(
            method=request.method,
            path=request.path.removeprefix(API_PREFIX),
            template=template,
            query=dict(request.query),
            headers=headers,
            at=time.monotonic(),
        )
        self.calls.append(call)
        request[CALL] = call

        fault = self._take_fault(request.method, template)
        if fault is None and template != "/_upload":
            injected = self._chaos.pick(
                chaos_faults.endpoint(request.method, template), chaos_faults.API_KINDS
            )
            if injected is not None:
                call.chaos = injected.kind
                fault = chaos_faults.as_fault(injected)
        if fault is not None and fault.delay_s > 0 and fault.kind != "stall-after":
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.kind == "drop":
            return self._drop(request)
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)

        response: web.StreamResponse
        if fault is not None and fault.kind not in _HANDLED_KINDS:
            response = self._fault_response(fault, template)
        else:
            try:
                if template != "/_upload" and request.headers.get("x-api-key") != self.api_key:
                    raise ApiError(
                        401,
                        "api_key_invalid",
                        "API Key is either invalid or expired. Please check your API key or "
                        "generate a new one from the dashboard and try again.",
                    )
                response = await handler(request)
            except ApiError as exc:
                response = _json_response(
                    exc.status, _error_body(template, exc.code, exc.message), exc.headers
                )
            except web.HTTPException as exc:
                if exc.status not in (404, 405):
                    raise
                code = "endpoint_not_exists" if exc.status == 404 else "method_not_allowed"
                message = f"{request.method} {request.path}: {exc.reason}"
                response = _json_response(exc.status, _error_body(template, code, message))
        if fault is not None and fault.kind == "drop-after":
            return self._drop(request)
        if fault is not None and fault.kind == "error-after":
            # The work is done (the asset, index or task exists) but the answer is an error.
            response = self._fault_response(fault, template)
        if fault is not None and fault.kind == "502-after":
            # Carried out (the asset or task exists) but the gateway answers 502.
            if response.prepared:
                return self._drop(request)
            response = self._fault_response(Fault(method="*", path="*", kind="502"), template)
        if fault is not None and fault.kind == "stall-after":
            # The work is done (e.g. the asset exists) but the answer is late: a client
            # killed now never learns it. Restart-safety tests need exactly that window.
            await asyncio.sleep(fault.delay_s)
        response.headers.setdefault("X-Api-Version", "1.3")
        call.status = response.status
        return response

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        """Close the connection with no response (aiohttp then fails to write and gives up)."""
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=500)

    def _fault_response(self, fault: Fault, template: str) -> web.Response:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        if fault.ratelimit_reset is not None:
            headers["X-Ratelimit-Reset"] = str(math.ceil(fault.ratelimit_reset))
        if fault.kind == "429":
            message = "You have exceeded the rate limit. Please try again later."
            if fault.retry_after:
                message = (
                    "You have exceeded the rate limit (60 requests per minute). "
                    f"Please try again later after {fault.retry_after} seconds."
                )
            body = _error_body(template, "too_many_requests", message)
            return _json_response(429, body, headers)
        if fault.kind == "429-empty":
            return web.Response(status=429, headers=headers)
        if fault.kind == "401":
            body = _error_body(template, "api_key_invalid", "API Key is either invalid or expired.")
            return _json_response(401, body, headers)
        status = fault.status if fault.kind == "error-after" else int(fault.kind)
        if status in (502, 504):
            reason = "Bad Gateway" if status == 502 else "Gateway Timeout"
            html = (
                f"<html><head><title>{status} {reason}</title></head><body>{reason}</body></html>"
            )
            return web.Response(status=status, text=html, content_type="text/html", headers=headers)
        code = "internal_error" if status == 500 else "service_unavailable"
        message = "An internal error occurred." if status == 500 else "Service temporarily down."
        return _json_response(status, _error_body(template, code, message), headers)

    # ------------------------------------------------------------------ request helpers

    @staticmethod
    def _origin(request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    @staticmethod
    async def _read_json(request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        call = request[CALL]
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            call.body = raw.decode("utf-8", "replace")
            raise ApiError(
                400, "parameter_invalid", "The request body is not valid JSON."
            ) from None
        call.body = body
        if not isinstance(body, dict):
            raise ApiError(400, "parameter_invalid", "The request body must be a JSON object.")
        return body

    @staticmethod
    def _not_found(kind: str, resource_id: str, status: int = 404) -> ApiError:
        return ApiError(
            status,
            "resource_not_exist",
            f"Resource with id {resource_id} does not exist in {kind}.",
        )

    @staticmethod
    def _page_args(request: web.Request) -> tuple[int, int]:
        page = _int_param(request.query.get("page", "1"), "page", minimum=1)
        limit = _int_param(request.query.get("page_limit", "10"), "page_limit", minimum=1)
        if limit > 50:
            raise ApiError(400, "parameter_invalid", "The page_limit parameter is invalid.")
        return page, limit

    @staticmethod
    def _page_info(page: int, limit: int, total: int) -> dict[str, int]:
        return {
            "limit_per_page": limit,
            "page": page,
            "total_page": max(1, math.ceil(total / limit)),
            "total_results": total,
        }

    # ------------------------------------------------------------------ assets

    async def _stream_part(
        self, part: aiohttp.BodyPartReader, path: Path, limit: int
    ) -> tuple[int, str, bool]:
        """Write a form part to `path` (up to `limit` bytes); return (size, sha256, too_big)."""
        digest = hashlib.sha256()
        size = 0
        with path.open("wb") as out:
            while True:
                data = await part.read_chunk(_READ_BLOCK)
                if not data:
                    break
                size += len(data)
                if size <= limit:
                    out.write(data)
                    digest.update(data)
        return size, digest.hexdigest(), size > limit

    async def _create_asset(self, request: web.Request) -> web.StreamResponse:
        call = request[CALL]
        if not request.content_type.startswith("multipart/"):
            raise ApiError(
                400, "parameter_invalid", "The request must be sent as multipart/form-data."
            )
        fields: dict[str, str] = {}
        recorded: dict[str, Any] = {}
        call.body = recorded
        upload: tuple[Path, int, str, bool, str | None, str | None] | None = None
        reader = await request.multipart()
        try:
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, aiohttp.BodyPartReader):
                    continue
                name = part.name or ""
                if name == "file":
                    path = self._tmp("direct")
                    size, sha, too_big = await self._stream_part(
                        part, path, self.direct_upload_limit
                    )
                    upload = (
                        path,
                        size,
                        sha,
                        too_big,
                        part.filename,
                        part.headers.get("Content-Type"),
                    )
                    recorded["file"] = size
                else:
                    value = await part.text()
                    fields[name] = value
                    recorded[name] = value
            return self._finish_create_asset(request, fields, upload)
        finally:
            if upload is not None:
                with contextlib.suppress(OSError):
                    upload[0].unlink()

    def _finish_create_asset(
        self,
        request: web.Request,
        fields: dict[str, str],
        upload: tuple[Path, int, str, bool, str | None, str | None] | None,
    ) -> web.Response:
        method = fields.get("method")
        if not method:
            raise _missing("method")
        if method not in ("direct", "url"):
            raise ApiError(400, "parameter_invalid", "The method parameter is invalid.")
        metadata: dict[str, Any] | None = None
        if fields.get("user_metadata"):
            try:
                metadata = json.loads(fields["user_metadata"])
            except ValueError:
                metadata = None
            if not isinstance(metadata, dict):
                raise ApiError(400, "parameter_invalid", "The user_metadata parameter is invalid.")
        now = utcnow()
        asset_id = _new_id()
        if method == "direct":
            if upload is None:
                raise _missing("file")
            path, size, sha, too_big, part_name, part_type = upload
            if too_big:
                raise ApiError(
                    400,
                    "video_filesize_too_large",
                    "The video is too large. Please use a video with a size less than or equal to "
                    f"{self.direct_upload_limit} bytes. Current file size is {size} bytes. "
                    "Use the multipart upload API for larger files.",
                )
            filename = fields.get("filename") or part_name or "untitled"
            asset = AssetState(
                id=asset_id,
                method="direct",
                filename=filename,
                file_type=guess_mime(filename, part_type),
                created_at=now,
                user_metadata=metadata,
                enable_hls=_as_bool(fields.get("enable_hls"), True),
                enable_thumbnail=_as_bool(fields.get("enable_thumbnail"), True),
                size=size,
                sha256=sha,
                media=probe(path),
            )
            self.assets[asset_id] = asset
            self._spawn(self._settle_asset(asset, time.monotonic() + self.asset_processing_s))
        else:
            url = fields.get("url")
            if not url:
                raise _missing("url")
            if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
                raise ApiError(400, "parameter_invalid", "The url parameter is invalid.")
            filename = fields.get("filename") or self._url_filename(url)
            asset = AssetState(
                id=asset_id,
                method="url",
                filename=filename,
                file_type=guess_mime(filename),
                created_at=now,
                user_metadata=metadata,
                enable_hls=_as_bool(fields.get("enable_hls"), True),
                enable_thumbnail=_as_bool(fields.get("enable_thumbnail"), True),
                url=url,
            )
            self.assets[asset_id] = asset
            self._spawn(self._fetch_url_asset(asset, time.monotonic() + self.asset_processing_s))
        return _json_response(201, self._asset_json(asset, self._origin(request), detail=False))

    @staticmethod
    def _url_filename(url: str) -> str:
        name = PurePosixPath(unquote(urlsplit(url).path)).name
        return name or "video"

    async def _settle_asset(self, asset: AssetState, ready_at: float) -> None:
        await self._sleep_until(ready_at)
        if asset.media is None or asset.media.error is not None:
            asset.error = asset.error or (
                asset.media.error if asset.media else "Processing failed."
            )
            asset.status = "failed"
        else:
            asset.status = "ready"
        asset.ready_at = time.monotonic()

    async def _fetch_url_asset(self, asset: AssetState, ready_at: float) -> None:
        assert asset.url is not None
        fetched = await self._fetch(asset.url)
        try:
            if fetched.error is not None or fetched.path is None:
                asset.error = fetched.error
            else:
                asset.size = fetched.size
                asset.sha256 = fetched.sha256
                asset.media = await asyncio.get_running_loop().run_in_executor(
                    None, probe, fetched.path
                )
                if asset.file_type == "application/octet-stream":
                    asset.file_type = guess_mime(asset.filename, fetched.content_type)
        finally:
            if fetched.path is not None:
                with contextlib.suppress(OSError):
                    fetched.path.unlink()
        await self._settle_asset(asset, ready_at)

    async def _fetch(self, url: str) -> _Fetched:
        """GET `url` like the platform would: follow redirects, stream to disk, cap the size."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30),
                trust_env=False,
            )
        path = self._tmp("fetch")
        digest = hashlib.sha256()
        size = 0
        name = self._url_filename(url)
        try:
            async with self._session.get(url, allow_redirects=True, max_redirects=10) as resp:
                if not 200 <= resp.status < 300:
                    return _Fetched(
                        None,
                        0,
                        "",
                        "The platform could not download the file from the URL "
                        f"(HTTP {resp.status}).",
                        name,
                        None,
                    )
                name = self._url_filename(str(resp.url)) if name == "video" else name
                with path.open("wb") as out:
                    async for data in resp.content.iter_chunked(_READ_BLOCK):
                        size += len(data)
                        if size > self.url_upload_limit:
                            raise ValueError("too large")
                        out.write(data)
                        digest.update(data)
                ctype = resp.headers.get("Content-Type")
        except ValueError:
            path.unlink(missing_ok=True)
            return _Fetched(
                None, size, "", "The file at the URL exceeds the 4 GB limit.", name, None
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            path.unlink(missing_ok=True)
            reason = str(exc) or type(exc).__name__
            return _Fetched(
                None, 0, "", f"The platform could not access the URL: {reason}.", name, None
            )
        return _Fetched(path, size, digest.hexdigest(), None, name, ctype)

    def _asset_json(self, asset: AssetState, origin: str, *, detail: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "_id": asset.id,
            "method": asset.method,
            "status": asset.status,
            "filename": asset.filename,
            "file_type": asset.file_type,
            "created_at": rfc3339(asset.created_at),
        }
        if asset.user_metadata is not None:
            out["user_metadata"] = asset.user_metadata
        if not detail:
            return out
        sub_status = {"processing": "processing", "ready": "ready", "failed": "error"}.get(
            asset.status, "pending"
        )
        if asset.enable_hls:
            hls: dict[str, Any] = {"status": sub_status}
            if asset.status == "ready":
                hls["manifest_url"] = f"{origin}/_fake/hls/{asset.id}.m3u8"
            out["hls"] = hls
        if asset.enable_thumbnail:
            thumb: dict[str, Any] = {"status": sub_status}
            if asset.status == "ready":
                thumb["representative_url"] = f"{origin}/_fake/thumbnails/{asset.id}.png"
            out["thumbnail"] = thumb
        if asset.status == "ready" and asset.media is not None:
            out["size"] = asset.size
            out["duration"] = asset.media.duration
            out["technical_metadata"] = asset.media.technical_metadata(asset.file_type)
        elif asset.status == "failed":
            out["error"] = {"message": asset.error or "The platform could not process the file."}
            if asset.size is not None:
                out["technical_metadata"] = {"file_size_bytes": asset.size}
        return out

    async def _list_assets(self, request: web.Request) -> web.StreamResponse:
        """`GET /assets`: newest first; `filename` is a case-insensitive partial match,
        `asset_ids` / `asset_types` repeatable filters (the July 2026 definition)."""
        page, limit = self._page_args(request)
        found = sorted(self.assets.values(), key=lambda a: a.created_at, reverse=True)
        name = request.query.get("filename")
        if name:
            found = [a for a in found if name.lower() in (a.filename or "").lower()]
        ids = request.query.getall("asset_ids", [])
        if ids:
            found = [a for a in found if a.id in ids]
        types = request.query.getall("asset_types", [])
        if types:
            found = [a for a in found if (a.file_type or "").split("/")[0] in types]
        origin = self._origin(request)
        data = [
            self._asset_json(a, origin, detail=True)
            for a in found[(page - 1) * limit : page * limit]
        ]
        return _json_response(
            200, {"data": data, "page_info": self._page_info(page, limit, len(found))}
        )

    async def _get_asset(self, request: web.Request) -> web.StreamResponse:
        asset = self.assets.get(request.match_info["id"])
        if asset is None:
            raise self._not_found("assets", request.match_info["id"])
        return _json_response(200, self._asset_json(asset, self._origin(request), detail=True))

    async def _delete_asset(self, request: web.Request) -> web.StreamResponse:
        """`DELETE /assets/{id}?force=`: 409 while indexed assets use it, unless forced."""
        asset_id = request.match_info["id"]
        if asset_id not in self.assets:
            raise self._not_found("assets", asset_id)
        users = [i for i in self.indexed_assets.values() if i.asset_id == asset_id]
        if users and not _as_bool(request.query.get("force"), False):
            raise ApiError(
                409,
                "asset_in_use",
                "The platform cannot delete this asset because one or more indexed assets are "
                "referencing it. Set the force query parameter to true to override.",
            )
        for item in users:
            del self.indexed_assets[item.id]
        del self.assets[asset_id]
        for upload in self.uploads.values():
            if upload.asset_id == asset_id and upload.status == "active":
                upload.status = "failed"  # its asset is gone: the session can't complete
        return web.Response(status=200)

    async def _list_asset_indexes(self, request: web.Request) -> web.StreamResponse:
        """`GET /assets/{id}/indexed-assets`: every indexed asset made from this asset."""
        asset_id = request.match_info["id"]
        if asset_id not in self.assets:
            raise self._not_found("assets", asset_id)
        page, limit = self._page_args(request)
        found = sorted(
            (i for i in self.indexed_assets.values() if i.asset_id == asset_id),
            key=lambda i: i.created_at,
            reverse=True,
        )
        data = [
            {"_id": i.id, "index": {"_id": i.index_id, "name": self.indexes[i.index_id].index_name}}
            for i in found[(page - 1) * limit : page * limit]
            if i.index_id in self.indexes
        ]
        return _json_response(
            200, {"data": data, "page_info": self._page_info(page, limit, len(found))}
        )

    # ------------------------------------------------------------------ multipart uploads

    def _presign(self, origin: str, upload: UploadState, index: int) -> dict[str, Any]:
        token = secrets.token_urlsafe(16)
        expires = time.time() + self.presigned_url_ttl_s
        self._presigned[token] = PresignedUrl(upload.id, index, expires)
        return {
            "chunk_index": index,
            "url": f"{origin}/_upload/{upload.id}/{index}?sig={token}",
            "expires_at": rfc3339(utcnow() + timedelta(seconds=self.presigned_url_ttl_s)),
        }

    def _get_upload(self, upload_id: str) -> UploadState:
        upload = self.uploads.get(upload_id)
        if upload is None:
            raise self._not_found("multipart uploads", upload_id)
        if upload.status == "active" and utcnow() > upload.expires_at:
            upload.status = "expired"
        return upload

    async def _create_upload(self, request: web.Request) -> web.StreamResponse:
        body = await self._read_json(request)
        for name in ("filename", "type", "total_size"):
            if body.get(name) in (None, ""):
                raise _missing(name)
        filename, kind = body["filename"], body["type"]
        if not isinstance(filename, str):
            raise ApiError(400, "parameter_invalid", "The filename parameter is invalid.")
        if kind not in MULTIPART_MAX:
            raise ApiError(400, "parameter_invalid", "The type parameter is invalid.")
        total = _int_param(body["total_size"], "total_size", minimum=1)
        if total > MULTIPART_MAX[kind]:
            raise ApiError(
                400,
                "parameter_invalid",
                f"The total_size parameter is invalid: the maximum for {kind} is "
                f"{MULTIPART_MAX[kind]} bytes.",
            )
        metadata = body.get("user_metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise ApiError(400, "parameter_invalid", "The user_metadata parameter is invalid.")
        chunk_size = int(self.multipart_chunk_size)
        total_chunks = max(1, math.ceil(total / chunk_size))
        now = utcnow()
        asset = AssetState(
            id=_new_id(),
            method="multipart",
            filename=filename,
            file_type=guess_mime(filename),
            created_at=now,
            user_metadata=metadata,
            enable_hls=bool(body.get("enable_hls", False)),
            enable_thumbnail=bool(body.get("enable_thumbnail", False)),
        )
        path = self._tmp("multipart")
        with path.open("wb") as f:
            f.truncate(total)
        upload = UploadState(
            id=_new_id(),
            asset_id=asset.id,
            filename=filename,
            type=kind,
            total_size=total,
            chunk_size=chunk_size,
            total_chunks=total_chunks,
            created_at=now,
            expires_at=now + timedelta(hours=24),
            path=path,
            updated_at=now,
        )
        self.assets[asset.id] = asset
        self.uploads[upload.id] = upload
        origin = self._origin(request)
        first = min(total_chunks, max(0, int(self.initial_upload_urls)))
        return _json_response(
            201,
            {
                "upload_id": upload.id,
                "asset_id": asset.id,
                "upload_urls": [self._presign(origin, upload, i) for i in range(1, first + 1)],
                "upload_headers": {"Content-Type": "application/octet-stream"},
                "chunk_size": chunk_size,
                "total_chunks": total_chunks,
                "expires_at": rfc3339(upload.expires_at),
            },
        )

    async def _list_uploads(self, request: web.Request) -> web.StreamResponse:
        page, limit = self._page_args(request)
        active = [u for u in self.uploads.values() if self._get_upload(u.id).status == "active"]
        data = [
            {
                "upload_id": u.id,
                "status": u.status,
                "total_size": u.total_size,
                "chunk_size": u.chunk_size,
                "total_chunks": u.total_chunks,
                "created_at": rfc3339(u.created_at),
                "expires_at": rfc3339(u.expires_at),
            }
            for u in active[(page - 1) * limit : page * limit]
        ]
        return _json_response(
            200, {"data": data, "page_info": self._page_info(page, limit, len(active))}
        )

    async def _put_chunk(self, request: web.Request) -> web.StreamResponse:
        call = request[CALL]
        upload_id = request.match_info["upload_id"]
        try:
            index = int(request.match_info["chunk_index"])
        except ValueError:
            return _s3_error(400, "InvalidArgument", "Invalid part number.")
        grant = self._presigned.get(request.query.get("sig", ""))
        if grant is None or grant.upload_id != upload_id or grant.chunk_index != index:
            return _s3_error(403, "SignatureDoesNotMatch", "The request signature is invalid.")
        if time.time() > grant.expires_at:
            return _s3_error(403, "AccessDenied", "Request has expired.")
        if grant.used:
            return _s3_error(403, "AccessDenied", "This presigned URL has already been used.")
        upload = self.uploads.get(upload_id)
        if upload is None or self._get_upload(upload_id).status != "active":
            return _s3_error(404, "NoSuchUpload", "The upload does not exist or is not active.")
        expected = upload.expected_size(index)
        offset = (index - 1) * upload.chunk_size
        digest = hashlib.md5()
        received = 0
        fd = os.open(upload.path, os.O_WRONLY)
        try:
            async for data in request.content.iter_chunked(_READ_BLOCK):
                if received + len(data) <= expected:
                    os.pwrite(fd, data, offset + received)
                    digest.update(data)
                received += len(data)
        finally:
            os.close(fd)
        call.body = received
        if received != expected:
            upload.chunks.pop(index, None)
            return _s3_error(
                400,
                "InvalidChunkSize",
                f"Chunk {index} must be exactly {expected} bytes; received {received}.",
            )
        grant.used = True
        etag = digest.hexdigest()
        previous = upload.chunks.get(index)
        upload.chunks[index] = ChunkState(
            index=index,
            size=received,
            md5=etag,
            uploaded_at=utcnow(),
            reported_at=previous.reported_at if previous and previous.md5 == etag else None,
        )
        return web.Response(status=200, headers={"ETag": f'"{etag}"'})

    async def _report_chunks(self, request: web.Request) -> web.StreamResponse:
        upload = self._get_upload(request.match_info["id"])
        body = await self._read_json(request)
        items = body.get("completed_chunks")
        if not isinstance(items, list):
            raise _missing("completed_chunks")
        if upload.status in ("failed", "expired"):
            raise ApiError(400, "parameter_invalid", f"The upload session is {upload.status}.")
        checked: list[ChunkState] = []
        for item in items:
            if not isinstance(item, dict):
                raise ApiError(
                    400, "parameter_invalid", "The completed_chunks parameter is invalid."
                )
            index = _int_param(item.get("chunk_index"), "chunk_index", minimum=1)
            if index > upload.total_chunks:
                raise ApiError(400, "parameter_invalid", f"Chunk index {index} is out of range.")
            if item.get("proof_type", "etag") != "etag":
                raise ApiError(400, "parameter_invalid", "The proof_type parameter is invalid.")
            chunk = upload.chunks.get(index)
            if chunk is None:
                raise ApiError(400, "parameter_invalid", f"Chunk {index} has not been uploaded.")
            proof = str(item.get("proof", "")).strip().strip('"').lower()
            if proof != chunk.md5:
                raise ApiError(
                    400,
                    "parameter_invalid",
                    f"The proof for chunk {index} does not match its ETag.",
                )
            if "chunk_size" in item and item["chunk_size"] != chunk.size:
                raise ApiError(
                    400,
                    "parameter_invalid",
                    f"The chunk_size for chunk {index} is {item['chunk_size']}; "
                    f"the platform received {chunk.size} bytes.",
                )
            checked.append(chunk)
        processed = duplicates = 0
        now = utcnow()
        for chunk in checked:
            if chunk.reported_at is not None:
                duplicates += 1
            else:
                chunk.reported_at = now
                processed += 1
        if processed:
            upload.updated_at = now
        total_completed = len(upload.reported)
        out: dict[str, Any] = {
            "asset_id": upload.asset_id,
            "processed_chunks": processed,
            "duplicate_chunks": duplicates,
            "total_completed": total_completed,
        }
        if total_completed == upload.total_chunks and upload.status == "active":
            upload.status = "completed"
            asset = self.assets[upload.asset_id]
            self._spawn(self._finish_upload(upload, asset))
        if upload.status == "completed":
            out["url"] = f"{self._origin(request)}/_fake/assets/{upload.asset_id}"
        return _json_response(200, out)

    async def _finish_upload(self, upload: UploadState, asset: AssetState) -> None:
        ready_at = time.monotonic() + self.asset_processing_s
        loop = asyncio.get_running_loop()

        def digest_and_probe() -> tuple[str, MediaInfo]:
            digest = hashlib.sha256()
            with upload.path.open("rb") as f:
                while block := f.read(4 * _READ_BLOCK):
                    digest.update(block)
            return digest.hexdigest(), probe(upload.path)

        try:
            asset.sha256, asset.media = await loop.run_in_executor(None, digest_and_probe)
            asset.size = upload.total_size
        finally:
            with contextlib.suppress(OSError):
                upload.path.unlink()
        await self._settle_asset(asset, ready_at)

    async def _more_urls(self, request: web.Request) -> web.StreamResponse:
        upload = self._get_upload(request.match_info["id"])
        body = await self._read_json(request)
        for name in ("start", "count"):
            if name not in body:
                raise _missing(name)
        start = _int_param(body["start"], "start", minimum=1)
        count = _int_param(body["count"], "count", minimum=1)
        if count > 50:
            raise ApiError(
                400, "parameter_invalid", "The count parameter is invalid: the maximum is 50."
            )
        if start > upload.total_chunks:
            raise ApiError(
                400,
                "parameter_invalid",
                f"The start parameter is invalid: the upload has {upload.total_chunks} chunks.",
            )
        if upload.status != "active":
            raise ApiError(400, "parameter_invalid", f"The upload session is {upload.status}.")
        end = min(upload.total_chunks, start + count - 1)
        origin = self._origin(request)
        urls = [self._presign(origin, upload, i) for i in range(start, end + 1)]
        now = utcnow()
        return _json_response(
            200,
            {
                "upload_id": upload.id,
                "start_index": start,
                "count": len(urls),
                "upload_urls": urls,
                "generated_at": rfc3339(now),
                "expires_at": rfc3339(now + timedelta(seconds=self.presigned_url_ttl_s)),
            },
        )

    async def _upload_status(self, request: web.Request) -> web.StreamResponse:
        upload = self._get_upload(request.match_info["id"])
        page, limit = self._page_args(request)
        infos: list[dict[str, Any]] = []
        for index in range(1, upload.total_chunks + 1):
            chunk = upload.chunks.get(index)
            done = chunk is not None and chunk.reported_at is not None
            infos.append(
                {
                    "index": index,
                    "status": "completed" if done else "pending",
                    "uploaded_at": rfc3339(chunk.reported_at) if done and chunk else None,
                    "updated_at": rfc3339(chunk.uploaded_at if chunk else upload.created_at),
                }
            )
        reported = upload.reported
        return _json_response(
            200,
            {
                "upload_id": upload.id,
                "status": upload.status,
                "uploaded_chunks": infos[(page - 1) * limit : page * limit],
                "chunks_completed": len(reported),
                "chunks_failed": 0,
                "chunks_pending": upload.total_chunks - len(reported),
                "page_info": self._page_info(page, limit, upload.total_chunks),
                "total_size": upload.total_size,
                "uploaded_size": sum(c.size for c in reported),
                "created_at": rfc3339(upload.created_at),
                "updated_at": rfc3339(upload.updated_at),
            },
        )

    # ------------------------------------------------------------------ indexes

    def _index_json(self, index: IndexState) -> dict[str, Any]:
        ready = [
            self.assets.get(ia.asset_id)
            for ia in self.indexed_assets.values()
            if ia.index_id == index.id and ia.status == "ready"
        ]
        return {
            "_id": index.id,
            "index_name": index.index_name,
            "models": index.models,
            "addons": index.addons,
            "created_at": rfc3339(index.created_at),
            "updated_at": rfc3339(index.updated_at),
            "expires_at": None,
            "video_count": len(ready),
            "total_duration": round(sum((a.duration or 0.0) for a in ready if a), 3),
        }

    async def _create_index(self, request: web.Request) -> web.StreamResponse:
        body = await self._read_json(request)
        name = body.get("index_name")
        if not name:
            raise _missing("index_name")
        if not isinstance(name, str):
            raise ApiError(400, "parameter_invalid", "The index_name parameter is invalid.")
        models = body.get("models")
        if not models:
            raise _missing("models")
        if not isinstance(models, list):
            raise ApiError(400, "parameter_invalid", "The models parameter is invalid.")
        clean: list[dict[str, Any]] = []
        for model in models:
            model_name = model.get("model_name") if isinstance(model, dict) else None
            if model_name not in INDEX_MODELS:
                raise ApiError(
                    400,
                    "parameter_invalid",
                    f"The model_name parameter is invalid: {model_name!r} is not supported for "
                    f"indexes. Supported models: {', '.join(INDEX_MODELS)}.",
                )
            assert isinstance(model, dict)
            options = model.get("model_options")
            if (
                not isinstance(options, list)
                or not options
                or any(o not in MODEL_OPTIONS for o in options)
            ):
                raise ApiError(400, "parameter_invalid", "The model_options parameter is invalid.")
            clean.append({"model_name": model_name, "model_options": list(options)})
        addons = body.get("addons") or []
        if not isinstance(addons, list) or any(a != "thumbnail" for a in addons):
            raise ApiError(400, "parameter_invalid", "The addons parameter is invalid.")
        if any(i.index_name == name for i in self.indexes.values()):
            raise ApiError(
                self.index_name_conflict_status,
                "index_name_already_exists",
                f"Index name {name} already exists. Please use another unique name and try again.",
            )
        now = utcnow()
        index = IndexState(_new_id(), name, clean, list(addons), now, now)
        self.indexes[index.id] = index
        return _json_response(201, {"_id": index.id})

    async def _list_indexes(self, request: web.Request) -> web.StreamResponse:
        page, limit = self._page_args(request)
        query = request.query
        sort_by = query.get("sort_by", "created_at")
        if sort_by not in ("created_at", "updated_at"):
            raise ApiError(400, "parameter_invalid", "The sort_by parameter is invalid.")
        sort_option = query.get("sort_option", "desc")
        if sort_option not in ("asc", "desc"):
            raise ApiError(400, "parameter_invalid", "The sort_option parameter is invalid.")
        found = list(self.indexes.values())
        if query.get("index_name"):
            # Treated as a partial match: clients must compare names themselves.
            found = [i for i in found if query["index_name"] in i.index_name]
        if query.get("model_family"):
            found = [
                i
                for i in found
                if any(m["model_name"].startswith(query["model_family"]) for m in i.models)
            ]
        found.sort(key=lambda i: getattr(i, sort_by), reverse=sort_option == "desc")
        data = [self._index_json(i) for i in found[(page - 1) * limit : page * limit]]
        return _json_response(
            200, {"data": data, "page_info": self._page_info(page, limit, len(found))}
        )

    def _get_index_state(self, index_id: str) -> IndexState:
        index = self.indexes.get(index_id)
        if index is None:
            raise self._not_found("indexes", index_id)
        return index

    async def _get_index(self, request: web.Request) -> web.StreamResponse:
        index = self._get_index_state(request.match_info["id"])
        return _json_response(200, self._index_json(index))

    # ------------------------------------------------------------------ indexed assets

    def _indexed_asset_json(self, item: IndexedAssetState, *, detail: bool) -> dict[str, Any]:
        asset = self.assets.get(item.asset_id)
        media = asset.media if asset else None
        video = media.video if media else None
        out: dict[str, Any] = {
            "_id": item.id,
            "asset_id": item.asset_id,
            "status": item.status,
            "created_at": rfc3339(item.created_at),
            "updated_at": rfc3339(item.updated_at),
            "system_metadata": {
                k: v
                for k, v in {
                    "filename": asset.filename if asset else None,
                    "duration": media.duration if media else None,
                    "fps": video.fps if video else None,
                    "width": video.width if video else None,
                    "height": video.height if video else None,
                    "size": asset.size if asset else None,
                }.items()
                if v is not None
            },
        }
        if item.indexed_at is not None:
            out["indexed_at"] = rfc3339(item.indexed_at)
        if detail and item.user_metadata is not None:
            out["user_metadata"] = item.user_metadata
        if item.error is not None:
            out["error"] = {"message": item.error}
        return out

    async def _create_indexed_asset(self, request: web.Request) -> web.StreamResponse:
        index = self._get_index_state(request.match_info["id"])
        body = await self._read_json(request)
        asset_id = body.get("asset_id")
        if not asset_id:
            raise _missing("asset_id")
        asset = self.assets.get(str(asset_id))
        if asset is None:
            raise ApiError(400, "parameter_invalid", f"The asset {asset_id} does not exist.")
        if asset.status != "ready":
            raise ApiError(
                400,
                "parameter_invalid",
                f"The asset {asset_id} is not ready (status: {asset.status}). "
                "Wait until its status is ready.",
            )
        metadata = body.get("user_metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise ApiError(400, "parameter_invalid", "The user_metadata parameter is invalid.")
        now = utcnow()
        item = IndexedAssetState(
            id=_new_id(),
            index_id=index.id,
            asset_id=asset.id,
            created_at=now,
            updated_at=now,
            user_metadata=metadata,
        )
        self.indexed_assets[item.id] = item
        self._spawn(self._run_indexing(item, index, asset))
        return _json_response(202, {"_id": item.id, "asset_id": asset.id})

    async def _run_indexing(
        self, item: IndexedAssetState, index: IndexState, asset: AssetState
    ) -> None:
        start, span = time.monotonic(), self.index_processing_s
        for fraction, status in ((0.25, "queued"), (0.5, "indexing")):
            await self._sleep_until(start + span * fraction)
            item.status, item.updated_at = status, utcnow()
        await self._sleep_until(start + span)
        now = utcnow()
        duration = asset.duration or 0.0
        if duration < MIN_ANALYSIS_S:
            item.status = "failed"
            item.error = f"The video is too short ({duration:g} s); the minimum is 4 seconds."
        else:
            item.status, item.indexed_at = "ready", now
        item.updated_at = index.updated_at = now

    def _get_indexed(self, request: web.Request) -> IndexedAssetState:
        index = self._get_index_state(request.match_info["id"])
        item = self.indexed_assets.get(request.match_info["iid"])
        if item is None or item.index_id != index.id:
            raise self._not_found("indexed assets", request.match_info["iid"])
        return item

    async def _get_indexed_asset(self, request: web.Request) -> web.StreamResponse:
        return _json_response(
            200, self._indexed_asset_json(self._get_indexed(request), detail=True)
        )

    async def _list_indexed_assets(self, request: web.Request) -> web.StreamResponse:
        index = self._get_index_state(request.match_info["id"])
        page, limit = self._page_args(request)
        found = [i for i in self.indexed_assets.values() if i.index_id == index.id]
        statuses = request.query.getall("status", [])
        if statuses:
            found = [i for i in found if i.status in statuses]
        found.sort(key=lambda i: i.created_at, reverse=True)
        data = [
            self._indexed_asset_json(i, detail=False)
            for i in found[(page - 1) * limit : page * limit]
        ]
        return _json_response(
            200, {"data": data, "page_info": self._page_info(page, limit, len(found))}
        )

    # ------------------------------------------------------------------ analysis

    def _validate_analysis(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Check an analyze request; return its json_schema (None when absent)."""
        model = body.get("model_name", "pegasus1.5")
        if model not in ANALYSIS_MODELS:
            raise ApiError(
                400,
                "parameter_invalid",
                f"The model_name parameter is invalid: {model!r} is not supported. "
                f"Supported models: {', '.join(ANALYSIS_MODELS)}.",
            )
        if "video_id" in body:
            raise ApiError(
                400,
                "parameter_invalid",
                "The video_id parameter is not supported by this model. "
                "Use video: {type: asset_id | url | base64_string}.",
            )
        if body.get("image") is not None:
            raise ApiError(400, "parameter_invalid", "The fake supports only video input.")
        video = body.get("video")
        if video is None:
            raise _missing("video")
        kinds = {"asset_id": "asset_id", "url": "url", "base64_string": "base64_string"}
        if (
            not isinstance(video, dict)
            or video.get("type") not in kinds
            or not isinstance(video.get(kinds[str(video.get("type"))]), str)
            or sum(1 for k in kinds.values() if k in video) != 1
        ):
            raise ApiError(
                400,
                "parameter_invalid",
                "The video parameter is invalid: give exactly one of "
                '{"type":"asset_id","asset_id":…}, {"type":"url","url":…} or '
                '{"type":"base64_string","base64_string":…}.',
            )
        prompt, prompt_v2 = body.get("prompt"), body.get("prompt_v2")
        if prompt is not None and prompt_v2 is not None:
            raise ApiError(400, "parameter_invalid", "Use either prompt or prompt_v2, not both.")
        if prompt is None and prompt_v2 is None:
            raise _missing("prompt")
        if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
            raise ApiError(400, "parameter_invalid", "The prompt parameter is invalid.")
        temperature = body.get("temperature")
        if temperature is not None and (
            isinstance(temperature, bool)
            or not isinstance(temperature, int | float)
            or not 0 <= temperature <= 1
        ):
            raise ApiError(400, "parameter_invalid", "The temperature parameter is invalid.")
        max_tokens = body.get("max_tokens")
        if max_tokens is not None and (
            isinstance(max_tokens, bool)
            or not isinstance(max_tokens, int)
            or not 512 <= max_tokens <= 98_304
        ):
            raise ApiError(
                400,
                "parameter_invalid",
                "The max_tokens parameter is invalid: it must be between 512 and 98304.",
            )
        response_format = body.get("response_format")
        if response_format is None:
            return None
        if not isinstance(response_format, dict):
            raise ApiError(400, "parameter_invalid", "The response_format parameter is invalid.")
        if response_format.get("type") != "json_schema":
            raise ApiError(
                400,
                "parameter_invalid",
                "The response_format.type parameter is invalid: the fake supports json_schema.",
            )
        schema = response_format.get("json_schema")
        if not isinstance(schema, dict):
            raise ApiError(
                400, "parameter_invalid", "The response_format.json_schema parameter is invalid."
            )
        problems = schema_problems(schema)
        if problems:
            raise ApiError(
                422,
                "parameter_invalid",
                "The json_schema uses keywords the platform does not support: "
                + "; ".join(problems),
            )
        return schema

    def _asset_source(self, asset_id: str) -> _Source:
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
        return _Source(asset.filename, asset.sha256 or "", asset.media)

    def _base64_source(self, encoded: str) -> _Source:
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
        return _Source("video.mp4", hashlib.sha256(raw).hexdigest(), media)

    async def _url_source(self, url: str) -> _Source:
        if urlsplit(url).scheme not in ("http", "https"):
            return _Source(self._url_filename(url), "", None, "The video URL is invalid.")
        fetched = await self._fetch(url)
        try:
            if fetched.error is not None or fetched.path is None:
                return _Source(fetched.filename, "", None, fetched.error)
            media = await asyncio.get_running_loop().run_in_executor(None, probe, fetched.path)
        finally:
            if fetched.path is not None:
                fetched.path.unlink(missing_ok=True)
        return _Source(fetched.filename, fetched.sha256, media, media.error)

    def _result(
        self,
        source: _Source,
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

    @staticmethod
    def _duration_problem(source: _Source, maximum: float) -> tuple[str, str] | None:
        if source.error is not None:
            return "video_file_broken", source.error
        duration = source.media.duration if source.media else None
        if duration is None:
            return "video_file_broken", "The video duration could not be determined."
        if duration < MIN_ANALYSIS_S:
            return (
                "video_duration_too_short",
                f"Video duration is too short: {duration:g} seconds. "
                f"The minimum duration is {MIN_ANALYSIS_S:g} seconds.",
            )
        if duration > maximum:
            return (
                "video_duration_too_long",
                f"Video duration exceeds maximum allowed duration ({maximum:g} seconds).",
            )
        return None

    async def _create_task(self, request: web.Request) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        body = await self._read_json(request)
        if key and key in self._idempotency and self._idempotency[key] in self.tasks:
            task = self.tasks[self._idempotency[key]]
            return _json_response(
                202,
                {"task_id": task.id, "status": task.status},
                {"Idempotent-Replayed": "true"},
            )
        schema = self._validate_analysis(body)
        custom_id = body.get("custom_id")
        if custom_id is not None and (
            not isinstance(custom_id, str)
            or not 1 <= len(custom_id) <= 64
            or not all(c.isascii() and (c.isalnum() or c in "_-") for c in custom_id)
        ):
            raise ApiError(400, "parameter_invalid", "The custom_id parameter is invalid.")
        video: dict[str, Any] = body["video"]
        pending: Awaitable[_Source] | None = None
        if video["type"] == "asset_id":
            source: _Source | None = self._asset_source(video["asset_id"])
        elif video["type"] == "base64_string":
            source = self._base64_source(video["base64_string"])
        else:
            source = None
            pending = self._spawn(self._url_source(video["url"]))
        task = TaskState(
            id=_new_id(),
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
        return _json_response(202, {"task_id": task.id, "status": task.status})

    async def _run_task(
        self,
        task: TaskState,
        source: _Source | None,
        pending: Awaitable[_Source] | None,
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
        source: _Source | None,
        pending: Awaitable[_Source] | None,
        schema: dict[str, Any] | None,
        start: float,
        span: float,
    ) -> None:
        await self._sleep_until(start + span * 0.25)
        task.status = "pending"
        await self._sleep_until(start + span * 0.5)
        task.status = "processing"
        if source is None:
            assert pending is not None
            source = await pending
            task.filename, task.sha256 = source.filename, source.sha256
            task.duration = source.media.duration if source.media else None
        await self._sleep_until(start + span)
        task.completed_at = utcnow()
        problem = self._duration_problem(source, MAX_TASK_S)
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

    def _task_json(self, task: TaskState) -> dict[str, Any]:
        params = {
            k: task.request[k]
            for k in (
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
            if k in task.request
        }
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

    async def _get_task(self, request: web.Request) -> web.StreamResponse:
        task = self.tasks.get(request.match_info["id"])
        if task is None:
            raise self._not_found("analyze tasks", request.match_info["id"])
        return _json_response(200, self._task_json(task))

    async def _list_tasks(self, request: web.Request) -> web.StreamResponse:
        """`GET /analyze/tasks`: newest first; `status`, `asset_id`, `video_url` and
        `analysis_mode` filter (exact matches, as the July 2026 definition lists them)."""
        page, limit = self._page_args(request)
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
        data = [self._task_json(t) for t in found[(page - 1) * limit : page * limit]]
        return _json_response(
            200, {"data": data, "page_info": self._page_info(page, limit, len(found))}
        )

    async def _analyze(self, request: web.Request) -> web.StreamResponse:
        body = await self._read_json(request)
        schema = self._validate_analysis(body)
        video: dict[str, Any] = body["video"]
        if video["type"] == "asset_id":
            source = self._asset_source(video["asset_id"])
        elif video["type"] == "base64_string":
            source = self._base64_source(video["base64_string"])
        else:
            source = await self._url_source(video["url"])
        problem = self._duration_problem(source, MAX_SYNC_S)
        if problem is not None:
            raise ApiError(400, problem[0], problem[1])
        force_length = self._take_length()
        await asyncio.sleep(self.task_processing_s)
        data, finish, usage = self._result(source, schema, body, force_length)
        generation_id = str(uuid.uuid4())
        warning = None
        if finish == "length":
            warning = {
                "message": "The response reached the maximum length; the output is truncated."
            }
        if body.get("stream", True) is False:
            out: dict[str, Any] = {
                "id": generation_id,
                "data": data,
                "finish_reason": finish,
                "usage": usage,
            }
            if warning:
                out["error"] = warning
            return _json_response(200, out)
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "application/x-ndjson", "X-Api-Version": "1.3"}
        )
        await response.prepare(request)
        events: list[dict[str, Any]] = [
            {"event_type": "stream_start", "metadata": {"generation_id": generation_id}}
        ]
        events += [
            {"event_type": "text_generation", "text": data[i : i + 16]}
            for i in range(0, len(data), 16)
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

    # ------------------------------------------------------------------ control surface

    async def _ctl_config(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            self.configure(**body)
        except (ValueError, TypeError) as exc:
            return _json_response(400, {"code": "parameter_invalid", "message": str(exc)})
        return _json_response(200, self.config())

    async def _ctl_get_config(self, request: web.Request) -> web.StreamResponse:
        return _json_response(200, self.config())

    async def _ctl_add_fault(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            fault = Fault(**cast(dict[str, Any], body))
        except (ValueError, TypeError) as exc:
            return _json_response(400, {"code": "parameter_invalid", "message": str(exc)})
        self.add_fault(fault)
        return _json_response(201, asdict(fault))

    async def _ctl_clear_faults(self, request: web.Request) -> web.StreamResponse:
        self.clear_faults()
        return web.Response(status=204)

    async def _ctl_calls(self, request: web.Request) -> web.StreamResponse:
        return _json_response(200, [asdict(c) for c in list(self.calls)])

    async def _ctl_reset(self, request: web.Request) -> web.StreamResponse:
        await self._cancel_background()
        self._clear_state()
        return web.Response(status=204)

    async def _thumbnail(self, request: web.Request) -> web.StreamResponse:
        asset_id = request.match_info["name"].split(".")[0]
        if asset_id not in self.assets:
            raise web.HTTPNotFound()
        return web.Response(body=THUMBNAIL_PNG, content_type="image/png")

    async def _hls(self, request: web.Request) -> web.StreamResponse:
        asset = self.assets.get(request.match_info["name"].split(".")[0])
        if asset is None:
            raise web.HTTPNotFound()
        duration = asset.duration or 0.0
        playlist = (
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n"
            f"#EXT-X-TARGETDURATION:{math.ceil(duration)}\n"
            f"#EXTINF:{duration:.3f},\nsegment0.ts\n#EXT-X-ENDLIST\n"
        )
        return web.Response(text=playlist, content_type="application/vnd.apple.mpegurl")
