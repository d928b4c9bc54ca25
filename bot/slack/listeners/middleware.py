"""Global middleware: hand every listener its Deps; drop Slack's retries of events already
accepted; answer 503 while shutting down so Slack redelivers to the next process."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.slack.deps import Deps, deps_of

log = logging.getLogger(__name__)

Next = Callable[[], Awaitable[BoltResponse]]
Middleware = Callable[[AsyncBoltRequest, AsyncBoltContext, Next], Awaitable[BoltResponse]]


def attach(deps: Deps) -> Middleware:
    async def attach_deps(
        req: AsyncBoltRequest, context: AsyncBoltContext, next: Next
    ) -> BoltResponse:
        context["deps"] = deps
        return await next()

    return attach_deps


async def drop_retried_events(
    req: AsyncBoltRequest, context: AsyncBoltContext, next: Next
) -> BoltResponse:
    """A first delivery (no X-Slack-Retry-Num) never needs the store: nothing on the ack path
    waits on disk for an event that carries no work."""
    deps = deps_of(context)
    body = req.body
    is_event = body.get("type") == "event_callback"
    event_id = body.get("event_id") if is_event else None
    if event_id:
        retry = req.headers.get("x-slack-retry-num", [""])[0]
        if event_id in deps.recent_events or (retry and await deps.store.has_event(str(event_id))):
            log.info("duplicate delivery of %s ignored (retry %s)", event_id, retry or 0)
            return BoltResponse(status=200, body="")
    if is_event and not deps.runner.accepting:
        # Only events are redelivered; commands, shortcuts and clicks get their listener's
        # "restarting" answer instead of an error Slack shows as a failure.
        return BoltResponse(status=503, body="", headers={"Retry-After": "5"})
    return await next()
