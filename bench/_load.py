"""The load generator of `bench.ack_latency` and its reports: signed Slack event requests
sent open loop and timed (send → response headers), the app's `/healthz` and the fakes'
`/stats` sampled, and an optional py-spy profile of the app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench._common import SIGNING_SECRET, percentile, summarize_ms

CHANNEL = "C0BENCH01"
# The goal: p99 at most 1.5× a no-op Bolt app's, measured in the same run, and no
# ack over 30 ms.
GOAL_P99_RATIO = 1.5
GOAL_MAX_MS = 30.0


@dataclass
class Shot:
    kind: str
    request: httpx.Request
    scheduled: float = 0.0  # perf_counter() target
    sent: float = 0.0
    latency_ms: float | None = None
    status: int | None = None
    error: str | None = None


class Load:
    """Builds signed event requests and sends them, timing each one."""

    def __init__(self, client: httpx.AsyncClient, app_url: str, media_url: str) -> None:
        from tests.slack_driver import SlackDriver, message_changed_event, message_event, next_ts

        self._driver = SlackDriver(app_url=app_url, signing_secret=SIGNING_SECRET)
        self._message_event = message_event
        self._changed_event = message_changed_event
        self._next_ts = next_ts
        self.client = client
        self.media_url = media_url
        self.url = self._driver.url
        self._videos = 0
        self._recent: list[str] = []  # ts of earlier plain messages, for edits

    def _signed(self, event: dict[str, Any]) -> httpx.Request:
        from tests.slack_driver import SLACK_USER_AGENT, sign

        body = json.dumps(self._driver.envelope(event))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": SLACK_USER_AGENT,
            **sign(body, SIGNING_SECRET, int(time.time())),
        }
        return self.client.build_request("POST", self.url, content=body.encode(), headers=headers)

    def build(self, kind: str) -> Shot:
        ts = self._next_ts()
        if kind == "link":
            self._videos += 1
            url = f"{self.media_url}/v{self._videos}.mp4"
            event = self._message_event(CHANNEL, ts, f"new cut for review <{url}>")
        elif kind == "chatter":
            event = self._message_event(CHANNEL, ts, f"sounds good, lunch at noon? ({ts})")
            self._recent = [*self._recent[-50:], ts]
        elif kind == "changed":
            target = self._recent[-1] if self._recent else ts
            event = self._changed_event(
                CHANNEL, target, "sounds good, lunch at 12:30?", previous_text="lunch at noon?"
            )
        else:
            raise ValueError(f"unknown event kind {kind!r}")
        return Shot(kind, self._signed(event))

    async def send(self, shot: Shot) -> None:
        shot.sent = time.perf_counter()
        try:
            resp = await self.client.send(shot.request, stream=True)
            shot.latency_ms = (time.perf_counter() - shot.sent) * 1000.0
            shot.status = resp.status_code
            await resp.aread()
            await resp.aclose()
        except httpx.HTTPError as exc:
            shot.error = f"{type(exc).__name__}: {exc}"

    def twin(self, shot: Shot, url: str, kind: str) -> Shot:
        """The same signed request, sent to a reference server (`url`) instead of the app."""
        req = shot.request
        twin = self.client.build_request(
            "POST", url, content=req.content, headers=dict(req.headers)
        )
        return Shot(kind, twin)

    async def steady(
        self, shots: list[Shot], rate: float, twins: Sequence[list[Shot]] = ()
    ) -> float:
        """Send `shots` at `rate` per second, open loop (each on its own task, on schedule
        whatever the previous answers do). The k-th of the `twins` lists (copies of the same
        requests for reference servers) goes (k+1)/(len(twins)+1) of a period later, so no
        two copies compete for the CPU at the same moment. Returns the elapsed seconds."""
        gc.collect()  # before the clock starts (see below)
        start = time.perf_counter() + 0.05
        plan: list[Shot] = []
        for i, shot in enumerate(shots):
            shot.scheduled = start + i / rate
            plan.append(shot)
        for k, copies in enumerate(twins):
            offset = (k + 1) / (len(twins) + 1)
            for i, shot in enumerate(copies):
                shot.scheduled = start + (i + offset) / rate
                plan.append(shot)
        plan.sort(key=lambda s: s.scheduled)
        tasks: list[asyncio.Task[None]] = []
        # This process's own collector pauses (thousands of requests built) would land in
        # whichever latency is being timed: none while sending.
        gc.disable()
        try:
            for shot in plan:
                delay = shot.scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(self.send(shot)))
            await asyncio.gather(*tasks)
        finally:
            gc.enable()
        return time.perf_counter() - start

    async def burst(self, shots: list[Shot], concurrency: int) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(shot: Shot) -> None:
            async with gate:
                await self.send(shot)

        await asyncio.gather(*(one(s) for s in shots))


def shots_report(shots: list[Shot], elapsed_s: float | None = None) -> dict[str, Any]:
    ok = [s for s in shots if s.latency_ms is not None]
    by_kind: dict[str, Any] = {}
    for kind in sorted({s.kind for s in shots}):
        by_kind[kind] = summarize_ms([s.latency_ms for s in ok if s.kind == kind and s.latency_ms])
    lateness = sorted((s.sent - s.scheduled) * 1000.0 for s in shots if s.scheduled)
    report: dict[str, Any] = {
        "all": summarize_ms([s.latency_ms for s in ok if s.latency_ms is not None]),
        "by_kind": by_kind,
        "statuses": dict(Counter(str(s.status) for s in shots)),
        "errors": [s.error for s in shots if s.error][:10],
        "over_goal": sum(1 for s in ok if (s.latency_ms or 0) > GOAL_MAX_MS),
    }
    if elapsed_s:
        report["achieved_rate_per_s"] = round(len(shots) / elapsed_s, 2)
    if lateness:
        report["send_lateness_ms"] = {
            "p50": round(percentile(lateness, 50) or 0.0, 3),
            "p99": round(percentile(lateness, 99) or 0.0, 3),
            "max": round(lateness[-1], 3),
        }
    return report


def latencies(shots: list[Shot]) -> dict[str, Any]:
    return summarize_ms([s.latency_ms for s in shots if s.latency_ms is not None])


def loaded_detail(shots: list[Shot], copies: dict[str, list[Shot]]) -> dict[str, Any]:
    """Every event's latency (`series`: [kind, s after the first send, ms]) and the slowest."""
    t0 = min(s.sent for s in shots)

    def slowest(sent: list[Shot], n: int) -> list[dict[str, Any]]:
        top = sorted(sent, key=lambda s: -(s.latency_ms or 0.0))[:n]
        return [
            {"kind": s.kind, "ms": round(s.latency_ms or 0.0, 3), "at_s": round(s.sent - t0, 3)}
            for s in top
        ]

    out: dict[str, Any] = {
        # `t0_monotonic` is CLOCK_MONOTONIC (shared by all processes) at the first send.
        "t0_monotonic": t0,
        "series": [[s.kind, round(s.sent - t0, 4), round(s.latency_ms or -1.0, 3)] for s in shots],
        "slowest": slowest(shots, 20),
    }
    for name, sent in copies.items():
        out[f"{name}_series"] = [
            [round(s.sent - t0, 4), round(s.latency_ms or -1.0, 3)] for s in sent
        ]
        out[f"slowest_{name}"] = slowest(sent, 10)
    return out


