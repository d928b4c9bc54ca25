"""The job store's interface, shared by the embedded SQLite store and the PostgreSQL store.

One interface, two implementations (`bot.jobs.store.JobStore`, `bot.jobs.store_pg.PgStore`);
`open_store(settings)` picks one from `GIST_DATABASE_URL`.

Leases. Several replicas may share one store. A replica works on a job only while it holds the
job's lease: `owner` names the replica (unique per process), `lease_s` is how long the claim
lasts without renewal. Expiry is judged by the store's clock (the database server's, for
PostgreSQL), so replicas with skewed clocks still agree. A job whose lease ran out, or that
nobody holds, is taken over by the next `claim_expired`. Fencing: a save made with `owner`
writes only while that owner still holds the lease, and raises `LeaseLost` otherwise — a replica
that stalled past its lease cannot overwrite the durable steps of the replica that took over.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.jobs.models import Job, JobState

if TYPE_CHECKING:
    from bot.settings import StoreSettings

UNFINISHED = (JobState.QUEUED.value, JobState.RUNNING.value)
# `recent_gists` looks in at most this many channels (the first ones by id): one query's worth.
MAX_CHANNELS = 1000


class LeaseLost(Exception):
    """The owner no longer holds the job's lease (it expired and another replica took the job
    over, or it was released). Stop working on the job: its new owner resumes it."""

    def __init__(self, job_id: str, owner: str) -> None:
        super().__init__(f"job {job_id}: lease no longer held by {owner}")
        self.job_id = job_id
        self.owner = owner


class StoreUnavailable(Exception):
    """The database cannot be reached, refuses us, or failed mid-operation. The message is one
    line naming the setting to fix (GIST_DATABASE_URL or GIST_DB_PATH), with no password."""


@dataclass(frozen=True)
class IndexedVideo:
    """A video gistbot added to the TwelveLabs index, and the Slack message that shared it:
    a search hit (its `video_id` is `indexed_asset_id`) maps back to its message through this
    row even when the indexed asset carries no metadata (videos indexed before it did)."""

    indexed_asset_id: str
    index_id: str
    asset_id: str
    job_id: str | None
    team_id: str
    channel: str
    message_ts: str | None
    created_at: float


def utc_day(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts if ts is not None else time.time()))


class Store(Protocol):
    """Durable jobs, event and work-key dedupe, the result cache and usage — with leases.

    Every method is one transaction. Times are seconds; `lease_s` may be 0 (already expired:
    the job is free for takeover at once, which is also how tests stand in for a dead replica).
    """

    async def open(self) -> None:
        """Connect and bring the schema up to date. Raises StoreUnavailable."""

    async def close(self) -> None: ...

    # -- intake and dedupe -------------------------------------------------------------
    async def has_event(self, event_id: str) -> bool: ...

    async def accept(
        self,
        jobs: list[Job],
        event_id: str | None = None,
        *,
        owner: str | None = None,
        lease_s: float | None = None,
    ) -> list[bool]:
        """Insert each job unless its work key exists, and mark the event that carried them as
        seen — in one transaction, so an event is never marked without its jobs. An event seen
        before (delivered to another replica too) adds nothing: all False. With `owner`, the
        new jobs start out claimed by it for `lease_s` (required then). Returns, per job,
        whether it was added."""
        ...

    # -- jobs --------------------------------------------------------------------------
    async def save(self, job: Job, owner: str | None = None) -> None:
        """Write the job's state and durable steps (and stamp `updated_at`). With `owner`:
        only while owner holds the lease, else raise LeaseLost and change nothing. Without:
        an unfenced upsert (tools, tests and the single-process path that holds no lease)."""
        ...

    async def get(self, job_id: str) -> Job | None: ...

    async def unfinished(self) -> list[Job]:
        """Queued and running jobs, oldest first, whoever holds them."""
        ...

    async def count(self, state: JobState | None = None) -> int: ...

    # -- leases ------------------------------------------------------------------------
    async def claim(self, job_id: str, owner: str, lease_s: float) -> Job | None:
        """Take the lease on one unfinished job if it is free, expired or already owner's.
        Returns the job as last saved (resume from it), or None: finished, unknown, or held
        by a live lease of another owner. Atomic: of racing claimers, one wins."""
        ...

    async def claim_expired(self, owner: str, lease_s: float, limit: int) -> list[Job]:
        """Take up to `limit` unfinished jobs that nobody holds or whose lease ran out, oldest
        first. Atomic (FOR UPDATE SKIP LOCKED on PostgreSQL): racing replicas never get the
        same job. Jobs owner already holds with a live lease are not returned."""
        ...

    async def renew(self, job_id: str, owner: str, lease_s: float) -> bool:
        """Extend owner's lease to now + lease_s. False: the lease is lost — stop the job."""
        ...

    async def renew_all(self, owner: str, lease_s: float) -> set[str]:
        """Extend every lease owner holds, in one statement (the runner's heartbeat). Returns
        the ids still held; a job the runner works on that is missing was lost."""
        ...

    async def release(self, job_id: str, owner: str) -> None:
        """Let go of owner's lease (job done, or handed back on shutdown). No-op if not held."""
        ...

    async def release_all(self, owner: str) -> int:
        """Let go of every lease owner holds (shutdown; or at start-up with a stable owner
        name, to free what a crashed previous life held at once). Returns how many."""
        ...

    # -- single flight across replicas -----------------------------------------------
    async def join_flight(self, key: str, job_id: str) -> str | None:
        """Lead the flight `key` (the work for one video and set of types) unless another
        unfinished job leads it: returns that job's id (wait for its result), or None —
        `job_id` leads now (it led already, the flight was free, or its leader finished).
        Atomic: of jobs joining at once, one leads."""
        ...

    async def end_flight(self, key: str, job_id: str) -> None:
        """Let go of the flight if `job_id` leads it (its gist is cached, or it failed)."""
        ...

    # -- result cache ------------------------------------------------------------------
    async def cache_put(self, video_keys: list[str], types: str, gist_json: str) -> None: ...

    async def cache_get(self, video_key: str, max_age_s: float) -> list[tuple[str, str]]:
        """(types, gist_json) rows for a video, newest first."""
        ...

    # -- usage (quotas, /gist usage) ---------------------------------------------------
    async def record_usage(
        self, job_id: str, team_id: str, user_id: str, video_seconds: float, tokens: int
    ) -> None:
        """One row per job: recording twice (two replicas, a resumed job) counts once."""
        ...

    async def usage_today(self, team_id: str, user_id: str | None = None) -> dict[str, float]:
        """{"video_seconds", "tokens", "jobs"} for today (UTC), per team or per user."""
        ...

    async def prune(self, older_than_s: float) -> None:
        """Forget event ids and work keys past any retry window."""
        ...

    # -- search: indexed videos, jobs by asset, recent gists ---------------------------
    async def get_many(self, job_ids: Collection[str]) -> dict[str, Job]:
        """The jobs among `job_ids` that exist, by id."""
        ...

    async def unindexed_assets(self) -> bool:
        """Whether some job's asset has no indexed-video row: a video that may have been
        indexed before gistbot remembered where videos came from (or never indexed)."""
        ...

    async def job_by_asset(self, asset_id: str) -> Job | None:
        """The job that made `asset_id`: the oldest one holding a gist, else the oldest."""
        ...

    async def recent_gists(self, team_id: str, channels: Collection[str], limit: int) -> list[Job]:
        """Finished jobs with a gist in any of `channels` of `team_id`, newest first."""
        ...

    async def record_indexed(self, video: IndexedVideo) -> None:
        """Remember an indexed video (again: its row is replaced)."""
        ...

    async def indexed_videos(self, indexed_asset_ids: Collection[str]) -> dict[str, IndexedVideo]:
        """The rows among `indexed_asset_ids`, by id."""
        ...

    async def indexed_since(self, team_id: str, since: float) -> list[IndexedVideo]:
        """The team's videos indexed at or after `since`, newest first."""
        ...


def make_store(settings: StoreSettings) -> Store:
    """PostgreSQL when GIST_DATABASE_URL is set, else the embedded SQLite file. Not opened."""
    if settings.gist_database_url:
        from bot.jobs.store_pg import PgStore  # imported only when used: psycopg loads libpq

        return PgStore(settings.gist_database_url)
    from bot.jobs.store import JobStore

    return JobStore(settings.gist_db_path)


async def open_store(settings: StoreSettings) -> Store:
    """`make_store` and open it (migrations included). Raises StoreUnavailable."""
    store = make_store(settings)
    try:
        await store.open()
    except BaseException:
        await store.close()
        raise
    return store


__all__ = [
    "MAX_CHANNELS",
    "UNFINISHED",
    "IndexedVideo",
    "LeaseLost",
    "Store",
    "StoreUnavailable",
    "make_store",
    "open_store",
    "utc_day",
]
