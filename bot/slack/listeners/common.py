"""What several listeners share: turning a message into jobs, and persisting them."""

from __future__ import annotations

import logging
from typing import Any

from bot.gist.models import GistType
from bot.jobs.models import Job, Trigger
from bot.slack.deps import Deps
from bot.slack.intake import Intake, build_jobs

log = logging.getLogger(__name__)


def jobs_for(
    deps: Deps,
    message: dict[str, Any],
    *,
    team_id: Any,
    channel: str,
    requester: Any,
    trigger: Trigger,
    types: frozenset[GistType],
    explicit: bool,
    response_url: str | None = None,
) -> Intake:
    s = deps.settings
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


async def accept_all(deps: Deps, intake: Intake, event_id: str | None = None) -> list[Job]:
    """One transaction for all of a message's jobs (and its event id); the new ones."""
    if not intake.jobs and not event_id:
        return []
    added = await deps.runner.accept_many(intake.jobs, event_id)
    for job, new in zip(intake.jobs, added, strict=True):
        if not new:
            log.info("duplicate work %s ignored", job.work_key)
    return [job for job, new in zip(intake.jobs, added, strict=True) if new]
