"""The Bolt app with its listeners, driven in-process through `AsyncApp.async_dispatch`.

The app is built and wired as `bot.runtime.start()` wires it (real runner, store, pipeline,
Slack notifier and fetcher), against the fake Slack and the fake TwelveLabs on loopback. Only
the web server is left out: `SlackDriver` builds and signs each request as Slack would, and
`BoltTransport` hands it to `app.async_dispatch` as an `AsyncBoltRequest`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.gist.service import GistService, twelvelabs_client
from bot.jobs.assemble import build_runner
from bot.jobs.guard import Guard
from bot.jobs.models import Job
from bot.jobs.runner import JobRunner
from bot.jobs.store import JobStore
from bot.search.service import SearchService, search_client
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.deps import Deps
from bot.slack.fetcher import SlackFileFetcher
from bot.slack.listeners import register
from bot.slack.notifier import SlackNotifier
from bot.slack.searching import SlackSearch
from tests.fakes.slack import FakeSlack, Message
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.jobs.rig import CHANNEL, make_settings
from tests.slack_driver import SlackDriver

BOT_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "test-signing-secret"


class BoltTransport(httpx.AsyncBaseTransport):
    """An httpx transport that serves each request with `app.async_dispatch`, in-process."""

    def __init__(self, app: AsyncApp) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        bolt_request = AsyncBoltRequest(
            body=(await request.aread()).decode("utf-8"),
            query=request.url.query.decode("ascii"),
            headers=dict(request.headers.items()),
        )
        resp = await self.app.async_dispatch(bolt_request)
        headers = [(name, value) for name, values in resp.headers.items() for value in values]
        body = resp.body.encode("utf-8") if isinstance(resp.body, str) else resp.body
        return httpx.Response(resp.status, headers=headers, content=body)


class LoggedStore(JobStore):
    """The real store, noting each `accept` (a listener persisting work) in a shared log and
    keeping the jobs it took on."""

    def __init__(self, path: Path, log: list[str]) -> None:
        super().__init__(path)
        self.log = log
        self.added: list[Job] = []

    async def accept(
        self,
        jobs: list[Job],
        event_id: str | None = None,
        *,
        owner: str | None = None,
        lease_s: float | None = None,
    ) -> list[bool]:
        added = await super().accept(jobs, event_id, owner=owner, lease_s=lease_s)
        self.log.append(f"accept {sum(added)}/{len(jobs)}")
        self.added.extend(job for job, new in zip(jobs, added, strict=True) if new)
        return added


@dataclass
class Bot:
    app: AsyncApp
    settings: Settings
    store: LoggedStore
    runner: JobRunner
    deps: Deps
    driver: SlackDriver
    slack: FakeSlack
    tl: FakeTwelveLabs
    log: list[str]
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    def results(self, thread_ts: str, channel: str = CHANNEL) -> list[Message]:
        """Bot messages in the thread that carry a finished gist (a Regenerate button)."""
        return [m for m in self.slack.thread(channel, thread_ts) if _has(m, "gist_regenerate")]

    def errors(self, thread_ts: str, channel: str = CHANNEL) -> list[Message]:
        """Bot messages in the thread that carry a failure notice (a Retry button)."""
        return [m for m in self.slack.thread(channel, thread_ts) if _has(m, "gist_retry")]

    async def stored(self, job: Job) -> Job:
        found = await self.store.get(job.id)
        assert found is not None
        return found

    async def until(self, predicate: Callable[[], Any], what: str = "condition") -> Any:
        """Wait for work running in background tasks (a guard against hanging, not a timing)."""
        return await self.slack.wait_for(predicate, timeout=30.0, what=what)

    async def idle(self) -> None:
        assert await self.runner.wait_idle(30)
        await asyncio.sleep(0)

    async def close(self) -> None:
        await self.runner.stop(0.5)
        for close in reversed(self.closers):
            await close()


def _has(message: Message, action_id: str) -> bool:
    return action_id in str(message.blocks)


async def wire(settings: Settings, slack: FakeSlack, tl: FakeTwelveLabs) -> Bot:
    """As `bot.runtime.start()` does, minus the web server and the start-up checks."""
    log: list[str] = []
    store = LoggedStore(settings.gist_db_path, log)
    await store.open()
    guard = Guard(settings, store)
    app = build_app(settings)
    client = twelvelabs_client(settings)
    http = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
    service = GistService(client, settings)
    fetcher = SlackFileFetcher(app.client, settings, http)
    runner = build_runner(
        settings,
        store=store,
        service=service,
        notifier=SlackNotifier(app.client, settings),
        fetcher=fetcher,
        http=http,
    )
    tl_search = search_client(settings)
    search = SlackSearch(app.client, SearchService(tl_search, store, settings), store, settings)
    deps = Deps.build(settings, store, guard, runner, search)
    register(app, deps)
    driver = SlackDriver(
        app_url="http://gistbot.invalid",
        signing_secret=SIGNING_SECRET,
        team_id=slack.team_id,
        bot_user_id=slack.bot_user_id,
        client=httpx.AsyncClient(transport=BoltTransport(app)),
    )
    bot = Bot(app, settings, store, runner, deps, driver, slack, tl, log)
    bot.closers = [store.close, client.aclose, http.aclose, service.aclose, tl_search.aclose]
    bot.closers.append(search.aclose)
    return bot


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(bot_token=BOT_TOKEN)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
async def make_bot(
    fake_slack: FakeSlack, fake_tl: FakeTwelveLabs, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Bot]]]:
    built: list[Bot] = []

    async def factory(**overrides: Any) -> Bot:
        assert fake_tl.base_url is not None
        values: dict[str, Any] = {
            "gist_retry_initial_s": 0.05,
            "gist_retry_max_interval_s": 0.2,
            "gist_progress_interval_s": 1000.0,  # no progress edits: fewer moving parts
        }
        values.update(overrides)
        settings = make_settings(
            tmp_path, fake_tl.base_url, slack_api_url=fake_slack.api_url, **values
        )
        bot = await wire(settings, fake_slack, fake_tl)
        built.append(bot)
        return bot

    yield factory
    for bot in built:
        await bot.close()


@pytest.fixture
async def bot(make_bot: Callable[..., Awaitable[Bot]]) -> Bot:
    return await make_bot()
