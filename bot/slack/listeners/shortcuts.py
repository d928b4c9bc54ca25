"""The "Gist this video" message shortcut."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncBoltContext

from bot import messages as texts
from bot.gist.vocabulary import default_types
from bot.jobs.models import Trigger
from bot.slack.deps import deps_of
from bot.slack.listeners.common import accept_all, jobs_for


async def on_gist_this_video(
    ack: Any, body: dict[str, Any], respond: Any, context: AsyncBoltContext
) -> None:
    deps = deps_of(context)
    channel = str((body.get("channel") or {}).get("id") or "")
    if not deps.guard.channel_allowed(channel) or not deps.runner.accepting:
        await ack()
        key = "restarting" if deps.guard.channel_allowed(channel) else "channel_disabled"
        await respond(text=texts.notice(key), response_type="ephemeral")
        return
    intake = jobs_for(
        deps,
        dict(body.get("message") or {}),
        team_id=(body.get("team") or {}).get("id"),
        channel=channel,
        requester=str((body.get("user") or {}).get("id") or ""),
        trigger=Trigger.SHORTCUT,
        types=default_types(deps.settings),
        response_url=body.get("response_url"),
        explicit=True,
    )
    accepted = await accept_all(deps, intake)
    await ack()
    notes = list(intake.notes)
    if not intake.jobs:
        notes.insert(0, texts.notice("no_video_in_message"))
    elif not accepted:
        notes.insert(0, texts.notice("already_on_it"))
    for job in accepted:
        deps.runner.start(job)
    if notes:
        await respond(text="\n".join(notes), response_type="ephemeral")
