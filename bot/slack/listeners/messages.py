"""Messages and @-mentions: a video posted in a channel, or gistbot asked about one."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages as texts
from bot.gist.vocabulary import default_types
from bot.jobs.models import Job, Trigger
from bot.slack import blocks
from bot.slack.commands import parse_mention_types
from bot.slack.deps import Deps, deps_of
from bot.slack.intake import Intake, is_content_message
from bot.slack.listeners.common import accept_all, jobs_for
from bot.slack.listeners.middleware import Next
from bot.transient import slack_error_code

log = logging.getLogger(__name__)


async def persist_jobs(body: dict[str, Any], context: AsyncBoltContext, next: Next) -> BoltResponse:
    """Runs before Bolt's automatic ack of an event: the jobs are on disk before Slack hears
    "200", so an accepted request can't be lost to a crash."""
    deps = deps_of(context)
    event = body.get("event") or {}
    event_id = str(body.get("event_id") or "") or None
    intake = _intake(deps, body, event, context.bot_user_id)
    # The event id is stored only with work or with an answer to give; chatter is
    # remembered in memory only (a redelivered chatter event does nothing anyway).
    durable = bool(intake.jobs or intake.notes or event.get("type") == "app_mention")
    context["accepted"] = await accept_all(deps, intake, event_id if durable else None)
    context["notes"] = intake.notes
    context["had_jobs"] = bool(intake.jobs)
    if event_id:
        deps.recent_events[event_id] = True
    return await next()


def _intake(
    deps: Deps, body: dict[str, Any], event: dict[str, Any], bot_user_id: str | None
) -> Intake:
    channel = str(event.get("channel") or "")
    text = str(event.get("text") or "")
    if event.get("type") == "message":
        # A message that mentions the bot also arrives as app_mention, which asks
        # explicitly: let that one win.
        mentioned = bool(bot_user_id) and f"<@{bot_user_id}>" in text
        if mentioned or not is_content_message(event, bot_user_id):
            return Intake()
        if not deps.guard.passive_allowed(channel):
            return Intake()
        trigger, types, explicit = Trigger.PASSIVE, default_types(deps.settings), False
    elif not deps.guard.channel_allowed(channel):  # app_mention
        return Intake(notes=[texts.notice("channel_disabled")])
    else:
        trigger, types, explicit = Trigger.MENTION, parse_mention_types(text), True
    return jobs_for(
        deps,
        event,
        team_id=body.get("team_id"),
        channel=channel,
        requester=event.get("user"),
        trigger=trigger,
        types=types,
        explicit=explicit,
    )


async def on_message(
    event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
) -> None:
    # Also the catch-all for edits, deletes, joins…: matched, acked, nothing to do.
    deps = deps_of(context)
    for job in context.get("accepted", []):
        deps.runner.start(job)
    if context.get("accepted"):
        await _post_notes(client, event, context.get("notes", []))


async def on_mention(
    event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
) -> None:
    deps = deps_of(context)
    accepted: list[Job] = context.get("accepted", [])
    notes: list[str] = list(context.get("notes", []))
    if not context.get("had_jobs") and not notes:
        if event.get("thread_ts"):
            accepted = await _jobs_from_thread_parent(deps, client, body, event)
            if not accepted:
                notes.append(texts.notice("no_video_in_thread"))
        else:
            notes.append(texts.notice("mention_help"))
    for job in accepted:
        deps.runner.start(job)
    await _post_notes(client, event, notes)


async def _jobs_from_thread_parent(
    deps: Deps, client: AsyncWebClient, body: dict[str, Any], event: dict[str, Any]
) -> list[Job]:
    try:
        resp = await client.conversations_replies(
            channel=event["channel"], ts=event["thread_ts"], limit=1, inclusive=True
        )
    except SlackApiError as exc:
        log.info("could not read the thread parent: %s", slack_error_code(exc))
        return []
    found = resp.get("messages") or []
    if not found:
        return []
    intake = jobs_for(
        deps,
        dict(found[0]),
        team_id=body.get("team_id"),
        channel=str(event["channel"]),
        requester=event.get("user"),
        trigger=Trigger.MENTION,
        types=parse_mention_types(str(event.get("text") or "")),
        explicit=True,
    )
    return await accept_all(deps, intake)


async def _post_notes(client: AsyncWebClient, event: dict[str, Any], notes: list[str]) -> None:
    if not notes:
        return
    message = blocks.notice_message("\n".join(notes))
    try:
        await client.chat_postMessage(
            channel=event["channel"],
            thread_ts=event.get("thread_ts") or event["ts"],
            **message.as_kwargs(),
        )
    except SlackApiError as exc:
        log.info("could not post a note: %s", slack_error_code(exc))
