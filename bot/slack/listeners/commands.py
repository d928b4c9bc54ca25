"""`/gist <url> [types]`, `/gist help`, `/gist usage`; `/gist search …` goes to `search.py`."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncBoltContext

from bot import messages as texts
from bot.gist.models import GistType
from bot.slack import blocks
from bot.slack.commands import parse_gist_command
from bot.slack.deps import Deps, deps_of
from bot.slack.intake import command_job
from bot.slack.listeners.search import on_search_command
from bot.sources.urls import UrlKind, classify_url


async def on_gist(ack: Any, command: dict[str, Any], context: AsyncBoltContext) -> None:
    deps = deps_of(context)
    parsed = parse_gist_command(str(command.get("text") or ""))
    if parsed.kind == "help":
        await ack(**blocks.help_message().as_kwargs())
        return
    if parsed.kind == "usage":
        await ack(**(await _usage(deps, command)).as_kwargs())
        return
    if parsed.kind == "search":
        await on_search_command(ack, command, parsed.query or "", context)
        return
    if parsed.kind == "error" or parsed.url is None:
        error = parsed.error or texts.notice("unreadable_command")
        await ack(**blocks.notice_message(error).as_kwargs())
        return
    channel = str(command.get("channel_id") or "")
    refusal = _refusal(deps, channel, parsed.url)
    if refusal is not None:
        await ack(text=refusal)
        return
    job = command_job(
        parsed.url,
        team_id=str(command.get("team_id") or ""),
        channel=channel,
        user=str(command.get("user_id") or ""),
        types=parsed.types,
        response_url=str(command.get("response_url") or ""),
        timeout_s=deps.settings.gist_job_timeout_s,
        probe=classify_url(parsed.url).kind is not UrlKind.DIRECT_MEDIA,
    )
    await deps.runner.accept(job)
    wanted = ", ".join(t.value + ("s" if t is not GistType.TITLE else "") for t in job.types)
    await ack(
        text=f"On it: {wanted} for {parsed.url}. The result goes in a thread in this channel "
        "(or here, if I'm not a member of the channel)."
    )
    deps.runner.start(job)


def _refusal(deps: Deps, channel: str, url: str) -> str | None:
    """Why this /gist can't be taken on, in the words of the ack; None when it can."""
    if not deps.guard.channel_allowed(channel):
        return texts.notice("channel_disabled")
    if not deps.runner.accepting:
        return texts.notice("restarting")
    kind = classify_url(url)
    if kind.kind is UrlKind.HOSTING_PAGE:
        return texts.notice("hosting_page", service=kind.service)
    return None


async def _usage(deps: Deps, command: dict[str, Any]) -> blocks.Message:
    s = deps.settings
    team, user = str(command.get("team_id") or ""), str(command.get("user_id") or "")
    mine = await deps.store.usage_today(team, user)
    team_total = await deps.store.usage_today(team)
    return blocks.usage_message(
        user_id=user,
        user_minutes=mine["video_seconds"] / 60,
        team_minutes=team_total["video_seconds"] / 60,
        user_limit_min=s.gist_user_daily_minutes,
        team_limit_min=s.gist_team_daily_minutes,
        jobs_today=int(mine["jobs"]),
        tokens_today=int(mine["tokens"]),
    )
