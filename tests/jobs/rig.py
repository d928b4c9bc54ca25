"""The job runner's world at its ports, for tests: the real store on a temporary path, the real
`GistService` + `TwelveLabsClient` against the fake TwelveLabs on loopback, and small doubles
of the two ports the runner talks through (`Notifier`, `FileFetcher`) that record what they
were asked. Step retries run on a clock that moves only when they sleep: their delays are
recorded exactly, and nothing waits for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from bot.gist.errors import GistFailure
from bot.gist.models import GistType
from bot.gist.service import GistService, twelvelabs_client
from bot.jobs import tmpfiles
from bot.jobs.assemble import build_runner
from bot.jobs.models import Job, JobState, SlackContext, SourceSpec, Trigger
from bot.jobs.phases import Phase
from bot.jobs.pipeline import Pipeline
from bot.jobs.ports import BytesCb, FetchedFile
from bot.jobs.retry import StepRetry
from bot.jobs.runner import JobRunner
from bot.jobs.store import JobStore
from bot.settings import Settings
from bot.twelvelabs import TwelveLabsClient
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.fakes.twelvelabs.state import Call
from tests.slack_driver import next_ts
from tests.videos import make_video

TL_KEY = "tlk-test-key-123456"
TEAM, CHANNEL, USER = "T0001", "C0001", "U123"


# --------------------------------------------------------------------------- step clock


class StepClock:
    """`StepRetry`'s clock and sleep. Time starts now and moves only when a retry sleeps.

    `hooks` run at every sleep (to look at the world between two tries); with `block`, a sleep
    never returns: an outage that outlasts the job, ended only by the job's deadline."""

    def __init__(self) -> None:
        self.now = time.time()
        self.delays: list[float] = []
        self.hooks: list[Callable[[], None]] = []
        self.block = False

    def time(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        for hook in self.hooks:
            hook()
        if self.block:
            await asyncio.Event().wait()
        self.now += delay
        await asyncio.sleep(0)


def lowest(lo: float, hi: float) -> float:
    """The jitter draw: the bottom of the range, so a delay is exactly half its ceiling."""
    return lo


# --------------------------------------------------------------------------- port doubles


@dataclass(frozen=True)
class Seen:
    """One call the runner made on the notifier (`ok`: it did not raise)."""

    kind: str  # "started" | "progress" | "result" | "failed"
    job_id: str
    ok: bool
    phase: Phase | None = None
    percent: float | None = None
    recover: bool = False
    code: str | None = None


class RecordingNotifier:
    """The `Notifier` port, recording every call. `fail(kind, *errors)` makes the next calls of
    that kind raise those errors, one per call, as Slack would."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._faults: dict[str, list[BaseException]] = {}

    def fail(self, kind: str, *errors: BaseException) -> None:
        self._faults.setdefault(kind, []).extend(errors)

    def _record(self, seen: Seen) -> None:
        queue = self._faults.get(seen.kind)
        if queue:
            self.seen.append(replace(seen, ok=False))
            raise queue.pop(0)
        self.seen.append(seen)

    def calls(
        self, kind: str | None = None, job_id: str | None = None, *, ok: bool | None = None
    ) -> list[Seen]:
        return [
            s
            for s in self.seen
            if (kind is None or s.kind == kind)
            and (job_id is None or s.job_id == job_id)
            and (ok is None or s.ok == ok)
        ]

    def phases(self, job_id: str) -> list[Phase | None]:
        return [s.phase for s in self.calls("progress", job_id)]

    async def started(self, job: Job, *, recover: bool = False, placeholder: bool = True) -> None:
        self._record(Seen("started", job.id, True, recover=recover))
        if placeholder:
            job.slack.placeholder_ts = job.slack.placeholder_ts or f"ph-{job.id[:8]}"

    async def progress(
        self, job: Job, phase: Phase, percent: float | None, elapsed_s: float
    ) -> None:
        self._record(Seen("progress", job.id, True, phase=phase, percent=percent))

    async def result(self, job: Job) -> None:
        assert job.gist is not None
        self._record(Seen("result", job.id, True))
        job.slack.placeholder_ts = job.slack.placeholder_ts or f"ph-{job.id[:8]}"

    async def failed(self, job: Job, failure: GistFailure) -> None:
        self._record(Seen("failed", job.id, True, code=failure.code))


class FakeFetcher:
    """The `FileFetcher` port: "downloads" a Slack upload by copying a real video made for the
    test into `dest_dir`, reporting progress as it goes. `resolve_as` is what `files.info`
    would reveal about a stub file: None for a video, else the failure to raise."""

    def __init__(self, video: Path) -> None:
        self.video = video
        self.fetched: list[Path] = []
        self.resolved: list[str] = []
        self.resolve_as: GistFailure | None = None

    async def fetch(self, job: Job, dest_dir: Path, progress: BytesCb) -> FetchedFile:
        data = await asyncio.to_thread(self.video.read_bytes)
        dest = dest_dir / f"{job.id}-{job.source.name}"
        await progress(0, len(data))
        await asyncio.to_thread(dest.write_bytes, data)
        await progress(len(data), len(data))
        self.fetched.append(dest)
        return FetchedFile(path=dest, size=len(data), sha256=hashlib.sha256(data).hexdigest())

    async def resolve(self, job: Job) -> None:
        self.resolved.append(job.id)
        if self.resolve_as is not None:
            raise self.resolve_as
        job.source.url = f"https://files.example/{job.source.file_id}/download/clip.mp4"
        job.source.filename = job.source.filename or "clip.mp4"


# --------------------------------------------------------------------------- media host


@dataclass
class MediaServer:
    """Serves a real mp4 at `/media/<name>`, as a web server would to TwelveLabs."""

    base: str
    hits: list[str] = field(default_factory=list)

    def url(self, name: str = "clip.mp4") -> str:
        return f"{self.base}/media/{name}"


@contextlib.asynccontextmanager
async def media_server() -> AsyncIterator[MediaServer]:
    video = make_video(5.0).read_bytes()
    served = MediaServer(base="")

    async def media(request: web.Request) -> web.Response:
        served.hits.append(request.path)
        return web.Response(body=video, content_type="video/mp4")

    app = web.Application()
    app.router.add_get("/media/{name}", media)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    served.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield served
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------- settings, jobs


def make_settings(
    tmp_path: Path,
    tl_base_url: str,
    slack_api_url: str = "http://127.0.0.1:9/api/",
    **overrides: Any,
) -> Settings:
    values: dict[str, Any] = dict(
        slack_bot_token="xoxb-test-token",
        slack_signing_secret="test-signing-secret",
        slack_api_url=slack_api_url,
        slack_file_hosts=["127.0.0.1", "localhost"],
        slack_backoff_initial_s=0.01,
        twelvelabs_api_key=TL_KEY,
        twelvelabs_base_url=tl_base_url,
        twelvelabs_max_retries=1,
        twelvelabs_backoff_initial_s=0.01,
        gist_db_path=tmp_path / "gistbot.sqlite3",
        gist_tmp_dir=tmp_path / "tmp",
        gist_progress_interval_s=0.0,
        gist_poll_initial_s=0.02,
        gist_poll_max_interval_s=0.05,
        gist_retry_initial_s=1.0,
        gist_retry_max_interval_s=8.0,
        gist_index_enabled=False,  # background indexing would make TwelveLabs calls of its own
        gist_allow_private_urls=True,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


def _context(ts: str, thread: bool = True) -> SlackContext:
    return SlackContext(
        team_id=TEAM,
        channel=CHANNEL,
        user=USER,
        thread_ts=ts if thread else None,
        source_ts=ts if thread else None,
    )


def make_job(
    source: SourceSpec,
    *,
    trigger: Trigger = Trigger.PASSIVE,
    deadline_s: float = 600.0,
    deadline_at: float | None = None,
    types: frozenset[GistType] = GistType.all(),
) -> Job:
    ts = next_ts()
    now = time.time()
    return Job(
        work_key=f"{TEAM}:{CHANNEL}:{ts}:{source.file_id or source.url}",
        trigger=trigger,
        slack=_context(ts),
        source=source,
        types=sorted(types),
        created_at=now,
        deadline_at=deadline_at if deadline_at is not None else now + deadline_s,
    )


def link_job(url: str, **kwargs: Any) -> Job:
    return make_job(SourceSpec(kind="url", url=url), **kwargs)


def upload_job(file_id: str = "F0000000001", **kwargs: Any) -> Job:
    source = SourceSpec(
        kind="slack_file",
        file_id=file_id,
        url=f"https://files.example/{file_id}/download/clip.mp4",
        filename="clip.mp4",
        mimetype="video/mp4",
    )
    return make_job(source, **kwargs)


def stub_job(file_id: str = "F0000000002", **kwargs: Any) -> Job:
    """A Slack file seen only as a stub (Slack Connect, plan limits): no URL, no type yet."""
    return make_job(SourceSpec(kind="slack_file", file_id=file_id), **kwargs)


# --------------------------------------------------------------------------- the rig


@dataclass
class Rig:
    settings: Settings
    store: JobStore
    client: TwelveLabsClient
    service: GistService
    http: httpx.AsyncClient
    pipeline: Pipeline
    runner: JobRunner
    notifier: RecordingNotifier
    fetcher: FakeFetcher
    clock: StepClock
    tl: FakeTwelveLabs

    async def run(self, *jobs: Job) -> list[Job]:
        """Accept and start the jobs as a listener would; wait until all have ended; reload
        them from the store (what a restart would see)."""
        assert all(await self.runner.accept_many(list(jobs)))
        for job in jobs:
            self.runner.start(job)
        return await self.settle(*jobs)

    async def resume(self, *jobs: Job) -> list[Job]:
        """Store the jobs as a killed process left them (running, at some durable step),
        then resume them as a new process does at start-up."""
        assert all(await self.store.accept(list(jobs)))
        for job in jobs:
            job.state = JobState.RUNNING
            await self.store.save(job)
        assert await self.runner.resume_all() == len(jobs)
        return await self.settle(*jobs)

    async def settle(self, *jobs: Job) -> list[Job]:
        assert await self.runner.wait_idle(60), "jobs still running"  # a guard, not a timing
        return [await self.reload(job) for job in jobs]

    async def reload(self, job: Job) -> Job:
        stored = await self.store.get(job.id)
        assert stored is not None
        return stored

    def tl_calls(self, since: int = 0) -> list[Call]:
        return list(self.tl.calls)[since:]

    def count(self, method: str, template: str, since: int = 0) -> int:
        return sum(1 for c in self.tl_calls(since) if (c.method, c.template) == (method, template))

    def downloads(self) -> list[Path]:
        tmp = tmpfiles.downloads_dir(self.settings.tmp_dir)
        return sorted(tmp.iterdir()) if tmp.is_dir() else []

    async def close(self) -> None:
        await self.runner.stop(0.5)
        await self.service.aclose()
        await self.client.aclose()
        await self.http.aclose()
        await self.store.close()


async def build_rig(settings: Settings, tl: FakeTwelveLabs) -> Rig:
    """Wired as `bot.runtime.start()` wires it, with the port doubles in place of Slack."""
    store = JobStore(settings.gist_db_path)
    await store.open()
    client = twelvelabs_client(settings)
    service = GistService(client, settings)
    http = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
    fetcher = FakeFetcher(make_video(5.0))
    clock = StepClock()
    notifier = RecordingNotifier()
    retry = StepRetry(
        initial_s=settings.gist_retry_initial_s,
        max_s=settings.gist_retry_max_interval_s,
        sleep=clock.sleep,
        rng=lowest,
        clock=clock.time,
    )
    runner = build_runner(
        settings,
        store=store,
        service=service,
        notifier=notifier,
        fetcher=fetcher,
        http=http,
        retry=retry,
    )
    pipeline = runner.pipeline
    return Rig(
        settings, store, client, service, http, pipeline, runner, notifier, fetcher, clock, tl
    )
