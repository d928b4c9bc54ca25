"""`POST /twelvelabs/webhook`: TwelveLabs says an analysis task finished; read it now.

Served when `TWELVELABS_WEBHOOK_SECRET` is set (register `https://your-host/twelvelabs/webhook`
in the TwelveLabs dashboard with that secret). An event is only a hint: polling stays the
source of truth, so a lost, late or duplicated event costs at most one extra read.

- A missing, stale or wrong `TL-Signature` gets 401; a signed body that is no event, 400. Log
  lines never hold the body.
- Webhooks are account-wide: events for tasks whose `custom_id` this app did not make are
  answered 200 and ignored, as are events of other types and tasks no wait here polls (another
  replica's, or already done). Everything else wakes the task's wait (`analysis.wake`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.twelvelabs import webhooks
from bot.twelvelabs.resources.analysis import is_ours

__all__ = ["PATH", "webhook_handler"]

log = logging.getLogger(__name__)

PATH = "/twelvelabs/webhook"
MAX_BODY = 256 * 1024  # an event is a few hundred bytes
ANALYSIS_EVENTS = ("analyze.task.ready", "analyze.task.failed", "analyze.task.canceled")

Handler = Callable[[web.Request], Awaitable[web.Response]]


def webhook_handler(
    secret: str, wake: Callable[[str], bool], *, clock: Callable[[], float] = time.time
) -> Handler:
    """The route's handler; `wake(task_id)` cuts that task's wait short (True if one waits)."""

    async def handle(request: web.Request) -> web.Response:
        if (request.content_length or 0) > MAX_BODY:
            return web.Response(status=413, text="too large")
        raw = await request.read()
        header = request.headers.get(webhooks.SIGNATURE_HEADER)
        try:
            webhooks.verify(secret, raw, header, now=clock())
            event = webhooks.parse_event(raw)
        except webhooks.BadSignature as exc:
            log.warning("rejected a TwelveLabs webhook from %s: %s", request.remote, exc)
            return web.Response(status=401, text="invalid signature")
        except webhooks.BadEvent as exc:
            log.warning("rejected a TwelveLabs webhook from %s: %s", request.remote, exc)
            return web.Response(status=400, text="malformed event")
        return web.json_response({"ok": True, **_act(event, wake)})

    return handle


def _act(event: webhooks.WebhookEvent, wake: Callable[[str], bool]) -> dict[str, object]:
    task_id = event.resource_id
    if event.type not in ANALYSIS_EVENTS or task_id is None:
        log.debug("TwelveLabs webhook %s (%s) ignored: not an analysis event", event.id, event.type)
        return {"woke": False, "ignored": "type"}
    if not is_ours(event.custom_id):
        log.debug("TwelveLabs webhook %s for task %s ignored: not this app's", event.id, task_id)
        return {"woke": False, "ignored": "not ours"}
    woke = wake(task_id)
    log.info(
        "TwelveLabs webhook %s: task %s is %s%s",
        event.id,
        task_id,
        event.status,
        "; reading it now" if woke else " (no wait here polls it)",
    )
    return {"woke": woke}
