"""Turn a Slack message (event, shortcut payload) into job records. Pure, except the clock."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from bot.gist.models import GistType
from bot.gist.schema import ordered
from bot.jobs.models import Job, SlackContext, SourceSpec, Trigger
from bot.messages import notice
from bot.slack.links import extract_urls, split_files
from bot.sources.urls import UrlKind, classify_url

# Subtypes of `message` that carry a human's (or a thread broadcast's) new content.
CONTENT_SUBTYPES = {None, "file_share", "thread_broadcast"}


@dataclass
class Intake:
    jobs: list[Job] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # told to the user on explicit requests


def is_content_message(event: dict[str, Any], bot_user_id: str | None) -> bool:
    """Human content worth looking at: not from bots (loops), not edits/deletes/hidden."""
    if event.get("hidden") or event.get("bot_id") or event.get("bot_profile"):
        return False
    if event.get("subtype") not in CONTENT_SUBTYPES:
        return False
    return not (bot_user_id and event.get("user") == bot_user_id)


def build_jobs(
    message: dict[str, Any],
    *,
    team_id: str,
    channel: str,
    requester: str,
    trigger: Trigger,
    types: frozenset[GistType],
    max_videos: int,
    timeout_s: float,
    response_url: str | None = None,
    explicit: bool,
    can_thread: bool = True,
) -> Intake:
    """One job per video in `message` (uploads first, then links), capped at max_videos."""
    out = Intake()
    ts = str(message.get("ts") or "")
    thread_ts = str(message.get("thread_ts") or ts) if can_thread and ts else None
    now = time.time()
    sources: list[SourceSpec] = []

    videos, non_videos, stubs = split_files(message)
    for f in videos + stubs:
        duration_ms = f.get("duration_ms")
        sources.append(
            SourceSpec(
                kind="slack_file",
                file_id=str(f.get("id") or ""),
                url=f.get("url_private_download") or f.get("url_private"),
                filename=f.get("name") or f.get("title"),
                size_bytes=f.get("size") if isinstance(f.get("size"), int) else None,
                duration_s=duration_ms / 1000 if isinstance(duration_ms, int | float) else None,
                mimetype=f.get("mimetype"),
            )
        )
    if explicit and non_videos:
        names = ", ".join(str(f.get("name") or "a file") for f in non_videos[:3])
        one = len(non_videos) == 1
        verb, pronoun = ("is", "it") if one else ("are", "them")
        out.notes.append(notice("not_videos_skipped", names=names, verb=verb, pronoun=pronoun))
    for url in extract_urls(message):
        kind = classify_url(url)
        if kind.kind is UrlKind.DIRECT_MEDIA:
            sources.append(SourceSpec(kind="url", url=url))
        elif kind.kind is UrlKind.HOSTING_PAGE and explicit:
            out.notes.append(notice("hosting_page_in_message", service=kind.service))
        elif kind.kind is UrlKind.OTHER and explicit:
            sources.append(SourceSpec(kind="url", url=url, probe=True))

    if len(sources) > max_videos:
        skipped = len(sources) - max_videos
        plural = "s" if skipped != 1 else ""
        out.notes.append(notice("skipped_videos", count=skipped, plural=plural, limit=max_videos))
        sources = sources[:max_videos]

    for source in sources:
        what = source.file_id or source.url or ""
        work_key = f"{team_id}:{channel}:{ts}:{what}" if ts else f"{trigger.value}:{uuid.uuid4()}"
        out.jobs.append(
            Job(
                work_key=work_key,
                trigger=trigger,
                slack=SlackContext(
                    team_id=team_id,
                    channel=channel,
                    user=requester,
                    thread_ts=thread_ts,
                    source_ts=ts or None,
                    response_url=response_url,
                ),
                source=source,
                types=ordered(types),
                created_at=now,
                deadline_at=now + timeout_s,
            )
        )
    return out


def command_job(
    url: str,
    *,
    team_id: str,
    channel: str,
    user: str,
    types: frozenset[GistType],
    response_url: str,
    timeout_s: float,
    probe: bool,
) -> Job:
    now = time.time()
    return Job(
        work_key=f"command:{uuid.uuid4()}",
        trigger=Trigger.COMMAND,
        slack=SlackContext(team_id=team_id, channel=channel, user=user, response_url=response_url),
        source=SourceSpec(kind="url", url=url, probe=probe),
        types=ordered(types),
        created_at=now,
        deadline_at=now + timeout_s,
    )


def follow_up_job(
    old: Job,
    *,
    trigger: Trigger,
    user: str,
    timeout_s: float,
    message_ts: str,
    response_url: str | None,
) -> Job:
    """Retry or Regenerate: same video and thread; the clicked message becomes the placeholder."""
    now = time.time()
    job = Job(
        work_key=f"{trigger.value}:{old.id}",  # one click per failed/finished job
        trigger=trigger,
        slack=old.slack.model_copy(
            update={"user": user, "placeholder_ts": message_ts, "response_url": response_url}
        ),
        source=old.source.model_copy(),
        types=list(old.types),
        created_at=now,
        deadline_at=now + timeout_s,
        force_fresh=trigger is Trigger.REGENERATE,
    )
    if trigger is Trigger.REGENERATE and old.asset_id and old.asset_ready:
        # A new analysis of the same asset: no download, no re-upload.
        job.asset_id, job.asset_ready = old.asset_id, True
        job.video_seconds, job.thumbnail_url = old.video_seconds, old.thumbnail_url
        job.sha256 = old.sha256
    return job
