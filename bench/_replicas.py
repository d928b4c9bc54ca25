"""The replica soak's moving parts: the replica processes by slot, the killer that SIGKILLs
one now and then and starts it again, and the watcher that times how the jobs a killed
replica held were taken over — from the jobs table, whose lease columns say who holds what."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench._common import OUT_DIR
from tests.e2e.proc import AppProcess
from tests.e2e.replicas import JobsTable, Row, replica_env
from tests.fakes.slack import FakeSlack
from tests.fakes.twelvelabs import FakeTwelveLabs

POLL_S = 0.1  # how often the jobs table is looked at


@dataclass
class Replicas:
    """The replica processes by slot; a killed slot is empty until it is started again. Each
    slot keeps its temp folder across restarts, as a container would."""

    slack: FakeSlack
    tl: FakeTwelveLabs
    tmp: Path
    db_url: str
    env: dict[str, str]
    run_name: str
    apps: list[AppProcess | None] = field(default_factory=list)
    started: int = 0
    _next: int = 0

    def log_path(self, slot: int) -> Path:
        return OUT_DIR / f"replica_soak-{self.run_name}-replica{slot}.log"

    async def start(self, slot: int) -> AppProcess:
        lease_s = float(self.env["GIST_LEASE_S"])
        env = replica_env(self.slack, self.tl, self.tmp, slot, self.db_url, lease_s, **self.env)
        app = AppProcess(env, self.tmp, self.log_path(slot))
        await app.start(timeout_s=60)
        self.apps[slot] = app
        self.started += 1
        return app

    def live(self) -> list[AppProcess]:
        return [a for a in self.apps if a is not None and a.proc and a.proc.returncode is None]

    def pick(self, avoid: str | None = None) -> AppProcess | None:
        """Round-robin over the live replicas (another than `avoid`'s URL, if there is one)."""
        live = self.live()
        others = [a for a in live if a.url != avoid] or live
        if not others:
            return None
        self._next += 1
        return others[self._next % len(others)]

    async def stop(self) -> None:
        for app in self.apps:
            if app is not None and app.proc is not None and app.proc.returncode is None:
                try:
                    await app.terminate(15.0)
                except TimeoutError:
                    await app.kill()


@dataclass
class Kill:
    at: float  # wall clock (the database server's clock too: same machine)
    slot: int
    pid: int
    orphans: dict[str, Row] = field(default_factory=dict)  # unfinished jobs it held


@dataclass
class Watch:
    """Looks at the jobs table every POLL_S. For every job a killed replica held unfinished:
    when another replica claimed it (the claim sets lease_until = now + lease; seen before the
    first renewal, lease_until − lease is the claim's time, later it is an upper bound) and
    when that replica saved the job's next durable step (or ended it)."""

    table: JobsTable
    lease_s: float
    kills: list[Kill] = field(default_factory=list)
    claimed: dict[tuple[int, str], float] = field(default_factory=dict)  # (kill, job) -> at
    claimer: dict[tuple[int, str], int] = field(default_factory=dict)  # (kill, job) -> pid
    progress: dict[tuple[int, str], float] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)

    async def look(self) -> None:
        self.rows = await asyncio.to_thread(self.table.rows)
        for k, kill in enumerate(self.kills):
            for row in self.rows:
                if row.id in kill.orphans:
                    self._follow(k, kill, row)

    def _follow(self, k: int, kill: Kill, row: Row) -> None:
        updated = float(row.data.get("updated_at") or 0.0)
        ended = row.state not in ("queued", "running")
        if (k, row.id) not in self.claimed:
            if row.owner is not None and row.owner_pid != kill.pid and row.lease_until:
                self.claimed[(k, row.id)] = row.lease_until - self.lease_s
                self.claimer[(k, row.id)] = row.owner_pid or 0
            elif ended and updated >= kill.at:
                self.claimed[(k, row.id)] = updated
        if (k, row.id) not in self.progress and row.owner_pid != kill.pid:
            before = float(kill.orphans[row.id].data.get("updated_at") or 0.0)
            if updated > before and updated >= kill.at:
                self.progress[(k, row.id)] = updated

    async def kill(self, replicas: Replicas, slot: int, app: AppProcess) -> None:
        assert app.proc is not None
        pid = app.proc.pid
        await app.kill()
        kill = Kill(at=time.time(), slot=slot, pid=pid)
        rows = await asyncio.to_thread(self.table.rows)  # its leases are final now
        kill.orphans = {
            r.id: r for r in rows if r.owner_pid == pid and r.state in ("queued", "running")
        }
        self.kills.append(kill)
        replicas.apps[slot] = None

    def claim_after_kill_s(self) -> list[float]:
        return [at - self.kills[k].at for (k, _), at in self.claimed.items()]

    def claim_after_expiry_s(self) -> list[float]:
        """From the dead replica's lease running out to the claim: the heartbeat's share."""
        out = []
        for (k, job), at in self.claimed.items():
            until = self.kills[k].orphans[job].lease_until
            if until is not None:
                out.append(at - until)
        return out

    def progress_after_kill_s(self) -> list[float]:
        return [at - self.kills[k].at for (k, _), at in self.progress.items()]

    def never_claimed(self) -> int:
        return sum(
            (k, job) not in self.claimed
            for k, kill in enumerate(self.kills)
            for job in kill.orphans
        )

    def claims_per_kill(self) -> list[list[int]]:
        """How each kill's orphans were spread: claims per claiming replica, most first."""
        out = []
        for k in range(len(self.kills)):
            counts: dict[int, int] = {}
            for (kk, _), pid in self.claimer.items():
                if kk == k:
                    counts[pid] = counts.get(pid, 0) + 1
            out.append(sorted(counts.values(), reverse=True))
        return out


async def watching(watch: Watch, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await watch.look()
        await asyncio.sleep(POLL_S)


async def killing(
    replicas: Replicas,
    watch: Watch,
    stop: asyncio.Event,
    rng: random.Random,
    every_s: float,
    restart_after_s: float,
) -> None:
    """Every ~every_s (±20 %): SIGKILL a random live replica, start it again restart_after_s
    later. One always stays up: a balancer with nothing behind it loses events."""
    restarts: list[asyncio.Task[AppProcess]] = []

    async def restart(slot: int) -> AppProcess:
        await asyncio.sleep(restart_after_s)
        return await replicas.start(slot)

    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), rng.uniform(0.8, 1.2) * every_s)
            break
        except TimeoutError:
            pass
        live = [(i, a) for i, a in enumerate(replicas.apps) if a is not None]
        if len(live) < 2:
            continue
        slot, app = rng.choice(live)
        await watch.kill(replicas, slot, app)
        restarts.append(asyncio.create_task(restart(slot)))
    await asyncio.gather(*restarts, return_exceptions=True)
