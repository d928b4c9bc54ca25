"""What the job runner needs from the outside world, as protocols.

The Slack side implements them (`bot/slack/notifier.py`); the runner never imports Slack code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.callbacks import BytesCb
from bot.gist.errors import GistFailure
from bot.jobs.models import Job
from bot.jobs.phases import Phase


@dataclass(frozen=True)
class FetchedFile:
    path: Path
    size: int
    sha256: str


class JobSaver(Protocol):
    async def save(self, job: Job) -> None:
        """Save the job's durable steps (fenced by this replica's lease)."""


class Notifier(Protocol):
    async def started(self, job: Job, *, recover: bool = False, placeholder: bool = True) -> None:
        """Post the placeholder reply (and, for /gist, the message that opens its thread) and
        the 👀 reaction; sets job.slack.placeholder_ts. With `recover`, first look for what an
        earlier try whose outcome is unknown (or an interrupted process) already posted.
        Without `placeholder`, only that: the answer itself will be the first post.
        Raises on failure; the caller decides whether to try again."""

    async def progress(
        self, job: Job, phase: Phase, percent: float | None, elapsed_s: float
    ) -> None:
        """Edit the placeholder to show the phase."""

    async def result(self, job: Job) -> None:
        """Replace the placeholder with job.gist (or post it via response_url); ✅.
        Safe to call again after a failure: it edits, it never posts a second result."""

    async def failed(self, job: Job, failure: GistFailure) -> None:
        """Replace the placeholder with a human error; ❌. Admin problems also go to admins.
        Raises when the notice couldn't be shown, so the caller can try again."""


class FileFetcher(Protocol):
    async def fetch(self, job: Job, dest_dir: Path, progress: BytesCb) -> FetchedFile:
        """Download job.source (a Slack upload) to a temp file under dest_dir."""

    async def resolve(self, job: Job) -> None:
        """Complete a stub Slack file (no URL yet) from files.info; GistFailure if it can't
        be read or isn't a video."""
