"""Downloaded uploads on disk: kept only while a job still needs them.

A download is owned by its job (`job.tmp_path`) until TwelveLabs has the bytes; then, or when
the job fails, it is removed. A try after a transient failure, or a restarted process, reuses
it instead of downloading again. At start-up, files no unfinished job owns are swept: a
process killed mid-download leaves a partial file nobody will ever use.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from bot.jobs.models import Job
from bot.jobs.ports import FetchedFile, JobSaver

log = logging.getLogger(__name__)


def downloads_dir(base: Path) -> Path:
    """A folder of gistbot's own under GIST_TMP_DIR: the sweep may empty it without fear."""
    return base / "gistbot-downloads"


def kept_download(job: Job) -> FetchedFile | None:
    """The download an earlier try of this job left, if it is still whole."""
    if not job.tmp_path or not job.sha256 or job.source.size_bytes is None:
        return None
    path = Path(job.tmp_path)
    try:
        if path.stat().st_size == job.source.size_bytes:
            return FetchedFile(path=path, size=job.source.size_bytes, sha256=job.sha256)
    except OSError:
        pass
    return None


async def discard(job: Job) -> bool:
    """Remove the job's download (if any) from disk and from the job; True if there was one.
    The caller saves the job."""
    if job.tmp_path is None:
        return False
    await asyncio.to_thread(Path(job.tmp_path).unlink, missing_ok=True)
    job.tmp_path = None
    return True


async def release(job: Job, saver: JobSaver) -> None:
    """Remove the job's download (if any) and save the job without it."""
    if await discard(job):
        await saver.save(job)


def _sweep(tmp_dir: Path, keep: set[str]) -> int:
    removed = 0
    for path in tmp_dir.iterdir():
        if path.is_file() and str(path) not in keep:
            try:
                path.unlink()
                removed += 1
            except OSError as exc:
                log.warning("could not remove stale download %s: %s", path.name, exc)
    return removed


async def sweep(tmp_dir: Path, unfinished: list[Job]) -> int:
    """Remove every file in tmp_dir that no unfinished job owns; returns how many."""
    if not await asyncio.to_thread(tmp_dir.is_dir):
        return 0
    keep = {job.tmp_path for job in unfinished if job.tmp_path}
    removed = await asyncio.to_thread(_sweep, tmp_dir, keep)
    if removed:
        log.info("removed %d stale download(s) from %s", removed, tmp_dir)
    return removed
