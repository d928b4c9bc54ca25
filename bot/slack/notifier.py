"""The job runner's window on Slack: placeholder, progress edits, result, errors, reactions.
Implements `bot.jobs.ports.Notifier`.

Every message gistbot posts for a job carries message metadata naming the job and the
message's role. `chat.postMessage` is not idempotent, so when a post's outcome is unknown (a
5xx, a timeout, a dropped connection) the next try looks for the tagged message first
(`recover`) instead of posting a second one. Edits (`chat.update`) are safe to repeat.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import messages
from bot.gist.errors import GistFailure
from bot.jobs.models import Job, Trigger
from bot.jobs.phases import Phase
from bot.settings import Settings
from bot.slack import blocks
from bot.slack.transport import SlackRetry
from bot.transient import SLACK_CHANNEL_GONE, is_transient_slack, slack_error_code

log = logging.getLogger(__name__)

BENIGN_REACTION = {"already_reacted", "no_reaction", "message_not_found", "not_in_channel"}
ADMIN_ALERT_EVERY_S = 3600.0
METADATA_EVENT = "gistbot_job"


class SlackNotifier:
    def __init__(self, client: AsyncWebClient, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._admin_alerted: dict[str, float] = {}
        self._retry = SlackRetry.from_settings(settings)

    # -- placeholder -----------------------------------------------------------------------
    async def started(self, job: Job, *, recover: bool = False, placeholder: bool = True) -> None:
        ctx = job.slack
        if ctx.via_response_url:
            return
        if recover and await self._recover(job):
            return
        if ctx.thread_ts is None and job.trigger is Trigger.COMMAND:
            await self._open_command_thread(job)
        if ctx.thread_ts is None or ctx.via_response_url or not placeholder:
            return  # answers go through response_url, or the answer is the first post
        message = blocks.progress_message(
            phase=Phase.QUEUED,
            source_name=job.source.name,
            elapsed_s=0.0,
            requester_id=_asker(job),
        )
        ts = await self._post(job, "placeholder", message)
        if ts is None:
            return
        ctx.placeholder_ts = ts
        if ctx.source_ts:
            await self._react(ctx.channel, ctx.source_ts, add="eyes")

    async def _recover(self, job: Job) -> bool:
        """Find what an earlier try posted; True when the placeholder was found."""
        ctx = job.slack
        if ctx.thread_ts is None and job.trigger is Trigger.COMMAND:
            parent = await self._find_tagged(job, "parent")
            if parent is not None:
                log.info("job %s found its /gist message %s from an earlier try", job.id, parent)
                ctx.thread_ts = ctx.source_ts = parent
        if ctx.thread_ts is None:
            return False
        found = await self._find_tagged(job, "placeholder")
        if found is None:
            return False
        log.info("job %s found its placeholder %s from an earlier try", job.id, found)
        ctx.placeholder_ts = found
        return True

    async def _find_tagged(self, job: Job, role: str) -> str | None:
        """Our message tagged with this job and role: in the thread, or (a /gist thread's
        opener) in the channel. Transient errors go up: guessing "not there" would post twice."""
        ctx = job.slack
        try:
            if role == "parent":
                resp = await self._client.conversations_history(
                    channel=ctx.channel, include_all_metadata=True, limit=100
                )
            else:
                resp = await self._client.conversations_replies(
                    channel=ctx.channel,
                    ts=ctx.thread_ts or "",
                    include_all_metadata=True,
                    limit=200,
                )
        except SlackApiError as exc:
            if is_transient_slack(exc):
                raise
            log.info("could not look for job %s's %s: %s", job.id, role, slack_error_code(exc))
            return None
        return _tagged(resp.get("messages") or [], job, role)

    async def progress(
        self, job: Job, phase: Phase, percent: float | None, elapsed_s: float
    ) -> None:
        ctx = job.slack
        if not ctx.placeholder_ts:
            return
        message = blocks.progress_message(
            phase=phase,
            source_name=job.source.name,
            elapsed_s=elapsed_s,
            percent=percent,
            requester_id=_asker(job),
        )
        await self._client.chat_update(
            channel=ctx.channel, ts=ctx.placeholder_ts, **message.as_kwargs()
        )

    # -- outcome -----------------------------------------------------------------------------
    async def result(self, job: Job) -> None:
        assert job.gist is not None

        def build(thumbnail: bool) -> blocks.Message:
            assert job.gist is not None
            return blocks.result_message(
                job.gist,
                source_name=job.source.name,
                source_url=job.source.url if job.source.kind == "url" else None,
                requester_id=_asker(job),
                elapsed_s=time.time() - job.created_at,
                job_id=job.id,
                cached=job.cached,
                include_thumbnail=thumbnail,
            )

        try:
            await self._deliver(job, build(bool(job.gist.video.thumbnail_url)))
        except SlackApiError as exc:
            # Slack refuses the whole message when it can't fetch the (expiring) thumbnail.
            if slack_error_code(exc) not in ("invalid_blocks", "invalid_blocks_format"):
                raise
            await self._deliver(job, build(False))
        if job.slack.source_ts:
            # Only a Retry/Regenerate can find an earlier ❌/✅ on the message.
            again = job.trigger in (Trigger.RETRY, Trigger.REGENERATE)
            await self._react(
                job.slack.channel,
                job.slack.source_ts,
                remove=("eyes", "x") if again else ("eyes",),
                add="white_check_mark",
            )

    async def failed(self, job: Job, failure: GistFailure) -> None:
        message = blocks.error_message(
            headline=failure.headline,
            detail=failure.detail,
            source_name=job.source.name,
            job_id=job.id,
            retryable=failure.retryable,
        )
        await self._deliver(job, message)
        if job.slack.source_ts:
            again = job.trigger in (Trigger.RETRY, Trigger.REGENERATE)
            await self._react(
                job.slack.channel,
                job.slack.source_ts,
                remove=("eyes", "white_check_mark") if again else ("eyes",),
                add="x",
            )
        if failure.admin:
            await self._alert_admin(failure)

    # -- delivery ----------------------------------------------------------------------
    async def _deliver(self, job: Job, message: blocks.Message) -> None:
        ctx = job.slack
        if ctx.placeholder_ts:
            await self._client.chat_update(
                channel=ctx.channel, ts=ctx.placeholder_ts, **message.as_kwargs()
            )
        elif ctx.response_url and (ctx.via_response_url or not ctx.thread_ts):
            await self._respond(ctx.response_url, message, in_channel=True)
        elif ctx.thread_ts:
            ctx.placeholder_ts = await self._post(job, "placeholder", message)
        else:
            log.error("job %s has nowhere to reply", job.id)

    async def _post(self, job: Job, role: str, message: blocks.Message) -> str | None:
        """Post a tagged message in the job's thread; None if we switched to response_url."""
        ctx = job.slack
        try:
            resp = await self._client.chat_postMessage(
                channel=ctx.channel,
                thread_ts=ctx.thread_ts,
                metadata=_tag(job, role),
                **message.as_kwargs(),
            )
        except SlackApiError as exc:
            if slack_error_code(exc) in SLACK_CHANNEL_GONE and ctx.response_url:
                await self._switch_to_response_url(job)
                return None
            raise
        return str(resp["ts"])

    async def _respond(self, url: str, message: blocks.Message, *, in_channel: bool) -> None:
        hook = AsyncWebhookClient(url, timeout=15, retry_handlers=[self._retry])
        resp = await hook.send(
            response_type="in_channel" if in_channel else "ephemeral",
            replace_original=False,
            **message.as_kwargs(),
        )
        if resp.status_code >= 500 or resp.status_code == 429:
            raise ConnectionError(f"response_url answered {resp.status_code}")  # transient
        if resp.status_code >= 400:
            raise RuntimeError(f"response_url answered {resp.status_code}")

    async def _open_command_thread(self, job: Job) -> None:
        """A /gist result goes in a thread under a short message naming who asked."""
        ctx = job.slack
        name = blocks.escape_mrkdwn(job.source.name)
        what = f"<{job.source.url}|{name}>" if job.source.kind == "url" and job.source.url else name
        try:
            resp = await self._client.chat_postMessage(
                channel=ctx.channel,
                text=f"<@{ctx.user}> asked for a gist of {what}",
                unfurl_links=False,
                unfurl_media=False,
                metadata=_tag(job, "parent"),
            )
        except SlackApiError as exc:
            if slack_error_code(exc) in SLACK_CHANNEL_GONE and ctx.response_url:
                await self._switch_to_response_url(job)
                return
            raise
        ctx.thread_ts = ctx.source_ts = str(resp["ts"])

    async def _switch_to_response_url(self, job: Job) -> None:
        job.slack.thread_ts = None
        job.slack.source_ts = None
        job.slack.via_response_url = True
        assert job.slack.response_url is not None
        note = blocks.notice_message(messages.notice("not_a_member"))
        try:
            await self._respond(job.slack.response_url, note, in_channel=False)
        except Exception as exc:
            log.warning("response_url notice for job %s failed: %s", job.id, exc)

    async def _react(
        self, channel: str, ts: str, *, add: str | None = None, remove: tuple[str, ...] = ()
    ) -> None:
        """Reactions are a glance, not the answer: their failures are logged, never raised."""
        steps = [("reactions_remove", name) for name in remove]
        if add is not None:
            steps.append(("reactions_add", add))
        for method, name in steps:
            try:
                await getattr(self._client, method)(channel=channel, timestamp=ts, name=name)
            except SlackApiError as exc:
                if slack_error_code(exc) not in BENIGN_REACTION:
                    log.info("%s %s failed: %s", method, name, slack_error_code(exc))
            except Exception as exc:
                log.info("%s %s failed: %s", method, name, type(exc).__name__)

    async def _alert_admin(self, failure: GistFailure) -> None:
        log.error("ADMIN: %s — %s %s", failure.code, failure.headline, failure.detail)
        channel = self._settings.gist_admin_channel
        now = time.monotonic()
        if not channel or now - self._admin_alerted.get(failure.code, -1e9) < ADMIN_ALERT_EVERY_S:
            return
        self._admin_alerted[failure.code] = now
        text = messages.notice("admin_alert", headline=failure.headline, code=failure.code)
        try:
            await self._client.chat_postMessage(channel=channel, text=text)
        except SlackApiError as exc:
            log.warning("admin alert to %s failed: %s", channel, slack_error_code(exc))


def _asker(job: Job) -> str | None:
    """Who to credit in the message: nobody asked for a passive gist."""
    return None if job.trigger is Trigger.PASSIVE else job.slack.user


def _tag(job: Job, role: str) -> dict[str, Any]:
    """Message metadata naming the job, so a later try can find what it posted."""
    return {"event_type": METADATA_EVENT, "event_payload": {"job_id": job.id, "role": role}}


def _tagged(messages_: list[dict[str, Any]], job: Job, role: str) -> str | None:
    for message in messages_:
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if payload.get("job_id") == job.id and payload.get("role") == role:
            return str(message["ts"])
    return None
