"""Buttons: Retry (after an error) and Regenerate (after a result)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncBoltContext

from bot import messages as texts
from bot.jobs.models import Trigger
from bot.slack.deps import deps_of
from bot.slack.intake import follow_up_job


async def on_retry(
    ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: AsyncBoltContext
) -> None:
    await _follow_up(ack, body, action, respond, context, Trigger.RETRY)


async def on_regenerate(
    ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: AsyncBoltContext
) -> None:
    await _follow_up(ack, body, action, respond, context, Trigger.REGENERATE)


async def _follow_up(
    ack: Any,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Any,
    context: AsyncBoltContext,
    trigger: Trigger,
) -> None:
    """Persist the new job, then ack: a click Slack saw acknowledged is never lost."""
    deps = deps_of(context)
    old = await deps.store.get(str(action.get("value") or ""))
    if old is None or not deps.runner.accepting:
        await ack()
        text = texts.notice("request_expired" if old is None else "restarting")
        await respond(text=text, response_type="ephemeral", replace_original=False)
        return
    container = body.get("container") or {}
    message_ts = str(container.get("message_ts") or (body.get("message") or {}).get("ts"))
    job = follow_up_job(
        old,
        trigger=trigger,
        user=str((body.get("user") or {}).get("id") or ""),
        timeout_s=deps.settings.gist_job_timeout_s,
        message_ts=message_ts,
        response_url=body.get("response_url"),
    )
    if old.slack.thread_ts is None:  # that answer came through response_url
        job.slack.placeholder_ts = None
    accepted = await deps.runner.accept(job)
    await ack()
    if accepted:  # else a double click: the first one is already running
        deps.runner.start(job)
