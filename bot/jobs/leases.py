"""This replica's claims on jobs (several replicas may share one PostgreSQL store).

A replica works on a job only while it holds the job's lease. Every save is fenced (it writes
only while the lease is ours, else `LeaseLost`), a heartbeat renews every lease we hold, and
before a step that can't be taken back (an analysis paid for, a reply posted) the lease is
checked once more. A job whose lease ran out — its replica died or stalled — is claimed by
whichever live replica looks next, and resumes at its last durable step.
"""

from __future__ import annotations

import os
import socket
import uuid

from bot.jobs.models import Job
from bot.jobs.store_base import LeaseLost, Store

# One process per SQLite file: a fixed name lets a restarted process take back at once what
# its crashed predecessor held, instead of waiting for those leases to run out.
LOCAL_OWNER = "local"


def owner_name(shared: bool) -> str:
    """A name unique to this process when the store is shared, else the local one."""
    if not shared:
        return LOCAL_OWNER
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """The jobs' saver: `save` is fenced by this replica's lease."""

    def __init__(self, store: Store, owner: str, lease_s: float) -> None:
        self.store = store
        self.owner = owner
        self.lease_s = lease_s

    async def save(self, job: Job) -> None:
        await self.store.save(job, owner=self.owner)

    async def check(self, job: Job) -> None:
        """Renew now, before a step that can't be taken back; LeaseLost if another has it."""
        if not await self.store.renew(job.id, self.owner, self.lease_s):
            raise LeaseLost(job.id, self.owner)

    async def release(self, job: Job) -> None:
        await self.store.release(job.id, self.owner)