# --------------------------------------------------------------------------- monitoring


@dataclass
class Monitor:
    client: httpx.AsyncClient
    app_url: str
    stats_url: str
    samples: list[dict[str, Any]] = field(default_factory=list)

    async def stats(self) -> dict[str, Any]:
        resp = await self.client.get(self.stats_url)
        data: dict[str, Any] = resp.json()
        return data

    async def run(self, stop: asyncio.Event, interval_s: float = 1.0) -> None:
        t0 = time.perf_counter()
        while not stop.is_set():
            sample: dict[str, Any] = {"t_s": round(time.perf_counter() - t0, 3)}
            try:
                started = time.perf_counter()
                resp = await self.client.get(self.app_url + "/healthz")
                sample["healthz_ms"] = round((time.perf_counter() - started) * 1000.0, 3)
                sample["jobs_in_flight"] = resp.json().get("jobs_in_flight")
                stats = await self.stats()
                sample["tl_tasks"] = stats["tl_tasks"]
                sample["tl_calls_total"] = stats["tl_calls_total"]
                sample["slack_calls_total"] = stats["slack_calls_total"]
            except (httpx.HTTPError, ValueError) as exc:
                sample["error"] = f"{type(exc).__name__}: {exc}"
            self.samples.append(sample)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)


def monitored(
    monitor: Monitor, before: dict[str, Any], after: dict[str, Any], elapsed: float
) -> dict[str, Any]:
    """What the app and the fakes did while loaded: jobs in flight, tasks, background calls."""
    in_flight = [s["jobs_in_flight"] for s in monitor.samples if "jobs_in_flight" in s]
    unfinished = [
        sum(n for st, n in s["tl_tasks"].items() if st not in ("ready", "failed"))
        for s in monitor.samples
        if "tl_tasks" in s
    ]

    def delta(key: str) -> dict[str, float]:
        return {
            k: round((v - before[key].get(k, 0)) / elapsed, 2)
            for k, v in after[key].items()
            if v - before[key].get(k, 0)
        }

    return {
        "jobs_in_flight": {
            "min": min(in_flight, default=None),
            "max": max(in_flight, default=None),
            "at_start": in_flight[0] if in_flight else None,
            "at_end": in_flight[-1] if in_flight else None,
        },
        "tl_tasks_unfinished": {
            "min": min(unfinished, default=None),
            "max": max(unfinished, default=None),
        },
        "healthz": summarize_ms([s["healthz_ms"] for s in monitor.samples if "healthz_ms" in s]),
        "background_calls_per_s": {"twelvelabs": delta("tl_calls"), "slack": delta("slack_calls")},
        "samples": monitor.samples,
    }


