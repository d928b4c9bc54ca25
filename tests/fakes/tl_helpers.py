"""Shared by the fake TwelveLabs tests: a started fake, an API client, uploads and waits."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiohttp import web

from tests.fakes.twelvelabs import FakeTwelveLabs

KEY = "tl-test-key"
T = TypeVar("T")
GIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "description": "A title."},
        "topics": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "hashtags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["title", "topics", "hashtags"],
}


@contextlib.contextmanager
def started_fake() -> Iterator[FakeTwelveLabs]:
    """A fake with short processing times, stopped afterwards."""
    server = FakeTwelveLabs(
        api_key=KEY, asset_processing_s=0.05, task_processing_s=0.05, index_processing_s=0.05
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def api_client(fake: FakeTwelveLabs) -> Iterator[httpx.Client]:
    assert fake.base_url is not None
    with httpx.Client(base_url=fake.base_url, headers={"x-api-key": KEY}, timeout=10) as client:
        yield client


def wait_for(probe_fn: Callable[[], T | None], timeout: float = 5.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe_fn()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def upload(api: httpx.Client, video: Path, **fields: str) -> str:
    with video.open("rb") as f:
        response = api.post(
            "/assets",
            data={"method": "direct", **fields},
            files={"file": (video.name, f, "video/mp4")},
        )
    assert response.status_code == 201, response.text
    return str(response.json()["_id"])


def wait_asset(api: httpx.Client, asset_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body: dict[str, Any] = api.get(f"/assets/{asset_id}").json()
        return body if body["status"] != "processing" else None

    return wait_for(done)


def wait_task(api: httpx.Client, task_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body: dict[str, Any] = api.get(f"/analyze/tasks/{task_id}").json()
        return body if body["status"] in ("ready", "failed") else None

    return wait_for(done)


def analysis(asset_id: str, schema: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "model_name": "pegasus1.5",
        "video": {"type": "asset_id", "asset_id": asset_id},
        "prompt": "Give a title, topics and hashtags.",
        "response_format": {"type": "json_schema", "json_schema": schema or GIST_SCHEMA},
        **extra,
    }


class MediaSite:
    """A small aiohttp file server in its own thread (so blocking SDK calls can reach it)."""

    def __init__(self, routes: dict[str, web.StreamResponse | Path]) -> None:
        self.routes = routes
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.url = ""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        target = self.routes.get(request.path)
        if target is None:
            return web.Response(status=404, text="not found")
        if isinstance(target, Path):
            return web.FileResponse(target)
        return target

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
