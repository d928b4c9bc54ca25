"""Where an indexed video came from, carried as `user_metadata` on its indexed asset.

TwelveLabs stores the metadata with the indexed asset, returns it with every search hit
(`include_user_metadata`) and filters on it, so a hit maps back to the Slack message that
shared the video without another call, and a search can be narrowed at TwelveLabs to one
workspace or one conversation. Values are strings: what the API filters on exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["KEY_CHANNEL", "KEY_JOB", "KEY_TEAM", "KEY_TS", "Origin"]

KEY_TEAM = "gistbot_team"  # the Slack workspace (team id)
KEY_CHANNEL = "gistbot_channel"  # the conversation (channel, private channel, DM, group DM)
KEY_TS = "gistbot_ts"  # the message that shared the video
KEY_JOB = "gistbot_job"  # gistbot's job (also the asset's `gistbot_request`)


@dataclass(frozen=True)
class Origin:
    team_id: str
    channel: str
    message_ts: str | None = None
    job_id: str | None = None

    def metadata(self) -> dict[str, str]:
        out = {KEY_TEAM: self.team_id, KEY_CHANNEL: self.channel}
        if self.message_ts:
            out[KEY_TS] = self.message_ts
        if self.job_id:
            out[KEY_JOB] = self.job_id
        return out

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None) -> Origin | None:
        """The origin a hit's metadata names, or None when it names none (a video indexed
        before gistbot tagged them, or by someone else)."""
        if not metadata:
            return None
        team, channel = metadata.get(KEY_TEAM), metadata.get(KEY_CHANNEL)
        if not isinstance(team, str) or not isinstance(channel, str) or not team or not channel:
            return None
        ts, job = metadata.get(KEY_TS), metadata.get(KEY_JOB)
        return cls(
            team_id=team,
            channel=channel,
            message_ts=ts if isinstance(ts, str) and ts else None,
            job_id=job if isinstance(job, str) and job else None,
        )