def start_profiler(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy (investigation only; not a project dependency), non-blocking so it does not pause
    the app, with idle frames so time spent waiting is visible too."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print("py-spy not found: `.venv/bin/pip install py-spy` to profile", file=sys.stderr)
        return None
    argv = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds) + 1),
        "--rate",
        "250",
        "--nonblocking",
        "--threads",
        "--format",
        "raw",
        "--output",
        str(out),
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top_frames(raw: Path, limit: int = 25) -> dict[str, Any]:
    """Self and inclusive sample counts per function from py-spy's collapsed stacks, for the
    thread that runs the event loop (the one whose stacks include `run_forever`)."""
    self_count: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    threads: Counter[str] = Counter()
    for line in raw.read_text("utf-8", "replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")
        threads[frames[0]] += int(n)
        if "run_forever" not in stack:
            continue
        total += int(n)
        self_count[frames[-1]] += int(n)
        for f in set(frames):
            incl[f] += int(n)
    return {
        "loop_thread_samples": total,
        "threads": dict(threads.most_common(10)),
        "self": [(f, n) for f, n in self_count.most_common(limit)],
        "inclusive": [(f, n) for f, n in incl.most_common(limit)],
    }


async def wait_for_tasks(
    monitor: Monitor, tasks: int, jobs: int, timeout_s: float, settle_s: float = 3.0
) -> dict[str, Any]:
    """Until the app has `jobs` jobs in flight, each past its start (placeholder posted, asset
    created), and the fake `tasks` analysis tasks (beyond GIST_MAX_CONCURRENT_ANALYSES, jobs
    wait for a turn without one); then `settle_s` more, so the loaded phase measures the app
    holding its jobs, not still taking in the warm-up burst."""
    deadline = time.monotonic() + timeout_s
    while True:
        stats = await monitor.stats()
        health = (await monitor.client.get(monitor.app_url + "/healthz")).json()
        have = {
            "analysis tasks": sum(stats["tl_tasks"].values()),
            "assets": sum(stats["tl_assets"].values()),
            "placeholders": stats["slack_calls"].get("chat.postMessage", 0),
            "jobs in flight": int(health.get("jobs_in_flight") or 0),
        }
        want = {"analysis tasks": tasks, "assets": jobs, "placeholders": jobs}
        want["jobs in flight"] = jobs
        if all(have[k] >= n for k, n in want.items()):
            await asyncio.sleep(settle_s)
            return stats | {"app_jobs_in_flight": have["jobs in flight"]}
        if time.monotonic() > deadline:
            missing = ", ".join(f"{have[k]}/{n} {k}" for k, n in want.items())
            raise TimeoutError(f"after {timeout_s:g}s: {missing}")
        await asyncio.sleep(0.5)
