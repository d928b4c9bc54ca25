"""The helper processes of `bench.ack_latency`, each started as `python -m bench.ack_latency
--serve-<name>` and printing one ready line: the fakes (with a media site and `/stats`), the
bare aiohttp "floor", and the reference the issue names, a no-op Bolt app."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from aiohttp import web

from bench._common import (
    BOT_TOKEN,
    SIGNING_SECRET,
    MediaSite,
    running_fakes,
    serve,
    until_signalled,
)

# --------------------------------------------------------------------------- fakes process


def serve_fakes(task_seconds: float, asset_seconds: float) -> int:
    """The `--serve-fakes` process: both fakes (their own threads) and the media server."""
    from tests.videos import make_video

    video = make_video(5.0).read_bytes()
    with running_fakes(
        asset_processing_s=asset_seconds, task_processing_s=task_seconds, index_processing_s=1.0
    ) as (slack, tl):

        async def stats(request: web.Request) -> web.Response:
            calls = Counter(f"{c.method} {c.template}" for c in list(tl.calls))
            tasks = Counter(t.status for t in list(tl.tasks.values()))
            assets = Counter(a.status for a in list(tl.assets.values()))
            slack_calls = Counter(c.method for c in slack.calls())
            return web.json_response(
                {
                    "tl_calls": dict(calls),
                    "tl_calls_total": sum(calls.values()),
                    "tl_tasks": dict(tasks),
                    "tl_assets": dict(assets),
                    "slack_calls": dict(slack_calls),
                    "slack_calls_total": sum(slack_calls.values()),
                }
            )

        async def main() -> None:
            site = MediaSite(default=video)
            await site.start([web.get("/stats", stats)])
            info = {
                "slack_api_url": slack.api_url,
                "tl_base_url": tl.base_url,
                "media_url": site.url,
                "stats_url": f"{site.origin}/stats",
                "video_bytes": len(video),
            }
            print(json.dumps(info), flush=True)
            try:
                await until_signalled()
            finally:
                await site.stop()

        asyncio.run(main())
    return 0


def serve_floor() -> int:
    """The `--serve-floor` process: the same server stack as the app (aiohttp) answering
    `POST /slack/events` with an empty 200 after reading the body, and nothing else. Sent the
    same signed requests at the same time as the app, it shows what this machine's loopback,
    client and server stack cost on their own."""

    async def events(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/slack/events", events)
        runner, origin = await serve(app)
        print(f"floor ready on {origin}", flush=True)
        try:
            await until_signalled()
        finally:
            await runner.cleanup()

    asyncio.run(main())
    return 0


def serve_bolt() -> int:
    """The `--serve-bolt` process: the no-op Bolt app the ack goal is measured against. A
    Bolt `AsyncApp` in HTTP mode, served by aiohttp like gistbot (one `POST /slack/events`
    handing each request to `app.async_dispatch`, no access log); every request's signature
    is verified (Bolt's own check), identity comes from a fixed `authorize` (gistbot's too:
    no request waits on auth.test), and the message listener only parses the event the way
    gistbot's intake does (`is_content_message`, `build_jobs`: links classified, job records
    built) before Bolt's automatic ack; nothing is stored and no work is started."""
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp, AsyncBoltContext
    from slack_bolt.authorization import AuthorizeResult
    from slack_bolt.response import BoltResponse

    from bot.gist.models import GistType
    from bot.jobs.models import Trigger
    from bot.slack.intake import build_jobs, is_content_message

    who = AuthorizeResult(
        enterprise_id=None,
        team_id="T0001",
        bot_user_id="UBOT",
        bot_id="B0BOT",
        bot_token=BOT_TOKEN,
    )

    async def authorize(**_: Any) -> AuthorizeResult:
        return who

    app = AsyncApp(signing_secret=SIGNING_SECRET, authorize=authorize)
    types = frozenset(GistType)

    async def parse(body: dict[str, Any], context: AsyncBoltContext, next: Any) -> BoltResponse:
        event = body.get("event") or {}
        if is_content_message(event, context.bot_user_id):
            intake = build_jobs(
                event,
                team_id=str(body.get("team_id") or ""),
                channel=str(event.get("channel") or ""),
                requester=str(event.get("user") or ""),
                trigger=Trigger.PASSIVE,
                types=types,
                max_videos=3,
                timeout_s=3600.0,
                explicit=False,
            )
            context["jobs"] = len(intake.jobs)
        response: BoltResponse = await next()
        return response

    async def noop() -> None:
        return None

    app.event("message", middleware=[parse])(noop)

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    async def main() -> None:
        web_app = web.Application()
        web_app.router.add_post("/slack/events", events)
        runner, origin = await serve(web_app)
        print(f"bolt ready on {origin}", flush=True)
        try:
            await until_signalled()
        finally:
            await runner.cleanup()

    asyncio.run(main())
    return 0
