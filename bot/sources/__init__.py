"""Where videos come from: Slack uploads (streamed to disk) and links (guarded probe)."""

from bot.sources.probe import ProbeError, ProbeResult, probe_media_url
from bot.sources.slack_files import DownloadedFile, DownloadError, download_slack_file
from bot.sources.urlguard import BlockedUrl, check_url

__all__ = [
    "BlockedUrl",
    "DownloadError",
    "DownloadedFile",
    "ProbeError",
    "ProbeResult",
    "check_url",
    "download_slack_file",
    "probe_media_url",
]
