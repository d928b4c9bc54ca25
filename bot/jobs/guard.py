"""Cost guardrails: where gisting is allowed, how big and long a video may be, daily quotas."""

from __future__ import annotations

from bot.gist.errors import GistFailure
from bot.jobs.models import Job
from bot.jobs.store_base import Store
from bot.settings import Settings


def _mb(size_bytes: float) -> str:
    mb = size_bytes / 1048576
    if mb < 1:
        return f"{size_bytes / 1024:,.3g} KB"
    return f"{mb:,.0f} MB" if mb >= 100 else f"{mb:,.3g} MB"


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


class Guard:
    def __init__(self, settings: Settings, store: Store) -> None:
        self._s = settings
        self._store = store

    # -- where --------------------------------------------------------------------------
    def channel_allowed(self, channel: str) -> bool:
        allowed = self._s.gist_allowed_channels
        return not allowed or channel in allowed

    def passive_allowed(self, channel: str) -> bool:
        if not self._s.gist_passive_enabled or not self.channel_allowed(channel):
            return False
        passive = self._s.gist_passive_channels
        return not passive or channel in passive

    # -- how big / how long ---------------------------------------------------------------
    def check_size(self, size_bytes: int | None) -> None:
        if size_bytes is None:
            return
        if size_bytes == 0:
            raise GistFailure(
                "empty_file", "This file is empty", "There is no video in it.", retryable=False
            )
        if size_bytes > self._s.max_file_bytes:
            raise GistFailure(
                "too_big",
                "This video is too big",
                f"It is {_mb(size_bytes)}; this workspace's limit is "
                f"{_mb(self._s.max_file_bytes)}. Trim or compress it and post it again.",
                retryable=False,
            )

    def check_duration(self, seconds: float | None) -> None:
        if seconds is None:
            return
        limit = self._s.gist_max_video_minutes * 60
        if seconds > limit:
            raise GistFailure(
                "too_long",
                "This video is too long",
                f"It runs {_minutes(seconds)}; the limit here is {_minutes(limit)}. "
                "Post a shorter cut.",
                retryable=False,
            )
        if seconds < self._s.gist_min_video_seconds:
            raise GistFailure(
                "too_short",
                "This video is too short",
                f"It runs {seconds:.1f} s; TwelveLabs needs at least "
                f"{self._s.gist_min_video_seconds:.0f} s of video.",
                retryable=False,
            )

    async def check_quota(self, job: Job, seconds: float | None) -> None:
        """Refuse when this video would push the asker or the workspace past today's minutes."""
        extra = (seconds or 0.0) / 60
        user_limit, team_limit = self._s.gist_user_daily_minutes, self._s.gist_team_daily_minutes
        if user_limit is not None:
            used = (await self._store.usage_today(job.slack.team_id, job.slack.user))[
                "video_seconds"
            ] / 60
            if used + extra > user_limit:
                raise GistFailure(
                    "quota_user",
                    "You've reached today's video limit",
                    f"You have used {used:.0f} of your {user_limit:.0f} minutes today "
                    "(UTC). `/gist usage` shows the totals.",
                    retryable=False,
                )
        if team_limit is not None:
            used = (await self._store.usage_today(job.slack.team_id))["video_seconds"] / 60
            if used + extra > team_limit:
                raise GistFailure(
                    "quota_team",
                    "This workspace has reached today's video limit",
                    f"{used:.0f} of {team_limit:.0f} minutes are used today (UTC). "
                    "Try again tomorrow or ask an admin to raise GIST_TEAM_DAILY_MINUTES.",
                    retryable=False,
                )
