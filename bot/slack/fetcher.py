"""The job runner's way to Slack files: complete a stub from files.info, download an upload.
Implements `bot.jobs.ports.FileFetcher`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.callbacks import BytesCb
from bot.gist.errors import GistFailure
from bot.jobs.models import Job
from bot.jobs.ports import FetchedFile
from bot.settings import Settings
from bot.slack.links import split_files
from bot.sources.slack_files import DownloadError, download_slack_file
from bot.transient import slack_error_code


class SlackFileFetcher:
    def __init__(self, client: AsyncWebClient, settings: Settings, http: httpx.AsyncClient) -> None:
        self._client = client
        self._settings = settings
        self._http = http

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
            raise GistFailure(
                f"download_{exc.kind}", reason=exc.user_message, transient=exc.transient
            ) from exc
        return FetchedFile(path=got.path, size=got.size, sha256=got.sha256)

    async def resolve(self, job: Job) -> None:
        """Stub file objects (Slack Connect, plan limits, deleted) need files.info."""
        try:
            resp = await self._client.files_info(file=job.source.file_id or "")
        except SlackApiError as exc:
            if slack_error_code(exc) in ("file_deleted", "file_not_found"):
                raise GistFailure("file_gone") from exc
            raise
        info: dict[str, Any] = dict(resp.get("file") or {})
        videos, non_videos, stubs = split_files({"files": [info]})
        if info.get("mode") == "hidden_by_limit" or stubs:
            raise GistFailure("file_hidden")
        if non_videos or not videos:
            raise GistFailure("not_video")
        file = videos[0]
        job.source.url = file.get("url_private_download") or file.get("url_private")
        job.source.size_bytes = file.get("size") or job.source.size_bytes
        job.source.filename = file.get("name") or job.source.filename
        if not job.source.url:
            raise GistFailure("file_gone")
