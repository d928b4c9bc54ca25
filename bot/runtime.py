"""Wire everything together and serve: HTTP mode (POST /slack/events) or Socket Mode, both
with GET /healthz on PORT; resume unfinished jobs on start; stop gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot import metrics
from bot.gcguard import GcGuard
from bot.gist.service import GistService, twelvelabs_client
from bot.jobs.assemble import build_runner
from bot.jobs.guard import Guard
from bot.jobs.leases import LOCAL_OWNER, Lease, owner_name
from bot.jobs.runner import JobRunner
from bot.jobs.store_base import Store, StoreUnavailable, make_store
from bot.search.service import SearchService, search_client
from bot.settings import Settings
from bot.slack.app import IDENTITY_FIELDS, build_app, identity, slack_client
from bot.slack.deps import Deps
from bot.slack.endpoint import events_handler
from bot.slack.fetcher import SlackFileFetcher
from bot.slack.listeners import register
from bot.slack.notifier import SlackNotifier
from bot.slack.searching import SlackSearch
from bot.tl_webhook import PATH as TL_WEBHOOK_PATH
from bot.tl_webhook import webhook_handler
from bot.twelvelabs import TwelveLabsClient

log = logging.getLogger(__name__)

EXIT_STARTUP = 78
PRUNE_EVERY_S = 3600.0
DEDUPE_WINDOW_S = 24 * 3600.0  # far beyond Slack's ~5 minute retry schedule


class StartupError(Exception):
    pass


@dataclass
class Running:
    """A started app; tests use it in-process, `serve()` in production."""

    settings: Settings
    app: AsyncApp
    runner: JobRunner
    store: Store
    url: str
    _site_runner: web.AppRunner
    _closers: list[Any] = field(default_factory=list)
    _socket: AsyncSocketModeHandler | None = None
    _background: list[asyncio.Task[None]] = field(default_factory=list)
    _stopped: bool = False

    async def stop(self, grace_s: float | None = None) -> None:
        if self._stopped:
            return
        self._stopped = True
        grace = self.settings.gist_shutdown_grace_s if grace_s is None else grace_s
        # 1. Stop intake: no new Slack requests reach us.
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()  # type: ignore[no-untyped-call]
        await self._site_runner.cleanup()
        for task in self._background:  # the prune loop and the lease heartbeat
            task.cancel()
        # 2. Let short steps finish; the rest stays resumable in the store.
        await self.runner.stop(grace)
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                await close()


async def start(settings: Settings) -> Running:
    """Check Slack and the store, build the job layer, serve, resume: in that order, so a
    configuration problem stops start-up before anything is listening."""
    app = await _connect_slack(settings)
    closers: list[Any] = []
    store, lease = await _open_store(settings)
    closers.append(store.close)
    tl = twelvelabs_client(settings)
    http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=False)
    service = GistService(tl, settings)
    closers += [tl.aclose, http.aclose, service.aclose]
    fetcher = SlackFileFetcher(app.client, settings, http)
    runner = build_runner(
        settings,
        store=store,
        lease=lease,
        service=service,
        notifier=SlackNotifier(app.client, settings),
        fetcher=fetcher,
        http=http,
    )
    tl_search = search_client(settings)
    search = SlackSearch(app.client, SearchService(tl_search, store, settings), store, settings)
    closers += [tl_search.aclose, search.aclose]
    register(app, Deps.build(settings, store, Guard(settings, store), runner, search))

    socket: AsyncSocketModeHandler | None = None
    if settings.socket_mode:
        assert settings.slack_app_token is not None
        socket = AsyncSocketModeHandler(app, settings.slack_app_token.get_secret_value())
    site_runner, url = await _serve(settings, _web_app(settings, app, runner, socket, tl))
    if socket is not None:
        await socket.connect_async()  # type: ignore[no-untyped-call]
        log.info("Socket Mode connected")
    resumed = await runner.resume_all()
    if resumed:
        log.info("resumed %d unfinished job(s)", resumed)

    async def prune() -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY_S)
            await store.prune(DEDUPE_WINDOW_S)

    background = [
        asyncio.create_task(prune()),
        asyncio.create_task(runner.keep_leases()),
        asyncio.create_task(_tag_untagged(search.service)),
    ]
    running = Running(settings, app, runner, store, url, site_runner, closers, socket, background)
    mode = "socket" if socket else "HTTP"
    log.info("gistbot listening on %s (%s mode, replica %s)", url, mode, lease.owner)
    return running


async def _tag_untagged(service: SearchService) -> None:
    """Once at start-up: tag the videos indexed before they carried their Slack origin, so
    searches (filtered on it at TwelveLabs) find them. A failure is logged; searches still map
    such a video when it comes up without the filter."""
    try:
        tagged = await service.tag_untagged()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("tagging indexed videos with their origin failed: %s", exc)
        return
    if tagged:
        log.info("tagged %d indexed video(s) with the message that shared them", tagged)


async def _connect_slack(settings: Settings) -> AsyncApp:
    """The Bolt app, once Slack has accepted the token (who the bot is comes from here)."""
    try:
        auth = await slack_client(settings).auth_test()
    except SlackApiError as exc:
        raise StartupError(
            f"Slack refused SLACK_BOT_TOKEN ({exc.response.get('error')}). "
            "Copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page."
        ) from None
    except Exception as exc:
        raise StartupError(
            f"cannot reach Slack at {settings.slack_api_url}: {type(exc).__name__}"
        ) from None
    log.info("connected to Slack team %s as %s", auth.get("team"), auth.get("user"))
    token = settings.slack_bot_token.get_secret_value()
    app = build_app(settings, identity({k: auth.get(k) for k in IDENTITY_FIELDS}, token))
    metrics.count_slack_calls(app.client)
    return app


async def _open_store(settings: Settings) -> tuple[Store, Lease]:
    store = make_store(settings)
    try:
        await store.open()
    except StoreUnavailable as exc:
        await store.close()
        raise StartupError(str(exc)) from None
    lease = Lease(store, owner_name(bool(settings.gist_database_url)), settings.gist_lease_s)
    if lease.owner == LOCAL_OWNER:  # this process is the only one: what it held is its own
        await store.release_all(lease.owner)
    return store, lease


def _web_app(
    settings: Settings,
    app: AsyncApp,
    runner: JobRunner,
    socket: AsyncSocketModeHandler | None,
    tl: TwelveLabsClient,
) -> web.Application:
    """`/healthz` and `/metrics` in both modes; `/slack/events` in HTTP mode;
    `/twelvelabs/webhook` when TWELVELABS_WEBHOOK_SECRET is set."""
    web_app = web.Application()

    async def healthz(_: web.Request) -> web.Response:
        status: dict[str, Any] = {
            "ok": True,
            "mode": "socket" if socket else "http",
            "jobs_in_flight": runner.in_flight,
        }
        if socket is not None:
            connected = await socket.client.is_connected()
            status.update(ok=connected, socket_connected=connected)
        return web.json_response(status, status=200 if status["ok"] else 503)

    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics.handler(lambda: runner.in_flight))
    if socket is None:
        secret = settings.slack_signing_secret
        assert secret is not None  # settings require it in HTTP mode
        web_app.router.add_post("/slack/events", events_handler(app, secret.get_secret_value()))
    if settings.twelvelabs_webhook_secret is not None:
        web_app.router.add_post(
            TL_WEBHOOK_PATH,
            webhook_handler(
                settings.twelvelabs_webhook_secret.get_secret_value(), tl.analysis.wake
            ),
        )
    return web_app


async def _serve(settings: Settings, web_app: web.Application) -> tuple[web.AppRunner, str]:
    site_runner = web.AppRunner(web_app, access_log=None)
    await site_runner.setup()
    site = web.TCPSite(site_runner, settings.host, settings.port)
    await site.start()
    port = site_runner.addresses[0][1] if site_runner.addresses else settings.port
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return site_runner, f"http://{host}:{port}"


async def _main(settings: Settings) -> int:
    try:
        running = await start(settings)
    except StartupError as exc:
        print(f"gistbot cannot start: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # What start-up made, and each job's long-lived objects, are kept out of the collector's
    # full passes, which otherwise pause the loop (and acks) for tens of ms.
    collector = GcGuard(lambda: running.runner.in_flight)
    collector.start()
    print(f"gistbot ready on {running.url}", flush=True)
    await stop.wait()
    started = time.monotonic()
    log.info("shutting down")
    await collector.stop()
    await running.stop()
    log.info("stopped in %.1fs", time.monotonic() - started)
    return 0


def serve(settings: Settings) -> int:
    return asyncio.run(_main(settings))
