"""`bench.burst`'s reference: the naive bot a person would write in an afternoon.

A bare aiohttp server taking Slack's signed event requests: it checks the signature, pulls the
links out of the message text, acks, and for every link at once (no bound on concurrency, no
retries, no job records, no placeholder or progress) creates the URL asset, polls it, creates
the analysis task, polls it and posts the reply in the thread. It polls on gistbot's schedule
(first poll at once, then `initial` growing by `factor` up to `max`), so only how the two
schedule their work differs. Run as `python -m bench.burst --serve-naive ...`; prints
`naive ready on <url>`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from bench._common import BOT_TOKEN, SIGNING_SECRET, TL_KEY, serve, until_signalled

_LINK = re.compile(r"<(https?://[^>|]+)(?:\|[^>]*)?>")
_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "topics": {"type": "array", "items": {"type": "string"}},
        "hashtags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["title", "topics", "hashtags"],
}
_PROMPT = "Give this video a title, a few topics and a few hashtags, as JSON."


@dataclass(frozen=True)
class Poll:
    initial_s: float
    max_s: float
    factor: float = 1.5


class NaiveBot:
    def __init__(self, slack_api_url: str, tl_base_url: str, poll: Poll) -> None:
        self.slack_api_url = slack_api_url.rstrip("/") + "/"
        self.tl = tl_base_url.rstrip("/")
        self.poll = poll
        # No connection bound: every link's calls go out at once.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        self.http = httpx.AsyncClient(timeout=60.0, limits=limits)
        self.tasks: set[asyncio.Task[None]] = set()
        self.failures = 0

    async def _until(self, url: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        interval = self.poll.initial_s
        while True:
            resp = await self.http.get(url, headers={"x-api-key": TL_KEY})
            resp.raise_for_status()
            doc: dict[str, Any] = resp.json()
            if done(doc):
                return doc
            await asyncio.sleep(interval)
            interval = min(self.poll.max_s, interval * self.poll.factor)

    async def gist(self, link: str) -> str:
        key = {"x-api-key": TL_KEY}
        form = {"method": (None, "url"), "url": (None, link)}  # multipart/form-data
        created = await self.http.post(f"{self.tl}/assets", headers=key, files=form)
        created.raise_for_status()
        asset_id = created.json()["_id"]
        asset = await self._until(
            f"{self.tl}/assets/{asset_id}", lambda d: d.get("status") in ("ready", "failed")
        )
        if asset["status"] != "ready":
            raise RuntimeError(f"asset {asset_id} {asset['status']}")
        body = {
            "model_name": "pegasus1.5",
            "video": {"type": "asset_id", "asset_id": asset_id},
            "prompt": _PROMPT,
            "response_format": {"type": "json_schema", "json_schema": _SCHEMA},
        }
        task = await self.http.post(f"{self.tl}/analyze/tasks", headers=key, json=body)
        task.raise_for_status()
        task_id = task.json()["task_id"]
        done = await self._until(
            f"{self.tl}/analyze/tasks/{task_id}", lambda d: d.get("status") in ("ready", "failed")
        )
        if done["status"] != "ready":
            raise RuntimeError(f"task {task_id} {done['status']}")
        data = json.loads(done["result"]["data"])
        return f"*{data['title']}*\n{', '.join(data['topics'])}\n{' '.join(data['hashtags'])}"

    async def reply(self, channel: str, thread_ts: str, link: str) -> None:
        try:
            text = await self.gist(link)
        except (httpx.HTTPError, KeyError, ValueError, RuntimeError) as exc:
            self.failures += 1
            text = f":x: could not gist {link}: {type(exc).__name__}"
        await self.http.post(
            self.slack_api_url + "chat.postMessage",
            headers={"Authorization": f"Bearer {BOT_TOKEN}"},
            json={"channel": channel, "thread_ts": thread_ts, "text": text},
        )

    def spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def handler(self) -> Callable[[web.Request], Awaitable[web.Response]]:
        verifier = SignatureVerifier(SIGNING_SECRET)

        async def events(request: web.Request) -> web.Response:
            raw = await request.read()
            if not verifier.is_valid_request(raw, dict(request.headers)):
                return web.Response(status=401)
            event = json.loads(raw).get("event") or {}
            if event.get("type") == "message" and not event.get("subtype"):
                for link in _LINK.findall(str(event.get("text") or "")):
                    self.spawn(self.reply(str(event["channel"]), str(event["ts"]), link))
            return web.Response(status=200)

        return events


def serve_naive(slack_api_url: str, tl_base_url: str, poll: Poll) -> int:
    async def main() -> None:
        bot = NaiveBot(slack_api_url, tl_base_url, poll)
        app = web.Application()
        app.router.add_post("/slack/events", bot.handler())
        runner, origin = await serve(app)
        print(f"naive ready on {origin}", flush=True)
        try:
            await until_signalled()
        finally:
            await runner.cleanup()
            await bot.http.aclose()

    asyncio.run(main())
    return 0
