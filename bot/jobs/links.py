"""The explicit-link check: is an extensionless link from `/gist` really a video?

Called by the job pipeline before TwelveLabs is handed the URL (SSRF-guarded probe)."""

from __future__ import annotations

import httpx

from bot.gist.errors import GistFailure
from bot.jobs.models import Job
from bot.sources.probe import ProbeError, probe_media_url
from bot.sources.urlguard import BlockedUrl


async def check_link(job: Job, *, http: httpx.AsyncClient, allow_private: bool) -> None:
    """Raise GistFailure unless job.source.url leads to a video; follow it to its final URL."""
    assert job.source.url is not None
    try:
        result = await probe_media_url(job.source.url, allow_private=allow_private, http=http)
    except BlockedUrl as exc:
        raise GistFailure("blocked_url", reason=exc.reason) from exc
    except ProbeError as exc:
        code = "dead_link_unreachable" if exc.kind == "unreachable" else "dead_link"
        raise GistFailure(code, reason=exc.user_message) from exc
    if not result.is_video:
        what = "a web page" if result.is_html else f"a {result.content_type or 'non-video'} file"
        raise GistFailure("not_video_link", what=what)
    job.source.url = result.final_url
