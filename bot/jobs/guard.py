"""Cost guardrails: where gisting is allowed, how big and long a video may be, daily quotas."""

from __future__ import annotations

from bot import metrics
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
            raise GistFailure("empty_file")
        if size_bytes > self._s.max_file_bytes:
            raise GistFailure("too_big", size=_mb(size_bytes), limit=_mb(self._s.max_file_bytes))

    def check_duration(self, seconds: float | None) -> None:
        if seconds is None:
            return
        limit = self._s.gist_max_video_minutes * 60
        if seconds > limit:
            raise GistFailure("too_long", duration=_minutes(seconds), limit=_minutes(limit))
        if seconds < self._s.gist_min_video_seconds:
            raise GistFailure(
                "too_short",
                duration=f"{seconds:.1f} s",
                limit=f"{self._s.gist_min_video_seconds:.0f} s",
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
                metrics.quota_refused("user")
                raise GistFailure("quota_user", used=f"{used:.0f}", limit=f"{user_limit:.0f}")
        if team_limit is not None:
            used = (await self._store.usage_today(job.slack.team_id))["video_seconds"] / 60
            if used + extra > team_limit:
                metrics.quota_refused("team")
                raise GistFailure("quota_team", used=f"{used:.0f}", limit=f"{team_limit:.0f}")
