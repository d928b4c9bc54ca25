"""End-to-end harness: the real app (HTTP mode) on loopback, driven by signed Slack requests,
talking to a fake Slack Web API and a fake TwelveLabs API, each a real server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.runtime import Running, start
from bot.settings import Settings
from tests.fakes.slack import FakeSlack
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.slack_driver import SlackDriver

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
TL_KEY = "tlk-test-key-123456"
CHANNEL = "C0001"


async def until(
    predicate: Callable[[], Any], timeout_s: float = 15.0, interval: float = 0.05
) -> Any:
    """Poll a condition; the work runs in background tasks, as in Bolt's own tests."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(interval)


@pytest.fixture
def fake_tl() -> Iterator[FakeTwelveLabs]:
    fake = FakeTwelveLabs(
        api_key=TL_KEY, asset_processing_s=0.2, task_processing_s=0.2, index_processing_s=0.2
    )
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(bot_token=BOT_TOKEN)
    fake.start()
    yield fake
    fake.stop()


def make_settings(
    fake_slack: FakeSlack, fake_tl: FakeTwelveLabs, db: Path, **overrides: Any
) -> Settings:
    values: dict[str, Any] = dict(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.api_url,
        slack_file_hosts=["127.0.0.1", "localhost"],
        twelvelabs_api_key=TL_KEY,
        twelvelabs_base_url=fake_tl.base_url,
        host="127.0.0.1",
        port=0,
        gist_db_path=db,
        gist_tmp_dir=db.parent / "tmp",
        gist_progress_interval_s=0.3,
        gist_poll_initial_s=0.05,
        gist_poll_max_interval_s=0.2,
        twelvelabs_backoff_initial_s=0.01,
        slack_backoff_initial_s=0.01,
        gist_retry_initial_s=0.05,
        gist_retry_max_interval_s=0.3,
        gist_allow_private_urls=True,
        gist_shutdown_grace_s=1.0,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Harness:
    running: Running
    driver: SlackDriver
    slack: FakeSlack
    tl: FakeTwelveLabs
    settings: Settings

    def thread(self, ts: str, channel: str = CHANNEL) -> list[Any]:
        return self.slack.thread(channel, ts)

    def results(self, ts: str, channel: str = CHANNEL) -> list[Any]:
        """Bot messages in the thread that carry a finished gist (a Regenerate button)."""
        return [m for m in self.thread(ts, channel) if "gist_regenerate" in str(m.blocks)]

    def errors(self, ts: str, channel: str = CHANNEL) -> list[Any]:
        return [m for m in self.thread(ts, channel) if ":x:" in str(m.blocks)]


@pytest.fixture
async def make_harness(
    fake_slack: FakeSlack, fake_tl: FakeTwelveLabs, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    started: list[Running] = []

    async def factory(**overrides: Any) -> Harness:
        settings = make_settings(fake_slack, fake_tl, tmp_path / "gistbot.sqlite3", **overrides)
        running = await start(settings)
        started.append(running)
        driver = SlackDriver(app_url=running.url, signing_secret=SIGNING_SECRET)
        return Harness(running, driver, fake_slack, fake_tl, settings)

    yield factory
    for running in started:
        await running.stop(grace_s=0.5)


@pytest.fixture
async def harness(make_harness: Callable[..., Any]) -> Harness:
    h: Harness = await make_harness()
    return h


@pytest.fixture
async def video_server() -> AsyncIterator[str]:
    """Serves media the way the web does: real videos, an HTML page at a .mp4 URL, a 404,
    an extensionless video and an extensionless web page."""
    from aiohttp import web

    from tests.videos import make_video

    video = make_video(5.0).read_bytes()

    async def media(request: web.Request) -> web.Response:
        return web.Response(body=video, content_type="video/mp4")

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<!DOCTYPE html><html><body>Sign in</body></html>",
                            content_type="text/html")  # fmt: skip

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="not found")

    app = web.Application()
    app.router.add_get("/media/{name}", media)
    app.router.add_get("/stream/{name}", media)  # extensionless: /stream/abc
    app.router.add_get("/html/{name}", html)
    app.router.add_get("/page", html)
    app.router.add_get("/missing/{name}", missing)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()
