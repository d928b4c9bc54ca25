"""The Bolt app: listeners that parse, persist and ack fast, then hand work to the job runner.

Listeners never wait on TwelveLabs. Events are de-duplicated by `event_id` (Slack retries)
and by the work itself (channel + message ts + file or URL), both in the job store, so
duplicates survive a restart too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cachetools import TTLCache
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.gist.models import GistType
from bot.gist.vocabulary import default_types
from bot.jobs.guard import Guard
from bot.jobs.models import Job, Trigger
from bot.jobs.runner import JobRunner
from bot.jobs.store import JobStore
from bot.settings import Settings
from bot.slack import blocks
from bot.slack.commands import parse_gist_command, parse_mention_types
from bot.slack.intake import Intake, build_jobs, command_job, follow_up_job, is_content_message
from bot.sources.urls import UrlKind, classify_url

log = logging.getLogger(__name__)

SHORTCUT_CALLBACK_ID = "gist_message"
DEDUPE_MEMORY_S = 3600.0  # Slack retries within ~5 minutes
Next = Callable[[], Awaitable[BoltResponse]]


@dataclass
class Deps:
    """What the listeners use. The runner and the bot's user id are set once the app (and
    so its Slack client) exists; listeners read them at call time."""

    settings: Settings
    store: JobStore
    guard: Guard
    runner: JobRunner = field(init=False)
    bot_user_id: str | None = None


def build_app(deps: Deps) -> AsyncApp:
    """The Bolt app, its client pointed at SLACK_API_URL with slack-sdk's retry handlers.

    The token goes to Bolt (not a ready-made client): handing Bolt both logs a warning on
    every start, and Bolt copies base URL, timeout and retry handlers into each request's
    client anyway."""
    s = deps.settings
    app = AsyncApp(
        token=s.slack_bot_token.get_secret_value(),
        signing_secret=s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else "",
        request_verification_enabled=not s.socket_mode,
        # Own messages are filtered in intake (by user and bot_id) as well.
        ignoring_self_events_enabled=True,
    )
    configure_client(app.client, s)
    register(app, deps)
    return app


def configure_client(client: AsyncWebClient, settings: Settings) -> None:
    client.base_url = settings.slack_api_url
    client.timeout = 30
    client.retry_handlers = [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=5),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]


def register(app: AsyncApp, deps: Deps) -> None:
    s = deps.settings
    store, guard = deps.store, deps.guard

    # -- global: Slack retries ---------------------------------------------------------
    # Event ids seen by this process; the store remembers them across restarts. A first
    # delivery (no X-Slack-Retry-Num) never needs the store: nothing on the ack path waits
    # on disk for an event that carries no work.
    recent: TTLCache[str, bool] = TTLCache(maxsize=50_000, ttl=DEDUPE_MEMORY_S)

    @app.middleware
    async def drop_retried_events(
        req: AsyncBoltRequest, context: AsyncBoltContext, next: Next
    ) -> BoltResponse:
        body = req.body
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            retry = req.headers.get("x-slack-retry-num", [""])[0]
            if event_id in recent or (retry and await store.has_event(str(event_id))):
                log.info("duplicate delivery of %s ignored (retry %s)", event_id, retry or 0)
                return BoltResponse(status=200, body="")
        if not deps.runner.accepting:
            # Shutting down: no 200, so Slack redelivers to the next process.
            return BoltResponse(status=503, body="", headers={"Retry-After": "5"})
        return await next()

    async def _accept_all(intake: Intake, event_id: str | None = None) -> list[Job]:
        """One transaction for all of a message's jobs (and its event id)."""
        if not intake.jobs and not event_id:
            return []
        added = await deps.runner.accept_many(intake.jobs, event_id)
        for job, new in zip(intake.jobs, added, strict=True):
            if not new:
                log.info("duplicate work %s ignored", job.work_key)
        return [job for job, new in zip(intake.jobs, added, strict=True) if new]

    def _jobs_for(
        message: dict[str, Any], *, team_id: Any, channel: str, requester: Any,
        trigger: Trigger, types: frozenset[GistType], explicit: bool,
        response_url: str | None = None,
    ) -> Intake:  # fmt: skip
        return build_jobs(
            message,
            team_id=str(team_id or ""),
            channel=channel,
            requester=str(requester or ""),
            trigger=trigger,
            types=types,
            max_videos=s.gist_max_videos_per_message,
            timeout_s=s.gist_job_timeout_s,
            response_url=response_url,
            explicit=explicit,
        )

    # Runs before Bolt's automatic ack of an event: the jobs are on disk before Slack
    # hears "200", so an accepted request can't be lost to a crash.
    async def persist_message_jobs(
        body: dict[str, Any], context: AsyncBoltContext, next: Next
    ) -> BoltResponse:
        event = body.get("event") or {}
        event_id = str(body.get("event_id") or "") or None
        context["accepted"] = []
        context["notes"] = []
        intake = Intake()
        channel = str(event.get("channel") or "")
        if event.get("type") == "message":
            mentioned = bool(deps.bot_user_id) and f"<@{deps.bot_user_id}>" in str(
                event.get("text") or ""
            )  # then the app_mention event for the same message asks explicitly: let it win
            if (
                is_content_message(event, deps.bot_user_id)
                and guard.passive_allowed(channel)
                and not mentioned
            ):
                intake = _jobs_for(
                    event,
                    team_id=body.get("team_id"),
                    channel=channel,
                    requester=event.get("user"),
                    trigger=Trigger.PASSIVE,
                    types=default_types(s),
                    explicit=False,
                )
        elif not guard.channel_allowed(channel):  # app_mention
            intake.notes.append("gistbot isn't enabled in this channel.")
        else:
            intake = _jobs_for(
                event,
                team_id=body.get("team_id"),
                channel=channel,
                requester=event.get("user"),
                trigger=Trigger.MENTION,
                types=parse_mention_types(str(event.get("text") or "")),
                explicit=True,
            )
        # The event id is stored only with work or with an answer to give; chatter is
        # remembered in memory only (a redelivered chatter event does nothing anyway).
        durable = bool(intake.jobs or intake.notes or event.get("type") == "app_mention")
        context["accepted"] = await _accept_all(intake, event_id if durable else None)
        context["notes"] = intake.notes
        context["had_jobs"] = bool(intake.jobs)
        if event_id:
            recent[event_id] = True
        return await next()

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
            log.info("could not post a note: %s", exc.response.get("error"))

    @app.event("message", middleware=[persist_message_jobs])
    async def on_message(event: dict[str, Any], context: AsyncBoltContext,
                         client: AsyncWebClient) -> None:  # fmt: skip
        # Also the catch-all for edits, deletes, joins…: matched, acked, nothing to do.
        for job in context.get("accepted", []):
            deps.runner.start(job)
        if context.get("accepted"):
            await _post_notes(client, event, context.get("notes", []))

    @app.event("app_mention", middleware=[persist_message_jobs])
    async def on_mention(event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext,
                         client: AsyncWebClient) -> None:  # fmt: skip
        accepted: list[Job] = context.get("accepted", [])
        notes: list[str] = list(context.get("notes", []))
        if not context.get("had_jobs") and event.get("thread_ts") and not notes:
            accepted = await _jobs_from_thread_parent(client, body, event)
            if not accepted:
                notes.append("I didn't find a video in this message or at the top of its thread.")
        elif not context.get("had_jobs") and not notes:
            notes.append(
                "Mention me in a message with a video link or upload, or in the thread of one. "
                "`/gist help` has the details."
            )
        for job in accepted:
            deps.runner.start(job)
        await _post_notes(client, event, notes)

    async def _jobs_from_thread_parent(
        client: AsyncWebClient, body: dict[str, Any], event: dict[str, Any]
    ) -> list[Job]:
        try:
            resp = await client.conversations_replies(
                channel=event["channel"], ts=event["thread_ts"], limit=1, inclusive=True
            )
        except SlackApiError as exc:
            log.info("could not read the thread parent: %s", exc.response.get("error"))
            return []
        messages = resp.get("messages") or []
        if not messages:
            return []
        parent = dict(messages[0])
        intake = _jobs_for(
            parent,
            team_id=body.get("team_id"),
            channel=str(event["channel"]),
            requester=event.get("user"),
            trigger=Trigger.MENTION,
            types=parse_mention_types(str(event.get("text") or "")),
            explicit=True,
        )
        return await _accept_all(intake)

    # -- /gist -------------------------------------------------------------------------
    @app.command("/gist")
    async def on_gist(ack: Any, command: dict[str, Any]) -> None:
        text = str(command.get("text") or "")
        parsed = parse_gist_command(text)
        if parsed.kind == "help":
            await ack(**blocks.help_message().as_kwargs())
            return
        if parsed.kind == "usage":
            await ack(**(await _usage(command)).as_kwargs())
            return
        if parsed.kind == "error" or parsed.url is None:
            await ack(**blocks.notice_message(parsed.error or "I couldn't read that.").as_kwargs())
            return
        channel = str(command.get("channel_id") or "")
        if not guard.channel_allowed(channel):
            await ack(text="gistbot isn't enabled in this channel.")
            return
        if not deps.runner.accepting:
            await ack(text="gistbot is restarting. Try again in a minute.")
            return
        kind = classify_url(parsed.url)
        if kind.kind is UrlKind.HOSTING_PAGE:
            await ack(
                text=f"{kind.service} pages can't be analysed: TwelveLabs needs a direct link to "
                "the video file (for example one ending in .mp4). Download the video and upload "
                "it to Slack, then use the message shortcut “Gist this video”."
            )
            return
        job = command_job(
            parsed.url,
            team_id=str(command.get("team_id") or ""),
            channel=channel,
            user=str(command.get("user_id") or ""),
            types=parsed.types,
            response_url=str(command.get("response_url") or ""),
            timeout_s=s.gist_job_timeout_s,
            probe=kind.kind is not UrlKind.DIRECT_MEDIA,
        )
        await deps.runner.accept(job)
        wanted = ", ".join(t.value + ("s" if t is not GistType.TITLE else "") for t in job.types)
        await ack(
            text=f"On it: {wanted} for {parsed.url}. The result goes in a thread in this channel "
            "(or here, if I'm not a member of the channel)."
        )
        deps.runner.start(job)

    async def _usage(command: dict[str, Any]) -> blocks.Message:
        team, user = str(command.get("team_id") or ""), str(command.get("user_id") or "")
        mine = await store.usage_today(team, user)
        team_total = await store.usage_today(team)
        return blocks.usage_message(
            user_id=user,
            user_minutes=mine["video_seconds"] / 60,
            team_minutes=team_total["video_seconds"] / 60,
            user_limit_min=s.gist_user_daily_minutes,
            team_limit_min=s.gist_team_daily_minutes,
            jobs_today=int(mine["jobs"]),
            tokens_today=int(mine["tokens"]),
        )

    # -- message shortcut ----------------------------------------------------------------
    @app.shortcut(SHORTCUT_CALLBACK_ID)
    async def on_shortcut(ack: Any, body: dict[str, Any], respond: Any) -> None:
        message = dict(body.get("message") or {})
        channel = str((body.get("channel") or {}).get("id") or "")
        user = str((body.get("user") or {}).get("id") or "")
        if not guard.channel_allowed(channel):
            await ack()
            await respond(text="gistbot isn't enabled in this channel.", response_type="ephemeral")
            return
        intake = _jobs_for(
            message,
            team_id=(body.get("team") or {}).get("id"),
            channel=channel,
            requester=user,
            trigger=Trigger.SHORTCUT,
            types=default_types(s),
            response_url=body.get("response_url"),
            explicit=True,
        )
        if not deps.runner.accepting:
            await ack()
            await respond(text="gistbot is restarting. Try again in a minute.",
                          response_type="ephemeral")  # fmt: skip
            return
        accepted = await _accept_all(intake)
        await ack()
        notes = list(intake.notes)
        if not intake.jobs:
            notes.insert(0, "I didn't find a video in that message.")
        elif not accepted:
            notes.insert(0, "I'm already on it (or done): see the message's thread.")
        for job in accepted:
            deps.runner.start(job)
        if notes:
            await respond(text="\n".join(notes), response_type="ephemeral")

    # -- buttons -------------------------------------------------------------------------
    async def _follow_up(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any,
                         trigger: Trigger) -> None:  # fmt: skip
        """Persist the new job, then ack: a click Slack saw acknowledged is never lost."""
        old = await store.get(str(action.get("value") or ""))
        if old is None or not deps.runner.accepting:
            await ack()
            text = ("That request has expired. Post the video again." if old is None
                    else "gistbot is restarting. Try again in a minute.")  # fmt: skip
            await respond(text=text, response_type="ephemeral", replace_original=False)
            return
        container = body.get("container") or {}
        message_ts = str(container.get("message_ts") or (body.get("message") or {}).get("ts"))
        job = follow_up_job(
            old,
            trigger=trigger,
            user=str((body.get("user") or {}).get("id") or ""),
            timeout_s=s.gist_job_timeout_s,
            message_ts=message_ts,
            response_url=body.get("response_url"),
        )
        if old.slack.thread_ts is None:  # that answer came through response_url
            job.slack.placeholder_ts = None
        accepted = await deps.runner.accept(job)
        await ack()
        if accepted:  # else a double click: the first one is already running
            deps.runner.start(job)

    @app.action("gist_retry")
    async def on_retry(ack: Any, body: dict[str, Any], action: dict[str, Any],
                       respond: Any) -> None:  # fmt: skip
        await _follow_up(ack, body, action, respond, Trigger.RETRY)

    @app.action("gist_regenerate")
    async def on_regenerate(ack: Any, body: dict[str, Any], action: dict[str, Any],
                            respond: Any) -> None:  # fmt: skip
        await _follow_up(ack, body, action, respond, Trigger.REGENERATE)
