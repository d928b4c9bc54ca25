"""The job runner's window on Slack: placeholder, progress edits, result, errors, reactions,
and Slack file downloads. Implements `bot.jobs.ports.Notifier` and `FileFetcher`."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.gist.errors import GistFailure
from bot.jobs.models import Job, Trigger
from bot.jobs.ports import BytesCb, FetchedFile
from bot.settings import Settings
from bot.slack import blocks
from bot.slack.links import split_files
from bot.sources.probe import ProbeError, probe_media_url
from bot.sources.slack_files import DownloadError, download_slack_file
from bot.sources.urlguard import BlockedUrl

log = logging.getLogger(__name__)

CANNOT_POST = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
BENIGN_REACTION = {"already_reacted", "no_reaction", "message_not_found", "not_in_channel"}
ADMIN_ALERT_EVERY_S = 3600.0
METADATA_EVENT = "gistbot_job"

_DOWNLOAD_CODES = {
    "login_page": ("Slack sent a sign-in page instead of the file", False),
    "too_large": ("This video is too big", False),
    "empty": ("This file is empty", False),
    "not_found": ("This file is no longer available", False),
    "forbidden_host": ("This file isn't hosted where gistbot may fetch it", False),
    "too_many_redirects": ("Slack kept redirecting the download", True),
    "http_error": ("Slack wouldn't hand over the file", True),
    "network": ("The download from Slack failed", True),
    "size_mismatch": ("The download from Slack was incomplete", True),
}


def _phase(name: str) -> blocks.Phase:
    try:
        return blocks.Phase(name)
    except ValueError:
        return blocks.Phase.PROCESSING


class SlackNotifier:
    def __init__(self, client: AsyncWebClient, settings: Settings, http: httpx.AsyncClient) -> None:
        self._client = client
        self._settings = settings
        self._http = http
        self._admin_alerted: dict[str, float] = {}

    # -- Notifier --------------------------------------------------------------------------
    async def started(self, job: Job, *, recover: bool = False) -> None:
        ctx = job.slack
        if recover and ctx.thread_ts is None and job.trigger is Trigger.COMMAND:
            parent = await self._find_command_parent(job)
            if parent is not None:
                log.info("job %s found its /gist message %s from before a restart", job.id, parent)
                ctx.thread_ts = ctx.source_ts = parent
        if recover and ctx.thread_ts:
            found = await self._find_placeholder(job)
            if found is not None:
                log.info("job %s found its placeholder %s from before a restart", job.id, found)
                ctx.placeholder_ts = found
                return
        if ctx.thread_ts is None and job.trigger is Trigger.COMMAND:
            await self._open_command_thread(job)
        if ctx.thread_ts is None:
            return  # answers go through response_url
        message = blocks.progress_message(
            phase=blocks.Phase.QUEUED, source_name=job.source.name, elapsed_s=0.0,
            requester_id=_asker(job),
        )  # fmt: skip
        try:
            resp = await self._client.chat_postMessage(
                channel=ctx.channel,
                thread_ts=ctx.thread_ts,
                metadata=_tag(job, "placeholder"),
                **message.as_kwargs(),
            )
        except SlackApiError as exc:
            if _error(exc) in CANNOT_POST and ctx.response_url:
                await self._switch_to_response_url(job)
                return
            raise
        ctx.placeholder_ts = str(resp["ts"])
        if ctx.source_ts:
            await self._react(ctx.channel, ctx.source_ts, add="eyes")

    async def _find_placeholder(self, job: Job) -> str | None:
        """Our message in the thread tagged with this job's id (message metadata)."""
        try:
            resp = await self._client.conversations_replies(
                channel=job.slack.channel,
                ts=job.slack.thread_ts or "",
                include_all_metadata=True,
                limit=200,
            )
        except SlackApiError as exc:
            log.info("could not read thread for job %s: %s", job.id, _error(exc))
            return None
        return _tagged(resp.get("messages") or [], job, "placeholder")

    async def _find_command_parent(self, job: Job) -> str | None:
        try:
            resp = await self._client.conversations_history(
                channel=job.slack.channel, include_all_metadata=True, limit=100
            )
        except SlackApiError as exc:
            log.info("could not read channel for job %s: %s", job.id, _error(exc))
            return None
        return _tagged(resp.get("messages") or [], job, "parent")

    async def progress(self, job: Job, phase: str, percent: float | None, elapsed_s: float) -> None:
        ctx = job.slack
        if not ctx.placeholder_ts:
            return
        message = blocks.progress_message(
            phase=_phase(phase), source_name=job.source.name, elapsed_s=elapsed_s,
            percent=percent,
            requester_id=_asker(job),
        )  # fmt: skip
        await self._client.chat_update(
            channel=ctx.channel, ts=ctx.placeholder_ts, **message.as_kwargs()
        )

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
            if _error(exc) not in ("invalid_blocks", "invalid_blocks_format"):
                raise
            await self._deliver(job, build(False))
        if job.slack.source_ts:
            # Only a Retry/Regenerate can find an earlier ❌/✅ on the message.
            again = job.trigger in (Trigger.RETRY, Trigger.REGENERATE)
            await self._react(job.slack.channel, job.slack.source_ts,
                              remove=("eyes", "x") if again else ("eyes",),
                              add="white_check_mark")  # fmt: skip

    async def failed(self, job: Job, failure: GistFailure) -> None:
        message = blocks.error_message(
            headline=failure.headline,
            detail=failure.detail,
            source_name=job.source.name,
            job_id=job.id,
            retryable=failure.retryable,
        )
        try:
            await self._deliver(job, message)
        except Exception:
            log.exception("could not tell the user that job %s failed", job.id)
        if job.slack.source_ts:
            again = job.trigger in (Trigger.RETRY, Trigger.REGENERATE)
            await self._react(job.slack.channel, job.slack.source_ts,
                              remove=("eyes", "white_check_mark") if again else ("eyes",),
                              add="x")  # fmt: skip
        if failure.admin:
            await self._alert_admin(failure)

    # -- FileFetcher -----------------------------------------------------------------------
    async def fetch(self, job: Job, dest_dir: Path, progress: BytesCb) -> FetchedFile:
        source = job.source
        if not source.url:
            await self.resolve(job)
        assert source.url is not None
        try:
            got = await download_slack_file(
                source.url,
                token=self._settings.slack_bot_token.get_secret_value(),
                allowed_hosts=self._settings.slack_file_hosts,
                dest_dir=dest_dir,
                max_bytes=self._settings.max_file_bytes,
                http=self._http,
                expected_size=source.size_bytes,
                progress=progress,
            )
        except DownloadError as exc:
            headline, retryable = _DOWNLOAD_CODES.get(exc.kind, ("The download failed", True))
            raise GistFailure(
                f"download_{exc.kind}", headline, exc.user_message, retryable=retryable
            ) from exc
        return FetchedFile(path=got.path, size=got.size, sha256=got.sha256)

    async def check_link(self, job: Job) -> None:
        assert job.source.url is not None
        try:
            result = await probe_media_url(
                job.source.url, allow_private=self._settings.gist_allow_private_urls,
                http=self._http,
            )  # fmt: skip
        except BlockedUrl as exc:
            raise GistFailure(
                "blocked_url", "I can't fetch that link", exc.reason, retryable=False
            ) from exc
        except ProbeError as exc:
            raise GistFailure(
                "dead_link",
                "That link doesn't work",
                exc.user_message,
                retryable=exc.kind == "unreachable",
            ) from exc
        if not result.is_video:
            what = (
                "a web page" if result.is_html else f"a {result.content_type or 'non-video'} file"
            )
            raise GistFailure(
                "not_video",
                "That link isn't a video",
                f"It points to {what}, not a video file. Share a direct link to the video "
                "(for example one ending in .mp4), or upload the file here.",
                retryable=False,
            )
        job.source.url = result.final_url

    async def resolve(self, job: Job) -> None:
        """Stub file objects (Slack Connect, plan limits, deleted) need files.info."""
        file_id = job.source.file_id
        try:
            resp = await self._client.files_info(file=file_id or "")
        except SlackApiError as exc:
            code = _error(exc)
            if code in ("file_deleted", "file_not_found"):
                raise GistFailure(
                    "file_gone",
                    "This file is no longer available",
                    "It was deleted or has expired. Upload it again.",
                    retryable=False,
                ) from exc
            raise
        info: dict[str, Any] = dict(resp.get("file") or {})
        videos, non_videos, stubs = split_files({"files": [info]})
        if info.get("mode") == "hidden_by_limit" or stubs:
            raise GistFailure(
                "file_hidden",
                "This file is hidden by the workspace's plan limits",
                "Slack doesn't let apps read it. Upload it again or share a direct link.",
                retryable=False,
            )
        if non_videos or not videos:
            raise GistFailure(
                "not_video",
                "This file isn't a video",
                "gistbot works on video files (mp4, mov, webm …) and direct video links.",
                retryable=False,
            )
        file = videos[0]
        job.source.url = file.get("url_private_download") or file.get("url_private")
        job.source.size_bytes = file.get("size") or job.source.size_bytes
        job.source.filename = file.get("name") or job.source.filename
        if not job.source.url:
            raise GistFailure(
                "file_gone", "This file can't be downloaded", "Upload it again.", retryable=False
            )

    # -- delivery ----------------------------------------------------------------------
    async def _deliver(self, job: Job, message: blocks.Message) -> None:
        ctx = job.slack
        if ctx.placeholder_ts:
            await self._client.chat_update(
                channel=ctx.channel, ts=ctx.placeholder_ts, **message.as_kwargs()
            )
        elif ctx.thread_ts:
            resp = await self._client.chat_postMessage(
                channel=ctx.channel, thread_ts=ctx.thread_ts, **message.as_kwargs()
            )
            ctx.placeholder_ts = str(resp["ts"])
        elif ctx.response_url:
            await self._respond(ctx.response_url, message, in_channel=True)
        else:
            log.error("job %s has nowhere to reply", job.id)

    async def _respond(self, url: str, message: blocks.Message, *, in_channel: bool) -> None:
        hook = AsyncWebhookClient(url, timeout=15)
        resp = await hook.send(
            response_type="in_channel" if in_channel else "ephemeral",
            replace_original=False,
            **message.as_kwargs(),
        )
        if resp.status_code >= 400:
            raise RuntimeError(f"response_url answered {resp.status_code}")

    async def _open_command_thread(self, job: Job) -> None:
        """A /gist result goes in a thread under a short message naming who asked."""
        ctx = job.slack
        text = f"<@{ctx.user}> asked for a gist of {blocks.escape_mrkdwn(job.source.name)}"
        if job.source.kind == "url" and job.source.url:
            text = f"<@{ctx.user}> asked for a gist of <{job.source.url}|{blocks.escape_mrkdwn(job.source.name)}>"  # noqa: E501
        try:
            resp = await self._client.chat_postMessage(
                channel=ctx.channel, text=text, unfurl_links=False, unfurl_media=False,
                metadata=_tag(job, "parent"),
            )  # fmt: skip
        except SlackApiError as exc:
            if _error(exc) in CANNOT_POST and ctx.response_url:
                await self._switch_to_response_url(job)
                return
            raise
        ctx.thread_ts = ctx.source_ts = str(resp["ts"])

    async def _switch_to_response_url(self, job: Job) -> None:
        job.slack.thread_ts = None
        job.slack.source_ts = None
        assert job.slack.response_url is not None
        note = blocks.notice_message(
            "I'm not a member of this channel, so I can't reply in a thread here. "
            "The gist will be posted in this channel as a reply to your command when it's "
            "ready. Invite me (`/invite @gistbot`) to get progress in a thread next time."
        )
        try:
            await self._respond(job.slack.response_url, note, in_channel=False)
        except Exception as exc:
            log.warning("response_url notice for job %s failed: %s", job.id, exc)

    async def _react(
        self, channel: str, ts: str, *, add: str | None = None, remove: tuple[str, ...] = ()
    ) -> None:
        steps = [("reactions_remove", name) for name in remove]
        if add is not None:
            steps.append(("reactions_add", add))
        for method, name in steps:
            try:
                await getattr(self._client, method)(channel=channel, timestamp=ts, name=name)
            except SlackApiError as exc:
                if _error(exc) not in BENIGN_REACTION:
                    log.info("%s %s failed: %s", method, name, _error(exc))

    async def _alert_admin(self, failure: GistFailure) -> None:
        log.error("ADMIN: %s — %s %s", failure.code, failure.headline, failure.detail)
        channel = self._settings.gist_admin_channel
        now = time.monotonic()
        if not channel or now - self._admin_alerted.get(failure.code, -1e9) < ADMIN_ALERT_EVERY_S:
            return
        self._admin_alerted[failure.code] = now
        text = (
            f":rotating_light: gistbot needs an admin: *{failure.headline}* ({failure.code}). "
            "Check TWELVELABS_API_KEY and the account's plan, then restart gistbot."
        )
        try:
            await self._client.chat_postMessage(channel=channel, text=text)
        except SlackApiError as exc:
            log.warning("admin alert to %s failed: %s", channel, _error(exc))


def _asker(job: Job) -> str | None:
    """Who to credit in the message: nobody asked for a passive gist."""
    return None if job.trigger is Trigger.PASSIVE else job.slack.user


def _tag(job: Job, role: str) -> dict[str, Any]:
    """Message metadata naming the job, so a restarted process can find what it posted."""
    return {"event_type": METADATA_EVENT, "event_payload": {"job_id": job.id, "role": role}}


def _tagged(messages: list[dict[str, Any]], job: Job, role: str) -> str | None:
    for message in messages:
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if payload.get("job_id") == job.id and payload.get("role") == role:
            return str(message["ts"])
    return None


def _error(exc: SlackApiError) -> str:
    try:
        return str(exc.response.get("error") or "")
    except Exception:
        return ""
